// DiskStore: what survives a reopen, a crash, a torn tail, a full disk, and what is refused.
#include "core/disk/disk_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>
#include <iterator>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <poll.h>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace roomcast::disk {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "roomcast-disk-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p) path = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string key_of(uint64_t seq) { return "u1\n" + std::to_string(seq); }
std::string frame_of(uint64_t seq) { return "{\"seq\":" + std::to_string(seq) + "}"; }

// Waits (bounded) on the client's eventfd until `ticket` completes; returns its error.
DiskError wait_for(DiskStore::Client& c, uint64_t ticket, std::map<uint64_t, DiskError>* seen = nullptr) {
  std::map<uint64_t, DiskError> local;
  std::map<uint64_t, DiskError>& done = seen ? *seen : local;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done.count(ticket) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{c.event_fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    c.drain([&](const DiskCompletion& d) { done[d.ticket] = d.error; });
  }
  return done.count(ticket) ? done[ticket] : DiskError::Stopped;
}

std::unique_ptr<DiskStore> open_store(const std::string& dir, std::vector<LoadedRoom>& rooms, size_t history = 100) {
  std::string error;
  DiskOptions o;
  o.dir = dir;
  o.history_limit = history;
  auto s = DiskStore::open(o, rooms, error);
  EXPECT_TRUE(s) << error;
  return s;
}

DiskError create_room(DiskStore::Client& c, const std::string& room, const std::string& epoch) {
  RoomState s;
  s.room = room;
  s.epoch = epoch;
  return wait_for(c, c.put_room(s));
}

DiskError append_edit(DiskStore::Client& c, const std::string& room, uint64_t seq, bool with_event = false) {
  std::string k = key_of(seq), f = frame_of(seq), id = "edit:" + std::to_string(seq);
  EditView e{seq, k, f, int64_t(seq)};
  EventView ev{seq, id, "body"};
  return wait_for(c, c.append(room, &e, with_event ? std::span<const EventView>(&ev, 1) : std::span<const EventView>()));
}

const LoadedRoom* find(const std::vector<LoadedRoom>& rooms, const std::string& name) {
  for (const LoadedRoom& r : rooms)
    if (r.state.room == name) return &r;
  return nullptr;
}

TEST(DiskStore, AckedEditsKeepEpochSeqHistoryKeysAndOutboxAcrossAReopen) {
  TempDir dir;
  {
    std::vector<LoadedRoom> rooms;
    auto store = open_store(dir.path, rooms);
    EXPECT_TRUE(rooms.empty());
    auto c = store->client();
    ASSERT_EQ(create_room(*c, "proj-1", "epoch-a"), DiskError::None);
    for (uint64_t s = 1; s <= 20; ++s) ASSERT_EQ(append_edit(*c, "proj-1", s, true), DiskError::None);
    ASSERT_EQ(wait_for(*c, c->ack_events("proj-1", 15)), DiskError::None);
  }
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  ASSERT_EQ(rooms.size(), 1u);
  const RoomState& s = rooms[0].state;
  EXPECT_EQ(rooms[0].outcome, LogOutcome::Clean);
  EXPECT_EQ(s.room, "proj-1");
  EXPECT_EQ(s.epoch, "epoch-a");
  EXPECT_EQ(s.seq, 20u);
  ASSERT_EQ(s.history.size(), 20u);
  for (uint64_t i = 0; i < 20; ++i) {
    EXPECT_EQ(s.history[i].seq, i + 1);
    EXPECT_EQ(s.history[i].key, key_of(i + 1));
    EXPECT_EQ(s.history[i].frame, frame_of(i + 1));
  }
  EXPECT_EQ(s.acked_through, 15u);
  ASSERT_EQ(s.outbox.size(), 5u);
  EXPECT_EQ(s.outbox.front().number, 16u);
  // The next edit continues the sequence.
  auto c = store->client();
  EXPECT_EQ(append_edit(*c, "proj-1", 21), DiskError::None);
  EXPECT_EQ(append_edit(*c, "proj-1", 23), DiskError::BadSequence);
}

