// roomcast-floor: what the kernel alone charges a sender for a write pattern on loopback.
//
// Any WebSocket server, however lean, must at least write each recipient socket once per
// latency budget. This tool makes exactly those writes and nothing else (no parsing, no
// framing, no event loop): `--sockets` loopback TCP connections, and every `--interval-us`
// one plain write() of `--bytes` bytes to each of them, from a writer thread pinned to
// `--writer-cpu`, while a reader thread pinned to `--reader-cpu` drains them with epoll.
// It prints the writer thread's CPU time (RUSAGE_THREAD) per second and per write.
// On loopback the receiver's TCP work runs inside the sender's write (softirq), just as
// it does for roomcast's sendmsg, so the number is the floor under the server's CPU.
//
// Bounded: every loop stops at --duration (at most 120 s) plus 5 s; only 127.0.0.1.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  int sockets = 100;
  long interval_us = 5000;
  size_t bytes = 500;
  double duration_s = 5;
  int writer_cpu = -1;
  int reader_cpu = -1;
  std::string label;
};

int64_t now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

double thread_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "roomcast-floor: %s\n"
               "usage: roomcast-floor [--sockets N] [--interval-us US] [--bytes B] [--duration S]\n"
               "                      [--writer-cpu C] [--reader-cpu C] [--label NAME]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--sockets") o.sockets = std::atoi(value());
    else if (a == "--interval-us") o.interval_us = std::atol(value());
    else if (a == "--bytes") o.bytes = size_t(std::atol(value()));
    else if (a == "--duration") o.duration_s = std::atof(value());
    else if (a == "--writer-cpu") o.writer_cpu = std::atoi(value());
    else if (a == "--reader-cpu") o.reader_cpu = std::atoi(value());
    else if (a == "--label") o.label = value();
    else usage(("unknown option " + a).c_str());
  }
  if (o.sockets < 1 || o.sockets > 100000) usage("--sockets must be in 1..100000");
  if (o.interval_us < 100 || o.interval_us > 10'000'000) usage("--interval-us must be in 100..10000000");
  if (o.bytes < 1 || o.bytes > (1 << 20)) usage("--bytes must be in 1..1048576");
  if (!(o.duration_s > 0 && o.duration_s <= 120)) usage("--duration must be in (0, 120]");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 4096) != 0 || getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::fprintf(stderr, "roomcast-floor: listen: %s\n", std::strerror(errno));
    return 1;
  }
  // Connections from 127.0.0.2..254 so 10k+ do not exhaust one address's ports.
  std::vector<int> senders, receivers;
  for (int i = 0; i < o.sockets; ++i) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | uint32_t(2 + i % 253));
    if (c < 0 || bind(c, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
        connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::fprintf(stderr, "roomcast-floor: connection %d: %s (raise ulimit -n?)\n", i, std::strerror(errno));
      return 1;
    }
    int s = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (s < 0) {
      std::fprintf(stderr, "roomcast-floor: accept: %s\n", std::strerror(errno));
      return 1;
    }
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as roomcast's sockets
    receivers.push_back(c);
    senders.push_back(s);
  }
  close(listener);

  const int64_t deadline = now_us() + int64_t(o.duration_s * 1e6) + 5'000'000;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    pin(o.reader_cpu);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < o.sockets; ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = uint32_t(i);
      epoll_ctl(ep, EPOLL_CTL_ADD, receivers[size_t(i)], &ev);
    }
    std::vector<char> buf(256 * 1024);
    epoll_event events[512];
    while (!stop.load(std::memory_order_relaxed) && now_us() < deadline) {
      int n = epoll_wait(ep, events, 512, 20);
      for (int k = 0; k < n; ++k)
        while (read(receivers[events[k].data.u32], buf.data(), buf.size()) == ssize_t(buf.size())) {
        }
    }
    close(ep);
  });

  pin(o.writer_cpu);
  std::vector<char> payload(o.bytes, 'x');
  uint64_t writes = 0, short_writes = 0;
  const int64_t start = now_us();
  const double cpu_start = thread_cpu_s();
  const int64_t end = start + int64_t(o.duration_s * 1e6);
  for (int64_t round = 0;; ++round) {
    const int64_t due = start + round * o.interval_us;
    if (due >= end) break;
    int64_t wait = due - now_us();
    if (wait > 0) {
      timespec ts{wait / 1'000'000, (wait % 1'000'000) * 1000};
      nanosleep(&ts, nullptr);
    }
    for (int s : senders) {
      ssize_t w = send(s, payload.data(), payload.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ++writes;
      if (w != ssize_t(payload.size())) ++short_writes;
    }
    if (now_us() > deadline) break;
  }
  const double cpu = thread_cpu_s() - cpu_start;
  const double wall = double(now_us() - start) / 1e6;
  stop.store(true);
  reader.join();
  for (int s : senders) close(s);
  for (int c : receivers) close(c);

  const double writes_per_s = double(writes) / wall;
  std::printf("== floor %s: %d sockets, one %zu-byte write each every %ld us\n", o.label.c_str(), o.sockets, o.bytes,
              o.interval_us);
  std::printf("  writes_per_s                 %.0f\n", writes_per_s);
  std::printf("  short_writes                 %llu\n", static_cast<unsigned long long>(short_writes));
  std::printf("  writer_cpu_pct               %.1f\n", 100.0 * cpu / wall);
  std::printf("  writer_us_per_write          %.3f\n", writes ? 1e6 * cpu / double(writes) : 0.0);
  std::printf(
      "{\"label\":\"%s\",\"sockets\":%d,\"interval_us\":%ld,\"bytes\":%zu,\"writes_per_s\":%.0f,"
      "\"short_writes\":%llu,\"writer_cpu_pct\":%.2f,\"us_per_write\":%.4f}\n",
      o.label.c_str(), o.sockets, o.interval_us, o.bytes, writes_per_s, static_cast<unsigned long long>(short_writes),
      100.0 * cpu / wall, writes ? 1e6 * cpu / double(writes) : 0.0);
  return 0;
}
