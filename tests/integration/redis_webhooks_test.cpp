// tests/integration/redis_webhooks_test.cpp: webhooks with --redis (docs/integration.md 4,
// docs/durability.md "The webhook outbox in Redis") with the real binary, a real
// redis-server and a test HTTP server as the backend: an edit acked by an instance has its
// event in the room's outbox in Redis, so a kill -9 of that instance while the backend is
// down loses none: another instance takes the rooms' deliveries over once the dead one's
// lease lapsed and sends every event, in seq order per room, with the same webhook-ids;
// and edits stored by two instances in one room reach the backend once each, in seq order.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "webhook_backend.h"
#include "redis_process.h"
#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// The backend: answers 503 while `down`, else 200 (tests/integration/webhook_backend.h).
struct Backend : WebhookBackend {
  Backend() : WebhookBackend(503) {}
};

// The ids in their first-delivery order (at least once: a repeat is the backend's to drop).
std::vector<std::string> first_seen(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const std::string& id : ids)
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  return out;
}

template <typename P>
bool WaitUntil(P pred, milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(25));
  }
  return pred();
}

class RedisWebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    redis_ = RedisProcess::start(&err);
    ASSERT_TRUE(redis_) << "could not start redis-server: " << err;
  }
  void TearDown() override {
    for (auto& p : instances_)
      if (p && p->running()) p->stop(SIGTERM, std::chrono::seconds(8));
    instances_.clear();
    if (redis_) redis_->stop();
  }
  ServerProcess* Start(const std::string& webhook, const std::string& threads = "1",
                       const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--threads", threads, "--redis", redis_->url(),
                                     "--webhook", webhook, "--rate-limit", "100000", "--rate-burst", "100000",
                                     "--hook-timeout", "2s"};
    args.insert(args.end(), extra.begin(), extra.end());
    if (const char* more = std::getenv("IT_ROOMCAST_ARGS")) {
      std::istringstream in(more);
      for (std::string a; in >> a;) args.push_back(a);
    }
    std::string err;
    auto p = ServerProcess::start(args, &err, std::chrono::seconds(10));
    EXPECT_TRUE(p) << err;
    if (!p) return nullptr;
    instances_.push_back(std::move(p));
    return instances_.back().get();
  }
  // Connects to `port`, joins `room` as `user`; the welcome's session and epoch.
  std::unique_ptr<WsClient> JoinOn(uint16_t port, const std::string& room, const std::string& user,
                                   std::string* session, std::string* epoch) {
    ConnectOptions o;
    o.path = "/ws/" + room;
    std::string e;
    auto ws = WsClient::connect(port, o, &e);
    EXPECT_TRUE(ws) << e;
    if (!ws) return ws;
    EXPECT_TRUE(ws->send_text(join_msg(user)));
    JsonResult w = ws->recv_until_type("welcome", milliseconds(5000));
    EXPECT_EQ(w.type(), "welcome") << w.text;
    if (!w.ok) return nullptr;
    if (session) *session = sget(*w, "session");
    if (epoch) *epoch = sget(*w, "epoch");
    return ws;
  }
  // One edit, acked: its seq (0 if not acked).
  static long long EditAcked(WsClient& ws, const std::string& id, int n) {
    if (!ws.send_text(edit_msg("B" + std::to_string(n), "set", R"({"n":)" + std::to_string(n) + "}", id))) return 0;
    for (int guard = 0; guard < 100; ++guard) {
      JsonResult r = ws.recv_json(milliseconds(5000));
      if (!r.ok || r.type() == "error") {
        ADD_FAILURE() << "edit " << id << ": " << (r.ok ? r.text : r.error);
        return 0;
      }
      if (r.type() == "ack" && sget(*r, "id") == id) return iget(*r, "seq");
    }
    return 0;
  }

  std::unique_ptr<RedisProcess> redis_;
  std::vector<std::unique_ptr<ServerProcess>> instances_;
};

