// tests/integration/cluster_test.cpp: docs/protocol.md 3.6 "Several instances": several
// roomcast processes started with `--redis URL` against one real redis-server serve one
// room together, and a client sees no difference: relay across instances in per-sender
// order, one seq per room, exactly-once edits, since/resync and resume on any instance,
// dead and stopped instances' sessions held for the grace then announced, `unavailable`
// while Redis is down, recovery of what pub/sub lost, and the presence API everywhere.
//
// Each test starts its own redis-server (RedisProcess, free port) and its instances (each a
// separate `roomcast` process via ServerProcess, with $IT_ROOMCAST_ARGS appended like every
// other integration test). Every wait is bounded; timings the spec promises are measured and
// printed ("[cluster] ...").
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <ctime>

#include "../proto/jwt_sign.h"
#include "redis_process.h"
#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }


// ------------------------------------------------------------------ a joined client

struct Client {
  std::unique_ptr<WsClient> ws;
  std::string user, session, resume, epoch;
  long long seq = -1;
  bool has_resumed = false, resumed = false;
  JsonResult welcome;
  WsClient* operator->() { return ws.get(); }
  explicit operator bool() const { return ws != nullptr; }
};

// `{"type":"join","user":{"id":user,"name":"Name user"}<extra>}`.
std::string JoinText(const std::string& user, const std::string& extra = "") {
  return R"({"type":"join","user":{"id":)" + jstr(user) + R"(,"name":)" + jstr("Name " + user) + "}" + extra + "}";
}

// The join fields that resume `c`'s session after `since`, in `c`'s epoch.
std::string ResumeFields(const Client& c, long long since) {
  return R"(,"resume":)" + jstr(c.resume) + R"(,"since":)" + std::to_string(since) + R"(,"epoch":)" + jstr(c.epoch);
}
std::string SinceFields(long long since, const std::string& epoch) {
  return R"(,"since":)" + std::to_string(since) + R"(,"epoch":)" + jstr(epoch);
}

std::string CursorWithFov(double fov) { return cursor_msg(fov, 1, 2, 0, 0, 0, fov); }

// Connects to instance `port`, room `room`, sends the join and reads the welcome (the first
// message). On failure the returned client has no socket and a failure is recorded.
Client JoinOn(uint16_t port, const std::string& room, const std::string& user, const std::string& extra = "") {
  Client c;
  c.user = user;
  std::string err;
  ConnectOptions o;
  o.path = "/ws/" + room;
  o.timeout = milliseconds(5000);
  auto ws = WsClient::connect(port, o, &err);
  if (!ws) {
    ADD_FAILURE() << "connect to port " << port << " /ws/" << room << " failed: " << err;
    return c;
  }
  if (!ws->send_text(JoinText(user, extra))) {
    ADD_FAILURE() << "could not send join for " << user;
    return c;
  }
  JsonResult w = ws->recv_json(milliseconds(5000));
  if (!w.ok) {
    ADD_FAILURE() << "no welcome for " << user << " on port " << port << ": " << w.error;
    return c;
  }
  if (w.type() != "welcome") {
    ADD_FAILURE() << "first reply to " << user << "'s join on port " << port << " is not a welcome: " << w.text;
    return c;
  }
  c.session = sget(*w, "session", "");
  c.resume = sget(*w, "resume", "");
  c.epoch = sget(*w, "epoch", "");
  c.seq = iget(*w, "seq");
  c.has_resumed = has(*w, "resumed");
  c.resumed = c.has_resumed && (*w)["resumed"].IsBool() && (*w)["resumed"].GetBool();
  EXPECT_FALSE(c.session.empty()) << w.text;
  EXPECT_FALSE(c.resume.empty()) << "welcome without a resume token: " << w.text;
  EXPECT_FALSE(c.epoch.empty()) << "welcome without an epoch: " << w.text;
  c.ws = std::move(ws);
  c.welcome = std::move(w);
  return c;
}

// The welcome.peers entry of `session`, or null.
const rapidjson::Value* PeerIn(const JsonResult& welcome, const std::string& session) {
  if (!welcome.ok || !has(*welcome, "peers") || !(*welcome)["peers"].IsArray()) return nullptr;
  for (const auto& p : (*welcome)["peers"].GetArray())
    if (sget(p, "session", "") == session) return &p;
  return nullptr;
}

bool IsTrue(const rapidjson::Value& v, const char* key) {
  return has(v, key) && v[key].IsBool() && v[key].GetBool();
}
bool IsFalse(const rapidjson::Value& v, const char* key) {
  return has(v, key) && v[key].IsBool() && !v[key].GetBool();
}

// Reads messages until one satisfies `want` (returned) or `timeout` passes (ok=false).
// Every message read before it is appended to *skipped when given.
JsonResult ReadUntil(WsClient& ws, const std::function<bool(const JsonResult&)>& want, Millis timeout,
                     std::vector<std::string>* skipped = nullptr) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0) {
      JsonResult r;
      r.error = "timed out after " + std::to_string(timeout.count()) + " ms";
      return r;
    }
    JsonResult m = ws.recv_json(left);
    if (!m.ok) return m;
    if (want(m)) return m;
    if (skipped) skipped->push_back(m.text);
  }
}

// Waits for `presence` `event` about `session` (other messages skipped, listed in the error).
JsonResult WaitPresence(WsClient& ws, const std::string& event, const std::string& session, Millis timeout) {
  std::vector<std::string> skipped;
  JsonResult r = ReadUntil(
      ws, [&](const JsonResult& m) {
        return m.type() == "presence" && sget(*m, "event") == event && sget(*m, "session") == session;
      },
      timeout, &skipped);
  if (!r.ok) {
    r.error += "; waiting for presence " + event + " of " + session + ", got instead:";
    for (auto& s : skipped) r.error += "\n  " + s;
  }
  return r;
}

// Every message that arrives within `duration` (the socket may end earlier).
std::vector<std::string> ReadFor(WsClient& ws, Millis duration) {
  std::vector<std::string> out;
  auto deadline = Clock::now() + duration;
  while (true) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0) break;
    JsonResult m = ws.recv_json(left);
    if (!m.ok) {
      if (m.status != RecvStatus::Timeout) out.push_back("<" + m.error + ">");
      break;
    }
    out.push_back(m.text);
  }
  return out;
}

// Messages among `msgs` whose text mentions `needle`.
std::vector<std::string> Mentioning(const std::vector<std::string>& msgs, const std::string& needle) {
  std::vector<std::string> out;
  for (auto& m : msgs)
    if (m.find(needle) != std::string::npos) out.push_back(m);
  return out;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += "\n  " + x;
  return s.empty() ? " (none)" : s;
}

// GET /api/rooms/{room}/presence on `port`: the array (a null document on any failure).
rapidjson::Document PresenceApi(uint16_t port, const std::string& room, std::string* raw = nullptr) {
  HttpResponse r = http_get(port, "/api/rooms/" + room + "/presence");
  rapidjson::Document d;
  if (raw) *raw = r.ok ? std::to_string(r.status) + " " + r.body : "<" + r.error + ">";
  if (!r.ok || r.status != 200) return d;
  d.Parse(r.body.c_str(), r.body.size());
  if (d.HasParseError() || !d.IsArray()) d.SetNull();
  return d;
}

const rapidjson::Value* EntryOf(const rapidjson::Document& arr, const std::string& session) {
  if (!arr.IsArray()) return nullptr;
  for (const auto& v : arr.GetArray())
    if (sget(v, "session", "") == session) return &v;
  return nullptr;
}

// Polls `pred` every `step` until it holds (true) or `timeout` passes (false).
bool WaitUntil(const std::function<bool()>& pred, Millis timeout, Millis step = Millis{100}) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

std::string EditId(const std::string& prefix, int k) { return prefix + "-" + std::to_string(k); }

// ------------------------------------------------------------------ a client sending edits

// One user sending `total` edits with ids "<prefix>-<k>" (op = the id, data = k), one every
// `pace`, reading between sends. When its connection ends it moves to the next port in
// `ports` with resume + since (the highest seq it received) + epoch and re-sends every edit
// not yet acked, as the JS client does. Runs on its own thread (no gtest assertions
// inside: results are checked by the test afterwards).
struct EditSender {
  std::string room, user, prefix;
  int total = 0;
  Millis pace{20};
  std::vector<uint16_t> ports;

  // Filled by Start() (before the thread), read after Join().
  Client first;
  long long welcome_seq = -1;  // the first welcome's seq: edits up to it are not delivered
  // Results.
  std::map<std::string, long long> acked;         // id -> seq of its first ack
  std::map<std::string, long long> dup_acks;      // id -> seq of an ack with duplicate:true
  std::vector<std::pair<long long, std::string>> edits_seen;  // seq, op (across connections)
  std::vector<std::string> order_errors;          // a seq received out of order at this client
  std::vector<std::string> errors;                // anything else wrong (texts)
  std::vector<std::string> resume_welcomes;       // the welcome of each reconnection
  std::vector<std::string> sessions;              // the session of each connection
  int reconnects = 0;
  int resent = 0;  // edits sent again after a reconnection
  std::atomic<int> ack_count{0};
  std::atomic<bool> done_sending{false};
  std::atomic<bool> stop{false};  // set by the test: stop reading once everything is acked

  std::thread thread;

  bool Start() {
    first = JoinOn(ports[0], room, user);
    if (!first) return false;
    sessions.push_back(first.session);
    welcome_seq = first.seq;
    thread = std::thread([this] { Run(); });
    return true;
  }
  void Join() {
    if (thread.joinable()) thread.join();
  }

