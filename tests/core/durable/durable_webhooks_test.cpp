// Unit tests of the disk store's webhook outbox (core/durable/durable_store.h,
// docs/durability.md "The webhook outbox") with the real disk engine in a temporary
// directory, the real HookBackend making the events, and members without sockets. What a
// backend would notice: each event arrives once from the store (an edit's is not enqueued
// a second time by the hooks), in order, numbered per room; events not acknowledged
// survive compaction and a restart and are offered again at start, acknowledged ones are
// not; a full delivery loses nothing (the store offers the refused events again, in order).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "core/durable/durable_store.h"
#include "core/hooks/hook_backend.h"
#include "core/room/room_service.h"
#include "tests/core/durable/disk_answers.h"
#include "tests/core/room/fake_client.h"

namespace roomcast {
namespace {

using testing_support::FakeClient;

struct NoPublish final : DurablePort {
  void published(uint64_t, bool, uint64_t) override {}
};

// The delivery as the store sees it: takes events (or refuses them while `full`).
struct Sink final : KeptEvents {
  struct Got {
    std::string room;
    uint64_t number;
    std::string id;
    std::string body;
  };
  std::vector<Got> got;
  bool full = false;
  bool deliver(std::string_view room, uint64_t number, const HookEvent& e) override {
    if (full) return false;
    got.push_back({std::string(room), number, e.id, e.body});
    return true;
  }
};

// HookBackend's outbox with the disk store (as core/server/store_webhooks.h wires it):
// joins and leaves become the store's records.
struct ToStore final : WebhookOutbox {
  DurableStore* store = nullptr;
  int appended = 0;
  void append(WebhookEvent e) override {
    ++appended;
    store->keep_event(e.room, HookEvent{e.id, e.body, e.created_ms});
  }
};

class DurableWebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/roomcast-durable-hooks-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
    config_.webhook_url = "http://127.0.0.1:9/events";  // never asked: the sink stands in
    config_.history = 10;
  }
  void TearDown() override {
    close_all();
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    (void)!std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  // `sink_full`: the delivery refuses everything from the start (a backend down).
  void open(bool sink_full = false) {
    disk::DiskOptions options;
    options.dir = dir_ + "/data";
    options.history_limit = config_.history;
    std::vector<disk::LoadedRoom> rooms;
    std::string error;
    disk_ = disk::DiskStore::open(options, rooms, error);
    ASSERT_TRUE(disk_) << error;
    service_ = std::make_unique<RoomService>(config_, 0, metrics_);
    outbox_ = std::make_unique<ToStore>();
    backend_ = std::make_unique<HookBackend>(config_, nullptr, 0, outbox_.get());
    service_->attach_backend(*backend_);
    store_ = std::make_unique<DurableStore>(*service_, disk_->client(), answers_, metrics_);
    outbox_->store = store_.get();
    sink_ = std::make_unique<Sink>();
    sink_->full = sink_full;
    store_->deliver_events_to(sink_.get());
    store_->restore(std::move(rooms), now_ns_);
    base_ = 0;
  }
  void close_all() {
    clients_.clear();
    store_.reset();
    backend_.reset();
    service_.reset();
    disk_.reset();
  }
  FakeClient& joined(const std::string& user) {
    clients_.push_back(std::make_unique<FakeClient>(&dirty_, uint32_t(clients_.size()), "r", service_.get()));
    FakeClient& c = *clients_.back();
    service_->receive(c.member, R"({"type":"join","user":{"id":")" + user + R"("}})", now_ns_);
    return c;
  }
  void send_edit(FakeClient& c, int n) {
    service_->receive(c.member,
                      R"({"type":"edit","building":"b","op":"set","id":"e)" + std::to_string(n) + R"("})", now_ns_);
  }
  // Waits (bounded) until the engine answered `n` more records, then handles the answers.
  void settle(uint64_t n) {
    const uint64_t want = base_ + n;
    base_ = testing_support::wait_for_disk_answers(*disk_, want);
    store_->drain(now_ns_);
    ASSERT_EQ(base_, want) << "the engine did not answer in time";
  }
  std::vector<std::string> ids() const {
    std::vector<std::string> out;
    for (const Sink::Got& g : sink_->got) out.push_back(std::to_string(g.number) + " " + g.id);
    return out;
  }

  Config config_;
  Metrics metrics_;
  NoPublish answers_;
  std::string dir_;
  std::unique_ptr<disk::DiskStore> disk_;
  std::unique_ptr<RoomService> service_;
  std::unique_ptr<ToStore> outbox_;
  std::unique_ptr<HookBackend> backend_;
  std::unique_ptr<DurableStore> store_;
  std::unique_ptr<Sink> sink_;
  DirtyList dirty_;
  std::vector<std::unique_ptr<FakeClient>> clients_;
  int64_t now_ns_ = 1'000'000'000;
  uint64_t base_ = 0;
  bool mounted_ = false;
};

TEST_F(DurableWebhooksTest, AnEditsEventIsWrittenWithItAndReachesTheDeliveryOnceAfterTheJoin) {
  ASSERT_NO_FATAL_FAILURE(open());
  FakeClient& a = joined("alice");
  ASSERT_NO_FATAL_FAILURE(settle(2));  // the room's file, the join's event
  send_edit(a, 1);
  EXPECT_TRUE(sink_->got.size() == 1u) << "an edit's event goes out only once it is on disk";
  ASSERT_NO_FATAL_FAILURE(settle(1));  // one record: the edit and its event
  const std::string epoch = service_->find_room("r")->epoch();
  const std::string session = a.member.session->id;
  EXPECT_EQ(ids(), (std::vector<std::string>{"1 join:r:" + session, "2 edit:r:" + epoch + ":1"}));
  EXPECT_EQ(outbox_->appended, 1) << "the hooks enqueue only the join: the edit's event is the store's";
  EXPECT_NE(sink_->got[1].body.find(R"("id":"e1")"), std::string::npos) << sink_->got[1].body;
  EXPECT_EQ(store_->events_unacknowledged(), 2u);
}

TEST_F(DurableWebhooksTest, UnacknowledgedEventsSurviveCompactionAndARestartAcknowledgedOnesDoNot) {
  constexpr int kEdits = 120;
  constexpr uint64_t kLag = 20;  // the backend acknowledges 20 events behind
  ASSERT_NO_FATAL_FAILURE(open());
  FakeClient& a = joined("alice");
  ASSERT_NO_FATAL_FAILURE(settle(2));
  for (int n = 1; n <= kEdits; ++n) {
    send_edit(a, n);
    ASSERT_NO_FATAL_FAILURE(settle(1));
    const uint64_t last = uint64_t(n) + 1;  // the join is event 1
    if (last > kLag) {
      store_->events_done("r", last - kLag);
      ASSERT_NO_FATAL_FAILURE(settle(1));  // the ack record
    }
  }
  ASSERT_EQ(sink_->got.size(), size_t(kEdits) + 1);
  EXPECT_GT(disk_->stats().compactions, 0u) << "the log was compacted meanwhile";
  EXPECT_EQ(store_->events_unacknowledged(), kLag);
  const std::string epoch = service_->find_room("r")->epoch();
  EXPECT_TRUE(store_->keeps(*service_->find_room("r"))) << "a room with events not acknowledged keeps its file";

  close_all();
  ASSERT_NO_FATAL_FAILURE(open());
  // At start: exactly the 20 not acknowledged, in order, with their ids and bodies.
  std::vector<std::string> want;
  for (int seq = kEdits - int(kLag) + 1; seq <= kEdits; ++seq)
    want.push_back(std::to_string(seq + 1) + " edit:r:" + epoch + ":" + std::to_string(seq));
  EXPECT_EQ(ids(), want);
  EXPECT_NE(sink_->got.back().body.find(R"("seq":120)"), std::string::npos) << sink_->got.back().body;
  // New events continue the numbering.
  FakeClient& b = joined("bob");
  ASSERT_NO_FATAL_FAILURE(settle(1));
  EXPECT_EQ(sink_->got.back().number, uint64_t(kEdits) + 2);
  EXPECT_EQ(sink_->got.back().id, "join:r:" + b.member.session->id);
}

TEST_F(DurableWebhooksTest, AFullDeliveryLosesNothingTheRefusedEventsAreOfferedAgainInOrder) {
  ASSERT_NO_FATAL_FAILURE(open());
  FakeClient& a = joined("alice");
  ASSERT_NO_FATAL_FAILURE(settle(2));
  sink_->full = true;
  for (int n = 1; n <= 3; ++n) {
    send_edit(a, n);
    ASSERT_NO_FATAL_FAILURE(settle(1));
  }
  EXPECT_EQ(sink_->got.size(), 1u);
  sink_->full = false;
  store_->events_done("r", 1);  // the join delivered: room in the delivery again
  store_->offer_waiting();
  const std::string epoch = service_->find_room("r")->epoch();
  ASSERT_EQ(sink_->got.size(), 4u);
  for (int seq = 1; seq <= 3; ++seq) {
    EXPECT_EQ(sink_->got[size_t(seq)].number, uint64_t(seq) + 1);
    EXPECT_EQ(sink_->got[size_t(seq)].id, "edit:r:" + epoch + ":" + std::to_string(seq));
  }
}

// A backend down for long: the refused events beyond kWaitingInMemory stay on disk only,
// and are read back, in order and once each, when the delivery takes events again.
TEST_F(DurableWebhooksTest, ABacklogBeyondTheMemoryBoundStaysOnDiskAndIsReadBackInOrder) {
  ASSERT_NO_FATAL_FAILURE(open());
  FakeClient& a = joined("alice");
  ASSERT_NO_FATAL_FAILURE(settle(2));
  sink_->full = true;
  const int edits = int(DurableStore::kWaitingInMemory) + 44;
  for (int n = 1; n <= edits; ++n) {  // one at a time: the sender waits for each ack
    send_edit(a, n);
    ASSERT_NO_FATAL_FAILURE(settle(1));
  }
  EXPECT_EQ(store_->events_in_memory(), DurableStore::kWaitingInMemory) << "the rest is on disk only";
  sink_->full = false;
  store_->events_done("r", 1);
  store_->offer_waiting();
  EXPECT_EQ(sink_->got.size(), 1 + DurableStore::kWaitingInMemory);
  ASSERT_NO_FATAL_FAILURE(settle(2));  // the ack of the join, the read of the rest
  const std::string epoch = service_->find_room("r")->epoch();
  ASSERT_EQ(sink_->got.size(), size_t(1 + edits));
  for (int seq = 1; seq <= edits; ++seq) {
    ASSERT_EQ(sink_->got[size_t(seq)].number, uint64_t(seq) + 1);
    ASSERT_EQ(sink_->got[size_t(seq)].id, "edit:r:" + epoch + ":" + std::to_string(seq));
  }
  EXPECT_EQ(store_->events_in_memory(), 0u);
}

// The same bound at start: a restart with a long backlog holds only the first events.
TEST_F(DurableWebhooksTest, ARestartWithALongBacklogHoldsOnlyTheBoundInMemory) {
  ASSERT_NO_FATAL_FAILURE(open());
  FakeClient& a = joined("alice");
  ASSERT_NO_FATAL_FAILURE(settle(2));
  sink_->full = true;
  const int edits = int(DurableStore::kWaitingInMemory) + 10;
  for (int n = 1; n <= edits; ++n) {  // one at a time: the sender waits for each ack
    send_edit(a, n);
    ASSERT_NO_FATAL_FAILURE(settle(1));
  }
  close_all();
  ASSERT_NO_FATAL_FAILURE(open(/*sink_full=*/true));
  EXPECT_EQ(store_->events_in_memory(), DurableStore::kWaitingInMemory);
}

// A full disk (a 256 KiB tmpfs, needs root): a join's event whose record fails is kept
// and written again with the room's next record or at the next tick, so once space
// returns every join reaches the backend, in order, none twice, none lost.
TEST_F(DurableWebhooksTest, JoinEventsWhoseRecordFailedOnAFullDiskAreWrittenAgainAndDeliveredInOrder) {
  if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=256k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(errno) << "): needs root";
  mounted_ = true;
  ASSERT_NO_FATAL_FAILURE(open());
  joined("alice");
  ASSERT_NO_FATAL_FAILURE(settle(2));
  const std::string filler = dir_ + "/filler";
  int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  const std::string chunk(4096, 'x');
  for (int i = 0; i < 256 && ::write(fd, chunk.data(), chunk.size()) > 0; ++i) {
  }
  ::close(fd);
  // Joins until one's record finds the disk full (the journal's last page fills first).
  int joins = 1;
  for (int i = 0; i < 200 && disk_->stats().errors_no_space == 0; ++i) {
    joined("user" + std::to_string(i));
    ASSERT_NO_FATAL_FAILURE(settle(1));
    ++joins;
  }
  ASSERT_GT(disk_->stats().errors_no_space, 0u) << "the disk never filled";
  const size_t before = sink_->got.size();
  EXPECT_LT(before, size_t(joins)) << "the failed join's event was not offered";
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  store_->retry_events();  // the tick
  ASSERT_NO_FATAL_FAILURE(settle(1));
  ASSERT_EQ(sink_->got.size(), size_t(joins));
  std::set<std::string> ids;
  for (size_t i = 0; i < sink_->got.size(); ++i) {
    EXPECT_EQ(sink_->got[i].number, i + 1) << "in order, numbered without a gap";
    EXPECT_EQ(sink_->got[i].id.rfind("join:r:", 0), 0u) << sink_->got[i].id;
    ids.insert(sink_->got[i].id);
  }
  EXPECT_EQ(ids.size(), size_t(joins)) << "none twice";
}

}  // namespace
}  // namespace roomcast