TEST(DiskStore, ManyAppendsInFlightShareFewSyncs) {
  TempDir dir;
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  auto c = store->client();
  for (int r = 0; r < 4; ++r) ASSERT_EQ(create_room(*c, "room" + std::to_string(r), "e"), DiskError::None);
  uint64_t before = store->stats().syncs;
  std::vector<std::string> keys, frames;
  std::vector<uint64_t> tickets;
  for (uint64_t s = 1; s <= 200; ++s) {
    std::string k = key_of(s), f = frame_of(s);
    EditView e{s, k, f, 0};
    for (int r = 0; r < 4; ++r) tickets.push_back(c->append("room" + std::to_string(r), &e));
  }
  std::map<uint64_t, DiskError> seen;
  for (uint64_t t : tickets) ASSERT_EQ(wait_for(*c, t, &seen), DiskError::None);
  uint64_t syncs = store->stats().syncs - before;
  EXPECT_GT(syncs, 0u);
  EXPECT_LT(syncs, 800u / 4) << "one journal fdatasync per batch, not one per edit";
  EXPECT_EQ(store->stats().appends_ok, 4u + 800u);
}

TEST(DiskStore, AppendsToAnUnknownRoomAreRefused) {
  TempDir dir;
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  auto c = store->client();
  EXPECT_EQ(append_edit(*c, "nobody", 1), DiskError::NoRoom);
  EXPECT_EQ(store->stats().errors_rejected, 1u);
}

TEST(DiskStore, ASecondOpenOfTheSameDirectoryIsRefusedWithAClearError) {
  TempDir dir;
  std::vector<LoadedRoom> rooms;
  auto first = open_store(dir.path, rooms);
  std::string error;
  DiskOptions o;
  o.dir = dir.path;
  EXPECT_FALSE(DiskStore::open(o, rooms, error));
  EXPECT_NE(error.find("in use by another roomcast process"), std::string::npos) << error;
  EXPECT_NE(error.find(std::to_string(::getpid())), std::string::npos) << error;
  first.reset();
  EXPECT_TRUE(DiskStore::open(o, rooms, error)) << "the lock goes with the store";
}

std::string room_file(const std::string& dir, const std::string& room) { return dir + "/rooms/r_" + room + ".log"; }

TEST(DiskStore, AGarbageTailIsCutAtOpenCountedAndTheRoomGoesOn) {
  TempDir dir;
  {
    std::vector<LoadedRoom> rooms;
    auto store = open_store(dir.path, rooms);
    auto c = store->client();
    ASSERT_EQ(create_room(*c, "r", "e1"), DiskError::None);
    for (uint64_t s = 1; s <= 3; ++s) ASSERT_EQ(append_edit(*c, "r", s), DiskError::None);
  }
  uintmax_t good = fs::file_size(room_file(dir.path, "r"));
  {
    FILE* f = std::fopen(room_file(dir.path, "r").c_str(), "ab");
    ASSERT_TRUE(f);
    std::fwrite("\x20\x00\x00\x00torn", 1, 8, f);
    std::fclose(f);
  }
  {
    std::vector<LoadedRoom> rooms;
    auto store = open_store(dir.path, rooms);
    ASSERT_EQ(rooms.size(), 1u);
    EXPECT_EQ(rooms[0].outcome, LogOutcome::TailCut);
    EXPECT_EQ(rooms[0].cut_bytes, 8u);
    EXPECT_EQ(rooms[0].state.seq, 3u);
    EXPECT_EQ(store->stats().tails_cut, 1u);
    EXPECT_EQ(fs::file_size(room_file(dir.path, "r")), good);
    auto c = store->client();
    EXPECT_EQ(append_edit(*c, "r", 4), DiskError::None);
  }
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  EXPECT_EQ(rooms[0].outcome, LogOutcome::Clean);
  EXPECT_EQ(rooms[0].state.seq, 4u);
}

