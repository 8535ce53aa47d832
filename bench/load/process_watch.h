// bench/load/process_watch.h: the processes a measurement watches besides the tool: the
// server instances (--server-pid, one per server) and others such as redis-server
// (--extra-pid NAME:PID), sampled at both edges of an interval.
//
// Owns nothing. A ProcessSample is one reading of /proc (proc_stats.h); CPU numbers are
// differences of two samples of the same process. A set of servers is also summed into
// one total, since "server CPU" of a scaled-out room is what all its instances spend.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace load {

struct ProcessSample {
  std::optional<int64_t> cpu_us;   // utime + stime, all threads
  std::optional<int64_t> rss_kib;  // VmRSS
  std::optional<int64_t> wait_us;  // runnable but not running, all threads
};

ProcessSample sample_process(int pid);

// The sum over `samples`; a field is nullopt if it is missing from any of them (a process
// that is gone makes the total meaningless, not smaller).
ProcessSample sum_samples(const std::vector<ProcessSample>& samples);

}  // namespace load
