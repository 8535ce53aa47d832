// tests/integration/durable_test.cpp: --data-dir (docs/durability.md, integration contract
// section 6) with the real binary: a restart (SIGTERM or kill -9) keeps each room's epoch,
// seq, history and exactly-once ids; a garbage tail is cut; a full disk fails edits with
// `unavailable` and nothing else; a second process on the same directory is refused.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;

const std::string kApiKey = "api-key-for-durable-tests-0042";

std::string MakeTempDir() {
  char templ[] = "/tmp/roomcast-durable-XXXXXX";
  const char* d = ::mkdtemp(templ);
  return d ? std::string(d) : std::string();
}

void RemoveTree(const std::string& dir) {
  if (dir.empty() || dir.rfind("/tmp/roomcast-durable-", 0) != 0) return;
  std::string cmd = "rm -rf '" + dir + "'";
  (void)!std::system(cmd.c_str());
}

// {"type":"join",...,"since":N,"epoch":E}: a client that saw everything up to N of epoch E.
std::string JoinSince(const std::string& user, long long since, const std::string& epoch) {
  return R"({"type":"join","user":{"id":)" + jstr(user) + R"(},"since":)" + std::to_string(since) +
         R"(,"epoch":)" + jstr(epoch) + "}";
}

class DurableTest : public RoomcastTest {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty()) << "mkdtemp: " << std::strerror(errno);
    key_file_ = std::make_unique<TempFile>(kApiKey);
  }
  void TearDown() override {
    RoomcastTest::TearDown();
    RemoveTree(dir_);
  }

  // The server on `data` (dir_ by default), edits not rate limited.
  void StartDurable(std::vector<std::string> extra = {}, const std::string& data = "") {
    std::vector<std::string> args = {"--data-dir", data.empty() ? dir_ : data, "--api-key-file", key_file_->path,
                                     "--rate-limit", "100000", "--rate-burst", "100000"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_NO_FATAL_FAILURE(StartServer(args));
  }
  // Stops the server with `sig` and starts it again on the same directory.
  void Restart(int sig, std::vector<std::string> extra = {}, const std::string& data = "") {
    ExitStatus st = server_->stop(sig, std::chrono::seconds(15));
    if (sig == SIGTERM) {
      EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
    }
    server_.reset();
    ASSERT_NO_FATAL_FAILURE(StartDurable(extra, data));
  }

  // A fresh connection to `room` joined with since + epoch; its welcome in *welcome.
  std::unique_ptr<WsClient> JoinWith(const std::string& room, const std::string& join, JsonResult* welcome) {
    std::unique_ptr<WsClient> ws = Connect(room);
    if (!ws) return nullptr;
    EXPECT_TRUE(ws->send_text(join));
    *welcome = ws->recv_until_type("welcome", milliseconds(5000));
    EXPECT_TRUE(welcome->ok) << welcome->error;
    return welcome->ok ? std::move(ws) : nullptr;
  }

  // Sends an edit with `id` and building `building`; returns the ack's seq (-1 on failure)
  // and whether it was a duplicate.
  long long EditAcked(WsClient& ws, const std::string& building, const std::string& id, bool* duplicate = nullptr) {
    EXPECT_TRUE(ws.send_text(edit_msg(building, "set", R"({"v":1})", id)));
    for (int guard = 0; guard < 10000; ++guard) {
      JsonResult m = ws.recv_json(milliseconds(5000));
      if (!m.ok) {
        ADD_FAILURE() << "no ack for " << id << ": " << m.error;
        return -1;
      }
      if (m.type() == "error") {
        ADD_FAILURE() << "edit " << id << " refused: " << m.text;
        return -1;
      }
      if (m.type() != "ack") continue;
      EXPECT_EQ(sget(*m, "id"), id) << m.text;
      if (duplicate) *duplicate = m->HasMember("duplicate") && (*m)["duplicate"].IsBool() && (*m)["duplicate"].GetBool();
      return iget(*m, "seq");
    }
    return -1;
  }

  // Reads a replay: edits until seq `last`; returns building by seq (fails on a resync,
  // a gap or a timeout).
  std::map<long long, std::string> ReadReplay(WsClient& ws, long long first, long long last) {
    std::map<long long, std::string> got;
    long long expect = first;
    for (int guard = 0; guard < 100000 && expect <= last; ++guard) {
      JsonResult m = ws.recv_json(milliseconds(10000));
      if (!m.ok) {
        ADD_FAILURE() << "replay stopped after seq " << expect - 1 << ": " << m.error;
        break;
      }
      if (m.type() == "resync") {
        ADD_FAILURE() << "resync instead of a replay: " << m.text;
        break;
      }
      if (m.type() != "edit") continue;
      EXPECT_EQ(iget(*m, "seq"), expect) << m.text;
      if (iget(*m, "seq") != expect) break;
      got[expect++] = sget(*m, "building");
    }
    return got;
  }

  long long PublishSeq(const std::string& room, const std::string& body) {
    std::string req = "POST /api/rooms/" + room + "/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                      kApiKey + "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body;
    HttpResponse r = http_raw(port(), req);
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 200) << r.raw;
    rapidjson::Document d;
    d.Parse(r.body.c_str(), r.body.size());
    return d.HasParseError() ? -1 : iget(d, "seq");
  }

  // A metric's value from /metrics (the first line starting with `name`), or -1.
  long long Metric(const std::string& name) {
    HttpResponse r = http_get(port(), "/metrics");
    size_t at = r.body.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::atoll(r.body.c_str() + at + name.size() + 2);
  }

  std::string dir_;
  std::unique_ptr<TempFile> key_file_;
};

