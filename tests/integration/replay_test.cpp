// tests/integration/replay_test.cpp: a `since` replay is outside the slow-reader limit
// (docs/protocol.md 3.1) and stays bounded: a history far larger than --max-pending
// reaches a reader that reads, in order, before live traffic; live traffic queued behind
// it still counts, so a reader too slow for the live stream is still closed 1008
// (docs/protocol.md "A since replay").
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;

class ReplayTest : public RoomcastTest {
 protected:
  // 60 edits of ~60 KB (3.6 MB) against a 1 MiB slow-reader limit.
  static constexpr int kHistoryEdits = 60;

  void StartWithLargeHistory(int edits = kHistoryEdits) {
    ASSERT_NO_FATAL_FAILURE(StartServer({"--max-pending", "1048576", "--rate-limit", "100000", "--rate-burst",
                                         "100000"}));
    writer_ = Join("r", "writer");
    ASSERT_TRUE(writer_.ws);
    for (int i = 1; i <= edits; ++i) ASSERT_NO_FATAL_FAILURE(SendEdit(i));
  }

  // One ~60 KB edit from the writer, and its ack.
  void SendEdit(long long expect_seq) {
    ASSERT_TRUE(writer_->send_text(edit_msg("b", "op", payload_)));
    IT_ASSERT_JSON(ack, writer_->recv_until_type("ack", milliseconds(10000)));
    ASSERT_EQ(iget(*ack, "seq"), expect_seq) << ack.text.substr(0, 200);
  }

  // Reads edits until `last` arrives, pausing `pause` between messages; every edit must be
  // the next seq. Returns how many edits came (or stops at the first failure).
  int ReadEditsInOrder(Member& reader, long long first, long long last, milliseconds pause) {
    long long expect = first;
    for (int guard = 0; guard < 1000 && expect <= last; ++guard) {
      JsonResult m = reader->recv_json(milliseconds(10000));
      if (!m.ok) {
        ADD_FAILURE() << "after seq " << expect - 1 << ": " << m.error;
        break;
      }
      if (m.type() != "edit") continue;  // presence of other joiners
      if (iget(*m, "seq") != expect) {
        ADD_FAILURE() << "expected seq " << expect << ", got " << m.text.substr(0, 120);
        break;
      }
      ++expect;
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
    }
    return int(expect - first);
  }

  // A fresh join with since 0, sent a while after the upgrade (as a browser's would be):
  // its welcome and replay then leave at once rather than in the upgrade's batch window.
  Member JoinSinceZero(const std::string& user, int rcvbuf = 0) {
    Member m;
    m.user_id = user;
    m.ws = Connect("r", rcvbuf);
    if (!m.ws) return m;
    std::this_thread::sleep_for(milliseconds(50));
    EXPECT_TRUE(m.ws->send_text(join_msg(user, "Name " + user, "#00ff00", 0)));
    JsonResult w = m.ws->recv_json();
    EXPECT_TRUE(w.ok && w.type() == "welcome") << w.error << w.text;
    m.session = w.ok ? sget(*w, "session", "") : "";
    if (!w.ok) m.ws.reset();
    return m;
  }

  const std::string payload_ = jstr(std::string(60000, 'x'));
  Member writer_;
};

TEST_F(ReplayTest, HistoryLargerThanMaxPendingReachesAReaderThatReadsPromptly) {
  ASSERT_NO_FATAL_FAILURE(StartWithLargeHistory());
  Member reader = JoinSinceZero("reader");
  ASSERT_TRUE(reader.ws);
  EXPECT_EQ(ReadEditsInOrder(reader, 1, kHistoryEdits, milliseconds(0)), kHistoryEdits);
  // Live traffic after the replay.
  ASSERT_NO_FATAL_FAILURE(SendEdit(kHistoryEdits + 1));
  EXPECT_EQ(ReadEditsInOrder(reader, kHistoryEdits + 1, kHistoryEdits + 1, milliseconds(0)), 1);
}

// The reproduction: a reader taking ~100 messages a second.
TEST_F(ReplayTest, ReplayToAReaderOfAHundredMessagesASecondIsNotASlowReader) {
  ASSERT_NO_FATAL_FAILURE(StartWithLargeHistory());
  Member reader = JoinSinceZero("reader");
  ASSERT_TRUE(reader.ws);
  EXPECT_EQ(ReadEditsInOrder(reader, 1, kHistoryEdits, milliseconds(10)), kHistoryEdits);
}

// Welcome, then replay, then live traffic: edits made while the replay is still queued
// wait behind it. 12 live edits (720 KB) are under the limit; with the replay (7.2 MB,
// more than the kernel's buffers hold) queued ahead of them the queue holds more than
// 1 MiB, which must not count.
TEST_F(ReplayTest, LiveEditsDuringAReplayArriveAfterItAndOnlyTheyCount) {
  constexpr int kEdits = 120;
  ASSERT_NO_FATAL_FAILURE(StartWithLargeHistory(kEdits));
  Member reader = JoinSinceZero("reader", /*rcvbuf=*/16384);
  ASSERT_TRUE(reader.ws);
  constexpr int kLive = 12;
  for (int i = 1; i <= kLive; ++i) ASSERT_NO_FATAL_FAILURE(SendEdit(kEdits + i));
  EXPECT_EQ(ReadEditsInOrder(reader, 1, kEdits + kLive, milliseconds(1)), kEdits + kLive);
}

// Only the replay is exempt: live traffic queued behind it counts toward --max-pending.
TEST_F(ReplayTest, AReaderTooSlowForLiveTrafficDuringAReplayIsStillClosed1008) {
  ASSERT_NO_FATAL_FAILURE(StartWithLargeHistory());
  Member reader = JoinSinceZero("reader", /*rcvbuf=*/4096);
  ASSERT_TRUE(reader.ws);
  // The reader does not read: 40 live edits (2.4 MB) queue behind the replay (3.6 MB),
  // more than the kernel's buffers (tcp_wmem max 4 MiB) can hide with the 1 MiB limit.
  for (int i = 1; i <= 40; ++i) ASSERT_NO_FATAL_FAILURE(SendEdit(kHistoryEdits + i));
  CloseResult cr = reader->wait_close(milliseconds(20000));
  if (cr.got_close_frame) {
    EXPECT_EQ(cr.code, 1008) << cr.describe();
  } else {
    EXPECT_TRUE(cr.status == RecvStatus::Closed || cr.status == RecvStatus::Reset) << cr.describe();
  }
}

}  // namespace
}  // namespace it
