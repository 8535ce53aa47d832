// tests/integration/test_util.cpp: see test_util.h.
#include "test_util.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace it {

std::string jstr(std::string_view s) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(sb.GetString(), sb.GetSize());
}

namespace {
std::string num(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}
}  // namespace

std::string join_msg(const std::string& user_id, const std::string& name, const std::string& color,
                     std::optional<long long> since) {
  std::string s = R"({"type":"join","user":{"id":)" + jstr(user_id);
  if (!name.empty()) s += R"(,"name":)" + jstr(name);
  if (!color.empty()) s += R"(,"color":)" + jstr(color);
  s += "}";
  if (since) s += R"(,"since":)" + std::to_string(*since);
  s += "}";
  return s;
}

std::string cursor_msg(double px, double py, double pz, double tx, double ty, double tz, std::optional<double> fov,
                       bool with_up) {
  std::string s = R"({"type":"cursor","position":[)" + num(px) + "," + num(py) + "," + num(pz) + R"(],"target":[)" +
                  num(tx) + "," + num(ty) + "," + num(tz) + "]";
  if (with_up) s += R"(,"up":[0,0,1])";
  if (fov) s += R"(,"fov":)" + num(*fov);
  s += "}";
  return s;
}

std::string edit_msg(const std::string& building, const std::string& op, const std::string& data_json,
                     const std::string& id) {
  std::string s = R"({"type":"edit","building":)" + jstr(building) + R"(,"op":)" + jstr(op);
  if (!data_json.empty()) s += R"(,"data":)" + data_json;
  if (!id.empty()) s += R"(,"id":)" + jstr(id);
  s += "}";
  return s;
}

std::string sget(const rapidjson::Value& v, const char* key, const std::string& fallback) {
  if (!v.IsObject()) return fallback;
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsString()) return fallback;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

double nget(const rapidjson::Value& v, const char* key, double fallback) {
  if (!v.IsObject()) return fallback;
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsNumber()) return fallback;
  return it->value.GetDouble();
}

long long iget(const rapidjson::Value& v, const char* key, long long fallback) {
  if (!v.IsObject()) return fallback;
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsNumber()) return fallback;
  if (it->value.IsInt64()) return it->value.GetInt64();
  if (it->value.IsUint64()) return static_cast<long long>(it->value.GetUint64());
  double d = it->value.GetDouble();
  if (d == static_cast<double>(static_cast<long long>(d))) return static_cast<long long>(d);
  return fallback;
}

bool has(const rapidjson::Value& v, const char* key) { return v.IsObject() && v.HasMember(key); }

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str(), json.size());
  EXPECT_FALSE(d.HasParseError()) << "test bug: bad JSON literal " << json;
  return d;
}

bool json_equal(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (a.IsNumber() && b.IsNumber()) return a.GetDouble() == b.GetDouble();
  if (a.GetType() != b.GetType()) return false;
  if (a.IsObject()) {
    if (a.MemberCount() != b.MemberCount()) return false;
    for (auto it = a.MemberBegin(); it != a.MemberEnd(); ++it) {
      auto jt = b.FindMember(it->name);
      if (jt == b.MemberEnd() || !json_equal(it->value, jt->value)) return false;
    }
    return true;
  }
  if (a.IsArray()) {
    if (a.Size() != b.Size()) return false;
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i)
      if (!json_equal(a[i], b[i])) return false;
    return true;
  }
  return a == b;
}

TempFile::TempFile(const std::string& content) {
  char tmpl[] = "/tmp/roomcast-it-XXXXXX";
  int fd = ::mkstemp(tmpl);
  EXPECT_GE(fd, 0) << "mkstemp failed";
  path = tmpl;
  if (fd >= 0) {
    ssize_t n = ::write(fd, content.data(), content.size());
    EXPECT_EQ(n, ssize_t(content.size()));
    ::close(fd);
  }
}

TempFile::~TempFile() { ::unlink(path.c_str()); }

double process_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return -1;
  // Field 2 (comm) is in parentheses and may contain spaces: parse after the last ')'.
  size_t rp = stat.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream rest(stat.substr(rp + 2));
  // Fields 3.. : state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) return -1;
  return double(utime + stime) / double(hz);
}

void RoomcastTest::TearDown() {
  if (server_) {
    ExitStatus st = server_->stop(SIGTERM, std::chrono::seconds(5));
    // A server that crashed or hung during the test is a failure of that test.
    EXPECT_TRUE(st.reaped && st.exited && st.code == 0 && !st.killed_after_timeout)
        << "server did not shut down cleanly on SIGTERM: " << st.describe();
    server_.reset();
  }
}

void RoomcastTest::StartServer(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--listen", "127.0.0.1:0"};
  bool has_threads = false;
  for (auto& a : extra)
    if (a == "--threads") has_threads = true;
  if (!has_threads) {
    args.push_back("--threads");
    args.push_back("1");
  }
  args.insert(args.end(), extra.begin(), extra.end());
  // $IT_ROOMCAST_ARGS (space-separated) is appended to every server, e.g.
  // IT_ROOMCAST_ARGS="--backend epoll" runs the whole suite on another event loop.
  if (const char* more = std::getenv("IT_ROOMCAST_ARGS")) {
    std::istringstream in(more);
    for (std::string a; in >> a;) args.push_back(a);
  }
  std::string err;
  server_ = ServerProcess::start(args, &err, std::chrono::seconds(10), process_options_);
  ASSERT_TRUE(server_) << "could not start roomcast: " << err;
}

std::unique_ptr<WsClient> RoomcastTest::Connect(const std::string& room, int rcvbuf) {
  ConnectOptions o;
  o.path = "/ws/" + room;
  o.rcvbuf = rcvbuf;
  std::string err;
  auto c = WsClient::connect(port(), o, &err);
  EXPECT_TRUE(c) << "connect to " << o.path << " failed: " << err;
  return c;
}

Member RoomcastTest::Join(const std::string& room, const std::string& user_id, std::optional<long long> since,
                          JsonResult* welcome_out, int rcvbuf) {
  Member m;
  m.user_id = user_id;
  auto c = Connect(room, rcvbuf);
  if (!c) return m;
  if (!c->send_text(join_msg(user_id, "Name " + user_id, "#00ff00", since))) {
    ADD_FAILURE() << "could not send join for " << user_id;
    return m;
  }
  JsonResult w = c->recv_json();
  if (!w.ok) {
    ADD_FAILURE() << "no welcome for " << user_id << " in room " << room << ": " << w.error;
    return m;
  }
  if (w.type() != "welcome") {
    ADD_FAILURE() << "first reply to join is not a welcome: " << w.text;
    return m;
  }
  m.session = sget(*w, "session", "");
  EXPECT_FALSE(m.session.empty()) << "welcome without a session string: " << w.text;
  m.ws = std::move(c);
  if (welcome_out) *welcome_out = std::move(w);
  return m;
}

void RoomcastTest::ExpectPresenceJoin(std::vector<Member*> observers, const Member& who) {
  for (Member* o : observers) {
    JsonResult p = o->ws->recv_json();
    ASSERT_TRUE(p.ok) << o->user_id << " expected presence join of " << who.user_id << ": " << p.error;
    EXPECT_EQ(p.type(), "presence") << p.text;
    EXPECT_EQ(sget(*p, "event"), "join") << p.text;
    EXPECT_EQ(sget(*p, "session"), who.session) << p.text;
  }
}

}  // namespace it
