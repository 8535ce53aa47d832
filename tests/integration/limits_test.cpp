// tests/integration/limits_test.cpp: README "Security / Limits": members per room
// (room_full), total and per-address connections (503/429, Retry-After), and running out
// of file descriptors (accepting pauses without spinning; connected clients keep working).
#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const std::string kUpgrade =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";

// The value of one sample ("name{labels}") in a /metrics body, or -1 if absent.
double MetricValue(const std::string& body, const std::string& sample) {
  size_t at = body.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::strtod(body.c_str() + at + 1 + sample.size() + 1, nullptr);
}

class LimitsTest : public RoomcastTest {
 protected:
  HttpResponse UpgradeResponse(const std::string& room) {
    return http_raw(port(), "GET /ws/" + room + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + kUpgrade + "\r\n");
  }
  // Retries a WebSocket connect (bounded) until it upgrades: the server learns about a
  // closed connection asynchronously.
  std::unique_ptr<WsClient> ConnectEventually(const ConnectOptions& o, milliseconds timeout, std::string* last) {
    auto deadline = Clock::now() + timeout;
    for (int i = 0; i < 100; ++i) {
      auto c = WsClient::connect(port(), o, last);
      if (c || Clock::now() >= deadline) return c;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return nullptr;
  }
};

TEST_F(LimitsTest, JoinBeyondMaxRoomMembersGetsRoomFullKeepsConnectionOpenAndMayRetryAfterALeave) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--max-room-members", "2"}));
  Member a = Join("small", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("small", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);

  auto c = Connect("small");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(join_msg("uc")));
  IT_ASSERT_JSON(full, c->recv_json());
  EXPECT_EQ(full.type(), "error") << full.text;
  EXPECT_EQ(sget(*full, "code"), "room_full") << full.text;
  EXPECT_TRUE(has(*full, "message") && (*full)["message"].IsString()) << full.text;
  // Nothing changed: the members heard of no join, and C is still a connection that has not joined.
  EXPECT_TRUE(a->expect_no_message(milliseconds(200)));
  EXPECT_TRUE(b->expect_no_message(milliseconds(50)));
  ASSERT_TRUE(c->send_text(R"({"type":"ping","t":1})"));
  IT_ASSERT_JSON(nj, c->recv_json());
  EXPECT_EQ(sget(*nj, "code"), "not_joined") << "after room_full the connection is open and not joined: " << nj.text;
  // Other rooms are not affected.
  Member elsewhere = Join("other", "ux");
  EXPECT_TRUE(elsewhere.ws);

  // B leaves: C's retry succeeds.
  ASSERT_TRUE(b->send_text(R"({"type":"leave"})"));
  EXPECT_EQ(b->wait_close().code, 1000);
  IT_ASSERT_JSON(left, a->recv_json());
  EXPECT_EQ(sget(*left, "event"), "leave") << left.text;
  ASSERT_TRUE(c->send_text(join_msg("uc")));
  IT_ASSERT_JSON(w, c->recv_json());
  ASSERT_EQ(w.type(), "welcome") << w.text;
  ASSERT_EQ((*w)["peers"].Size(), 1u) << w.text;
  EXPECT_EQ(sget((*w)["peers"][0], "session"), a.session) << w.text;
  IT_ASSERT_JSON(pj, a->recv_json());
  EXPECT_EQ(sget(*pj, "event"), "join") << pj.text;
  // And the room is full again.
  auto d = Connect("small");
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->send_text(join_msg("ud")));
  IT_ASSERT_JSON(full2, d->recv_json());
  EXPECT_EQ(sget(*full2, "code"), "room_full") << full2.text;
}