TEST(DiskStore, DamageInTheMiddleIsReportedAndTheRoomTakesNoEditsUntilANewEpoch) {
  TempDir dir;
  {
    std::vector<LoadedRoom> rooms;
    auto store = open_store(dir.path, rooms);
    auto c = store->client();
    ASSERT_EQ(create_room(*c, "r", "e1"), DiskError::None);
    for (uint64_t s = 1; s <= 5; ++s) ASSERT_EQ(append_edit(*c, "r", s), DiskError::None);
  }
  {
    // Flip one byte inside the second edit record.
    std::fstream f(room_file(dir.path, "r"), std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), {});
    LogRecovery clean = read_room_log(bytes, 100);
    ASSERT_EQ(clean.outcome, LogOutcome::Clean);
    size_t pos = bytes.find(frame_of(2));
    ASSERT_NE(pos, std::string::npos);
    f.seekp(std::streamoff(pos));
    f.put('X');
  }
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_EQ(rooms[0].outcome, LogOutcome::Damaged);
  EXPECT_EQ(store->stats().rooms_damaged, 1u);
  auto c = store->client();
  EXPECT_EQ(append_edit(*c, "r", 6), DiskError::NoRoom);
  ASSERT_EQ(create_room(*c, "r", "e2"), DiskError::None);
  EXPECT_EQ(append_edit(*c, "r", 1), DiskError::None);
  store.reset();
  auto again = open_store(dir.path, rooms);
  EXPECT_EQ(rooms[0].outcome, LogOutcome::Clean);
  EXPECT_EQ(rooms[0].state.epoch, "e2");
  EXPECT_EQ(rooms[0].state.seq, 1u);
}

TEST(DiskStore, CompactionKeepsTheFileBoundedAndKeepsUnackedEvents) {
  TempDir dir;
  const size_t history = 10;
  uintmax_t largest = 0;
  {
    std::vector<LoadedRoom> rooms;
    auto store = open_store(dir.path, rooms, history);
    auto c = store->client();
    ASSERT_EQ(create_room(*c, "r", "e"), DiskError::None);
    std::map<uint64_t, DiskError> seen;
    for (uint64_t s = 1; s <= 600; ++s) {
      std::string k = key_of(s), f = frame_of(s), id = "edit:" + std::to_string(s);
      EditView e{s, k, f, 0};
      EventView ev{s, id, "body"};
      uint64_t t = c->append("r", &e, std::span<const EventView>(&ev, 1));
      // The backend lags 50 events behind: those must survive every compaction.
      uint64_t a = s > 50 ? c->ack_events("r", s - 50) : t;
      ASSERT_EQ(wait_for(*c, t, &seen), DiskError::None);
      ASSERT_EQ(wait_for(*c, a, &seen), DiskError::None);
      if (s > 300) largest = std::max(largest, fs::file_size(room_file(dir.path, "r")));
    }
    EXPECT_GT(store->stats().compactions, 0u);
  }
  // Live: 10 edits + 50 events (~45 bytes each); the bound is 2 x live records + 32.
  EXPECT_LT(largest, (2u * 61u + 32u) * 50u) << "the file does not grow with the number of edits";
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms, history);
  const RoomState& s = rooms[0].state;
  EXPECT_EQ(rooms[0].outcome, LogOutcome::Clean);
  EXPECT_EQ(s.seq, 600u);
  ASSERT_EQ(s.history.size(), history);
  EXPECT_EQ(s.history.front().seq, 591u);
  EXPECT_EQ(s.history.back().key, key_of(600));
  EXPECT_EQ(s.acked_through, 550u);
  ASSERT_EQ(s.outbox.size(), 50u) << "unacknowledged events survive compaction";
  EXPECT_EQ(s.outbox.front().number, 551u);
  EXPECT_EQ(s.outbox.front().id, "edit:551");
}

