#include "bench/load/proc_stats.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace load {

std::optional<int64_t> process_cpu_us(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // Field 2 (comm) may contain spaces; everything after the last ')' is space-separated,
  // starting with field 3 (state). utime and stime are fields 14 and 15.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int f = 3; f <= 15 && rest >> field; ++f) {
    if (f == 14) utime = std::stoull(field);
    if (f == 15) stime = std::stoull(field);
  }
  const long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) return std::nullopt;
  return int64_t((utime + stime) * 1000000ULL / static_cast<unsigned long long>(hz));
}

std::optional<int64_t> process_rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      long long kib = 0;
      if (std::sscanf(line.c_str() + 6, "%lld", &kib) == 1) return int64_t(kib);
    }
  }
  return std::nullopt;
}

std::optional<int64_t> process_runqueue_wait_us(int pid) {
  const std::string base = pid > 0 ? "/proc/" + std::to_string(pid) + "/task" : "/proc/self/task";
  std::error_code ec;
  std::filesystem::directory_iterator it(base, ec);
  if (ec) return std::nullopt;
  int64_t total_ns = 0;
  for (const auto& entry : it) {
    std::ifstream in(entry.path() / "schedstat");
    long long on_cpu = 0, waiting = 0;
    if (in >> on_cpu >> waiting) total_ns += waiting;
  }
  return total_ns / 1000;
}

TcpCounters read_tcp_counters() {
  // Pairs of lines: "TcpExt: Name1 Name2 ..." then "TcpExt: v1 v2 ...".
  std::ifstream in("/proc/net/netstat");
  std::string names, values;
  TcpCounters out;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    n >> name;
    v >> value;
    while (n >> name && v >> value) {
      if (name == "ListenOverflows") out.listen_overflows = std::stoll(value);
      if (name == "TCPSynRetrans") out.syn_retransmits = std::stoll(value);
    }
  }
  return out;
}

int64_t self_cpu_us() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return int64_t(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

long raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return -1;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  return long(lim.rlim_cur);
}

}  // namespace load