// v1 departure semantics: resume is off (1.1 holds dropped sessions; see resume_test.cpp).
TEST_F(LimitsTest, ConnectionBeyondMaxConnectionsGets503WithRetryAfterAndIsAdmittedOnceOneCloses) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--resume-grace", "0", "--max-connections", "3"}));
  std::vector<Member> members;
  for (int i = 0; i < 3; ++i) {
    members.push_back(Join("cap", "u" + std::to_string(i)));
    ASSERT_TRUE(members.back().ws) << "connection " << i;
  }
  HttpResponse r = UpgradeResponse("cap");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(r.headers["retry-after"], "5") << r.raw;
  EXPECT_TRUE(r.connection_closed);
  // The limit counts WebSockets: a health check is still answered.
  HttpResponse h = http_get(port(), "/healthz");
  EXPECT_EQ(h.status, 200) << h.raw;
  // The connected clients are unaffected.
  ASSERT_TRUE(members[0]->send_text(cursor_msg(1, 1, 1, 0, 0, 0)));
  for (int i = 1; i < 3; ++i) {
    IT_ASSERT_JSON(m, members[i]->recv_until_type("cursor"));
    EXPECT_EQ(sget(*m, "session"), members[0].session) << m.text;
  }
  // One leaves: a new connection is admitted (once the server has processed the close).
  members[0]->close_tcp();
  ConnectOptions o;
  o.path = "/ws/cap";
  std::string err;
  auto again = ConnectEventually(o, milliseconds(5000), &err);
  ASSERT_TRUE(again) << "no connection admitted after one of 3 closed: " << err;
  // Full again.
  HttpResponse r2 = UpgradeResponse("cap");
  EXPECT_EQ(r2.status, 503) << r2.raw;
}

// v1 departure semantics: resume is off (1.1 holds dropped sessions; see resume_test.cpp).
TEST_F(LimitsTest, ThirdConnectionFromOneAddressGets429WhileAnotherAddressIsAdmitted) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--resume-grace", "0", "--max-connections-per-ip", "2"}));
  Member a = Join("ip", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("ip", "ub");
  ASSERT_TRUE(b.ws);
  HttpResponse r = UpgradeResponse("ip");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 429) << r.raw;
  EXPECT_EQ(r.headers["retry-after"], "5") << r.raw;
  EXPECT_TRUE(r.connection_closed);

  // 127.0.0.2 is another address: admitted, twice, then refused too.
  ConnectOptions o2;
  o2.path = "/ws/ip";
  o2.bind_ip = "127.0.0.2";
  std::string err;
  auto c1 = WsClient::connect(port(), o2, &err);
  ASSERT_TRUE(c1) << "connection from 127.0.0.2 refused: " << err;
  ASSERT_TRUE(c1->send_text(join_msg("uc")));
  IT_ASSERT_JSON(w, c1->recv_json());
  EXPECT_EQ(w.type(), "welcome") << w.text;
  auto c2 = WsClient::connect(port(), o2, &err);
  EXPECT_TRUE(c2) << err;
  auto c3 = WsClient::connect(port(), o2, &err);
  EXPECT_FALSE(c3) << "third connection from 127.0.0.2 admitted";
  EXPECT_NE(err.find("429"), std::string::npos) << err;

  // Closing one from 127.0.0.1 admits a new one from there.
  b->close_tcp();
  ConnectOptions o1;
  o1.path = "/ws/ip";
  auto again = ConnectEventually(o1, milliseconds(5000), &err);
  ASSERT_TRUE(again) << "no connection admitted after one of 2 closed: " << err;
  HttpResponse r2 = UpgradeResponse("ip");
  EXPECT_EQ(r2.status, 429) << r2.raw;
}

// Reads /proc/PID/fd to count the server's open descriptors (-1 if unreadable).
int OpenFds(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  int n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    for (int guard = 0; guard < 100000; ++guard) {
      dirent* e = ::readdir(d);
      if (!e) break;
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    return n;
  }
  return -1;
}

