// tests/core/loop_load_test.cpp: when a loop counts as saturated (core/server/loop_load.h).
#include "core/server/loop_load.h"

#include <gtest/gtest.h>

namespace roomcast {
namespace {

constexpr int64_t kMs = 1'000'000;

TEST(LoopLoad, ALoopBusyMoreThan85PercentOfAPeriodIsSaturated) {
  EXPECT_FALSE(LoopLoad::verdict(false, 84 * kMs, 100 * kMs));
  EXPECT_TRUE(LoopLoad::verdict(false, 86 * kMs, 100 * kMs));
}

TEST(LoopLoad, ASaturatedLoopStaysSoUntilAPeriodUnder70Percent) {
  EXPECT_TRUE(LoopLoad::verdict(true, 75 * kMs, 100 * kMs)) << "flipped back at a period it would enter from";
  EXPECT_FALSE(LoopLoad::verdict(true, 69 * kMs, 100 * kMs));
}

TEST(LoopLoad, AnEmptyPeriodIsNotSaturated) {
  EXPECT_FALSE(LoopLoad::verdict(true, 0, 0));
  EXPECT_FALSE(LoopLoad::verdict(false, 5 * kMs, 0));
}

TEST(LoopLoad, AnIdleThreadIsNotSaturatedAfterItsPeriods) {
  LoopLoad load;
  for (int64_t t = 1; t <= 5; ++t) load.tick(t * LoopLoad::kPeriodNs);  // no CPU used between
  EXPECT_FALSE(load.saturated());
}

}  // namespace
}  // namespace roomcast
