// bench/load/proc_stats.h: CPU and memory of a process, from /proc and getrusage.
//
// Owns nothing. Used at the edges of a measured interval: CPU numbers are differences of
// two samples, so a sample is only meaningful next to another of the same kind.
#pragma once

#include <cstdint>
#include <optional>

namespace load {

// utime + stime of process `pid` (all its threads) in microseconds, from /proc/PID/stat
// (clock-tick resolution, usually 10 ms). nullopt if the process is gone.
std::optional<int64_t> process_cpu_us(int pid);

// VmRSS of process `pid` in KiB, from /proc/PID/status. nullopt if unavailable.
std::optional<int64_t> process_rss_kib(int pid);

// This process's user + system CPU time in microseconds (getrusage RUSAGE_SELF).
int64_t self_cpu_us();

// How many CPUs this process may run on (sched_getaffinity), at least 1.
int usable_cpus();

// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft limit.
long raise_fd_limit();

}  // namespace load