TEST_F(DurableTest, RestartWithSigtermKeepsEpochSeqHistoryAndEditIds) {
  ASSERT_NO_FATAL_FAILURE(StartDurable({"--threads", "2"}));
  JsonResult welcome;
  Member alice = Join("r", "alice", std::nullopt, &welcome);
  ASSERT_TRUE(alice.ws);
  const std::string epoch = sget(*welcome, "epoch", "");
  ASSERT_FALSE(epoch.empty()) << welcome.text;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(EditAcked(*alice.ws, "b" + std::to_string(i), "e" + std::to_string(i)), i);
  // The publish API's 200 comes once the edit is on disk too.
  EXPECT_EQ(PublishSeq("r", R"({"building":"b5","op":"set"})"), 5);
  alice.ws.reset();

  ASSERT_NO_FATAL_FAILURE(Restart(SIGTERM, {"--threads", "2"}));
  // A client that saw seq 2 of this epoch gets the rest as a replay, not a resync.
  JsonResult again;
  std::unique_ptr<WsClient> bob = JoinWith("r", JoinSince("bob", 2, epoch), &again);
  ASSERT_TRUE(bob);
  EXPECT_EQ(sget(*again, "epoch"), epoch) << again.text;
  EXPECT_EQ(iget(*again, "seq"), 5) << again.text;
  std::map<long long, std::string> replay = ReadReplay(*bob, 3, 5);
  EXPECT_EQ(replay, (std::map<long long, std::string>{{3, "b3"}, {4, "b4"}, {5, "b5"}}));

  // A resend of an acked edit is answered with its original seq, not applied again.
  JsonResult w2;
  std::unique_ptr<WsClient> alice2 = JoinWith("r", join_msg("alice"), &w2);
  ASSERT_TRUE(alice2);
  bool duplicate = false;
  EXPECT_EQ(EditAcked(*alice2, "b2", "e2", &duplicate), 2);
  EXPECT_TRUE(duplicate);
  // The next edit gets the next number, and the others receive it.
  EXPECT_EQ(EditAcked(*alice2, "b6", "e6", &duplicate), 6);
  EXPECT_FALSE(duplicate);
  JsonResult live = bob->recv_until_type("edit", milliseconds(5000));
  ASSERT_TRUE(live.ok) << live.error;
  EXPECT_EQ(iget(*live, "seq"), 6);
  EXPECT_EQ(sget(*live, "building"), "b6");
}

