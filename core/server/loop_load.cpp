// core/server/loop_load.cpp: the period's CPU reading.
#include "core/server/loop_load.h"

#include <time.h>

namespace roomcast {

void LoopLoad::close_period(int64_t now_ns) {
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return;  // never on Linux
  const int64_t cpu_ns = int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  // The first period only starts the readings.
  if (period_start_ns_ != 0) saturated_ = verdict(saturated_, cpu_ns - period_start_cpu_ns_, now_ns - period_start_ns_);
  period_start_ns_ = now_ns;
  period_start_cpu_ns_ = cpu_ns;
}

}  // namespace roomcast