TEST(DiskStore, RemovingARoomDeletesItsFile) {
  TempDir dir;
  {
    std::vector<LoadedRoom> rooms;
    auto store = open_store(dir.path, rooms);
    auto c = store->client();
    ASSERT_EQ(create_room(*c, "gone", "e"), DiskError::None);
    ASSERT_EQ(create_room(*c, "kept", "e"), DiskError::None);
    ASSERT_EQ(append_edit(*c, "gone", 1), DiskError::None);
    ASSERT_EQ(wait_for(*c, c->remove_room("gone")), DiskError::None);
    EXPECT_FALSE(fs::exists(room_file(dir.path, "gone")));
    EXPECT_EQ(append_edit(*c, "gone", 2), DiskError::NoRoom);
  }
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_EQ(rooms[0].state.room, "kept");
}

TEST(DiskStore, AClientOutlivingTheStoreGetsStopped) {
  TempDir dir;
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  auto c = store->client();
  store.reset();
  EXPECT_EQ(append_edit(*c, "r", 1), DiskError::Stopped);
}

// A real full disk: a 1 MiB tmpfs (needs root; CI runs as root).
TEST(DiskStore, AFullDiskFailsEditsCleanlyAndTheyWorkAgainOnceSpaceReturns) {
  TempDir dir;
  if (::mount("tmpfs", dir.path.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  }
  struct Unmount {
    std::string p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{dir.path};
  std::string data = dir.path + "/data";
  std::string filler = dir.path + "/filler";
  uint64_t acked = 0;
  {
    std::vector<LoadedRoom> rooms;
    std::string error;
    DiskOptions o;
    o.dir = data;
    o.journal_segment_bytes = 64 << 10;  // preallocated: edits go on into it while the disk is full
    auto store = DiskStore::open(o, rooms, error);
    ASSERT_TRUE(store) << error;
    auto c = store->client();
    ASSERT_EQ(create_room(*c, "r", "e"), DiskError::None);
    ASSERT_EQ(append_edit(*c, "r", 1), DiskError::None);
    acked = 1;
    {
      // Fill the file system to the last byte.
      FILE* f = std::fopen(filler.c_str(), "wb");
      ASSERT_TRUE(f);
      std::string block(4096, 'y');
      for (int i = 0; i < 1024 && std::fwrite(block.data(), 1, block.size(), f) == block.size(); ++i) {
      }
      std::fclose(f);
    }
    // Edits are acked while the journal's preallocated segment has room (the room log is
    // behind: the journal holds them), then refused, never acked falsely.
    std::string big(8192, 'y');
    DiskError last = DiskError::None;
    for (int i = 0; i < 64 && last == DiskError::None; ++i) {
      std::string k = key_of(acked + 1);
      EditView e{acked + 1, k, big, 0};
      last = wait_for(*c, c->append("r", &e));
      if (last == DiskError::None) ++acked;
    }
    ASSERT_EQ(last, DiskError::NoSpace) << "a full disk ends in refused edits";
    std::string k = key_of(acked + 1);
    EditView e{acked + 1, k, big, 0};
    EXPECT_EQ(wait_for(*c, c->append("r", &e)), DiskError::NoSpace);
    EXPECT_EQ(store->stats().errors_no_space, 2u);
    fs::remove(filler);
    EXPECT_EQ(wait_for(*c, c->append("r", &e)), DiskError::None) << "same seq: the failed ones were not applied";
    ++acked;
    EXPECT_EQ(append_edit(*c, "r", acked + 1), DiskError::None);
    ++acked;
  }
  std::vector<LoadedRoom> rooms;
  auto store = open_store(data, rooms);
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_NE(rooms[0].outcome, LogOutcome::Damaged) << rooms[0].detail;
  EXPECT_EQ(rooms[0].state.seq, acked) << "every acked edit, those acked while the disk was full included";
  EXPECT_EQ(rooms[0].state.history.size(), acked);
}

// kill -9 in the middle of appends: every append the child saw acknowledged is there.
TEST(DiskStore, KillNineMidAppendsLosesNoAcknowledgedEdit) {
  TempDir dir;
  {
    std::vector<LoadedRoom> rooms;
    auto store = open_store(dir.path, rooms, 100000);
    auto c = store->client();
    for (int r = 0; r < 3; ++r) ASSERT_EQ(create_room(*c, "room" + std::to_string(r), "e"), DiskError::None);
  }
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::vector<LoadedRoom> rooms;
    std::string error;
    DiskOptions o;
    o.dir = dir.path;
    o.history_limit = 100000;
    auto store = DiskStore::open(o, rooms, error);
    if (!store) ::_exit(2);
    auto c = store->client();
    // Up to 32 appends in flight over 3 rooms; each acked (room, seq) goes to the parent.
    std::map<uint64_t, std::pair<int, uint64_t>> inflight;
    uint64_t next_seq[3] = {1, 1, 1};
    for (int i = 0; i < 200000; ++i) {
      while (inflight.size() < 32) {
        int r = int(inflight.size() % 3);
        uint64_t s = next_seq[r]++;
        std::string k = key_of(s), f = frame_of(s);
        EditView e{s, k, f, 0};
        inflight[c->append("room" + std::to_string(r), &e)] = {r, s};
      }
      pollfd p{c->event_fd(), POLLIN, 0};
      ::poll(&p, 1, 100);
      c->drain([&](const DiskCompletion& d) {
        auto it = inflight.find(d.ticket);
        if (d.error != DiskError::None) ::_exit(3);
        uint64_t rec[2] = {uint64_t(it->second.first), it->second.second};
        if (::write(fds[1], rec, sizeof rec) != sizeof rec) ::_exit(4);
        inflight.erase(it);
      });
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  uint64_t acked[3] = {0, 0, 0};
  size_t acks = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (acks < 600 && std::chrono::steady_clock::now() < deadline) {
    uint64_t rec[2];
    if (::read(fds[0], rec, sizeof rec) != sizeof rec) break;
    ASSERT_LT(rec[0], 3u);
    // Per room, acks come in seq order.
    EXPECT_EQ(rec[1], acked[rec[0]] + 1);
    acked[rec[0]] = rec[1];
    ++acks;
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  // Acks the child wrote before it died but we had not read yet count too.
  uint64_t rec[2];
  while (::read(fds[0], rec, sizeof rec) == sizeof rec) acked[rec[0]] = rec[1];
  ::close(fds[0]);
  ASSERT_GE(acks, 600u) << "the child acknowledged too few appends before the deadline";

  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms, 100000);
  ASSERT_EQ(rooms.size(), 3u);
  for (int r = 0; r < 3; ++r) {
    const LoadedRoom* lr = find(rooms, "room" + std::to_string(r));
    ASSERT_TRUE(lr);
    EXPECT_NE(lr->outcome, LogOutcome::Damaged) << lr->detail;
    EXPECT_GE(lr->state.seq, acked[r]) << "room" << r << " lost an acknowledged edit";
    ASSERT_EQ(lr->state.history.size(), lr->state.seq);
    for (uint64_t i = 0; i < lr->state.history.size(); ++i) {
      ASSERT_EQ(lr->state.history[i].seq, i + 1);
      ASSERT_EQ(lr->state.history[i].key, key_of(i + 1));
    }
  }
}

// ---- the journal ------------------------------------------------------------------------

// Runs `body` against a store on `dir` in a child that then dies without closing it (as
// kill -9 would: no final checkpoint), and waits for it. The page cache survives a killed
// process, so the tests below then cut room logs back by hand to stand for a power loss.
void in_a_child_that_dies(const std::string& dir, const std::function<bool(DiskStore&, DiskStore::Client&)>& body,
                          uint64_t segment_bytes = 16u << 20) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<LoadedRoom> rooms;
    std::string error;
    DiskOptions o;
    o.dir = dir;
    o.journal_segment_bytes = segment_bytes;
    auto store = DiskStore::open(o, rooms, error);
    if (!store) ::_exit(2);
    auto c = store->client();
    ::_exit(body(*store, *c) ? 0 : 3);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
}

size_t header_bytes(const std::string& room, const std::string& epoch) {
  RoomState s;
  s.room = room;
  s.epoch = epoch;
  return encode_snapshot(s).size();
}

size_t journal_files(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir + "/journal"))
    if (e.path().extension() == ".wal") ++n;
  return n;
}