TEST_F(DurableTest, KillNineDuringSustainedEditsLosesNoAckedEditAndAppliesNoneTwice) {
  ASSERT_NO_FATAL_FAILURE(StartDurable({"--threads", "2", "--history", "100000"}));
  constexpr int kClients = 4;
  constexpr int kMaxEdits = 3000;  // per client; the kill comes long before
  const std::vector<std::string> rooms = {"k1", "k2"};
  struct Acked {
    std::string room, building, id;
    long long seq;
  };
  std::mutex mu;
  std::vector<Acked> acked;
  std::map<std::string, std::string> epochs;
  std::atomic<int> total{0};
  std::vector<std::thread> clients;
  std::vector<std::unique_ptr<WsClient>> conns(kClients);
  for (int c = 0; c < kClients; ++c) {
    JsonResult w;
    Member m = Join(rooms[c % 2], "user" + std::to_string(c), std::nullopt, &w);
    ASSERT_TRUE(m.ws);
    epochs[rooms[c % 2]] = sget(*w, "epoch");
    conns[c] = std::move(m.ws);
  }
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      WsClient& ws = *conns[c];
      for (int n = 1; n <= kMaxEdits; ++n) {
        const std::string tag = "c" + std::to_string(c) + "-" + std::to_string(n);
        if (!ws.send_text(edit_msg(tag, "set", "", tag))) return;
        for (int guard = 0; guard < 100000; ++guard) {
          JsonResult m = ws.recv_json(milliseconds(3000));
          if (!m.ok) return;  // killed
          if (m.type() != "ack") continue;
          std::lock_guard<std::mutex> lock(mu);
          acked.push_back({rooms[c % 2], tag, tag, iget(*m, "seq")});
          ++total;
          break;
        }
      }
    });
  }
  // Kill once edits are flowing (bounded wait).
  for (int i = 0; i < 200 && total.load() < 400; ++i) std::this_thread::sleep_for(milliseconds(25));
  ASSERT_GE(total.load(), 50) << "edits did not flow";
  server_->stop(SIGKILL, std::chrono::seconds(5));
  for (auto& t : clients) t.join();
  conns.clear();
  server_.reset();
  ASSERT_NO_FATAL_FAILURE(StartDurable({"--threads", "2", "--history", "100000"}));

  std::map<std::string, std::map<std::string, long long>> acked_by_room;
  for (const Acked& a : acked) acked_by_room[a.room][a.building] = a.seq;
  for (const std::string& room : rooms) {
    JsonResult w;
    std::unique_ptr<WsClient> reader = JoinWith(room, JoinSince("reader", 0, epochs[room]), &w);
    ASSERT_TRUE(reader);
    EXPECT_EQ(sget(*w, "epoch"), epochs[room]) << "a kill -9 must keep the epoch: " << w.text;
    const long long seq = iget(*w, "seq");
    // Contiguous 1..seq (ReadReplay fails on any gap), each building (one per edit id) once.
    std::map<long long, std::string> replay = ReadReplay(*reader, 1, seq);
    ASSERT_EQ(replay.size(), size_t(seq));
    std::fprintf(stderr, "room %s: %zu edits acked before kill -9, %lld kept\n", room.c_str(),
                 acked_by_room[room].size(), seq);
    std::map<std::string, long long> where;
    for (const auto& [s, building] : replay) EXPECT_TRUE(where.emplace(building, s).second) << building << " twice";
    for (const auto& [building, s] : acked_by_room[room]) {
      auto it = where.find(building);
      ASSERT_NE(it, where.end()) << "acked edit " << building << " (seq " << s << ") lost in room " << room;
      EXPECT_EQ(it->second, s) << building;
    }
    // Resends of acked edits after the restart: duplicates with their original seq.
    JsonResult ww;
    int resent = 0;
    for (const Acked& a : acked) {
      if (a.room != room || resent >= 3) continue;
      std::unique_ptr<WsClient> again = JoinWith(room, join_msg("user" + a.id.substr(1, a.id.find('-') - 1)), &ww);
      ASSERT_TRUE(again);
      bool dup = false;
      EXPECT_EQ(EditAcked(*again, a.building, a.id, &dup), a.seq);
      EXPECT_TRUE(dup) << a.id;
      ++resent;
    }
  }
}

TEST_F(DurableTest, GarbageTailOfARoomLogIsCutAndTheRoomStillServes) {
  ASSERT_NO_FATAL_FAILURE(StartDurable());
  JsonResult welcome;
  Member alice = Join("tail", "alice", std::nullopt, &welcome);
  ASSERT_TRUE(alice.ws);
  const std::string epoch = sget(*welcome, "epoch");
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(EditAcked(*alice.ws, "b" + std::to_string(i), "e" + std::to_string(i)), i);
  alice.ws.reset();
  server_->stop(SIGTERM, std::chrono::seconds(10));
  server_.reset();
  {
    // What a crash in the middle of a write leaves: a length and bytes that do not check out.
    std::ofstream log(dir_ + "/rooms/r_tail.log", std::ios::app | std::ios::binary);
    ASSERT_TRUE(log.good());
    const char garbage[] = "\x40\x00\x00\x00\xde\xad\xbe\xef partial record cut by a crash";
    log.write(garbage, sizeof garbage - 1);
  }
  ASSERT_NO_FATAL_FAILURE(StartDurable());
  EXPECT_EQ(Metric("roomcast_store_tails_cut"), 1);
  JsonResult w;
  std::unique_ptr<WsClient> bob = JoinWith("tail", JoinSince("bob", 0, epoch), &w);
  ASSERT_TRUE(bob);
  EXPECT_EQ(sget(*w, "epoch"), epoch);
  EXPECT_EQ(ReadReplay(*bob, 1, 3), (std::map<long long, std::string>{{1, "b1"}, {2, "b2"}, {3, "b3"}}));
  EXPECT_EQ(EditAcked(*bob, "b4", "e4"), 4);
}