  void Run() {
    Client cur = std::move(first);
    size_t port_index = 0;
    long long max_seen = cur.seq;  // welcome seq: nothing at or below it will be delivered
    long long last_in_order = cur.seq;
    std::set<int> unacked;
    int next = 0;
    auto next_send = Clock::now();
    auto deadline = Clock::now() + std::chrono::seconds(40);
    while (Clock::now() < deadline) {
      if (int(acked.size()) == total && stop.load()) return;
      if (next < total && Clock::now() >= next_send) {
        std::string id = EditId(prefix, next);
        cur->send_text(edit_msg("b", id, std::to_string(next), id));  // a failed send shows as a closed socket
        unacked.insert(next);
        ++next;
        next_send = Clock::now() + pace;
        if (next == total) done_sending = true;
      }
      JsonResult m = cur->recv_json(milliseconds(5));
      if (m.ok) {
        std::string type = m.type();
        if (type == "ack") {
          std::string id = sget(*m, "id", "");
          long long seq = iget(*m, "seq");
          bool dup = IsTrue(*m, "duplicate");
          if (id.rfind(prefix + "-", 0) != 0) {
            errors.push_back("ack for an id never sent: " + m.text);
            continue;
          }
          int k = std::atoi(id.c_str() + prefix.size() + 1);
          if (dup) {
            dup_acks[id] = seq;
          } else {
            if (seq <= last_in_order)
              order_errors.push_back("ack seq " + std::to_string(seq) + " after seq " + std::to_string(last_in_order) +
                                     ": " + m.text);
            last_in_order = std::max(last_in_order, seq);
          }
          auto [it, fresh] = acked.emplace(id, seq);
          if (!fresh && it->second != seq)
            errors.push_back("two acks for " + id + " with different seqs: " + std::to_string(it->second) + " and " +
                             m.text);
          if (fresh) ++ack_count;
          unacked.erase(k);
          max_seen = std::max(max_seen, seq);
        } else if (type == "edit") {
          long long seq = iget(*m, "seq");
          if (seq <= last_in_order)
            order_errors.push_back("edit seq " + std::to_string(seq) + " after seq " + std::to_string(last_in_order) +
                                   ": " + m.text);
          last_in_order = std::max(last_in_order, seq);
          edits_seen.emplace_back(seq, sget(*m, "op"));
          max_seen = std::max(max_seen, seq);
        } else if (type == "error") {
          errors.push_back(m.text);
        } else if (type == "resync") {
          errors.push_back("resync after resume: " + m.text);
        }
        continue;
      }
      if (m.status == RecvStatus::Timeout) continue;
      // The connection ended: go to the next instance, resume, re-send what was not acked.
      if (port_index + 1 >= ports.size()) {
        errors.push_back("connection ended and no other instance to go to: " + m.error);
        return;
      }
      ++port_index;
      ++reconnects;
      Client again = JoinOn(ports[port_index], room, user, ResumeFields(cur, max_seen));
      if (!again) {
        errors.push_back("could not rejoin on port " + std::to_string(ports[port_index]));
        return;
      }
      resume_welcomes.push_back(again.welcome.text);
      sessions.push_back(again.session);
      if (again.epoch != cur.epoch) errors.push_back("epoch changed on resume: " + again.welcome.text);
      last_in_order = std::max(last_in_order, std::min(max_seen, again.seq));
      cur = std::move(again);
      for (int k : unacked) {
        ++resent;
        std::string id = EditId(prefix, k);
        cur->send_text(edit_msg("b", id, std::to_string(k), id));
      }
    }
    errors.push_back("not done within 40 s: " + std::to_string(acked.size()) + " of " + std::to_string(total) +
                     " acked");
  }
};

// ------------------------------------------------------------------ the fixture

class ClusterTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (size_t i = 0; i < instances_.size(); ++i) {
      auto& p = instances_[i];
      if (!p || !p->running()) continue;
      ExitStatus st = p->stop(SIGTERM, std::chrono::seconds(8));
      EXPECT_TRUE(st.reaped && st.exited && st.code == 0 && !st.killed_after_timeout)
          << "instance " << i << " did not shut down cleanly on SIGTERM: " << st.describe();
    }
    instances_.clear();
    if (redis_) redis_->stop();
    redis_.reset();
  }

  // Starts redis-server (fatal failure if it cannot).
  void StartRedis(bool appendonly = false) {
    std::string err;
    redis_ = RedisProcess::start(&err, appendonly);
    ASSERT_TRUE(redis_) << "could not start redis-server: " << err;
  }

  // Starts one instance: "--listen 127.0.0.1:0 --threads 1 --redis URL" with the rate
  // limits out of the way, plus `extra`, plus $IT_ROOMCAST_ARGS. Fatal failure if it does
  // not come up. `with_redis` false: no --redis (single-instance mode).
  ServerProcess* StartInstance(const std::vector<std::string>& extra = {}, bool with_redis = true) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--threads", "1", "--rate-limit", "100000",
                                     "--rate-burst", "100000"};
    if (with_redis) {
      args.push_back("--redis");
      args.push_back(redis_ ? redis_->url() : "redis://127.0.0.1:1");
    }
    args.insert(args.end(), extra.begin(), extra.end());
    if (const char* more = std::getenv("IT_ROOMCAST_ARGS")) {
      std::istringstream in(more);
      for (std::string a; in >> a;) args.push_back(a);
    }
    std::string err;
    auto p = ServerProcess::start(args, &err, std::chrono::seconds(10));
    if (!p) {
      std::string line;
      for (auto& a : args) line += " " + a;
      ADD_FAILURE() << "could not start instance" << line << ": " << err;
      return nullptr;
    }
    instances_.push_back(std::move(p));
    return instances_.back().get();
  }

  std::unique_ptr<RedisProcess> redis_;
  std::vector<std::unique_ptr<ServerProcess>> instances_;
};

#define START_INSTANCE(var, ...)              \
  ServerProcess* var = StartInstance(__VA_ARGS__); \
  ASSERT_TRUE(var) << "instance " #var " did not start"

// ------------------------------------------------------------------ 1. relay

TEST_F(ClusterTest, RelayReachesMembersOnOtherInstancesInPerSenderOrderWithoutEcho) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1);
  START_INSTANCE(i2);
  Client b = JoinOn(i2->port(), "r", "bob");
  ASSERT_TRUE(b);
  Client a = JoinOn(i1->port(), "r", "alice");
  ASSERT_TRUE(a);
  auto a_joined = Clock::now();
  EXPECT_NE(a.session, b.session) << "session ids must be unique across instances";
  EXPECT_EQ(a.epoch, b.epoch) << "one epoch per room on every instance";

  // B, on the other instance, is told that A joined.
  IT_ASSERT_JSON(pj, WaitPresence(*b.ws, "join", a.session, milliseconds(5000)));
  ASSERT_TRUE(has(*pj, "user")) << pj.text;
  EXPECT_EQ(sget((*pj)["user"], "id"), "alice") << pj.text;

  // A late joiner on instance 2 lists A (instance 1) as a connected peer: the spec allows
  // another instance's state 2 s to show in a welcome.
  std::this_thread::sleep_until(a_joined + milliseconds(2000));
  Client c = JoinOn(i2->port(), "r", "carol");
  ASSERT_TRUE(c);
  const rapidjson::Value* pa = PeerIn(c.welcome, a.session);
  ASSERT_TRUE(pa) << "welcome on instance 2 does not list A (instance 1): " << c.welcome.text;
  EXPECT_EQ(sget((*pa)["user"], "id"), "alice") << c.welcome.text;
  EXPECT_TRUE(IsTrue(*pa, "connected")) << c.welcome.text;
  EXPECT_TRUE(PeerIn(c.welcome, b.session)) << c.welcome.text;
  EXPECT_EQ((*c.welcome)["peers"].Size(), 2u) << c.welcome.text;
  IT_ASSERT_JSON(pc, WaitPresence(*a.ws, "join", c.session, milliseconds(5000)));
  IT_ASSERT_JSON(pc2, WaitPresence(*b.ws, "join", c.session, milliseconds(5000)));

  // 25 cameras, a selection, 25 cameras, a follow of B: in that order at B and C.
  for (int i = 1; i <= 25; ++i) ASSERT_TRUE(a->send_text(CursorWithFov(i)));
  ASSERT_TRUE(a->send_text(R"({"type":"select","ids":["b-1","b-2"]})"));
  for (int i = 26; i <= 50; ++i) ASSERT_TRUE(a->send_text(CursorWithFov(i)));
  ASSERT_TRUE(a->send_text(R"({"type":"follow","session":)" + jstr(b.session) + "}"));

  for (Client* r : {&b, &c}) {
    SCOPED_TRACE("at " + r->user);
    double last = 0;
    int cursors = 0;
    bool saw_select = false, saw_follow = false;
    for (int guard = 0; guard < 60 && !saw_follow; ++guard) {
      IT_ASSERT_JSON(m, (*r)->recv_json(milliseconds(5000)));
      ASSERT_EQ(sget(*m, "session"), a.session) << "from someone else: " << m.text;
      if (m.type() == "cursor") {
        double fov = nget(*m, "fov");
        EXPECT_GT(fov, last) << "cameras reordered or repeated: " << m.text;
        if (saw_select) EXPECT_GT(fov, 25) << "a camera sent before the select arrived after it: " << m.text;
        else EXPECT_LE(fov, 25) << "a camera sent after the select arrived before it: " << m.text;
        last = fov;
        ++cursors;
      } else if (m.type() == "select") {
        EXPECT_FALSE(saw_select) << m.text;
        EXPECT_TRUE(json_equal((*m)["ids"], parse(R"(["b-1","b-2"])"))) << m.text;
        saw_select = true;
      } else if (m.type() == "follow") {
        EXPECT_EQ(sget(*m, "target"), b.session) << m.text;
        saw_follow = true;
      } else {
        ADD_FAILURE() << "unexpected: " << m.text;
      }
    }
    EXPECT_TRUE(saw_select);
    EXPECT_TRUE(saw_follow);
    EXPECT_EQ(last, 50) << "the newest camera must arrive before the follow sent after it";
    std::fprintf(stderr, "[cluster] %s got %d of 50 cameras (superseded ones may be dropped)\n", r->user.c_str(),
                 cursors);
  }
  EXPECT_TRUE(a->expect_no_message(milliseconds(500))) << "relayed back to its sender";
  EXPECT_TRUE(b->expect_no_message(milliseconds(100)));

  // At the readers' pace nothing is superseded, so every camera arrives, in order.
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(a->send_text(CursorWithFov(100 + i)));
    for (Client* r : {&b, &c}) {
      IT_ASSERT_JSON(m, (*r)->recv_json(milliseconds(5000)));
      ASSERT_EQ(m.type(), "cursor") << r->user << ": " << m.text;
      ASSERT_EQ(nget(*m, "fov"), 100 + i) << r->user << ": a camera sent at the reader's pace was lost: " << m.text;
    }
  }
  EXPECT_TRUE(a->expect_no_message(milliseconds(200))) << "relayed back to its sender";
}

// ------------------------------------------------------------------ 2. one seq per room