TEST(DiskStoreJournal, ARoomLogThatLostItsUnsyncedTailGetsEveryAckedEditBackFromTheJournal) {
  TempDir dir;
  in_a_child_that_dies(dir.path, [](DiskStore&, DiskStore::Client& c) {
    if (create_room(c, "r", "e1") != DiskError::None) return false;
    for (uint64_t s = 1; s <= 50; ++s)
      if (append_edit(c, "r", s, true) != DiskError::None) return false;
    return true;
  });
  // A power loss before the checkpoint: the room log never got past its header.
  fs::resize_file(room_file(dir.path, "r"), header_bytes("r", "e1"));
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_EQ(rooms[0].outcome, LogOutcome::Clean) << rooms[0].detail;
  EXPECT_EQ(rooms[0].state.epoch, "e1");
  EXPECT_EQ(rooms[0].state.seq, 50u);
  ASSERT_EQ(rooms[0].state.history.size(), 50u);
  EXPECT_EQ(rooms[0].state.history[49].key, key_of(50));
  EXPECT_EQ(rooms[0].state.outbox.size(), 50u);
  EXPECT_EQ(store->stats().replayed_records, 50u);
  EXPECT_EQ(journal_files(dir.path), 1u) << "the replayed segment is retired once the room log is synced";
  auto c = store->client();
  EXPECT_EQ(append_edit(*c, "r", 51), DiskError::None) << "the next edit continues the replayed seq";
}

