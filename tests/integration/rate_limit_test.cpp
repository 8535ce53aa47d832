// tests/integration/rate_limit_test.cpp: docs/protocol.md 5:
// excess cursors are dropped silently, excess other messages get error rate_limited.
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class RateLimitTest : public RoomcastTest {
 protected:
  // Hang up before the server is stopped, so its shutdown does not wait for our FIN.
  void TearDown() override {
    a_ = Member{};
    b_ = Member{};
    RoomcastTest::TearDown();
  }

  void SetUpRoom(std::vector<std::string> extra) {
    ASSERT_NO_FATAL_FAILURE(StartServer(extra));
    a_ = Join("r", "ua");
    ASSERT_TRUE(a_.ws);
    b_ = Join("r", "ub");
    ASSERT_TRUE(b_.ws);
    ExpectPresenceJoin({&a_}, b_);
  }
  Member a_, b_;
};

// With burst 5 and 5/s, a quick burst lets through the burst (the join may have used a
// token) plus what refills while sending. The upper bound is computed from the time the
// sending took, so a slow (sanitized, loaded) run does not make the test flaky.
constexpr int kBurstMin = 3;
int MaxAccepted(int burst, double rate, Clock::time_point t0, Clock::time_point t1) {
  double secs = std::chrono::duration<double>(t1 - t0).count();
  return burst + static_cast<int>(rate * secs) + 1;
}

TEST_F(RateLimitTest, ExcessCursorsAreDroppedSilentlyAndRateRecovers) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom({"--rate-limit", "5", "--rate-burst", "5"}));
  // Each camera is sent only after the previous one arrived (or 40 ms passed), so that an
  // accepted camera is not superseded by the next one (backpressure coalescing is not
  // rate limiting). Dropped ones cost 40 ms each: at most ~0.8 s for 20.
  std::vector<int> got;
  auto collect = [&](milliseconds wait) {
    JsonResult m = b_->recv_json(wait);
    if (!m.ok) {
      EXPECT_EQ(m.status, RecvStatus::Timeout) << m.error;
      return false;
    }
    EXPECT_EQ(m.type(), "cursor") << m.text;
    got.push_back(static_cast<int>(nget(*m, "fov")));
    return true;
  };
  auto t0 = Clock::now();
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(a_->send_text(cursor_msg(i, 0, 0, 0, 0, 0, i)));
    collect(milliseconds(40));
  }
  auto t1 = Clock::now();
  for (int k = 0; k < 20 && collect(milliseconds(300)); ++k) {
  }
  auto send_ms = std::chrono::duration_cast<milliseconds>(t1 - t0).count();
  int max_ok = MaxAccepted(5, 5, t0, t1);
  EXPECT_GE(got.size(), size_t(kBurstMin)) << "too few cursors passed (sent in " << send_ms << " ms)";
  EXPECT_LE(got.size(), size_t(max_ok)) << "rate limit not applied to cursors (sent in " << send_ms << " ms)";
  for (size_t i = 1; i < got.size(); ++i) EXPECT_GT(got[i], got[i - 1]) << "cursor order broken";
  // Dropping cursors is silent: no error to the sender.
  EXPECT_TRUE(a_->expect_no_message(milliseconds(300))) << "dropped cursors must not produce errors";

  // After the bucket refills, cursors flow again.
  std::this_thread::sleep_for(milliseconds(1200));
  ASSERT_TRUE(a_->send_text(cursor_msg(0, 0, 0, 0, 0, 0, 777)));
  IT_ASSERT_JSON(m, b_->recv_json());
  EXPECT_EQ(nget(*m, "fov"), 777) << m.text;
}