TEST_F(RedisWebhooksTest, KillNineOfTheInstanceThatAckedTheEditsLosesNoEventAnotherInstanceDeliversThemInOrder) {
  constexpr int kEdits = 20;
  Backend backend;
  backend.down = true;
  ServerProcess* a = Start(backend.url());
  ServerProcess* b = Start(backend.url(), "2");  // two threads: each claims the rooms it serves
  ASSERT_TRUE(a && b);
  const std::vector<std::string> rooms = {"plant-a", "plant-b", "plant-c", "plant-d"};
  std::map<std::string, std::vector<std::string>> want;  // room -> ids, in order
  std::vector<std::unique_ptr<WsClient>> members;
  for (const std::string& room : rooms) {
    std::string session, epoch;
    auto m = JoinOn(a->port(), room, "alice-" + room, &session, &epoch);
    ASSERT_TRUE(m);
    want[room].push_back("join:" + room + ":" + session);
    for (int i = 1; i <= kEdits; ++i) {
      const long long seq = EditAcked(*m, room + "-e" + std::to_string(i), i);
      ASSERT_EQ(seq, i);
      want[room].push_back("edit:" + room + ":" + epoch + ":" + std::to_string(seq));
    }
    members.push_back(std::move(m));
  }
  // The backend was asked (and said 503): instance a delivers, nothing was accepted.
  ASSERT_TRUE(WaitUntil([&] { return backend.refused.load() >= int(rooms.size()); }, milliseconds(5000)));

  // kill -9 between the acks and any delivery; the backend comes back; b takes over.
  ExitStatus st = a->stop(SIGKILL, std::chrono::seconds(5));
  EXPECT_EQ(st.signal, SIGKILL) << st.describe();
  const auto killed = Clock::now();
  members.clear();
  backend.down = false;

  for (const std::string& room : rooms) {
    ASSERT_TRUE(WaitUntil([&] { return first_seen(backend.accepted(room)).size() >= want[room].size(); },
                          milliseconds(20000)))
        << room << ": " << first_seen(backend.accepted(room)).size() << " of " << want[room].size() << " delivered";
    std::vector<std::string> got = first_seen(backend.accepted(room));
    got.resize(want[room].size());
    EXPECT_EQ(got, want[room]) << "every acked edit's event, in order, same ids";
  }
  std::fprintf(stderr, "[redis-webhooks] all %zu events delivered by the other instance %.2f s after the kill -9\n",
               rooms.size() * (kEdits + 1),
               std::chrono::duration<double>(Clock::now() - killed).count());
  // Acknowledged events leave the outboxes in Redis (trimmed through the acked one).
  for (const std::string& room : rooms)
    EXPECT_TRUE(WaitUntil([&] { return redis_->command({"XLEN", "rc:{" + room + "}:hooks"}) == "0"; }, milliseconds(5000)))
        << room << ": the outbox still holds " << redis_->command({"XLEN", "rc:{" + room + "}:hooks"}) << " events";
  // The bodies are what was stored: seq, the client's id, the user, the data.
  rapidjson::Document e = parse(backend.body(want["plant-b"][7]));
  EXPECT_EQ(sget(e, "type"), "edit");
  EXPECT_EQ(iget(e, "seq"), 7);
  EXPECT_EQ(sget(e, "id"), "plant-b-e7");
  EXPECT_EQ(sget(e["user"], "id"), "alice-plant-b");
  EXPECT_EQ(iget(e["data"], "n"), 7);
  const std::string& id = want["plant-b"][7];  // edit:plant-b:<epoch>:7
  const size_t from = std::string("edit:plant-b:").size();
  EXPECT_EQ(sget(e, "epoch"), id.substr(from, id.rfind(':') - from));
}

