// tests/integration/batch_window_test.cpp: what --max-batch-delay W does to a client's
// latency (core/server/output.h): a window holds a frame back only when that saves a write, never
// longer than W, and never holds a reply.
//
// W is 400 ms here so that "at once" and "after the window" are far apart even on a slow,
// loaded machine with sanitizers: the bounds below leave 200 ms and more of slack.
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kWindow{400};

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

class BatchWindowTest : public RoomcastTest {
 protected:
  // A room with the recipient and two senders, every presence event drained, and no
  // write to anyone for longer than the window (kWindow unless `args` say otherwise).
  void SetUpRoom(std::vector<std::string> args = {"--max-batch-delay", std::to_string(kWindow.count())}) {
    ASSERT_NO_FATAL_FAILURE(StartServer(args));
    recipient_ = Join("w", "recipient");
    ASSERT_TRUE(recipient_.ws);
    a_ = Join("w", "a");
    ASSERT_TRUE(a_.ws);
    ExpectPresenceJoin({&recipient_}, a_);
    b_ = Join("w", "b");
    ASSERT_TRUE(b_.ws);
    ExpectPresenceJoin({&recipient_, &a_}, b_);
    std::this_thread::sleep_for(kWindow + milliseconds(300));
  }

  Member recipient_, a_, b_;
};

TEST_F(BatchWindowTest, ACameraToAQuietSocketLeavesAtOnceWhateverTheWindow) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  const auto sent = Clock::now();
  ASSERT_TRUE(a_->send_text(cursor_msg(1, 2, 3, 0, 0, 0)));
  IT_ASSERT_JSON(c, recipient_->recv_until_type("cursor", milliseconds(3000)));
  EXPECT_EQ(sget(*c, "session"), a_.session);
  EXPECT_LT(ms_since(sent), kWindow.count() / 2) << "a lone camera waited for a window it could not share";
}

TEST_F(BatchWindowTest, ACameraRightBehindAnotherWaitsOutTheWindowAndNoLonger) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ASSERT_TRUE(a_->send_text(cursor_msg(1, 2, 3, 0, 0, 0)));
  IT_ASSERT_JSON(first, recipient_->recv_until_type("cursor", milliseconds(3000)));
  const auto first_at = Clock::now();
  // The recipient's socket was just written to: b's camera would cost a second write
  // now, so it waits for the window (where later frames would share its write).
  ASSERT_TRUE(b_->send_text(cursor_msg(4, 5, 6, 0, 0, 0)));
  IT_ASSERT_JSON(second, recipient_->recv_until_type("cursor", milliseconds(3000)));
  const long long gap = ms_since(first_at);
  EXPECT_EQ(sget(*second, "session"), b_.session);
  EXPECT_GE(gap, kWindow.count() - 100) << "the second camera took a write of its own inside the window";
  EXPECT_LE(gap, kWindow.count() + 400) << "the second camera waited longer than the window";
}

TEST_F(BatchWindowTest, OverManyRoundsNoCameraWaitsMuchLongerThanAShortWindow) {
  // 20 ms windows, 60 rounds of one camera from each sender, the recipient reading both
  // each round: every round's second camera waits for the window, and each such wait
  // must end with the window, not with some later, unrelated wakeup (the 1 s tick).
  ASSERT_NO_FATAL_FAILURE(SetUpRoom({"--max-batch-delay", "20", "--rate-limit", "1000", "--rate-burst", "1000"}));
  long long worst = 0;
  for (int i = 1; i <= 60; ++i) {
    const auto sent = Clock::now();
    ASSERT_TRUE(a_->send_text(cursor_msg(i, 0, 0, 0, 0, 0)));
    ASSERT_TRUE(b_->send_text(cursor_msg(0, i, 0, 0, 0, 0)));
    for (int k = 0; k < 2; ++k) {
      IT_ASSERT_JSON(c, recipient_->recv_until_type("cursor", milliseconds(3000)));
    }
    worst = std::max(worst, ms_since(sent));
  }
  EXPECT_LT(worst, 300) << "a round waited far longer than its 20 ms window";
}

TEST_F(BatchWindowTest, RepliesDoNotWaitForTheWindowOfASocketJustWrittenTo) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ASSERT_TRUE(a_->send_text(cursor_msg(1, 2, 3, 0, 0, 0)));
  IT_ASSERT_JSON(c, recipient_->recv_until_type("cursor", milliseconds(3000)));
  // The recipient's window is open; its pong and its edit's ack still leave at once.
  auto sent = Clock::now();
  ASSERT_TRUE(recipient_->send_text(R"({"type":"ping","t":1})"));
  IT_ASSERT_JSON(pong, recipient_->recv_until_type("pong", milliseconds(3000)));
  EXPECT_LT(ms_since(sent), kWindow.count() / 2) << "the pong waited for the window";
  sent = Clock::now();
  ASSERT_TRUE(recipient_->send_text(edit_msg("b-1", "set", R"({"h":1})", "e1")));
  IT_ASSERT_JSON(ack, recipient_->recv_until_type("ack", milliseconds(3000)));
  EXPECT_LT(ms_since(sent), kWindow.count() / 2) << "the ack waited for the window";
  EXPECT_EQ(iget(*ack, "seq"), 1) << ack.text;
}

}  // namespace
}  // namespace it