TEST(DiskStoreJournal, DamageInsideWhatTheJournalStillHoldsIsRepairedNotANewEpoch) {
  TempDir dir;
  // 6 KB frames: the room's log takes its records 16 KB at a time, so edits 1-3 reach it
  // (unsynced) before the child dies.
  auto frame = [](uint64_t s) { return frame_of(s) + std::string(6000, ' '); };
  in_a_child_that_dies(dir.path, [&](DiskStore&, DiskStore::Client& c) {
    if (create_room(c, "r", "e1") != DiskError::None) return false;
    for (uint64_t s = 1; s <= 5; ++s) {
      std::string k = key_of(s), f = frame(s);
      EditView e{s, k, f, 0};
      if (wait_for(c, c.append("r", &e)) != DiskError::None) return false;
    }
    return true;
  });
  {
    std::fstream f(room_file(dir.path, "r"), std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), {});
    size_t pos = bytes.find(frame_of(2));
    ASSERT_NE(pos, std::string::npos);
    f.seekp(std::streamoff(pos));
    f.put('X');
  }
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_NE(rooms[0].outcome, LogOutcome::Damaged) << rooms[0].detail;
  EXPECT_EQ(rooms[0].state.epoch, "e1");
  EXPECT_EQ(rooms[0].state.seq, 5u);
  ASSERT_EQ(rooms[0].state.history.size(), 5u);
  EXPECT_EQ(rooms[0].state.history[1].frame, frame(2));
  store.reset();
  auto again = open_store(dir.path, rooms);
  EXPECT_EQ(rooms[0].outcome, LogOutcome::Clean) << "the repaired log was rewritten whole";
  EXPECT_EQ(rooms[0].state.seq, 5u);
}

TEST(DiskStoreJournal, ManyRoomsInOneBatchCostOneSync) {
  TempDir dir;
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  auto c = store->client();
  for (int r = 0; r < 50; ++r) ASSERT_EQ(create_room(*c, "room" + std::to_string(r), "e"), DiskError::None);
  uint64_t syncs_before = store->stats().syncs;
  std::map<uint64_t, DiskError> seen;
  std::vector<uint64_t> tickets;
  for (int round = 1; round <= 4; ++round) {
    for (int r = 0; r < 50; ++r) {
      std::string k = key_of(uint64_t(round)), f = frame_of(uint64_t(round));
      EditView e{uint64_t(round), k, f, 0};
      tickets.push_back(c->append("room" + std::to_string(r), &e));
    }
  }
  for (uint64_t t : tickets) ASSERT_EQ(wait_for(*c, t, &seen), DiskError::None);
  DiskStats st = store->stats();
  EXPECT_EQ(st.syncs, st.batches) << "one journal fdatasync per group commit, however many rooms it touched";
  EXPECT_LT(st.syncs - syncs_before, 200u / 2) << "200 edits over 50 rooms: far fewer syncs than rooms x batches";
}

