// bench/load/clock.h: the one time base of the load tool.
//
// Every timestamp in the tool (send times carried in cursors, receive times, schedules,
// phase boundaries) is microseconds of CLOCK_MONOTONIC since tool start, so a sender and
// a receiver on different tool threads compare times without conversion.
#pragma once

#include <cstdint>
#include <ctime>

namespace load {

// CLOCK_MONOTONIC in microseconds (absolute, not since start).
inline int64_t monotonic_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// Microseconds since the first call of start_clock() (which must happen before threads
// start; it is called first thing in main()).
int64_t now_us();
void start_clock();
int64_t clock_origin_us();

}  // namespace load
