// Unit tests for the disk store port (core/durable/durable_store.h) with the real disk engine
// in a temporary directory and members without sockets (FakeClient). What a member would
// notice: edits in flight get consecutive seqs, the others see an edit only once it is on
// disk, a resend of an edit being written gets its seq marked duplicate, a restart keeps
// epoch, seq, history and edit ids, and a failed write consumes no seq (the edits behind
// it fail too, the next one takes the failed seq).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <vector>

#include "core/durable/durable_store.h"
#include "core/room/room_service.h"
#include "tests/core/durable/disk_answers.h"
#include "tests/core/room/fake_client.h"

namespace roomcast {
namespace {

using testing_support::FakeClient;

struct Answers final : DurablePort {
  std::vector<std::string> got;
  void published(uint64_t ticket, bool ok, uint64_t seq) override {
    got.push_back(std::to_string(ticket) + (ok ? " ok " : " failed ") + std::to_string(seq));
  }
};

class DurableStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/roomcast-durable-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    close_all();
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    (void)!std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  // The engine on `dir_`, a fresh domain and store, the loaded rooms restored.
  void open() {
    disk::DiskOptions options;
    options.dir = dir_ + "/data";
    options.history_limit = config_.history;
    std::vector<disk::LoadedRoom> rooms;
    std::string error;
    disk_ = disk::DiskStore::open(options, rooms, error);
    ASSERT_TRUE(disk_) << error;
    service_ = std::make_unique<RoomService>(config_, 0, metrics_);
    store_ = std::make_unique<DurableStore>(*service_, disk_->client(), answers_, metrics_);
    store_->restore(std::move(rooms), now_ns_);
  }
  void close_all() {
    clients_.clear();
    store_.reset();
    service_.reset();
    disk_.reset();
  }
  FakeClient& joined(const std::string& user) {
    clients_.push_back(std::make_unique<FakeClient>(&dirty_, uint32_t(clients_.size()), "r", service_.get()));
    FakeClient& c = *clients_.back();
    send(c, R"({"type":"join","user":{"id":")" + user + R"("}})");
    return c;
  }
  void send(FakeClient& c, const std::string& json) { service_->receive(c.member, json, now_ns_); }
  // Waits (bounded) until the engine has answered `n` more records (room files and
  // edits, stored or failed), handling the answers as the loop does.
  // Waits (bounded) until the engine answered `n` more records, then handles the answers.
  void settle(uint64_t n) {
    const uint64_t want = base_ + n;
    base_ = testing_support::wait_for_disk_answers(*disk_, want);
    store_->drain(now_ns_);
    ASSERT_EQ(base_, want) << "the engine did not answer in time";
  }
  std::vector<std::string> types(FakeClient& c) {
    std::vector<std::string> out;
    for (const std::string& p : c.all()) {
      rapidjson::Document d;
      d.Parse(p.c_str(), p.size());
      std::string t = d["type"].GetString();
      if (t == "edit") t += " " + std::to_string(d["seq"].GetUint64()) + " " + d["building"].GetString();
      if (t == "ack") t += " " + std::to_string(d["seq"].GetUint64()) + (d.HasMember("duplicate") ? " dup" : "");
      if (t == "error") t += std::string(" ") + d["code"].GetString();
      out.push_back(t);
    }
    return out;
  }
  static std::string edit(const std::string& building, const std::string& id) {
    return R"({"type":"edit","building":")" + building + R"(","op":"set","id":")" + id + R"("})";
  }

