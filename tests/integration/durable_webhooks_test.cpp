// tests/integration/durable_webhooks_test.cpp: webhooks with --data-dir (docs/integration.md
// 4, docs/durability.md "The webhook outbox") with the real binary and a test HTTP server
// as the backend: edits acked while the backend answers 500 have their events on disk, so
// a kill -9 of roomcast before any of them was delivered loses none: the next start on
// the same directory sends every one, in order per room, with the same webhook-ids; and
// an event the backend acknowledged is not sent again after a restart.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "webhook_backend.h"
#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;

std::string MakeTempDir() {
  char templ[] = "/tmp/roomcast-webhooks-XXXXXX";
  const char* d = ::mkdtemp(templ);
  return d ? std::string(d) : std::string();
}

// The backend: answers 500 while `down`, else 200 (tests/integration/webhook_backend.h).
struct Backend : WebhookBackend {
  Backend() : WebhookBackend(500) {}
};

// The ids in their first-delivery order (at least once: a repeat is the backend's to drop).
std::vector<std::string> first_seen(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const std::string& id : ids)
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  return out;
}

class DurableWebhooksTest : public RoomcastTest {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    RoomcastTest::TearDown();
    if (dir_.rfind("/tmp/roomcast-webhooks-", 0) == 0) (void)!std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  void Start(const std::string& webhook) {
    ASSERT_NO_FATAL_FAILURE(StartServer({"--data-dir", dir_, "--webhook", webhook, "--threads", "2", "--rate-limit",
                                         "100000", "--rate-burst", "100000", "--hook-timeout", "2s"}));
  }
  // `n` edits from `m`, each acked; returns false on the first that is not.
  bool EditsAcked(Member& m, const std::string& prefix, int n) {
    for (int i = 1; i <= n; ++i) {
      const std::string id = prefix + std::to_string(i);
      if (!m->send_text(edit_msg("B" + std::to_string(i), "set", R"({"n":)" + std::to_string(i) + "}", id))) return false;
      bool acked = false;
      for (int guard = 0; guard < 100 && !acked; ++guard) {
        JsonResult r = m->recv_json(milliseconds(5000));
        if (!r.ok || r.type() == "error") {
          ADD_FAILURE() << "edit " << id << ": " << (r.ok ? r.text : r.error);
          return false;
        }
        acked = r.type() == "ack" && sget(*r, "id") == id;
      }
      if (!acked) return false;
    }
    return true;
  }
  template <typename P>
  static bool WaitUntil(P pred, milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(25));
    }
    return pred();
  }

  std::string dir_;
};

TEST_F(DurableWebhooksTest, KillNineWhileTheBackendIsDownLosesNoAckedEditsWebhook) {
  constexpr int kEdits = 25;
  Backend backend;
  backend.down = true;
  ASSERT_NO_FATAL_FAILURE(Start(backend.url()));
  const std::vector<std::string> rooms = {"plant-a", "plant-b", "plant-c"};
  std::map<std::string, std::vector<std::string>> want;  // room -> ids, in order
  std::vector<Member> members;
  for (const std::string& room : rooms) {
    JsonResult welcome;
    Member m = Join(room, "alice-" + room, std::nullopt, &welcome);
    ASSERT_TRUE(m.ws);
    const std::string epoch = sget(*welcome, "epoch");
    want[room].push_back("join:" + room + ":" + m.session);
    ASSERT_TRUE(EditsAcked(m, room + "-e", kEdits));
    for (int s = 1; s <= kEdits; ++s) want[room].push_back("edit:" + room + ":" + epoch + ":" + std::to_string(s));
    members.push_back(std::move(m));
  }
  // The backend was asked (and said 500): the events are queued, none delivered.
  ASSERT_TRUE(WaitUntil([&] { return backend.refused.load() >= int(rooms.size()); }, milliseconds(5000)));
  EXPECT_EQ(backend.total(), 0u);

  // kill -9 between the acks and any delivery; the backend comes back; same directory.
  ExitStatus st = server_->stop(SIGKILL, std::chrono::seconds(5));
  EXPECT_EQ(st.signal, SIGKILL) << st.describe();
  server_.reset();
  members.clear();
  backend.down = false;
  ASSERT_NO_FATAL_FAILURE(Start(backend.url()));

  for (const std::string& room : rooms) {
    ASSERT_TRUE(WaitUntil([&] { return first_seen(backend.accepted(room)).size() >= want[room].size(); },
                          milliseconds(15000)))
        << room << ": " << first_seen(backend.accepted(room)).size() << " of " << want[room].size() << " delivered";
    EXPECT_EQ(first_seen(backend.accepted(room)), want[room]) << "every acked edit's event, in order, same ids";
  }
  // The bodies are what was stored: seq, the client's id, the user.
  const std::string some = want["plant-b"][7];
  rapidjson::Document e = parse(backend.body(some));
  EXPECT_EQ(sget(e, "type"), "edit");
  EXPECT_EQ(iget(e, "seq"), 7);
  EXPECT_EQ(sget(e, "id"), "plant-b-e7");
  EXPECT_EQ(sget(e["user"], "id"), "alice-plant-b");
  EXPECT_EQ(iget(e["data"], "n"), 7);
}

TEST_F(DurableWebhooksTest, EventsTheBackendAcknowledgedAreNotSentAgainAfterARestart) {
  Backend backend;
  ASSERT_NO_FATAL_FAILURE(Start(backend.url()));
  Member m = Join("once", "bob");
  ASSERT_TRUE(m.ws);
  ASSERT_TRUE(EditsAcked(m, "o", 10));
  ASSERT_TRUE(WaitUntil([&] { return backend.accepted("once").size() >= 11; }, milliseconds(8000)))
      << "join and 10 edits delivered";
  // The acknowledgements reach the disk shortly after the 200s (a record of their own).
  std::this_thread::sleep_for(milliseconds(500));
  ExitStatus st = server_->stop(SIGKILL, std::chrono::seconds(5));
  EXPECT_EQ(st.signal, SIGKILL) << st.describe();
  server_.reset();
  m.ws.reset();
  ASSERT_NO_FATAL_FAILURE(Start(backend.url()));
  // A new member in another room: its join goes out, so the delivery is running.
  Member other = Join("later", "carol");
  ASSERT_TRUE(other.ws);
  ASSERT_TRUE(WaitUntil([&] { return !backend.accepted("later").empty(); }, milliseconds(8000)));
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(backend.accepted("once").size(), 11u) << "acknowledged events were sent again after the restart";
}

}  // namespace
}  // namespace it