TEST_F(RateLimitTest, ExcessEditsGetRateLimitedErrorAndAreNeitherRelayedNorSequenced) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom({"--rate-limit", "5", "--rate-burst", "5"}));
  auto t0 = Clock::now();
  for (int i = 1; i <= 20; ++i)
    ASSERT_TRUE(a_->send_text(edit_msg("b", "op" + std::to_string(i), "", "id" + std::to_string(i))));
  int max_ok = MaxAccepted(5, 5, t0, Clock::now());
  int acks = 0, limited = 0;
  long long last_seq = 0;
  for (int k = 0; k < 20; ++k) {
    IT_ASSERT_JSON(m, a_->recv_json());
    if (m.type() == "ack") {
      ++acks;
      EXPECT_EQ(iget(*m, "seq"), last_seq + 1) << m.text;
      last_seq = iget(*m, "seq");
    } else {
      ASSERT_EQ(m.type(), "error") << m.text;
      EXPECT_EQ(sget(*m, "code"), "rate_limited") << m.text;
      EXPECT_TRUE(has(*m, "message") && (*m)["message"].IsString()) << m.text;
      ++limited;
    }
  }
  EXPECT_EQ(acks + limited, 20);
  EXPECT_GE(acks, kBurstMin);
  EXPECT_LE(acks, max_ok) << "rate limit not applied to edits";
  EXPECT_TRUE(a_->expect_no_message(milliseconds(200)));
  // The watcher gets exactly the accepted edits, gap-free.
  for (int i = 1; i <= acks; ++i) {
    IT_ASSERT_JSON(e, b_->recv_json());
    ASSERT_EQ(e.type(), "edit") << e.text;
    EXPECT_EQ(iget(*e, "seq"), i) << e.text;
  }
  EXPECT_TRUE(b_->expect_no_message(milliseconds(200))) << "a rate-limited edit was relayed";

  // The connection stays open and edits are accepted again after a refill.
  std::this_thread::sleep_for(milliseconds(1200));
  ASSERT_TRUE(a_->send_text(edit_msg("b", "after", "", "late")));
  IT_ASSERT_JSON(ack, a_->recv_json());
  EXPECT_EQ(ack.type(), "ack") << ack.text;
  EXPECT_EQ(iget(*ack, "seq"), acks + 1) << ack.text;
  IT_ASSERT_JSON(e, b_->recv_json());
  EXPECT_EQ(sget(*e, "op"), "after") << e.text;
}

TEST_F(RateLimitTest, ExcessPingsAndSelectsGetRateLimitedError) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom({"--rate-limit", "5", "--rate-burst", "5"}));
  auto t0 = Clock::now();
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(a_->send_text(R"({"type":"ping","t":)" + std::to_string(i) + "}"));
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(a_->send_text(R"({"type":"select","ids":["x"]})"));
  int max_ok = MaxAccepted(5, 5, t0, Clock::now());
  int pongs = 0, limited = 0;
  for (int k = 0; k < 20; ++k) {
    IT_ASSERT_JSON(m, a_->recv_json());
    if (m.type() == "pong") ++pongs;
    else {
      ASSERT_EQ(m.type(), "error") << m.text;
      EXPECT_EQ(sget(*m, "code"), "rate_limited") << m.text;
      ++limited;
    }
  }
  EXPECT_GE(pongs, kBurstMin);
  EXPECT_LE(pongs, max_ok);
  EXPECT_GE(limited, 20 - max_ok);
  // Selects that were accepted are relayed, the rest are not: fewer than 10 arrive.
  int selects = 0;
  for (int k = 0; k < 10; ++k) {
    JsonResult m = b_->recv_json(milliseconds(300));
    if (!m.ok) break;
    EXPECT_EQ(m.type(), "select") << m.text;
    ++selects;
  }
  EXPECT_LE(pongs + selects, max_ok) << "more messages accepted than the limit allows";
}

TEST_F(RateLimitTest, DefaultLimitAcceptsABurstOfAboutSixtyEditsThenLimits) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom({}));
  constexpr int kN = 100;
  auto t0 = Clock::now();
  for (int i = 1; i <= kN; ++i) ASSERT_TRUE(a_->send_text(edit_msg("b", "op", "", std::to_string(i))));
  int max_ok = MaxAccepted(60, 60, t0, Clock::now());
  int acks = 0, limited = 0;
  for (int k = 0; k < kN; ++k) {
    IT_ASSERT_JSON(m, a_->recv_json());
    if (m.type() == "ack") ++acks;
    else if (sget(*m, "code") == "rate_limited") ++limited;
    else FAIL() << m.text;
  }
  EXPECT_GE(acks, 55);
  EXPECT_LE(acks, max_ok);
  EXPECT_EQ(acks + limited, kN);
}

TEST_F(RateLimitTest, LimitIsPerConnectionNotPerRoom) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom({"--rate-limit", "5", "--rate-burst", "5"}));
  // A exhausts its budget; B's edits are still accepted.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(a_->send_text(edit_msg("b", "a")));
  for (int k = 0; k < 10; ++k) {
    IT_ASSERT_JSON(m, a_->recv_json());
  }
  ASSERT_TRUE(b_->send_text(edit_msg("b", "from-b", "", "bid")));
  IT_ASSERT_JSON(ack, b_->recv_until_type("ack"));
  EXPECT_EQ(sget(*ack, "id"), "bid") << ack.text;
}

}  // namespace
}  // namespace it