TEST_F(ClusterTest, ThreeInstancesEditingConcurrentlyShareOneGapFreeSeqAndOneEpoch) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  constexpr int kInstances = 3, kPer = 30, kTotal = kInstances * kPer;
  std::vector<ServerProcess*> inst;
  for (int i = 0; i < kInstances; ++i) {
    START_INSTANCE(p);
    inst.push_back(p);
  }
  std::vector<Client> obs, snd;
  for (int i = 0; i < kInstances; ++i) {
    obs.push_back(JoinOn(inst[i]->port(), "r", "obs" + std::to_string(i)));
    ASSERT_TRUE(obs.back());
  }
  for (int i = 0; i < kInstances; ++i) {
    snd.push_back(JoinOn(inst[i]->port(), "r", "snd" + std::to_string(i)));
    ASSERT_TRUE(snd.back());
  }
  std::set<std::string> sessions;
  for (auto* v : {&obs, &snd})
    for (auto& c : *v) {
      sessions.insert(c.session);
      EXPECT_EQ(c.epoch, obs[0].epoch) << "epoch differs between instances: " << c.welcome.text;
    }
  EXPECT_EQ(sessions.size(), size_t(2 * kInstances)) << "session ids collide across instances";

  struct Seen {
    std::vector<std::pair<long long, std::string>> stream;  // (seq, "ack:<id>" or "edit:<op>") in arrival order
    std::string error;
  };
  std::vector<Seen> sseen(kInstances), oseen(kInstances);
  std::vector<std::thread> threads;
  auto reader = [](Client& c, Seen& s, int acks_wanted, int edits_wanted) {
    int acks = 0, edits = 0;
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (acks < acks_wanted || edits < edits_wanted) {
      auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      if (left.count() <= 0) {
        s.error = "timed out with " + std::to_string(acks) + " acks and " + std::to_string(edits) + " edits";
        return;
      }
      JsonResult m = c->recv_json(left);
      if (!m.ok) {
        s.error = "after " + std::to_string(acks) + " acks and " + std::to_string(edits) + " edits: " + m.error;
        return;
      }
      if (m.type() == "presence") continue;
      if (m.type() == "ack") {
        ++acks;
        s.stream.emplace_back(iget(*m, "seq"), "ack:" + sget(*m, "id"));
        if (IsTrue(*m, "duplicate")) s.error += " unexpected duplicate ack: " + m.text;
      } else if (m.type() == "edit") {
        ++edits;
        s.stream.emplace_back(iget(*m, "seq"), "edit:" + sget(*m, "op"));
      } else {
        s.error += " unexpected: " + m.text;
      }
    }
  };
  for (int i = 0; i < kInstances; ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < kPer; ++k) {
        std::string id = "s" + std::to_string(i) + "-" + std::to_string(k);
        if (!snd[i]->send_text(edit_msg("b", id, std::to_string(k), id))) {
          sseen[i].error = "send failed";
          return;
        }
      }
      reader(snd[i], sseen[i], kPer, kTotal - kPer);
    });
  for (int i = 0; i < kInstances; ++i) threads.emplace_back([&, i] { reader(obs[i], oseen[i], 0, kTotal); });
  for (auto& t : threads) t.join();

  // Every sender: kPer acks, in the order sent; acks and edits in one increasing seq order.
  std::map<long long, std::string> acked;  // seq -> id
  for (int i = 0; i < kInstances; ++i) {
    SCOPED_TRACE("sender " + std::to_string(i));
    EXPECT_EQ(sseen[i].error, "");
    long long prev = 0;
    int k = 0;
    for (auto& [seq, what] : sseen[i].stream) {
      EXPECT_GT(seq, prev) << what << ": acks and edits must reach a sender in seq order";
      prev = seq;
      if (what.rfind("ack:", 0) == 0) {
        EXPECT_EQ(what, "ack:s" + std::to_string(i) + "-" + std::to_string(k)) << "acks out of send order";
        ++k;
        EXPECT_TRUE(acked.emplace(seq, what.substr(4)).second) << "seq " << seq << " acked twice";
      } else {
        EXPECT_NE(what.substr(0, 7), "edit:s" + std::to_string(i)) << "own edit echoed: " << what;
      }
    }
  }
  ASSERT_EQ(acked.size(), size_t(kTotal));
  EXPECT_EQ(acked.begin()->first, 1);
  EXPECT_EQ(acked.rbegin()->first, kTotal) << "acked seqs are not exactly 1.." << kTotal;

  // Every observer: each edit once, seqs 1..kTotal in order, the same content as acked.
  for (int i = 0; i < kInstances; ++i) {
    SCOPED_TRACE("observer on instance " + std::to_string(i));
    EXPECT_EQ(oseen[i].error, "");
    ASSERT_EQ(oseen[i].stream.size(), size_t(kTotal));
    for (size_t j = 0; j < oseen[i].stream.size(); ++j) {
      auto& [seq, what] = oseen[i].stream[j];
      ASSERT_EQ(seq, static_cast<long long>(j + 1)) << "gap, repeat or reorder at position " << j;
      EXPECT_EQ(what, "edit:" + acked[seq]) << "observers disagree on the content of seq " << seq;
    }
  }
  for (auto& c : snd) EXPECT_TRUE(c->expect_no_message(milliseconds(200)));

  // A late joiner anywhere sees seq kTotal and the same epoch.
  Client late = JoinOn(inst[2]->port(), "r", "late");
  ASSERT_TRUE(late);
  EXPECT_EQ(late.seq, kTotal) << late.welcome.text;
  EXPECT_EQ(late.epoch, obs[0].epoch);
}

// ------------------------------------------------------------------ 3. duplicates

TEST_F(ClusterTest, AnEditIdAckedOnOneInstanceIsADuplicateOnAnother) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1);
  START_INSTANCE(i2);
  Client o1 = JoinOn(i1->port(), "r", "obs1");
  Client o2 = JoinOn(i2->port(), "r", "obs2");
  Client a1 = JoinOn(i1->port(), "r", "alice");
  ASSERT_TRUE(o1 && o2 && a1);
  ASSERT_TRUE(a1->send_text(edit_msg("tower", "raise", R"({"h":3})", "x-1")));
  IT_ASSERT_JSON(ack, ReadUntil(*a1.ws, [](const JsonResult& m) { return m.type() == "ack"; }, milliseconds(5000)));
  long long seq = iget(*ack, "seq");
  EXPECT_FALSE(has(*ack, "duplicate") && IsTrue(*ack, "duplicate")) << ack.text;
  for (Client* o : {&o1, &o2}) {
    IT_ASSERT_JSON(e, ReadUntil(*o->ws, [](const JsonResult& m) { return m.type() == "edit"; }, milliseconds(5000)));
    EXPECT_EQ(iget(*e, "seq"), seq) << e.text;
  }

  // The same user, on instance 2 (a new connection, not a resume), sends id x-1 again.
  Client a2 = JoinOn(i2->port(), "r", "alice");
  ASSERT_TRUE(a2);
  ASSERT_TRUE(a2->send_text(edit_msg("tower", "raise", R"({"h":3})", "x-1")));
  IT_ASSERT_JSON(dup, ReadUntil(*a2.ws, [](const JsonResult& m) { return m.type() == "ack" || m.type() == "error"; },
                                milliseconds(5000)));
  EXPECT_EQ(dup.type(), "ack") << dup.text;
  EXPECT_EQ(iget(*dup, "seq"), seq) << "a repeat must be acked with the original seq: " << dup.text;
  EXPECT_TRUE(IsTrue(*dup, "duplicate")) << dup.text;
  EXPECT_EQ(sget(*dup, "id"), "x-1") << dup.text;
  for (Client* o : {&o1, &o2, &a1}) {
    auto msgs = ReadFor(*o->ws, milliseconds(700));
    EXPECT_TRUE(Mentioning(msgs, R"("type":"edit")").empty())
        << o->user << " saw the repeat applied again:" << Joined(msgs);
  }

  // Another user's x-1 is a different edit: the next seq, relayed.
  ASSERT_TRUE(o2->send_text(edit_msg("tower", "lower", "", "x-1")));
  IT_ASSERT_JSON(ack2, ReadUntil(*o2.ws, [](const JsonResult& m) { return m.type() == "ack"; }, milliseconds(5000)));
  EXPECT_EQ(iget(*ack2, "seq"), seq + 1) << ack2.text;
  EXPECT_FALSE(IsTrue(*ack2, "duplicate")) << ack2.text;
  IT_ASSERT_JSON(e2, ReadUntil(*o1.ws, [](const JsonResult& m) { return m.type() == "edit"; }, milliseconds(5000)));
  EXPECT_EQ(sget(*e2, "op"), "lower") << e2.text;

  // History holds each edit once.
  Client late = JoinOn(i1->port(), "r", "late", SinceFields(0, a1.epoch));
  ASSERT_TRUE(late);
  auto replay = ReadFor(*late.ws, milliseconds(700));
  ASSERT_EQ(replay.size(), 2u) << "replay from 0:" << Joined(replay);
  EXPECT_NE(replay[0].find(R"("op":"raise")"), std::string::npos) << replay[0];
  EXPECT_NE(replay[1].find(R"("op":"lower")"), std::string::npos) << replay[1];
}

// ------------------------------------------------------------------ 4. since / resync

// Protocol docs/protocol.md 3.1 with --redis: a replay is outside --max-pending on an instance
// that loaded the history from Redis too (docs/protocol.md "A since replay").
TEST_F(ClusterTest, ASinceReplayLargerThanMaxPendingReachesAReaderOnAnotherInstance) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(ia, {"--max-pending", "1048576"});
  START_INSTANCE(ib, {"--max-pending", "1048576"});
  Client writer = JoinOn(ia->port(), "r", "writer");
  ASSERT_TRUE(writer);
  const std::string payload = jstr(std::string(60000, 'x'));
  constexpr int kEdits = 60;  // 3.6 MB of history
  for (int i = 1; i <= kEdits + 1; ++i) {
    if (i == kEdits + 1) {
      // The reader joins on the other instance (its room loaded first) a while after its
      // upgrade, as a browser would (so its replay leaves at once, not in the upgrade's
      // batch window), and reads while the last edit is live.
      Client warm = JoinOn(ib->port(), "r", "warm");
      ASSERT_TRUE(warm);
      std::string err;
      ConnectOptions o;
      o.path = "/ws/r";
      auto reader = WsClient::connect(ib->port(), o, &err);
      ASSERT_TRUE(reader) << err;
      std::this_thread::sleep_for(milliseconds(50));
      ASSERT_TRUE(reader->send_text(JoinText("reader", SinceFields(0, writer.epoch))));
      IT_ASSERT_JSON(welcome, reader->recv_json(milliseconds(5000)));
      ASSERT_EQ(welcome.type(), "welcome") << welcome.text;
      ASSERT_TRUE(writer->send_text(edit_msg("b", "op", payload)));
      long long expect = 1;
      for (int guard = 0; guard < 200 && expect <= kEdits + 1; ++guard) {
        JsonResult m = reader->recv_json(milliseconds(10000));
        ASSERT_TRUE(m.ok) << "after seq " << expect - 1 << ": " << m.error;
        if (m.type() != "edit") continue;
        ASSERT_EQ(iget(*m, "seq"), expect) << m.text.substr(0, 120);
        ++expect;
      }
      EXPECT_EQ(expect, kEdits + 2) << "the reader got every replayed edit, then the live one";
      break;
    }
    ASSERT_TRUE(writer->send_text(edit_msg("b", "op", payload)));
    IT_ASSERT_JSON(ack, ReadUntil(*writer.ws, [](const JsonResult& m) { return m.type() == "ack"; }, milliseconds(10000)));
    ASSERT_EQ(iget(*ack, "seq"), i);
  }
}

