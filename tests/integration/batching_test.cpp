// tests/integration/batching_test.cpp: --max-batch-delay W is a bound, and waiting happens
// only when it saves a write (docs/protocol.md "Batching"). A long W (300 ms) makes the
// difference between "at once" and "after the window" visible without timing anything
// finer than a human would notice.
#include <chrono>
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class BatchingTest : public RoomcastTest {
 protected:
  static double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
};

TEST_F(BatchingTest, RepliesToTheSenderNeverWaitForTheWindow) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--max-batch-delay", "300"}));
  auto t0 = Clock::now();
  Member a = Join("r", "ua");  // upgrade response and welcome
  ASSERT_TRUE(a.ws);
  EXPECT_LT(ms_since(t0), 150) << "the welcome waited for a batch window";
  for (int i = 0; i < 3; ++i) {
    auto t = Clock::now();
    ASSERT_TRUE(a->send_text(R"({"type":"ping","t":)" + std::to_string(i) + "}"));
    IT_ASSERT_JSON(p, a->recv_until_type("pong"));
    EXPECT_LT(ms_since(t), 150) << "pong " << i << " waited for a batch window";
    ASSERT_TRUE(a->send_text(edit_msg("b", "o")));
    t = Clock::now();
    IT_ASSERT_JSON(ack, a->recv_until_type("ack"));
    EXPECT_LT(ms_since(t), 150) << "ack " << i << " waited for a batch window";
  }
}

TEST_F(BatchingTest, AFrameForAnIdleSocketLeavesAtOnceAndFramesRightAfterAWriteShareTheNextOne) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--max-batch-delay", "300"}));
  Member a = Join("r", "ua");
  Member b = Join("r", "ub");
  ASSERT_NO_FATAL_FAILURE(ExpectPresenceJoin({&a}, b));
  std::this_thread::sleep_for(milliseconds(400));  // b's socket has not been written to for a window
  auto t0 = Clock::now();
  ASSERT_TRUE(a->send_text(cursor_msg(1, 0, 0, 0, 0, 0, 1)));
  IT_ASSERT_JSON(first, b->recv_until_type("cursor"));
  EXPECT_LT(ms_since(t0), 150) << "a camera for an idle socket waited for the window";
  // Written just now: the next frames wait for the window and leave together.
  ASSERT_TRUE(a->send_text(R"({"type":"select","ids":["x"]})"));
  ASSERT_TRUE(a->send_text(R"({"type":"select","ids":["y"]})"));
  IT_ASSERT_JSON(s1, b->recv_until_type("select", milliseconds(2000)));
  IT_ASSERT_JSON(s2, b->recv_until_type("select", milliseconds(2000)));
  const double waited = ms_since(t0);
  EXPECT_GE(waited, 200) << "frames right after a write did not wait to share one";
  EXPECT_LT(waited, 700) << "a frame waited longer than the window";
  EXPECT_EQ((*s1)["ids"][0].GetString(), std::string("x"));
  EXPECT_EQ((*s2)["ids"][0].GetString(), std::string("y"));
}

TEST_F(BatchingTest, WithNoWindowEverythingLeavesAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--max-batch-delay", "0"}));
  Member a = Join("r", "ua");
  Member b = Join("r", "ub");
  ASSERT_NO_FATAL_FAILURE(ExpectPresenceJoin({&a}, b));
  for (int i = 0; i < 5; ++i) {
    auto t = Clock::now();
    ASSERT_TRUE(a->send_text(cursor_msg(i, 0, 0, 0, 0, 0, 1)));
    IT_ASSERT_JSON(c, b->recv_until_type("cursor"));
    EXPECT_LT(ms_since(t), 150);
  }
}

}  // namespace
}  // namespace it
