#include "core/base/rate_limiter.h"

#include <gtest/gtest.h>

namespace roomcast {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(RateLimiter, AllowsABurstThenRefusesUntilTokensReturn) {
  RateLimiter r(60, 60, 0);
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += r.allow(0);
  EXPECT_EQ(allowed, 60);
  EXPECT_FALSE(r.allow(kSecond / 120));  // half a token back
  EXPECT_TRUE(r.allow(kSecond / 60 + 1));
}

TEST(RateLimiter, SustainsExactlyTheConfiguredRate) {
  RateLimiter r(60, 60, 0);
  for (int i = 0; i < 60; ++i) r.allow(0);  // drain the burst
  int allowed = 0;
  for (int64_t t = 1; t <= 10 * kSecond; t += kSecond / 600) allowed += r.allow(t);  // 600 msg/s offered
  EXPECT_NEAR(allowed, 600, 2);  // 60/s for 10 s
}

TEST(RateLimiter, IdleTimeDoesNotBankMoreThanTheBurst) {
  RateLimiter r(10, 5, 0);
  int allowed = 0;
  for (int i = 0; i < 50; ++i) allowed += r.allow(1000 * kSecond);
  EXPECT_EQ(allowed, 5);
}

}  // namespace
}  // namespace roomcast