TEST_F(ClusterTest, SinceReplaysAndResyncsOnAnyInstanceEvenAfterTheInstanceThatTookTheEditsDied) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1);
  START_INSTANCE(i2);
  Client a = JoinOn(i1->port(), "r", "alice");
  ASSERT_TRUE(a);
  for (int k = 1; k <= 5; ++k) ASSERT_TRUE(a->send_text(edit_msg("b", "op" + std::to_string(k), "", "e" + std::to_string(k))));
  for (int k = 1; k <= 5; ++k) {
    IT_ASSERT_JSON(ack, ReadUntil(*a.ws, [](const JsonResult& m) { return m.type() == "ack"; }, milliseconds(5000)));
    ASSERT_EQ(iget(*ack, "seq"), k) << ack.text;
  }
  // Replays the edits after `since` on `port` and nothing else.
  auto expect_replay = [&](uint16_t port, const std::string& who, long long since, const std::string& where) {
    SCOPED_TRACE(where);
    Client b = JoinOn(port, "r", who, SinceFields(since, a.epoch));
    ASSERT_TRUE(b);
    EXPECT_EQ(b.seq, 5) << b.welcome.text;
    EXPECT_EQ(b.epoch, a.epoch) << b.welcome.text;
    for (long long s = since + 1; s <= 5; ++s) {
      IT_ASSERT_JSON(e, b->recv_json(milliseconds(5000)));
      EXPECT_EQ(e.type(), "edit") << e.text;
      EXPECT_EQ(iget(*e, "seq"), s) << e.text;
      EXPECT_EQ(sget(*e, "op"), "op" + std::to_string(s)) << e.text;
      EXPECT_EQ(sget(*e, "session"), a.session) << e.text;
    }
    auto rest = ReadFor(*b.ws, milliseconds(400));
    EXPECT_TRUE(Mentioning(rest, R"("type":"edit")").empty() && Mentioning(rest, "resync").empty())
        << "more than the edits after since:" << Joined(rest);
  };
  ASSERT_NO_FATAL_FAILURE(expect_replay(i2->port(), "bob", 2, "since 2 on the other instance"));

  // Another epoch: resync, never a replay.
  Client c = JoinOn(i2->port(), "r", "carol", SinceFields(2, "not-" + a.epoch));
  ASSERT_TRUE(c);
  IT_ASSERT_JSON(rs, c->recv_json(milliseconds(5000)));
  EXPECT_EQ(rs.type(), "resync") << rs.text;
  auto after = ReadFor(*c.ws, milliseconds(300));
  EXPECT_TRUE(Mentioning(after, R"("type":"edit")").empty()) << "replayed after resync:" << Joined(after);

  // The instance that took the edits is gone; history is not.
  ExitStatus st = i1->stop(SIGKILL);
  ASSERT_TRUE(st.reaped) << st.describe();
  ASSERT_NO_FATAL_FAILURE(expect_replay(i2->port(), "dave", 1, "since 1 on instance 2 after instance 1 died"));
  START_INSTANCE(i3);
  ASSERT_NO_FATAL_FAILURE(expect_replay(i3->port(), "erin", 0, "since 0 on an instance started after"));
}

// ------------------------------------------------------------------ 5. resume elsewhere

TEST_F(ClusterTest, ADroppedSessionResumesOnAnotherInstanceUnseenByObservers) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1, {"--resume-grace", "2"});
  START_INSTANCE(i2, {"--resume-grace", "2"});
  Client o1 = JoinOn(i1->port(), "r", "obs1");
  Client o2 = JoinOn(i2->port(), "r", "obs2");
  Client a = JoinOn(i1->port(), "r", "alice");
  ASSERT_TRUE(o1 && o2 && a);
  IT_ASSERT_JSON(j2, WaitPresence(*o2.ws, "join", a.session, milliseconds(5000)));
  ASSERT_TRUE(a->send_text(R"({"type":"select","ids":["b-7"]})"));
  for (Client* o : {&o1, &o2})
    ASSERT_TRUE(ReadUntil(*o->ws, [](const JsonResult& m) { return m.type() == "select"; }, milliseconds(5000)).ok);
  ReadFor(*o1.ws, milliseconds(100));  // o1 also saw o2's join

  a->reset_tcp();  // no close frame: a Wi-Fi drop
  Client again = JoinOn(i2->port(), "r", "alice", ResumeFields(a, a.seq));
  ASSERT_TRUE(again);
  EXPECT_EQ(again.session, a.session) << again.welcome.text;
  EXPECT_TRUE(again.has_resumed && again.resumed) << again.welcome.text;
  EXPECT_NE(again.resume, a.resume) << "each welcome issues a new token";
  EXPECT_EQ(again.epoch, a.epoch);
  ASSERT_TRUE(again->send_text(CursorWithFov(42)));
  for (Client* o : {&o1, &o2}) {
    JsonResult cur = ReadUntil(*o->ws, [](const JsonResult& m) { return m.type() != "presence"; }, milliseconds(5000));
    EXPECT_TRUE(cur.ok) << o->user << " (" << (o == &o1 ? "instance 1, where the session was held" : "instance 2")
                        << ") got no camera from the resumed session: " << cur.error;
    if (!cur.ok) continue;
    EXPECT_EQ(cur.type(), "cursor") << cur.text;
    EXPECT_EQ(sget(*cur, "session"), a.session) << cur.text;
  }
  // Past instance 1's grace for the old connection: still nothing announced.
  for (Client* o : {&o1, &o2}) {
    auto msgs = ReadFor(*o->ws, milliseconds(o == &o1 ? 3000 : 200));
    EXPECT_TRUE(Mentioning(msgs, "presence").empty()) << o->user << " saw the resumed session come and go:" << Joined(msgs);
  }
  for (auto* p : {i1, i2}) {
    std::string raw;
    bool ok = WaitUntil([&] {
      auto d = PresenceApi(p->port(), "r", &raw);
      const rapidjson::Value* e = EntryOf(d, a.session);
      return e && IsTrue(*e, "connected");
    }, milliseconds(2500));
    EXPECT_TRUE(ok) << "presence API on port " << p->port() << " after the resume: " << raw;
  }
  EXPECT_TRUE(again->expect_no_message(milliseconds(200))) << "the resumed connection got something";
  // Its leave on instance 2 reaches both instances.
  ASSERT_TRUE(again->send_text(R"({"type":"leave"})"));
  for (Client* o : {&o1, &o2}) {
    JsonResult left = WaitPresence(*o->ws, "leave", a.session, milliseconds(5000));
    EXPECT_TRUE(left.ok) << o->user << " never heard the resumed session leave: " << left.error;
  }
}

// Whether presence entry `e` shows a camera of `fov`, the one selected id `sel` and
// `following` (a session id); *why says what differs.
bool ShowsState(const rapidjson::Value& e, double fov, const std::string& sel, const std::string& following,
                std::string* why) {
  if (!has(e, "camera") || !e["camera"].IsObject() || nget(e["camera"], "fov") != fov) {
    *why = "camera";
    return false;
  }
  if (!has(e, "selection") || !e["selection"].IsArray() || e["selection"].Size() != 1 ||
      !e["selection"][0].IsString() || e["selection"][0].GetString() != sel) {
    *why = "selection";
    return false;
  }
  if (sget(e, "following", "") != following) {
    *why = "following";
    return false;
  }
  return true;
}

// docs/protocol.md 3.6: a session's camera, selection and following are as it last sent them,
// whichever instance it sent them on. Moved A -> B -> A with its state sent on B (B's
// connection still attached, so it gets 4008), late joiners on both instances and the
// presence API show what it sent on B within 2 s, and still do later (when instances
// reload presence from Redis).
class ClusterMoveTest : public ClusterTest {
 protected:
  // `wait_for_relay`: the client moves back only once what it sent on B reached A (else
  // at once: what B relays may reach A after A took the session over).
  void MoveTwiceWithStateSentOnTheSecond(bool wait_for_relay);
};

TEST_F(ClusterMoveTest, ASessionMovedToAnotherInstanceAndBackShowsTheStateItLastSentThereEverywhere) {
  MoveTwiceWithStateSentOnTheSecond(true);
}

TEST_F(ClusterMoveTest, ASessionMovedBackAtOnceAfterSendingShowsTheStateItLastSentEverywhere) {
  for (int i = 0; i < 3 && !HasFailure(); ++i) {
    MoveTwiceWithStateSentOnTheSecond(false);
    TearDown();
  }
}

void ClusterMoveTest::MoveTwiceWithStateSentOnTheSecond(bool wait_for_relay) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(ia, {"--resume-grace", "10"});
  START_INSTANCE(ib, {"--resume-grace", "10"});
  Client oa = JoinOn(ia->port(), "r", "obs-a");
  Client ob = JoinOn(ib->port(), "r", "obs-b");
  Client first = JoinOn(ia->port(), "r", "alice");
  ASSERT_TRUE(oa && ob && first);
  IT_ASSERT_JSON(j, WaitPresence(*ob.ws, "join", first.session, milliseconds(5000)));
  ASSERT_TRUE(first->send_text(CursorWithFov(10)));
  ASSERT_TRUE(first->send_text(R"({"type":"select","ids":["b-1"]})"));
  ASSERT_TRUE(ReadUntil(*ob.ws, [](const JsonResult& m) { return m.type() == "select"; }, milliseconds(5000)).ok);

  first->reset_tcp();  // dropped on A
  Client on_b = JoinOn(ib->port(), "r", "alice", ResumeFields(first, first.seq));
  ASSERT_TRUE(on_b);
  ASSERT_TRUE(on_b.resumed && on_b.session == first.session) << on_b.welcome.text;
  ASSERT_TRUE(on_b->send_text(CursorWithFov(42)));
  ASSERT_TRUE(on_b->send_text(R"({"type":"select","ids":["b-2"]})"));
  ASSERT_TRUE(on_b->send_text(R"({"type":"follow","session":)" + jstr(oa.session) + "}"));
  if (wait_for_relay) {
    ASSERT_TRUE(ReadUntil(*oa.ws, [](const JsonResult& m) { return m.type() == "follow"; }, milliseconds(5000)).ok)
        << "the state sent on B never reached A";
  }

  // Back on A while B's connection is still attached.
  const auto moved = Clock::now();
  Client on_a = JoinOn(ia->port(), "r", "alice", ResumeFields(on_b, on_b.seq));
  ASSERT_TRUE(on_a);
  ASSERT_TRUE(on_a.resumed && on_a.session == first.session) << on_a.welcome.text;
  CloseResult replaced = on_b->wait_close(milliseconds(5000));
  EXPECT_TRUE(replaced.got_close_frame && replaced.code == 4008) << replaced.describe();

  auto check_api = [&](ServerProcess* p, std::string* why) {
    std::string raw;
    auto d = PresenceApi(p->port(), "r", &raw);
    const rapidjson::Value* e = EntryOf(d, first.session);
    if (!e) {
      *why = "no entry: " + raw;
      return false;
    }
    if (!ShowsState(*e, 42, "b-2", oa.session, why)) {
      *why += ": " + raw;
      return false;
    }
    return true;
  };
  for (auto* p : {ia, ib}) {
    std::string why;
    EXPECT_TRUE(WaitUntil([&] { return check_api(p, &why); }, milliseconds(2000)))
        << "presence API on " << (p == ia ? "A" : "B") << " 2 s after the move, wrong " << why;
  }
  std::printf("[cluster] presence API right on both instances %.2f s after the move\n", SecondsSince(moved));
  // Later, past every reload of presence from Redis, for late joiners too.
  std::this_thread::sleep_for(milliseconds(1500));
  int n = 0;
  for (auto* p : {ia, ib, ia, ib}) {
    const std::string where = p == ia ? "A" : "B";
    std::string why;
    EXPECT_TRUE(check_api(p, &why)) << "presence API on " << where << ", wrong " << why;
    Client late = JoinOn(p->port(), "r", "late-" + std::to_string(++n));
    ASSERT_TRUE(late);
    const rapidjson::Value* e = PeerIn(late.welcome, first.session);
    ASSERT_TRUE(e) << late.welcome.text;
    EXPECT_TRUE(ShowsState(*e, 42, "b-2", oa.session, &why))
        << "a late joiner on " << where << " sees the wrong " << why << ": " << late.welcome.text;
    if (n == 2) std::this_thread::sleep_for(milliseconds(1000));
  }
}

