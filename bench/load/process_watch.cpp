#include "bench/load/process_watch.h"

#include "bench/load/proc_stats.h"

namespace load {

ProcessSample sample_process(int pid) {
  return ProcessSample{process_cpu_us(pid), process_rss_kib(pid), process_runqueue_wait_us(pid)};
}

ProcessSample sum_samples(const std::vector<ProcessSample>& samples) {
  ProcessSample total{0, 0, 0};
  auto add = [](std::optional<int64_t>& to, const std::optional<int64_t>& v) {
    if (to && v) {
      *to += *v;
    } else {
      to.reset();
    }
  };
  for (const ProcessSample& s : samples) {
    add(total.cpu_us, s.cpu_us);
    add(total.rss_kib, s.rss_kib);
    add(total.wait_us, s.wait_us);
  }
  return total;
}

}  // namespace load
