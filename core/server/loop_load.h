// core/server/loop_load.h: how busy a loop thread's core is: the CPU time the thread used (user
// and system, which on loopback includes the receiving side of its own sends) as a share
// of wall time, over periods of 50 ms.
//
// Owns: the last period's start and the verdict. Called by: the Worker once per loop
// iteration (tick); read by the output step (core/server/output.h), which stops holding the
// batch-window promise while the core is saturated.
// Promises: the verdict changes at most once per period and reflects the last full
// period: it becomes saturated() when the thread used more than 85% of a period, and
// stays so until a period under 70%. The gap is on purpose: a saturated loop makes every
// socket share one window (core/server/output.h), which costs less, so its share drops; it must
// not flip back to the costlier policy at the first lighter period. One
// clock_gettime(CLOCK_THREAD_CPUTIME_ID) per period, nothing per iteration.
#pragma once

#include <cstdint>

namespace roomcast {

class LoopLoad {
 public:
  static constexpr int64_t kPeriodNs = 50'000'000;
  static constexpr int kSaturatedPercent = 85;
  static constexpr int kRecoveredPercent = 70;

  // `now_ns`: CLOCK_MONOTONIC, as the loop last read it.
  void tick(int64_t now_ns) {
    if (now_ns - period_start_ns_ >= kPeriodNs) close_period(now_ns);
  }
  bool saturated() const { return saturated_; }

  // The share of `wall_ns` a thread that used `cpu_ns` was busy, in percent, and the
  // verdict that follows from it given the previous one (the policy, testable alone).
  static bool verdict(bool was_saturated, int64_t cpu_ns, int64_t wall_ns) {
    const int threshold = was_saturated ? kRecoveredPercent : kSaturatedPercent;
    return wall_ns > 0 && cpu_ns * 100 > wall_ns * threshold;
  }

 private:
  void close_period(int64_t now_ns);

  int64_t period_start_ns_ = 0;
  int64_t period_start_cpu_ns_ = 0;
  bool saturated_ = false;
};

}  // namespace roomcast