TEST_F(ClusterTest, ASessionOfAKilledInstanceResumesOnAnotherAndIsNeverAnnouncedAsLeaving) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1, {"--resume-grace", "2"});
  START_INSTANCE(i2, {"--resume-grace", "2"});
  Client o = JoinOn(i2->port(), "r", "obs");
  Client a = JoinOn(i1->port(), "r", "alice");
  ASSERT_TRUE(o && a);
  IT_ASSERT_JSON(j, WaitPresence(*o.ws, "join", a.session, milliseconds(5000)));
  ExitStatus st = i1->stop(SIGKILL);
  ASSERT_TRUE(st.reaped) << st.describe();
  auto t0 = Clock::now();
  Client again = JoinOn(i2->port(), "r", "alice", ResumeFields(a, a.seq));
  ASSERT_TRUE(again);
  std::fprintf(stderr, "[cluster] resumed on instance 2 %.2f s after instance 1 was killed\n", SecondsSince(t0));
  EXPECT_EQ(again.session, a.session) << again.welcome.text;
  EXPECT_TRUE(again.has_resumed && again.resumed) << again.welcome.text;
  // The dead instance's sessions are reaped within grace + 5 s: the resumed one must not be.
  auto msgs = ReadFor(*o.ws, milliseconds(7500));
  EXPECT_TRUE(Mentioning(msgs, "presence").empty()) << "presence events about a resumed session:" << Joined(msgs);
  ASSERT_TRUE(again->send_text(CursorWithFov(7)));
  IT_ASSERT_JSON(cur, o->recv_json(milliseconds(5000)));
  EXPECT_EQ(cur.type(), "cursor") << cur.text;
  EXPECT_EQ(sget(*cur, "session"), a.session) << cur.text;
  std::string raw;
  auto d = PresenceApi(i2->port(), "r", &raw);
  const rapidjson::Value* e = EntryOf(d, a.session);
  ASSERT_TRUE(e) << raw;
  EXPECT_TRUE(IsTrue(*e, "connected")) << raw;
}

// ------------------------------------------------------------------ 6. kill -9 mid edits

TEST_F(ClusterTest, KillingAnInstanceMidEditsLosesAndRepeatsNothingForClientsThatResumeElsewhere) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1, {"--resume-grace", "5"});
  START_INSTANCE(i2, {"--resume-grace", "5"});
  START_INSTANCE(i3, {"--resume-grace", "5"});
  Client obs = JoinOn(i3->port(), "r", "obs");
  ASSERT_TRUE(obs);
  constexpr int kPer = 60;
  EditSender s1, s2;
  s1.room = s2.room = "r";
  s1.user = "u1";
  s1.prefix = "a";
  s1.ports = {i1->port(), i2->port()};
  s2.user = "u2";
  s2.prefix = "b";
  s2.ports = {i2->port()};
  s1.total = s2.total = kPer;
  s1.pace = s2.pace = milliseconds(5);  // several edits in flight when instance 1 dies
  ASSERT_TRUE(s1.Start());
  if (!s2.Start()) {
    s1.stop = true;
    s1.Join();
    FAIL() << "second sender could not join";
  }

  std::vector<std::pair<long long, std::string>> seen;  // seq, op at the observer
  std::vector<std::string> obs_errors;
  bool killed = false;
  double killed_at_acks = 0;
  auto t0 = Clock::now();
  auto quiet_since = Clock::now();
  while (SecondsSince(t0) < 40) {
    if (!killed && s1.ack_count.load() >= 10) {
      killed_at_acks = s1.ack_count.load();
      ExitStatus st = i1->stop(SIGKILL);
      EXPECT_TRUE(st.reaped) << st.describe();
      killed = true;
    }
    JsonResult m = obs->recv_json(milliseconds(50));
    if (m.ok) {
      if (m.type() == "edit") seen.emplace_back(iget(*m, "seq"), sget(*m, "op"));
      else if (m.type() != "presence") obs_errors.push_back(m.text);
      quiet_since = Clock::now();
      continue;
    }
    if (m.status != RecvStatus::Timeout) {
      obs_errors.push_back("observer connection: " + m.error);
      break;
    }
    bool senders_done = s1.ack_count.load() == kPer && s2.ack_count.load() == kPer;
    bool senders_gave_up = !s1.errors.empty() || !s2.errors.empty();
    if ((senders_done || senders_gave_up) && Clock::now() - quiet_since > milliseconds(5500)) break;
    if (senders_done && int(seen.size()) >= 2 * kPer && Clock::now() - quiet_since > milliseconds(1000)) break;
  }
  s1.stop = true;
  s2.stop = true;
  s1.Join();
  s2.Join();
  ASSERT_TRUE(killed) << "instance 1 was never killed (sender 1 got " << s1.ack_count.load() << " acks)";
  std::fprintf(stderr, "[cluster] killed instance 1 after %g acks; u1 re-sent %d unacked edits, %zu acked as duplicates\n",
               killed_at_acks, s1.resent, s1.dup_acks.size());

  EXPECT_EQ(Joined(s1.errors), Joined({})) << "u1";
  EXPECT_EQ(Joined(s2.errors), Joined({})) << "u2";
  EXPECT_EQ(Joined(s1.order_errors), Joined({})) << "u1 received seqs out of order";
  EXPECT_EQ(Joined(s2.order_errors), Joined({})) << "u2 received seqs out of order";
  EXPECT_EQ(Joined(obs_errors), Joined({})) << "observer";
  EXPECT_EQ(s1.reconnects, 1);
  ASSERT_EQ(s1.sessions.size(), 2u);
  EXPECT_EQ(s1.sessions[1], s1.sessions[0]) << "the resume on instance 2 gave a new session:"
                                             << Joined(s1.resume_welcomes);
  for (auto& w : s1.resume_welcomes) EXPECT_NE(w.find(R"("resumed":true)"), std::string::npos) << w;
  ASSERT_EQ(s1.acked.size(), size_t(kPer));
  ASSERT_EQ(s2.acked.size(), size_t(kPer));

  // Acked seqs: 2*kPer distinct values, 1..2*kPer.
  std::map<long long, std::string> by_seq;
  for (auto* s : {&s1, &s2})
    for (auto& [id, seq] : s->acked) EXPECT_TRUE(by_seq.emplace(seq, id).second) << "seq " << seq << " acked for two ids";
  ASSERT_FALSE(by_seq.empty());
  EXPECT_EQ(by_seq.begin()->first, 1);
  EXPECT_EQ(by_seq.rbegin()->first, 2 * kPer) << "a gap among acked seqs";
  for (auto& [id, seq] : s1.dup_acks) EXPECT_EQ(s1.acked[id], seq) << "duplicate ack with another seq for " << id;

  // The observer: every acked edit exactly once, in seq order.
  std::map<std::string, int> times;
  long long prev = 0;
  for (auto& [seq, op] : seen) {
    EXPECT_GT(seq, prev) << "observer: seq " << seq << " (" << op << ") after " << prev;
    prev = seq;
    ++times[op];
    auto it = by_seq.find(seq);
    if (it == by_seq.end()) ADD_FAILURE() << "observer saw seq " << seq << " (" << op << ") that nobody acked";
    else EXPECT_EQ(it->second, op) << "observer saw another edit at seq " << seq;
  }
  for (auto& [seq, id] : by_seq) EXPECT_EQ(times[id], 1) << "observer saw " << id << " (seq " << seq << ") " << times[id] << " times";
  // u2 (instance 2, never moved) saw each of u1's edits once, in order.
  std::map<std::string, int> u2_times;
  for (auto& [seq, op] : s2.edits_seen) ++u2_times[op];
  for (auto& [id, seq] : s1.acked) {
    if (seq <= s2.welcome_seq) continue;  // before u2 joined
    EXPECT_EQ(u2_times[id], 1) << "u2 saw " << id << " (seq " << seq << ") " << u2_times[id] << " times";
  }
}

// The ack was lost with the instance: the retry on another instance is answered, not applied.
TEST_F(ClusterTest, AnEditAppliedByAKilledInstanceIsADuplicateWhenResentOnAnother) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1, {"--resume-grace", "5"});
  START_INSTANCE(i2, {"--resume-grace", "5"});
  Client o = JoinOn(i2->port(), "r", "obs");
  Client a = JoinOn(i1->port(), "r", "alice");
  ASSERT_TRUE(o && a);
  ASSERT_TRUE(a->send_text(edit_msg("tower", "raise", R"({"h":3})", "k-1")));
  IT_ASSERT_JSON(applied, ReadUntil(*o.ws, [](const JsonResult& m) { return m.type() == "edit"; }, milliseconds(5000)));
  long long seq = iget(*applied, "seq");
  ExitStatus st = i1->stop(SIGKILL);  // alice never read the ack
  ASSERT_TRUE(st.reaped) << st.describe();

  Client again = JoinOn(i2->port(), "r", "alice", ResumeFields(a, a.seq));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again.resumed) << again.welcome.text;
  EXPECT_EQ(again.session, a.session) << again.welcome.text;
  IT_ASSERT_JSON(replayed, again->recv_json(milliseconds(5000)));
  EXPECT_EQ(replayed.type(), "edit") << replayed.text;
  EXPECT_EQ(iget(*replayed, "seq"), seq) << "the replay after since must hold the applied edit: " << replayed.text;
  ASSERT_TRUE(again->send_text(edit_msg("tower", "raise", R"({"h":3})", "k-1")));
  IT_ASSERT_JSON(dup, again->recv_json(milliseconds(5000)));
  EXPECT_EQ(dup.type(), "ack") << dup.text;
  EXPECT_EQ(iget(*dup, "seq"), seq) << dup.text;
  EXPECT_TRUE(IsTrue(*dup, "duplicate")) << dup.text;
  auto msgs = ReadFor(*o.ws, milliseconds(700));
  EXPECT_TRUE(Mentioning(msgs, R"("type":"edit")").empty()) << "the retry was applied again:" << Joined(msgs);
  ASSERT_TRUE(again->send_text(edit_msg("tower", "raise", R"({"h":4})", "k-2")));
  IT_ASSERT_JSON(ack2, again->recv_json(milliseconds(5000)));
  EXPECT_EQ(ack2.type(), "ack") << ack2.text;
  EXPECT_EQ(iget(*ack2, "seq"), seq + 1) << ack2.text;
  EXPECT_FALSE(IsTrue(*ack2, "duplicate")) << ack2.text;
  IT_ASSERT_JSON(e2, ReadUntil(*o.ws, [](const JsonResult& m) { return m.type() == "edit"; }, milliseconds(5000)));
  EXPECT_EQ(iget(*e2, "seq"), seq + 1) << e2.text;
}