TEST_F(RedisWebhooksTest, EditsStoredByTwoInstancesInOneRoomReachTheBackendOnceEachInSeqOrder) {
  constexpr int kRounds = 15;
  Backend backend;
  ServerProcess* a = Start(backend.url());
  ServerProcess* b = Start(backend.url());
  ASSERT_TRUE(a && b);
  std::string sa, sb, epoch;
  auto x = JoinOn(a->port(), "shared", "alice", &sa, &epoch);
  ASSERT_TRUE(x);
  auto y = JoinOn(b->port(), "shared", "bob", &sb, nullptr);
  ASSERT_TRUE(y);
  std::vector<std::string> edits;
  for (int i = 1; i <= kRounds; ++i) {
    const long long s1 = EditAcked(*x, "x" + std::to_string(i), i);
    ASSERT_GT(s1, 0);
    const long long s2 = EditAcked(*y, "y" + std::to_string(i), i);
    ASSERT_GT(s2, 0);
    edits.push_back("edit:shared:" + epoch + ":" + std::to_string(s1));
    edits.push_back("edit:shared:" + epoch + ":" + std::to_string(s2));
  }
  auto edit_ids = [&] {
    std::vector<std::string> out;
    for (const std::string& id : backend.accepted("shared"))
      if (id.rfind("edit:", 0) == 0) out.push_back(id);
    return out;
  };
  ASSERT_TRUE(WaitUntil([&] { return edit_ids().size() >= edits.size(); }, milliseconds(10000)))
      << edit_ids().size() << " of " << edits.size();
  std::this_thread::sleep_for(milliseconds(500));  // anything sent twice would have come by now
  EXPECT_EQ(edit_ids(), edits) << "once each (both instances apply every edit), in seq order";
  const std::vector<std::string> all = backend.accepted("shared");
  EXPECT_EQ(std::count(all.begin(), all.end(), "join:shared:" + sa), 1);
  EXPECT_EQ(std::count(all.begin(), all.end(), "join:shared:" + sb), 1);
}

// A member of a killed instance: the others see its `leave` once its instance's lease
// lapsed and the grace ended, and the backend hears that leave too, once, from the
// instance whose end script ended the session (its own instance cannot: it is dead).
TEST_F(RedisWebhooksTest, TheLeaveOfAKilledInstancesMemberReachesTheBackendOnce) {
  Backend backend;
  ServerProcess* a = Start(backend.url(), "1", {"--resume-grace", "1"});
  ServerProcess* b = Start(backend.url(), "1", {"--resume-grace", "1"});
  ASSERT_TRUE(a && b);
  std::string session_a, session_b, epoch;
  auto on_a = JoinOn(a->port(), "plant", "alice", &session_a, &epoch);
  auto on_b = JoinOn(b->port(), "plant", "bob", &session_b, &epoch);
  ASSERT_TRUE(on_a && on_b);
  const std::string join_a = "join:plant:" + session_a, leave_a = "leave:plant:" + session_a;
  ASSERT_TRUE(WaitUntil([&] { return first_seen(backend.accepted("plant")).size() >= 2; }, milliseconds(5000)));

  ExitStatus st = a->stop(SIGKILL, std::chrono::seconds(5));
  EXPECT_EQ(st.signal, SIGKILL) << st.describe();
  on_a.reset();
  bool saw_leave = false;
  const auto end = Clock::now() + std::chrono::seconds(20);
  while (!saw_leave && Clock::now() < end) {
    JsonResult r = on_b->recv_json(milliseconds(500));
    if (r.ok && r.type() == "presence" && sget(*r, "event") == "leave" && sget(*r, "session") == session_a) saw_leave = true;
  }
  ASSERT_TRUE(saw_leave) << "bob never saw alice leave";
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto ids = backend.accepted("plant");
        return std::find(ids.begin(), ids.end(), leave_a) != ids.end();
      },
      milliseconds(10000)))
      << "the backend never heard alice's leave";
  std::this_thread::sleep_for(milliseconds(500));
  auto ids = backend.accepted("plant");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), leave_a), 1) << "reported once";
  rapidjson::Document e = parse(backend.body(leave_a));
  EXPECT_EQ(sget(e, "type"), "leave");
  EXPECT_EQ(sget(e, "session"), session_a);
  EXPECT_EQ(sget(e["user"], "id"), "alice");
}

}  // namespace
}  // namespace it
