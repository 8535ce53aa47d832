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

// Time the threads of process `pid` (0: this process) spent runnable but waiting for a
// CPU, in microseconds, summed over /proc/PID/task/*/schedstat (second field, ns).
// Large values mean other processes share the CPU: the numbers then include that wait.
std::optional<int64_t> process_runqueue_wait_us(int pid);

// Machine-wide TCP counters from /proc/net/netstat (TcpExt), for evidence of dropped
// connection attempts: ListenOverflows (accept queue full) and TCPSynRetrans.
struct TcpCounters {
  int64_t listen_overflows = 0;
  int64_t syn_retransmits = 0;
};
TcpCounters read_tcp_counters();

// This process's user + system CPU time in microseconds (getrusage RUSAGE_SELF).
int64_t self_cpu_us();

// How many CPUs this process may run on (sched_getaffinity), at least 1.
int usable_cpus();

// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft limit.
long raise_fd_limit();

}  // namespace load