// ------------------------------------------------------------------ 7. ghosts of a dead instance

// Two instances with a session each are killed half a second apart (an instance can die at
// any moment of whatever bookkeeping it does): each session stays listed, held, for the
// full grace after its instance died, then leaves within grace + 5 s.
TEST_F(ClusterTest, AKilledInstancesSessionIsHeldForTheGraceThenLeavesWithinGracePlusFiveSeconds) {
  constexpr double kGrace = 4;
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1, {"--resume-grace", "4"});
  START_INSTANCE(i2, {"--resume-grace", "4"});
  START_INSTANCE(i3, {"--resume-grace", "4"});
  Client o = JoinOn(i2->port(), "r", "obs");
  ASSERT_TRUE(o);
  struct Ghost {
    ServerProcess* instance = nullptr;
    Client c;
    Clock::time_point killed;
    double first_not_connected = -1, leave_at = -1;
    double missing_at = -1;  // first time the presence API did not list it
    std::string missing_raw;
  };
  Ghost ghosts[2];
  ghosts[0].instance = i1;
  ghosts[0].c = JoinOn(i1->port(), "r", "ghost1");
  ghosts[1].instance = i3;
  ghosts[1].c = JoinOn(i3->port(), "r", "ghost3");
  for (Ghost& g : ghosts) {
    ASSERT_TRUE(g.c);
    IT_ASSERT_JSON(j, WaitPresence(*o.ws, "join", g.c.session, milliseconds(5000)));
  }
  for (int k = 0; k < 2; ++k) {
    if (k == 1) std::this_thread::sleep_for(milliseconds(500));
    ExitStatus st = ghosts[k].instance->stop(SIGKILL);
    ASSERT_TRUE(st.reaped) << st.describe();
    ghosts[k].killed = Clock::now();
  }

  // Until each leave: the presence API on instance 2 lists the ghost, held
  // (connected:false) once instance 2 knows its instance is gone.
  std::string last_raw;
  std::vector<std::string> other;
  while (SecondsSince(ghosts[1].killed) < kGrace + 6 && (ghosts[0].leave_at < 0 || ghosts[1].leave_at < 0)) {
    JsonResult m = o->recv_json(milliseconds(200));
    if (m.ok) {
      bool mine = false;
      for (Ghost& g : ghosts)
        if (m.type() == "presence" && sget(*m, "session") == g.c.session) {
          EXPECT_EQ(sget(*m, "event"), "leave") << m.text;
          EXPECT_LT(g.leave_at, 0) << "a second presence event: " << m.text;
          g.leave_at = SecondsSince(g.killed);
          mine = true;
        }
      if (!mine) other.push_back(m.text);
      continue;
    }
    if (m.status != RecvStatus::Timeout) {
      ADD_FAILURE() << "observer connection: " << m.error;
      break;
    }
    auto d = PresenceApi(i2->port(), "r", &last_raw);
    for (Ghost& g : ghosts) {
      if (g.leave_at >= 0) continue;
      const rapidjson::Value* e = EntryOf(d, g.c.session);
      if (!e && g.missing_at < 0) {
        g.missing_at = SecondsSince(g.killed);
        g.missing_raw = last_raw;
      }
      if (e && IsFalse(*e, "connected") && g.first_not_connected < 0) g.first_not_connected = SecondsSince(g.killed);
    }
  }
  EXPECT_TRUE(other.empty()) << "other messages at the observer:" << Joined(other);
  for (Ghost& g : ghosts) {
    SCOPED_TRACE(g.c.user);
    std::fprintf(stderr,
                 "[cluster] %s: its instance killed; listed connected:false from %.2f s, presence leave at %.2f s "
                 "(grace %.0f s; spec: leave in [grace, grace + 5])\n",
                 g.c.user.c_str(), g.first_not_connected, g.leave_at, kGrace);
    EXPECT_GE(g.leave_at, 0) << "no presence leave within grace + 6 s; presence API: " << last_raw;
    if (g.leave_at < 0) continue;
    EXPECT_GE(g.leave_at, kGrace - 0.2) << "the session was not held for the full grace after its instance died";
    EXPECT_LE(g.leave_at, kGrace + 5) << "leave later than grace + 5 s";
    // The API and the observer's socket are separate paths: the entry may go a moment
    // before the leave reaches the observer.
    if (g.missing_at >= 0) {
      EXPECT_GE(g.missing_at, g.leave_at - 0.5)
          << "the held session vanished from the presence API " << g.leave_at - g.missing_at
          << " s before its leave: " << g.missing_raw;
    }
    EXPECT_GE(g.first_not_connected, 0)
        << "the presence API never showed the dead instance's session as connected:false";
  }
  auto d = PresenceApi(i2->port(), "r", &last_raw);
  for (Ghost& g : ghosts) EXPECT_FALSE(EntryOf(d, g.c.session)) << "still listed after its leave: " << last_raw;
  // The survivor ended each ghost exactly once (the end script's leave), and says so.
  HttpResponse metrics = http_get(i2->port(), "/metrics");
  EXPECT_NE(metrics.body.find("roomcast_cluster_sessions_reaped_total 2\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("roomcast_redis_up 1\n"), std::string::npos) << metrics.body;
  // And a late resume is a fresh session.
  Client late = JoinOn(i2->port(), "r", "ghost1", ResumeFields(ghosts[0].c, ghosts[0].c.seq));
  ASSERT_TRUE(late);
  EXPECT_TRUE(late.has_resumed && !late.resumed) << late.welcome.text;
  EXPECT_NE(late.session, ghosts[0].c.session);
}

// ------------------------------------------------------------------ 8. graceful stop

TEST_F(ClusterTest, AGracefullyStoppedInstancesSessionIsHeldAtOnceAndLeavesOneGraceLater) {
  constexpr double kGrace = 3;
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1, {"--resume-grace", "3", "--drain-timeout", "2"});
  START_INSTANCE(i2, {"--resume-grace", "3", "--drain-timeout", "2"});
  Client o = JoinOn(i2->port(), "r", "obs");
  Client g = JoinOn(i1->port(), "r", "gone");
  ASSERT_TRUE(o && g);
  IT_ASSERT_JSON(j, WaitPresence(*o.ws, "join", g.session, milliseconds(5000)));
  auto t0 = Clock::now();
  i1->signal(SIGTERM);
  CloseResult cr = g->wait_close(milliseconds(5000));
  EXPECT_EQ(cr.code, 1001) << cr.describe();
  g->send_close(1001);
  g->close_tcp();

  double held_at = -1, leave_at = -1;
  std::string raw;
  std::vector<std::string> other;
  while (SecondsSince(t0) < kGrace + 5) {
    JsonResult m = o->recv_json(milliseconds(100));
    if (m.ok) {
      if (m.type() == "presence" && sget(*m, "session") == g.session) {
        EXPECT_EQ(sget(*m, "event"), "leave") << m.text;
        leave_at = SecondsSince(t0);
        break;
      }
      other.push_back(m.text);
      continue;
    }
    if (m.status != RecvStatus::Timeout) break;
    if (held_at < 0) {
      auto d = PresenceApi(i2->port(), "r", &raw);
      const rapidjson::Value* e = EntryOf(d, g.session);
      if (e && IsFalse(*e, "connected")) held_at = SecondsSince(t0);
    }
  }
  ExitStatus st = i1->wait_exit(milliseconds(3000));
  EXPECT_TRUE(st.reaped && st.exited && st.code == 0) << "instance 1 after SIGTERM: " << st.describe();
  std::fprintf(stderr,
               "[cluster] stopped instance's session: connected:false at %.2f s, leave at %.2f s after SIGTERM "
               "(grace %.0f s)\n",
               held_at, leave_at, kGrace);
  EXPECT_TRUE(other.empty()) << Joined(other);
  EXPECT_GE(held_at, 0) << "never listed as held (connected:false) on instance 2; last: " << raw;
  EXPECT_LE(held_at, 2.0) << "a graceful stop hands its sessions to the grace at once";
  ASSERT_GE(leave_at, 0) << "no leave within grace + 5 s";
  EXPECT_GE(leave_at, kGrace - 0.3) << "left before the grace";
  EXPECT_LE(leave_at, kGrace + 2.5) << "a stopped instance's session leaves one grace later, not a dead one's grace + 5";
}

TEST_F(ClusterTest, ASessionOfAGracefullyStoppedInstanceResumesOnAnotherWithoutPresenceEvents) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1, {"--resume-grace", "3", "--drain-timeout", "2"});
  START_INSTANCE(i2, {"--resume-grace", "3", "--drain-timeout", "2"});
  Client o = JoinOn(i2->port(), "r", "obs");
  Client g = JoinOn(i1->port(), "r", "mover");
  ASSERT_TRUE(o && g);
  IT_ASSERT_JSON(j, WaitPresence(*o.ws, "join", g.session, milliseconds(5000)));
  i1->signal(SIGTERM);
  CloseResult cr = g->wait_close(milliseconds(5000));
  EXPECT_EQ(cr.code, 1001) << cr.describe();
  g->send_close(1001);
  g->close_tcp();
  Client again = JoinOn(i2->port(), "r", "mover", ResumeFields(g, g.seq));
  ASSERT_TRUE(again);
  EXPECT_EQ(again.session, g.session) << again.welcome.text;
  EXPECT_TRUE(again.has_resumed && again.resumed) << again.welcome.text;
  auto msgs = ReadFor(*o.ws, milliseconds(5000));  // past the grace
  EXPECT_TRUE(Mentioning(msgs, "presence").empty()) << "presence events for a session that moved:" << Joined(msgs);
  std::string raw;
  auto d = PresenceApi(i2->port(), "r", &raw);
  const rapidjson::Value* e = EntryOf(d, g.session);
  ASSERT_TRUE(e) << raw;
  EXPECT_TRUE(IsTrue(*e, "connected")) << raw;
  ExitStatus st = i1->wait_exit(milliseconds(3000));
  EXPECT_TRUE(st.reaped && st.exited && st.code == 0) << "instance 1 after SIGTERM: " << st.describe();
}

// ------------------------------------------------------------------ 9. Redis down

