// Unit tests for core/server/housekeeping.h: the once-a-second pass that ends what waited too
// long and keeps quiet connections alive and small. The test moves the loop clock and
// the wall clock; what it asserts is the state a connection ends in and what its client
// reads (a close frame's code, a ping).
#include "core/server/housekeeping.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/core/server/io_core.h"

namespace roomcast {
namespace {

using testing_support::close_code_of;
using testing_support::IoCore;
using testing_support::read_peer;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kUnix = 1'800'000'000;

class HousekeepingTest : public ::testing::Test {
 protected:
  HousekeepingTest() {
    config_.handshake_timeout_s = 5;
    config_.ping_interval_s = 25;
  }
  IoCore& core() {
    if (!core_) core_.emplace(config_);
    return *core_;
  }
  TickReport tick_at(int64_t now) {
    core().now = now;
    return core().housekeeping->tick(now, kUnix);
  }
  // What the client reads once the output step ran.
  std::string client_reads(int peer) {
    core().iterate();
    return read_peer(peer);
  }
  Config config_;
  std::optional<IoCore> core_;
};

TEST_F(HousekeepingTest, AHandshakeNotFinishedWithinTheTimeoutIsDropped) {
  int peer;
  const int64_t t0 = core().now;
  Connection& c = core().open(&peer, ConnState::Handshake);
  c.deadline = ClockMs::of(t0 + 5 * kSecond);
  tick_at(t0 + 5 * kSecond - kSecond / 10);
  EXPECT_EQ(c.state, ConnState::Handshake);
  tick_at(t0 + 5 * kSecond);
  EXPECT_EQ(c.state, ConnState::Dead);
  EXPECT_EQ(core().metrics.refusals[size_t(Refusal::Timeout)].get(), 1u);
}

TEST_F(HousekeepingTest, AnInBandMemberWithoutItsTokenByTheDeadlineIsClosed4001) {
  int peer;
  const int64_t t0 = core().now;
  Connection& c = core().open(&peer);
  c.member.awaiting_token = true;
  c.deadline = ClockMs::of(t0 + 5 * kSecond);
  tick_at(t0 + 4 * kSecond);
  EXPECT_EQ(c.state, ConnState::Open);
  tick_at(t0 + 5 * kSecond);
  EXPECT_EQ(c.state, ConnState::Closing);
  EXPECT_EQ(close_code_of(client_reads(peer)), kCloseUnauthorized);
}

TEST_F(HousekeepingTest, AMemberWhoseTokenExpiredIsClosed4001) {
  int peer;
  Connection& c = core().open(&peer);
  c.member.identity = std::make_unique<Identity>();
  c.member.identity->verified = true;
  c.member.identity->exp = kUnix + 1;
  core().housekeeping->tick(core().now, kUnix);
  EXPECT_EQ(c.state, ConnState::Open) << "not before exp";
  core().housekeeping->tick(core().now, kUnix + 1);
  EXPECT_EQ(c.state, ConnState::Closing);
  EXPECT_EQ(core().metrics.expiry_closes.get(), 1u);
  EXPECT_EQ(close_code_of(client_reads(peer)), kCloseUnauthorized);
}

TEST_F(HousekeepingTest, AQuietMemberIsPingedEachIntervalAndClosed1001AfterTwoSilentIntervals) {
  int peer;
  const int64_t t0 = core().now;
  Connection& c = core().open(&peer);
  tick_at(t0 + 24 * kSecond);
  EXPECT_EQ(client_reads(peer), "") << "no ping before an interval";
  tick_at(t0 + 25 * kSecond);
  EXPECT_EQ(client_reads(peer), std::string("\x89\x00", 2)) << "an empty ping";
  tick_at(t0 + 26 * kSecond);
  EXPECT_EQ(client_reads(peer), "") << "one ping per interval";
  tick_at(t0 + 50 * kSecond);
  EXPECT_EQ(c.state, ConnState::Closing);
  EXPECT_EQ(c.close_code, kCloseGoingAway);
  EXPECT_EQ(close_code_of(client_reads(peer)), kCloseGoingAway);
}

TEST_F(HousekeepingTest, AMemberThatKeepsSendingIsNeverIdleClosed) {
  int peer;
  const int64_t t0 = core().now;
  Connection& c = core().open(&peer);
  for (int s = 10; s <= 100; s += 10) {
    c.last_rx = ClockMs::of(t0 + (s - 1) * kSecond);  // a byte a second ago
    tick_at(t0 + s * kSecond);
  }
  EXPECT_EQ(c.state, ConnState::Open);
}

TEST_F(HousekeepingTest, ASendWithoutProgressForTwoIntervalsIsClosed1008AndDroppedAfterTheLinger) {
  int peer;
  Connection& c = core().open(&peer);
  c.last_rx = ClockMs::of(core().now + 3600 * kSecond);  // the peer keeps talking: not idle
  core().stall_send(c);
  const int64_t sent = c.last_send_ns;
  c.last_rx = ClockMs::of(sent + 49 * kSecond);
  tick_at(sent + 49 * kSecond);
  EXPECT_EQ(c.state, ConnState::Open);
  c.last_rx = ClockMs::of(sent + 50 * kSecond);
  tick_at(sent + 50 * kSecond);
  EXPECT_EQ(c.state, ConnState::Closing);
  EXPECT_EQ(c.close_code, kClosePolicyViolation);
  EXPECT_EQ(core().metrics.slow_reader_closes.get(), 1u);
  // Its close frame cannot leave either: the linger ends it, cancelling the write.
  tick_at(sent + 50 * kSecond + ConnectionTable::kLingerNs);
  EXPECT_EQ(c.state, ConnState::Dead);
  for (int i = 0; i < 5 && core().table->live() > 0; ++i) core().iterate();
  EXPECT_EQ(core().table->live(), 0u);
}

TEST_F(HousekeepingTest, AClosingConnectionIsDroppedWhenItsLingerEnds) {
  int peer;
  const int64_t t0 = core().now;
  Connection& c = core().open(&peer);
  core().table->end(c, Ending::close(kCloseNormal, ""), t0);
  tick_at(t0 + ConnectionTable::kLingerNs - kSecond / 10);
  EXPECT_EQ(c.state, ConnState::Closing);
  tick_at(t0 + ConnectionTable::kLingerNs);
  EXPECT_EQ(c.state, ConnState::Dead);
}

TEST_F(HousekeepingTest, AMemberQuietForASecondGivesBackItsFramingStateAndIsCountedParked) {
  int p1, p2;
  const int64_t t0 = core().now;
  Connection& quiet = core().open(&p1);
  Connection& busy = core().open(&p2);
  ASSERT_FALSE(quiet.ws.parked());
  busy.last_rx = ClockMs::of(t0 + kSecond);
  TickReport report = tick_at(t0 + kSecond);
  EXPECT_EQ(report.parked, 1u);
  EXPECT_TRUE(quiet.ws.parked());
  EXPECT_FALSE(busy.ws.parked()) << "a connection that just received keeps its state";
  EXPECT_EQ(tick_at(t0 + 2 * kSecond + 1).parked, 1u) << "the busy one, quiet now; the parked one is not counted again";
}

}  // namespace
}  // namespace roomcast