  Config config_;
  Metrics metrics_;
  Answers answers_;
  std::string dir_;
  bool mounted_ = false;
  std::unique_ptr<disk::DiskStore> disk_;
  std::unique_ptr<RoomService> service_;
  std::unique_ptr<DurableStore> store_;
  DirtyList dirty_;
  std::vector<std::unique_ptr<FakeClient>> clients_;
  int64_t now_ns_ = 1'000'000'000;
  uint64_t base_ = 0;  // records the engine had answered before the current settle()
};

TEST_F(DurableStoreTest, EditsInFlightGetConsecutiveSeqsAndReachOthersOnlyOnceOnDisk) {
  ASSERT_NO_FATAL_FAILURE(open());
  FakeClient& a = joined("alice");
  FakeClient& b = joined("bob");
  FakeClient& c = joined("carol");
  ASSERT_NO_FATAL_FAILURE(settle(1));  // the room's file
  a.drain(), b.drain(), c.drain();
  send(a, edit("a1", "1"));
  send(b, edit("b1", "1"));
  EXPECT_TRUE(c.nothing_queued()) << "an edit must not reach anyone before it is on disk";
  ASSERT_NO_FATAL_FAILURE(settle(2));
  EXPECT_EQ(types(a), (std::vector<std::string>{"ack 1", "edit 2 b1"}));
  EXPECT_EQ(types(b), (std::vector<std::string>{"edit 1 a1", "ack 2"}));
  EXPECT_EQ(types(c), (std::vector<std::string>{"edit 1 a1", "edit 2 b1"}));
}

TEST_F(DurableStoreTest, AResendWhileTheEditIsBeingWrittenGetsItsSeqAsDuplicate) {
  ASSERT_NO_FATAL_FAILURE(open());
  FakeClient& a = joined("alice");
  FakeClient& again = joined("alice");  // the same user on another connection
  FakeClient& c = joined("carol");
  a.drain(), again.drain(), c.drain();
  send(a, edit("x", "same-id"));
  send(again, edit("x", "same-id"));
  ASSERT_NO_FATAL_FAILURE(settle(2));  // the room's file and one edit
  EXPECT_EQ(types(a), (std::vector<std::string>{"ack 1"}));
  EXPECT_EQ(types(again), (std::vector<std::string>{"edit 1 x", "ack 1 dup"}));
  EXPECT_EQ(types(c), (std::vector<std::string>{"edit 1 x"})) << "applied once";
}

TEST_F(DurableStoreTest, ARestartKeepsEpochSeqHistoryAndEditIds) {
  ASSERT_NO_FATAL_FAILURE(open());
  FakeClient& a = joined("alice");
  for (int i = 1; i <= 3; ++i) send(a, edit("b" + std::to_string(i), "e" + std::to_string(i)));
  // One at a time: a sender's next message waits for its edit's ack.
  ASSERT_NO_FATAL_FAILURE(settle(2));  // the room's file and the first edit
  ASSERT_NO_FATAL_FAILURE(settle(1));
  ASSERT_NO_FATAL_FAILURE(settle(1));
  const std::string epoch = service_->find_room("r")->epoch();
  close_all();
  base_ = 0;
  ASSERT_NO_FATAL_FAILURE(open());
  const Room* room = service_->find_room("r");
  ASSERT_NE(room, nullptr) << "every kept room is made at start (its TTL counts from then)";
  EXPECT_EQ(room->epoch(), epoch);
  EXPECT_EQ(room->seq(), 3u);
  EXPECT_EQ(room->history().size(), 3u);
  FakeClient& back = joined("alice");
  back.drain();
  send(back, edit("b2", "e2"));
  EXPECT_EQ(types(back), (std::vector<std::string>{"ack 2 dup"}));
  send(back, edit("b4", "e4"));
  ASSERT_NO_FATAL_FAILURE(settle(1));
  EXPECT_EQ(types(back), (std::vector<std::string>{"ack 4"}));
}

TEST_F(DurableStoreTest, AFailedWriteConsumesNoSeqAndTheEditsBehindItFailToo) {
  if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=256k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(errno) << "): needs root";
  mounted_ = true;
  ASSERT_NO_FATAL_FAILURE(open());
  FakeClient& a = joined("alice");
  FakeClient& b = joined("bob");
  FakeClient& c = joined("carol");
  ASSERT_NO_FATAL_FAILURE(settle(1));
  a.drain(), b.drain(), c.drain();
  const std::string filler = dir_ + "/filler";
  int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  const std::string chunk(4096, 'x');
  for (int i = 0; i < 256 && ::write(fd, chunk.data(), chunk.size()) > 0; ++i) {
  }
  ::close(fd);
  // Each edit big enough to need a new page of the full file system.
  const std::string big(6000, 'y');
  auto big_edit = [&](const std::string& building) {
    return R"({"type":"edit","building":")" + building + R"(","op":"set","data":")" + big + R"("})";
  };
  send(a, big_edit("a1"));
  send(b, big_edit("b1"));
  ASSERT_NO_FATAL_FAILURE(settle(2));
  EXPECT_EQ(types(a), (std::vector<std::string>{"error unavailable"}));
  EXPECT_EQ(types(b), (std::vector<std::string>{"error unavailable"}));
  EXPECT_TRUE(c.nothing_queued());
  EXPECT_EQ(service_->find_room("r")->seq(), 0u);
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  send(b, big_edit("b2"));
  ASSERT_NO_FATAL_FAILURE(settle(1));
  EXPECT_EQ(types(b), (std::vector<std::string>{"ack 1"}));
  EXPECT_EQ(types(c), (std::vector<std::string>{"edit 1 b2"}));
}

TEST_F(DurableStoreTest, ThePublishApiIsAnsweredOnceTheEditIsOnDisk) {
  ASSERT_NO_FATAL_FAILURE(open());
  FakeClient& c = joined("carol");
  c.drain();
  ClientMessage msg;
  msg.type = MessageType::Edit;
  msg.building = "p";
  msg.op = "set";
  service_->publish_stored("r", msg, 77, now_ns_);
  EXPECT_TRUE(answers_.got.empty());
  EXPECT_TRUE(c.nothing_queued());
  ASSERT_NO_FATAL_FAILURE(settle(2));
  EXPECT_EQ(answers_.got, (std::vector<std::string>{"77 ok 1"}));
  EXPECT_EQ(types(c), (std::vector<std::string>{"edit 1 p"}));
}

}  // namespace
}  // namespace roomcast
