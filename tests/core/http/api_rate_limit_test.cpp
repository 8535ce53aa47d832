// Unit tests for core/http/api_rate_limit.h: API calls per address.
#include "core/http/api_rate_limit.h"

#include <gtest/gtest.h>

namespace roomcast {
namespace {

PeerAddress addr(uint32_t n) {
  PeerAddress p;
  p.bytes[10] = p.bytes[11] = 0xFF;
  p.bytes[12] = uint8_t(n >> 24);
  p.bytes[13] = uint8_t(n >> 16);
  p.bytes[14] = uint8_t(n >> 8);
  p.bytes[15] = uint8_t(n);
  return p;
}

constexpr int64_t kSec = 1'000'000'000;

TEST(ApiRateLimit, AnAddressGetsTwiceTheRateAtOnceThenTheRateAndOthersAreUnaffected) {
  ApiRateLimit limit(5);
  int allowed = 0;
  for (int i = 0; i < 30; ++i) allowed += limit.allow(addr(1), 0);
  EXPECT_EQ(allowed, 10);
  EXPECT_TRUE(limit.allow(addr(2), 0));
  EXPECT_FALSE(limit.allow(addr(1), kSec / 10));
  EXPECT_TRUE(limit.allow(addr(1), kSec / 5 + kSec / 100)) << "one more every 200 ms";
}

TEST(ApiRateLimit, ZeroMeansNoLimit) {
  ApiRateLimit limit(0);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limit.allow(addr(1), 0));
  EXPECT_EQ(limit.tracked(), 0u);
}

TEST(ApiRateLimit, TheTableIsBoundedAndForgetsIdleAddressesFirst) {
  ApiRateLimit limit(1);
  for (uint32_t i = 0; i < ApiRateLimit::kMaxAddresses; ++i) ASSERT_TRUE(limit.allow(addr(i), 0));
  EXPECT_FALSE(limit.allow(addr(1u << 30), kSec)) << "every entry busy: a newcomer waits";
  EXPECT_EQ(limit.tracked(), ApiRateLimit::kMaxAddresses);
  EXPECT_TRUE(limit.allow(addr(1u << 30), 3 * kSec)) << "idle entries are forgotten to make room";
  EXPECT_LT(limit.tracked(), 10u);
}

}  // namespace
}  // namespace roomcast