// Disk full: a small tmpfs (needs root; skipped when the mount is not allowed).
class DiskFullTest : public DurableTest {
 protected:
  void TearDown() override {
    RoomcastTest::TearDown();  // the server goes before its directory
    if (mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
    RemoveTree(mnt_);
    RemoveTree(dir_);
  }
  std::string mnt_;
  bool mounted_ = false;
};

TEST_F(DiskFullTest, FullDiskFailsEditsWithUnavailableCursorsFlowAndEditsResumeWhenSpaceReturns) {
  mnt_ = MakeTempDir();
  ASSERT_FALSE(mnt_.empty());
  if (::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=512k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(errno) << "): needs root";
  mounted_ = true;
  const std::string data = mnt_ + "/data";
  ASSERT_NO_FATAL_FAILURE(StartDurable({}, data));
  Member alice = Join("full", "alice");
  Member bob = Join("full", "bob");
  ASSERT_TRUE(alice.ws && bob.ws);
  ASSERT_NO_FATAL_FAILURE(ExpectPresenceJoin({&alice}, bob));
  long long last = 0;
  ASSERT_EQ(last = EditAcked(*alice.ws, "before", "e0"), 1);
  ASSERT_TRUE(bob->recv_until_type("edit", milliseconds(5000)).ok);

  // Fill the file system.
  const std::string filler = mnt_ + "/filler";
  {
    int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    std::string chunk(4096, 'x');
    for (int i = 0; i < 1024 && ::write(fd, chunk.data(), chunk.size()) > 0; ++i) {
    }
    ::close(fd);
  }
  // Edits now fail once they need a new page: `unavailable` with their id, never an ack.
  const std::string big = jstr(std::string(3000, 'y'));
  int failed = 0;
  for (int i = 1; i <= 40 && failed == 0; ++i) {
    const std::string id = "f" + std::to_string(i);
    ASSERT_TRUE(alice->send_text(edit_msg("full" + std::to_string(i), "set", big, id)));
    JsonResult m = alice->recv_json(milliseconds(5000));
    for (int guard = 0; guard < 100 && m.ok && m.type() != "ack" && m.type() != "error"; ++guard)
      m = alice->recv_json(milliseconds(5000));
    ASSERT_TRUE(m.ok) << m.error;
    if (m.type() == "ack") {
      ASSERT_EQ(iget(*m, "seq"), last + 1) << m.text;
      ++last;
      continue;
    }
    EXPECT_EQ(sget(*m, "code"), "unavailable") << m.text;
    EXPECT_EQ(sget(*m, "id"), id) << m.text;
    ++failed;
  }
  ASSERT_EQ(failed, 1) << "no edit failed on a full disk";
  EXPECT_GE(Metric("roomcast_store_errors_total{kind=\"no_space\"}"), 1);
  // The failed edit reached nobody; cursors keep flowing.
  ASSERT_TRUE(bob->send_text(cursor_msg(1, 2, 3, 0, 0, 0)));
  JsonResult cur = alice->recv_until_type("cursor", milliseconds(5000));
  EXPECT_TRUE(cur.ok) << cur.error;
  // Space returns: the next edit takes the seq the failed one did not consume.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  EXPECT_EQ(EditAcked(*alice.ws, "after", "e-after"), last + 1);
  for (int guard = 0; guard < 100; ++guard) {
    JsonResult e = bob->recv_until_type("edit", milliseconds(5000));
    ASSERT_TRUE(e.ok) << e.error;
    if (iget(*e, "seq") < last + 1) continue;  // edits acked before the disk filled
    EXPECT_EQ(iget(*e, "seq"), last + 1);
    EXPECT_EQ(sget(*e, "building"), "after") << "bob must never see the failed edit";
    break;
  }
}

TEST_F(DurableTest, SecondProcessOnTheSameDirectoryIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartDurable());
  TempFile log("");
  ProcessOptions options;
  options.stderr_path = log.path;
  std::string error;
  std::unique_ptr<ServerProcess> second =
      ServerProcess::start({"--listen", "127.0.0.1:0", "--data-dir", dir_}, &error, std::chrono::seconds(10), options);
  EXPECT_FALSE(second) << "a second roomcast started on the same --data-dir";
  EXPECT_NE(error.find("exited with code 1"), std::string::npos) << error;
  std::ifstream in(log.path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("in use by another roomcast process"), std::string::npos) << text;
  // The first one is undisturbed.
  Member alice = Join("r", "alice");
  ASSERT_TRUE(alice.ws);
  EXPECT_EQ(EditAcked(*alice.ws, "b1", "e1"), 1);
}

TEST_F(DurableTest, DataDirWithRedisIsRefusedAtStart) {
  std::string error;
  std::unique_ptr<ServerProcess> p = ServerProcess::start(
      {"--listen", "127.0.0.1:0", "--data-dir", dir_, "--redis", "redis://127.0.0.1:1"}, &error, std::chrono::seconds(10));
  EXPECT_FALSE(p);
  EXPECT_NE(error.find("exited with code 2"), std::string::npos) << error;
}

}  // namespace
}  // namespace it