TEST_F(LimitsTest, OutOfFileDescriptorsAnswers503WithoutSpinningKeepsServingAndRecovers) {
  constexpr int kNoFile = 64;
  process_options_.nofile_limit = kNoFile;
  ASSERT_NO_FATAL_FAILURE(StartServer({"--handshake-timeout", "30"}));
  std::fprintf(stderr, "[fd test] server has %d fds open at start (limit %d)\n", OpenFds(server_->pid()), kNoFile);

  Member a = Join("fd", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("fd", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);

  // Open upgraded connections until one is not answered: the server is out of descriptors.
  std::vector<std::unique_ptr<WsClient>> conns;
  std::string err;
  bool refused = false;
  for (int i = 0; i < kNoFile + 10; ++i) {
    ConnectOptions o;
    o.path = "/ws/fd";
    o.timeout = milliseconds(1500);
    auto c = WsClient::connect(port(), o, &err);
    if (!c) {
      refused = true;
      break;
    }
    conns.push_back(std::move(c));
  }
  ASSERT_TRUE(refused) << "opened " << conns.size() << " connections under RLIMIT_NOFILE " << kNoFile;
  std::fprintf(stderr, "[fd test] %zu extra connections admitted; the next one: %s\n", conns.size(), err.c_str());
  // Not silence: the reserve descriptor answers.
  EXPECT_NE(err.find("503"), std::string::npos) << "the connection over the fd limit got no 503: " << err;
  ASSERT_GT(conns.size(), 5u) << "the server ran out of descriptors suspiciously early";
  ASSERT_TRUE(server_->running());

  // Connections arriving meanwhile are answered 503 too (within the 1 s accept retry).
  std::vector<int> pending;
  for (int i = 0; i < 3; ++i) {
    int fd = tcp_connect(port(), milliseconds(2000), 0, &err);
    if (fd >= 0) pending.push_back(fd);
  }
  ASSERT_FALSE(pending.empty()) << err;
  const std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int fd : pending) ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);

  // The server does not spin: less than 0.5 s of CPU over 2 s.
  double cpu0 = process_cpu_seconds(server_->pid());
  ASSERT_GE(cpu0, 0);
  auto t0 = Clock::now();
  // Meanwhile the joined clients keep exchanging messages.
  int relayed = 0;
  for (int i = 0; i < 20 && Clock::now() - t0 < milliseconds(1800); ++i) {
    ASSERT_TRUE(a->send_text(cursor_msg(i, 0, 0, 0, 0, 0, i + 1)));
    JsonResult m = b->recv_until_type("cursor", milliseconds(3000));
    ASSERT_TRUE(m.ok) << "relay stopped while out of descriptors: " << m.error;
    EXPECT_EQ(nget(*m, "fov"), i + 1) << m.text;
    ++relayed;
    std::this_thread::sleep_for(milliseconds(80));
  }
  ASSERT_TRUE(b->send_text(R"({"type":"ping","t":7})"));
  IT_ASSERT_JSON(pong, b->recv_until_type("pong"));
  EXPECT_EQ(iget(*pong, "t"), 7);
  auto left = milliseconds(2000) - std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
  if (left.count() > 0) std::this_thread::sleep_for(left);
  double cpu1 = process_cpu_seconds(server_->pid());
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::fprintf(stderr, "[fd test] server used %.3f s CPU in %.2f s out of descriptors (%d cursors relayed; %.2f s before)\n",
               cpu1 - cpu0, secs, relayed, cpu0);
  EXPECT_LT(cpu1 - cpu0, 0.5) << "the server spins while out of file descriptors";

  int answered = 0;
  for (int fd : pending) {
    std::string got;
    char buf[512];
    auto deadline = Clock::now() + milliseconds(3000);
    while (Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, size_t(n));
    }
    if (got.starts_with("HTTP/1.1 503") && got.find("Retry-After: 5") != std::string::npos) ++answered;
    else ADD_FAILURE() << "a client queued while out of descriptors got: " << got;
    ::close(fd);
  }
  EXPECT_EQ(answered, int(pending.size()));

  // Closing some connections lets new ones in.
  for (int i = 0; i < 10 && !conns.empty(); ++i) conns.pop_back();
  ConnectOptions o;
  o.path = "/ws/fd";
  auto fresh = ConnectEventually(o, milliseconds(8000), &err);
  ASSERT_TRUE(fresh) << "no connection accepted after closing 10: " << err;
  ASSERT_TRUE(fresh->send_text(join_msg("fresh")));
  IT_ASSERT_JSON(w, fresh->recv_json());
  EXPECT_EQ(w.type(), "welcome") << w.text;
  // And the refusals were counted.
  HttpResponse m = http_get(port(), "/metrics");
  ASSERT_EQ(m.status, 200) << m.raw;
  EXPECT_GE(MetricValue(m.body, "roomcast_accept_errors_total{reason=\"out_of_descriptors\"}"), 1) << m.body;
  EXPECT_GE(MetricValue(m.body, "roomcast_connections_shed_total"), 1 + double(pending.size())) << m.body;
}

}  // namespace
}  // namespace it