TEST(DiskStoreJournal, FullSegmentsAreRetiredAndEverythingStillLoads) {
  TempDir dir;
  {
    std::vector<LoadedRoom> rooms;
    std::string error;
    DiskOptions o;
    o.dir = dir.path;
    o.history_limit = 1000;
    o.journal_segment_bytes = 4096;
    auto store = DiskStore::open(o, rooms, error);
    ASSERT_TRUE(store) << error;
    auto c = store->client();
    ASSERT_EQ(create_room(*c, "a", "e"), DiskError::None);
    ASSERT_EQ(create_room(*c, "b", "e"), DiskError::None);
    for (uint64_t s = 1; s <= 300; ++s) {
      ASSERT_EQ(append_edit(*c, "a", s), DiskError::None);
      ASSERT_EQ(append_edit(*c, "b", s), DiskError::None);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (journal_files(dir.path) > 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_GT(store->stats().checkpoints, 3u);
    EXPECT_LE(journal_files(dir.path), 2u) << "segments are deleted once their room logs are synced";
  }
  EXPECT_EQ(journal_files(dir.path), 1u) << "a clean stop retires everything but an empty segment";
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms, 1000);
  ASSERT_EQ(rooms.size(), 2u);
  for (const LoadedRoom& lr : rooms) {
    EXPECT_EQ(lr.outcome, LogOutcome::Clean);
    EXPECT_EQ(lr.state.seq, 300u);
    EXPECT_EQ(lr.state.history.size(), 300u);
  }
  EXPECT_EQ(store->stats().replayed_records, 0u);
}

TEST(DiskStoreJournal, JournalRecordsOfAnEarlierLifeOfTheRoomAreNeverReplayedIntoANewOne) {
  TempDir dir;
  in_a_child_that_dies(dir.path, [](DiskStore&, DiskStore::Client& c) {
    if (create_room(c, "r", "old") != DiskError::None) return false;
    for (uint64_t s = 1; s <= 5; ++s)
      if (append_edit(c, "r", s) != DiskError::None) return false;
    if (wait_for(c, c.remove_room("r")) != DiskError::None) return false;
    if (create_room(c, "r", "new") != DiskError::None) return false;
    return append_edit(c, "r", 1) == DiskError::None && append_edit(c, "r", 2) == DiskError::None;
  });
  fs::resize_file(room_file(dir.path, "r"), header_bytes("r", "new"));
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_EQ(rooms[0].outcome, LogOutcome::Clean) << rooms[0].detail;
  EXPECT_EQ(rooms[0].state.epoch, "new");
  EXPECT_EQ(rooms[0].state.seq, 2u);
  EXPECT_EQ(rooms[0].state.history.size(), 2u);
}

TEST(DiskStoreJournal, ARemovedRoomStaysRemovedThoughTheJournalHoldsItsRecords) {
  TempDir dir;
  in_a_child_that_dies(dir.path, [](DiskStore&, DiskStore::Client& c) {
    if (create_room(c, "gone", "e") != DiskError::None || append_edit(c, "gone", 1) != DiskError::None) return false;
    return wait_for(c, c.remove_room("gone")) == DiskError::None;
  });
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  EXPECT_EQ(rooms.size(), 0u);
}

TEST(DiskStoreJournal, AJournalThatNoLongerContinuesTheRoomLogMarksTheRoomDamaged) {
  TempDir dir;
  // A 74-byte entry per edit here: the first segment fills at edit 3 and is retired by a
  // checkpoint, so the journal then holds only edits 4 and 5.
  in_a_child_that_dies(
      dir.path,
      [](DiskStore& store, DiskStore::Client& c) {
        if (create_room(c, "r", "e") != DiskError::None) return false;
        for (uint64_t s = 1; s <= 3; ++s)
          if (append_edit(c, "r", s) != DiskError::None) return false;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (store.stats().checkpoints < 1 && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (store.stats().checkpoints < 1) return false;
        return append_edit(c, "r", 4) == DiskError::None && append_edit(c, "r", 5) == DiskError::None;
      },
      200);
  // The room log loses what its checkpoint had synced (no crash does that: the disk
  // lied), so the journal's first record no longer continues it: never a history with a
  // hole.
  fs::resize_file(room_file(dir.path, "r"), header_bytes("r", "e"));
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms);
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_EQ(rooms[0].outcome, LogOutcome::Damaged);
  EXPECT_NE(rooms[0].detail.find("journal"), std::string::npos) << rooms[0].detail;
  EXPECT_EQ(store->stats().rooms_damaged, 1u);
}

// ---- reading the outbox back (a webhook backlog not kept in memory) -----------------------

std::shared_ptr<EventsRead> read_back(DiskStore::Client& c, const std::string& room, uint64_t from, size_t max,
                                      uint64_t offset = 0, uint64_t generation = 0) {
  std::shared_ptr<EventsRead> got;
  uint64_t ticket = c.read_events(room, from, max, offset, generation);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool done = false;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    pollfd p{c.event_fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    c.drain([&](const DiskCompletion& d) {
      if (d.ticket != ticket) return;
      done = true;
      EXPECT_EQ(d.error, DiskError::None);
      got = d.read;
    });
  }
  EXPECT_TRUE(got);
  return got ? got : std::make_shared<EventsRead>();
}

TEST(DiskStoreReadEvents, ReadsTheOutboxBackInOrderAWindowAtATimeAndAcrossACompaction) {
  TempDir dir;
  std::vector<LoadedRoom> rooms;
  auto store = open_store(dir.path, rooms, 4);
  auto c = store->client();
  ASSERT_EQ(create_room(*c, "r", "e"), DiskError::None);
  for (uint64_t s = 1; s <= 10; ++s) ASSERT_EQ(append_edit(*c, "r", s, true), DiskError::None);
  auto first = read_back(*c, "r", 3, 4);
  ASSERT_EQ(first->events.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(first->events[i].number, 3 + i);
    EXPECT_EQ(first->events[i].id, "edit:" + std::to_string(3 + i));
    EXPECT_EQ(first->events[i].body, "body");
  }
  auto next = read_back(*c, "r", 7, 100, first->next_offset, first->generation);
  ASSERT_EQ(next->events.size(), 4u) << "on from where the last read ended";
  EXPECT_EQ(next->events.front().number, 7u);
  EXPECT_EQ(next->events.back().number, 10u);
  // More events, then an acknowledgement through 50 takes the log past its bound (2 x
  // (1 + history + unacked) + 32 records): the rewrite changes the generation, and a
  // read on from 51 with the old offset starts over.
  for (uint64_t s = 11; s <= 60; ++s) ASSERT_EQ(append_edit(*c, "r", s, true), DiskError::None);
  ASSERT_EQ(wait_for(*c, c->ack_events("r", 50)), DiskError::None);
  ASSERT_EQ(append_edit(*c, "r", 61), DiskError::None);
  auto after = read_back(*c, "r", 51, 1000, next->next_offset, next->generation);
  EXPECT_GE(store->stats().compactions, 1u);  // ran after the append's completion, before this read
  EXPECT_NE(after->generation, next->generation);
  ASSERT_EQ(after->events.size(), 10u);
  EXPECT_EQ(after->events.front().number, 51u);
  EXPECT_EQ(after->events.back().number, 60u);
  auto all = read_back(*c, "r", 1, 1000);
  ASSERT_FALSE(all->events.empty());
  EXPECT_EQ(all->events.front().number, 51u) << "compaction dropped only acknowledged events";
}

}  // namespace
}  // namespace roomcast::disk