TEST_F(ClusterTest, WhileRedisIsDownEditsGetUnavailableAndCamerasFlowOnOneInstanceThenAllRecovers) {
  ASSERT_NO_FATAL_FAILURE(StartRedis(/*appendonly=*/true));
  START_INSTANCE(i1);
  START_INSTANCE(i2);
  Client a = JoinOn(i1->port(), "r", "alice");
  Client b = JoinOn(i1->port(), "r", "bob");
  Client c = JoinOn(i2->port(), "r", "carol");
  ASSERT_TRUE(a && b && c);
  ASSERT_TRUE(a->send_text(edit_msg("b", "before", "", "e-0")));
  IT_ASSERT_JSON(ack0, ReadUntil(*a.ws, [](const JsonResult& m) { return m.type() == "ack"; }, milliseconds(5000)));
  for (Client* o : {&b, &c})
    ASSERT_TRUE(ReadUntil(*o->ws, [](const JsonResult& m) { return m.type() == "edit"; }, milliseconds(5000)).ok)
        << o->user << " did not get the first edit";
  ReadFor(*a.ws, milliseconds(100));

  redis_->kill_hard();
  auto t0 = Clock::now();
  ASSERT_TRUE(a->send_text(edit_msg("b", "while-down", "", "e-1")));
  IT_ASSERT_JSON(err, ReadUntil(*a.ws, [](const JsonResult& m) { return m.type() == "ack" || m.type() == "error"; },
                                milliseconds(6000)));
  double took = SecondsSince(t0);
  std::fprintf(stderr, "[cluster] edit with Redis down answered after %.2f s: %s\n", took, err.text.c_str());
  EXPECT_EQ(err.type(), "error") << "an edit the store cannot take must not be acked: " << err.text;
  EXPECT_EQ(sget(*err, "code"), "unavailable") << err.text;
  EXPECT_LE(took, 5.0);

  // Same instance: cameras and selections keep flowing.
  ASSERT_TRUE(b->send_text(CursorWithFov(77)));
  IT_ASSERT_JSON(cur, ReadUntil(*a.ws, [](const JsonResult& m) { return m.type() == "cursor"; }, milliseconds(2000)));
  EXPECT_EQ(sget(*cur, "session"), b.session) << cur.text;
  ASSERT_TRUE(a->send_text(R"({"type":"select","ids":["x"]})"));
  std::vector<std::string> b_saw;
  IT_ASSERT_JSON(sel, ReadUntil(*b.ws, [](const JsonResult& m) { return m.type() == "select"; }, milliseconds(2000), &b_saw));
  EXPECT_TRUE(Mentioning(b_saw, R"("type":"edit")").empty()) << "the unavailable edit was relayed:" << Joined(b_saw);

  // Redis comes back: the same edit (same id) is acked within a few seconds, once.
  std::string rerr;
  ASSERT_TRUE(redis_->restart(&rerr)) << rerr;
  auto t1 = Clock::now();
  JsonResult ack;
  std::vector<std::string> answers;
  while (SecondsSince(t1) < 15) {
    ASSERT_TRUE(a->send_text(edit_msg("b", "while-down", "", "e-1")));
    JsonResult r = ReadUntil(*a.ws, [](const JsonResult& m) { return m.type() == "ack" || m.type() == "error"; },
                             milliseconds(6000));
    ASSERT_TRUE(r.ok) << "no answer to an edit after Redis restarted: " << r.error;
    if (r.type() == "ack") {
      ack = std::move(r);
      break;
    }
    answers.push_back(r.text);
    std::this_thread::sleep_for(milliseconds(300));
  }
  ASSERT_TRUE(ack.ok) << "no ack within 15 s of Redis restarting; answers:" << Joined(answers);
  std::fprintf(stderr, "[cluster] edits acked again %.2f s after Redis restarted (%zu unavailable before)\n",
               SecondsSince(t1), answers.size());
  EXPECT_FALSE(IsTrue(*ack, "duplicate")) << "the edit refused as unavailable had been applied: " << ack.text;
  for (auto& s : answers) EXPECT_NE(s.find("unavailable"), std::string::npos) << s;
  long long seq = iget(*ack, "seq");
  IT_ASSERT_JSON(e, ReadUntil(*c.ws, [](const JsonResult& m) { return m.type() == "edit"; }, milliseconds(5000)));
  EXPECT_EQ(sget(*e, "op"), "while-down") << e.text;
  EXPECT_EQ(iget(*e, "seq"), seq) << e.text;

  // Cameras cross instances again.
  bool crossed = false;
  auto t2 = Clock::now();
  for (int i = 0; i < 50 && !crossed; ++i) {
    ASSERT_TRUE(a->send_text(CursorWithFov(1000 + i)));
    JsonResult m = ReadUntil(*c.ws, [](const JsonResult& x) { return x.type() == "cursor"; }, milliseconds(200));
    crossed = m.ok && sget(*m, "session") == a.session;
  }
  EXPECT_TRUE(crossed) << "no camera from instance 1 reached instance 2 after Redis came back";
  std::fprintf(stderr, "[cluster] cameras crossed instances again after %.2f s more\n", SecondsSince(t2));
}

// Redis restarts empty (no persistence): the room's history is gone, so its seq restarts
// in a new epoch (docs/protocol.md 3.3). A connected client never sees seq go backwards without a
// `resync` first; a `since` counted in the old epoch gets resync on every instance.
TEST_F(ClusterTest, WhenRedisLosesItsDataTheRoomStartsANewEpochAndClientsAreResynced) {
  ASSERT_NO_FATAL_FAILURE(StartRedis(/*appendonly=*/false));
  START_INSTANCE(i1);
  START_INSTANCE(i2);
  Client a = JoinOn(i1->port(), "r", "alice");
  Client c = JoinOn(i2->port(), "r", "carol");
  ASSERT_TRUE(a && c);
  for (int k = 1; k <= 3; ++k) {
    ASSERT_TRUE(a->send_text(edit_msg("b", "old" + std::to_string(k), "", "old-" + std::to_string(k))));
    IT_ASSERT_JSON(ack, ReadUntil(*a.ws, [](const JsonResult& m) { return m.type() == "ack"; }, milliseconds(5000)));
    ASSERT_EQ(iget(*ack, "seq"), k) << ack.text;
  }
  for (int k = 1; k <= 3; ++k)
    ASSERT_TRUE(ReadUntil(*c.ws, [](const JsonResult& m) { return m.type() == "edit"; }, milliseconds(5000)).ok);

  redis_->kill_hard();
  std::string rerr;
  ASSERT_TRUE(redis_->restart(&rerr)) << rerr;
  bool ok = false;
  EXPECT_EQ(redis_->command({"DBSIZE"}, &ok), "0") << "test bug: Redis kept its data";

  // alice retries one edit until it is acked; everything she receives is kept.
  std::vector<std::string> a_saw;
  JsonResult ack;
  auto t0 = Clock::now();
  while (SecondsSince(t0) < 15 && !ack.ok) {
    ASSERT_TRUE(a->send_text(edit_msg("b", "new1", "", "new-1")));
    auto deadline = Clock::now() + milliseconds(6000);
    while (Clock::now() < deadline) {
      JsonResult m = a->recv_json(std::chrono::duration_cast<Millis>(deadline - Clock::now()));
      ASSERT_TRUE(m.ok) << "alice: " << m.error << "; so far:" << Joined(a_saw);
      a_saw.push_back(m.text);
      if (m.type() == "ack") {
        ack = std::move(m);
        break;
      }
      if (m.type() == "error") break;
    }
    if (!ack.ok) std::this_thread::sleep_for(milliseconds(300));
  }
  ASSERT_TRUE(ack.ok) << "no ack within 15 s of Redis restarting empty:" << Joined(a_saw);
  std::fprintf(stderr, "[cluster] after Redis lost its data alice received:%s\n", Joined(a_saw).c_str());
  long long new_seq = iget(*ack, "seq");
  bool resynced = !Mentioning(a_saw, R"("type":"resync")").empty();
  EXPECT_TRUE(new_seq > 3 || resynced) << "seq went back from 3 to " << new_seq << " without a resync:" << Joined(a_saw);
  if (resynced) {
    size_t at = 0;
    while (at < a_saw.size() && a_saw[at].find(R"("type":"resync")") == std::string::npos) ++at;
    EXPECT_LT(at, a_saw.size() - 1) << "the resync must come before the ack of the new history";
  }
  // carol (instance 2): the new edit, after a resync if seq went back.
  std::vector<std::string> c_saw;
  IT_ASSERT_JSON(e, ReadUntil(*c.ws, [](const JsonResult& m) { return m.type() == "edit"; }, milliseconds(5000), &c_saw));
  EXPECT_EQ(sget(*e, "op"), "new1") << e.text;
  EXPECT_EQ(iget(*e, "seq"), new_seq) << e.text;
  if (new_seq <= 3) {
    EXPECT_FALSE(Mentioning(c_saw, R"("type":"resync")").empty())
        << "carol saw seq go back to " << new_seq << " without a resync:" << Joined(c_saw);
  }

  // Everyone agrees on the new epoch; the old one gets resync on both instances.
  Client n1 = JoinOn(i1->port(), "r", "n1");
  Client n2 = JoinOn(i2->port(), "r", "n2", SinceFields(3, a.epoch));
  ASSERT_TRUE(n1 && n2);
  EXPECT_NE(n1.epoch, a.epoch) << "the seq restarted but the epoch did not change";
  EXPECT_EQ(n1.epoch, n2.epoch);
  EXPECT_EQ(n1.seq, new_seq) << n1.welcome.text;
  IT_ASSERT_JSON(rs, n2->recv_json(milliseconds(5000)));
  EXPECT_EQ(rs.type(), "resync") << "a since in the lost epoch: " << rs.text;
}

// ------------------------------------------------------------------ 10. pub/sub connection killed

TEST_F(ClusterTest, EditsPublishedWhileThePubSubConnectionWasKilledAreRecoveredInOrder) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1);
  START_INSTANCE(i2);
  Client o = JoinOn(i2->port(), "r", "obs");
  ASSERT_TRUE(o);
  EditSender s;
  s.room = "r";
  s.user = "writer";
  s.prefix = "w";
  s.total = 60;
  s.pace = milliseconds(20);
  s.ports = {i1->port()};
  ASSERT_TRUE(s.Start());
  std::vector<std::pair<long long, std::string>> seen;
  std::vector<std::string> obs_other;
  int kills = 0;
  std::string kill_replies;
  Clock::time_point all_acked{};
  auto t0 = Clock::now();
  while (SecondsSince(t0) < 30) {
    int acks = s.ack_count.load();
    if ((kills == 0 && acks >= 15) || (kills == 1 && acks >= 35)) {
      bool ok = false;
      kill_replies += " [" + redis_->command({"CLIENT", "KILL", "TYPE", "pubsub"}, &ok) + "]";
      EXPECT_TRUE(ok) << kill_replies;
      ++kills;
    }
    if (acks == s.total && all_acked == Clock::time_point{}) all_acked = Clock::now();
    if (int(seen.size()) >= s.total && acks == s.total) break;
    if (!s.errors.empty()) break;
    if (all_acked != Clock::time_point{} && Clock::now() - all_acked > milliseconds(6000)) break;
    JsonResult m = o->recv_json(milliseconds(50));
    if (m.ok) {
      if (m.type() == "edit") seen.emplace_back(iget(*m, "seq"), sget(*m, "op"));
      else if (m.type() != "presence") obs_other.push_back(m.text);
    } else if (m.status != RecvStatus::Timeout) {
      obs_other.push_back("<" + m.error + ">");
      break;
    }
  }
  // How long after the last ack the observer had every edit (0: at once).
  double after_last_ack = all_acked == Clock::time_point{} ? -1 : SecondsSince(all_acked);
  s.stop = true;
  s.Join();
  std::fprintf(stderr, "[cluster] CLIENT KILL TYPE pubsub x%d, replies:%s; observer had %zu of %d edits %.2f s after the last ack\n",
               kills, kill_replies.c_str(), seen.size(), s.total, after_last_ack);
  EXPECT_EQ(kills, 2);
  EXPECT_EQ(Joined(s.errors), Joined({}));
  ASSERT_EQ(s.acked.size(), size_t(s.total));
  EXPECT_TRUE(obs_other.empty()) << Joined(obs_other);
  std::string got;
  for (auto& [seq, op] : seen) got += " " + std::to_string(seq);
  ASSERT_EQ(seen.size(), size_t(s.total)) << "edits seen by the observer on instance 2 (seqs):" << got;
  for (size_t k = 0; k < seen.size(); ++k) {
    EXPECT_EQ(seen[k].first, static_cast<long long>(k + 1)) << "seqs:" << got;
    EXPECT_EQ(s.acked[seen[k].second], seen[k].first) << seen[k].second;
  }
  EXPECT_LE(after_last_ack, 5.0) << "a lost message must be recovered within 5 s";
  EXPECT_TRUE(o->expect_no_message(milliseconds(300)));
}

// ------------------------------------------------------------------ 11. presence API everywhere

TEST_F(ClusterTest, PresenceApiOnAnInstanceWithoutLocalMembersListsTheOthersSessions) {
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1);
  START_INSTANCE(i2);
  Client a = JoinOn(i1->port(), "r", "alice");
  Client b = JoinOn(i1->port(), "r", "bob");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->send_text(R"({"type":"select","ids":["b-1"]})"));
  ASSERT_TRUE(a->send_text(R"({"type":"cursor","position":[1,2,3],"target":[4,5,6],"fov":50})"));
  ASSERT_TRUE(b->send_text(R"({"type":"follow","session":)" + jstr(a.session) + "}"));
  ASSERT_TRUE(ReadUntil(*b.ws, [](const JsonResult& m) { return m.type() == "cursor"; }, milliseconds(3000)).ok);
  auto t0 = Clock::now();
  std::string raw;
  bool ok = WaitUntil([&] {
    auto d = PresenceApi(i2->port(), "r", &raw);
    const rapidjson::Value* ea = EntryOf(d, a.session);
    const rapidjson::Value* eb = EntryOf(d, b.session);
    if (!ea || !eb || d.Size() != 2) return false;
    return IsTrue(*ea, "connected") && IsTrue(*eb, "connected") && has(*ea, "selection") &&
           json_equal((*ea)["selection"], parse(R"(["b-1"])")) && has(*ea, "camera") && (*ea)["camera"].IsObject() &&
           sget(*eb, "following") == a.session;
  }, milliseconds(2500));
  std::fprintf(stderr, "[cluster] presence API on the other instance complete after %.2f s\n", SecondsSince(t0));
  EXPECT_TRUE(ok) << "presence API on instance 2 (no local member) does not list instance 1's sessions with their "
                     "state within 2 s: "
                  << raw << "\nRedis HGETALL rc:{r}:who now: " << redis_->command({"HGETALL", "rc:{r}:who"});
  auto d = PresenceApi(i2->port(), "r", &raw);
  if (const rapidjson::Value* ea = EntryOf(d, a.session)) {
    EXPECT_EQ(sget((*ea)["user"], "id"), "alice") << raw;
  }
  // A late joiner on instance 2 sees the same state in its welcome.
  Client late = JoinOn(i2->port(), "r", "late");
  ASSERT_TRUE(late);
  const rapidjson::Value* pa = PeerIn(late.welcome, a.session);
  const rapidjson::Value* pb = PeerIn(late.welcome, b.session);
  ASSERT_TRUE(pa && pb) << late.welcome.text;
  EXPECT_TRUE(has(*pa, "selection") && json_equal((*pa)["selection"], parse(R"(["b-1"])"))) << late.welcome.text;
  EXPECT_TRUE(has(*pa, "camera") && (*pa)["camera"].IsObject()) << late.welcome.text;
  EXPECT_EQ(sget(*pb, "following"), a.session) << late.welcome.text;
  // A room nobody is in is empty on both.
  for (auto* p : {i1, i2}) {
    auto e = PresenceApi(p->port(), "nobody-here", &raw);
    EXPECT_TRUE(e.IsArray() && e.Size() == 0) << raw;
  }
  // After a leave on instance 1, instance 2's API drops the session.
  ASSERT_TRUE(b->send_text(R"({"type":"leave"})"));
  ok = WaitUntil([&] {
    auto d2 = PresenceApi(i2->port(), "r", &raw);
    return d2.IsArray() && !EntryOf(d2, b.session) && EntryOf(d2, a.session);
  }, milliseconds(2500));
  EXPECT_TRUE(ok) << "after bob's leave: " << raw;
}

// ------------------------------------------------------------------ 12. without --redis

TEST_F(ClusterTest, WithoutRedisEachInstanceIsItsOwnWorld) {
  START_INSTANCE(i1, {}, /*with_redis=*/false);
  START_INSTANCE(i2, {}, /*with_redis=*/false);
  Client a = JoinOn(i1->port(), "r", "alice");
  Client b = JoinOn(i1->port(), "r", "bob");
  Client c = JoinOn(i2->port(), "r", "carol");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ((*c.welcome)["peers"].Size(), 0u) << c.welcome.text;
  EXPECT_NE(c.epoch, a.epoch) << "two unrelated histories share an epoch";
  ASSERT_TRUE(a->send_text(edit_msg("b", "op", "", "id-1")));
  IT_ASSERT_JSON(ack, ReadUntil(*a.ws, [](const JsonResult& m) { return m.type() == "ack"; }, milliseconds(3000)));
  EXPECT_EQ(iget(*ack, "seq"), 1);
  IT_ASSERT_JSON(e, ReadUntil(*b.ws, [](const JsonResult& m) { return m.type() == "edit"; }, milliseconds(3000)));
  EXPECT_EQ(iget(*e, "seq"), 1);
  EXPECT_TRUE(c->expect_no_message(milliseconds(500))) << "an instance without --redis relayed across processes";
  ASSERT_TRUE(c->send_text(edit_msg("b", "op", "", "id-1")));
  IT_ASSERT_JSON(ack2, ReadUntil(*c.ws, [](const JsonResult& m) { return m.type() == "ack"; }, milliseconds(3000)));
  EXPECT_EQ(iget(*ack2, "seq"), 1) << "its own seq: " << ack2.text;
}


// ------------------------------------------------------------------ protocol 1.2

// docs/protocol.md 7.1-7.2 with --redis: roles and the presenter are the same on every
// instance; a late joiner on another instance sees welcome.presenter within 2 s.
TEST_F(ClusterTest, RolesAndThePresenterAreTheSameOnEveryInstance) {
  const std::string secret = "cluster-protocol-12-secret-0123456789";
  TempFile secret_file(secret);
  auto token = [&](const std::string& sub, const std::string& claims) {
    return roomcast::jwt_sign::sign(R"({"alg":"HS256","typ":"JWT"})",
                                    R"({"sub":)" + jstr(sub) + R"(,"exp":)" +
                                        std::to_string(static_cast<long long>(std::time(nullptr)) + 3600) + claims + "}",
                                    secret);
  };
  ASSERT_NO_FATAL_FAILURE(StartRedis());
  START_INSTANCE(i1, {"--jwt-secret-file", secret_file.path});
  START_INSTANCE(i2, {"--jwt-secret-file", secret_file.path});
  Client a = JoinOn(i1->port(), "r?token=" + token("alice", ""), "alice");
  ASSERT_TRUE(a);
  Client v = JoinOn(i2->port(), "r?token=" + token("vera", R"(,"edit":[])"), "vera");
  ASSERT_TRUE(v);
  EXPECT_EQ(sget(*v.welcome, "role"), "viewer") << v.welcome.text;
  IT_ASSERT_JSON(vj, WaitPresence(*a.ws, "join", v.session, milliseconds(5000)));
  EXPECT_EQ(sget(*vj, "role"), "viewer") << "presence join relayed with its role: " << vj.text;

  ASSERT_TRUE(v->send_text(R"({"type":"present"})"));
  IT_ASSERT_JSON(refused, v->recv_json(milliseconds(5000)));
  EXPECT_EQ(sget(*refused, "code"), "forbidden") << refused.text;

  ASSERT_TRUE(a->send_text(R"({"type":"present"})"));
  auto presented = Clock::now();
  IT_ASSERT_JSON(pv, v->recv_until_type("presenting", milliseconds(5000)));
  EXPECT_EQ(sget(*pv, "session"), a.session) << pv.text;
  EXPECT_EQ(sget((*pv)["user"], "id"), "alice") << pv.text;

  // A late joiner on the other instance, 2 s later.
  std::this_thread::sleep_until(presented + milliseconds(2000));
  Client b = JoinOn(i2->port(), "r?token=" + token("bob", ""), "bob");
  ASSERT_TRUE(b);
  EXPECT_EQ(sget(*b.welcome, "presenter"), a.session) << b.welcome.text;
  const rapidjson::Value* pa = PeerIn(b.welcome, a.session);
  ASSERT_TRUE(pa) << b.welcome.text;
  EXPECT_EQ(sget(*pa, "role"), "editor") << b.welcome.text;
  const rapidjson::Value* pvv = PeerIn(b.welcome, v.session);
  ASSERT_TRUE(pvv) << b.welcome.text;
  EXPECT_EQ(sget(*pvv, "role"), "viewer") << b.welcome.text;
  // And the presence API on the instance the viewer is not on.
  HttpResponse r = http_get(i1->port(), "/api/rooms/r/presence", "Authorization: Bearer " + token("alice", "") + "\r\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_NE(r.body.find(R"("role":"viewer")"), std::string::npos) << r.body;

  // A refresh on instance 2 makes the viewer an editor: instance 1 hears the role event.
  ASSERT_TRUE(v->send_text(R"({"type":"refresh","token":)" + jstr(token("vera", "")) + "}"));
  IT_ASSERT_JSON(role, WaitPresence(*a.ws, "role", v.session, milliseconds(5000)));
  EXPECT_EQ(sget(*role, "role"), "editor") << role.text;

  // Takeover from instance 2, then the presenter leaves: everyone hears presenting null.
  ASSERT_TRUE(b->send_text(R"({"type":"present"})"));
  IT_ASSERT_JSON(t, a->recv_until_type("presenting", milliseconds(5000)));
  EXPECT_EQ(sget(*t, "session"), b.session) << t.text;
  ASSERT_TRUE(b->send_text(R"({"type":"leave"})"));
  IT_ASSERT_JSON(end, a->recv_until_type("presenting", milliseconds(5000)));
  EXPECT_TRUE((*end)["session"].IsNull()) << end.text;
  IT_ASSERT_JSON(end_v, v->recv_until_type("presenting", milliseconds(5000)));
  EXPECT_EQ(sget(*end_v, "session"), b.session) << "first the takeover: " << end_v.text;
  IT_ASSERT_JSON(end_v2, v->recv_until_type("presenting", milliseconds(5000)));
  EXPECT_TRUE((*end_v2)["session"].IsNull()) << end_v2.text;
}

}  // namespace
}  // namespace it
