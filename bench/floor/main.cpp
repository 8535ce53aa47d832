// roomcast-floor: what the kernel alone charges a sender for a write pattern on loopback.
//
// Any WebSocket server, however lean, must at least write each recipient socket once per
// latency budget. This tool makes exactly those writes and nothing else (no parsing, no
// framing, no event loop): `--sockets` loopback TCP connections, and every `--interval-us`
// one plain write() of `--bytes` bytes to each of them, from a writer thread pinned to
// `--writer-cpu`, while a reader process pinned to `--reader-cpu` drains them with epoll.
// It prints the writer thread's CPU time (RUSAGE_THREAD) per second and per write.
// On loopback the receiver's TCP work runs inside the sender's write (softirq), just as
// it does for roomcast's sendmsg, so the number is the floor under the server's CPU.
//
// Bounded: every loop stops at --duration (at most 120 s) plus 5 s; only 127.0.0.1.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

struct Options {
  int sockets = 100;
  long interval_us = 5000;
  size_t bytes = 500;
  double duration_s = 5;
  int iovecs = 1;  // each write gathers this many equal pieces (writev), as a batched sendmsg does
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
  sched_setaffinity(0, sizeof set, &set);
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "roomcast-floor: %s\n"
               "usage: roomcast-floor [--sockets N] [--interval-us US] [--bytes B] [--duration S]\n"
               "                      [--iovecs K] [--writer-cpu C] [--reader-cpu C] [--label NAME]\n",
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
    else if (a == "--iovecs") o.iovecs = std::atoi(value());
    else if (a == "--writer-cpu") o.writer_cpu = std::atoi(value());
    else if (a == "--reader-cpu") o.reader_cpu = std::atoi(value());
    else if (a == "--label") o.label = value();
    else usage(("unknown option " + a).c_str());
  }
  if (o.sockets < 1 || o.sockets > 100000) usage("--sockets must be in 1..100000");
  if (o.interval_us < 100 || o.interval_us > 10'000'000) usage("--interval-us must be in 100..10000000");
  if (o.bytes < 1 || o.bytes > (1 << 20)) usage("--bytes must be in 1..1048576");
  if (!(o.duration_s > 0 && o.duration_s <= 120)) usage("--duration must be in (0, 120]");
  if (o.iovecs < 1 || o.iovecs > 1024 || size_t(o.iovecs) > o.bytes) usage("--iovecs must be in 1..min(1024, bytes)");
  return o;
}

// The reader side: connects `sockets` times to `addr` from 127.0.0.2..254 (so 10k+ do
// not exhaust one address's ports) and drains them until every one is closed or the
// deadline passes. Runs in a child process so each side needs only its own descriptors.
int run_reader(const Options& o, const sockaddr_in& addr, int64_t deadline) {
  pin(o.reader_cpu);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> fds;
  for (int i = 0; i < o.sockets; ++i) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | uint32_t(2 + i % 253));
    if (c < 0 || bind(c, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
        connect(c, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      std::fprintf(stderr, "roomcast-floor: connection %d: %s (raise ulimit -n?)\n", i, std::strerror(errno));
      return 1;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = uint32_t(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
    fds.push_back(c);
  }
  std::vector<char> buf(256 * 1024);
  epoll_event events[512];
  int open = o.sockets;
  while (open > 0 && now_us() < deadline) {
    int n = epoll_wait(ep, events, 512, 20);
    for (int k = 0; k < n; ++k) {
      const int fd = fds[events[k].data.u32];
      ssize_t r;
      while ((r = read(fd, buf.data(), buf.size())) == ssize_t(buf.size())) {
      }
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        --open;
      }
    }
  }
  return 0;
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
      listen(listener, 65535) != 0 || getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::fprintf(stderr, "roomcast-floor: listen: %s\n", std::strerror(errno));
    return 1;
  }
  const int64_t deadline = now_us() + int64_t(o.duration_s * 1e6) + 30'000'000;
  std::fflush(stdout);
  const pid_t reader = fork();
  if (reader < 0) {
    std::fprintf(stderr, "roomcast-floor: fork: %s\n", std::strerror(errno));
    return 1;
  }
  if (reader == 0) {
    close(listener);
    _exit(run_reader(o, addr, deadline));
  }
  std::vector<int> senders;
  pollfd pfd{listener, POLLIN, 0};
  while (int(senders.size()) < o.sockets && now_us() < deadline) {
    if (poll(&pfd, 1, 100) <= 0) {
      int status;
      if (waitpid(reader, &status, WNOHANG) == reader) {
        std::fprintf(stderr, "roomcast-floor: the reader exited after %zu connections\n", senders.size());
        return 1;
      }
      continue;
    }
    int s = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (s < 0) continue;
    const int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as roomcast's sockets
    senders.push_back(s);
  }
  close(listener);
  if (int(senders.size()) < o.sockets) {
    std::fprintf(stderr, "roomcast-floor: only %zu of %d connections\n", senders.size(), o.sockets);
    kill(reader, SIGKILL);
    waitpid(reader, nullptr, 0);
    return 1;
  }

  pin(o.writer_cpu);
  std::vector<char> payload(o.bytes, 'x');
  // --iovecs K: the same bytes as K pieces in one writev, like a sendmsg gathering K frames.
  std::vector<iovec> pieces(size_t(o.iovecs));
  for (int k = 0; k < o.iovecs; ++k) {
    const size_t from = o.bytes * size_t(k) / size_t(o.iovecs), to = o.bytes * size_t(k + 1) / size_t(o.iovecs);
    pieces[size_t(k)] = iovec{payload.data() + from, to - from};
  }
  msghdr gathered{};
  gathered.msg_iov = pieces.data();
  gathered.msg_iovlen = pieces.size();
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
      ssize_t w = o.iovecs == 1 ? send(s, payload.data(), payload.size(), MSG_NOSIGNAL | MSG_DONTWAIT)
                                : sendmsg(s, &gathered, MSG_NOSIGNAL | MSG_DONTWAIT);
      ++writes;
      if (w != ssize_t(payload.size())) ++short_writes;
    }
    if (now_us() > deadline) break;
  }
  const double cpu = thread_cpu_s() - cpu_start;
  const double wall = double(now_us() - start) / 1e6;
  for (int s : senders) close(s);  // the reader sees EOF on each and exits
  waitpid(reader, nullptr, 0);

  const double writes_per_s = double(writes) / wall;
  const double us_per_write = writes ? 1e6 * cpu / double(writes) : 0.0;
  // When the writer cannot keep the cadence (it is at 100% and behind), what the pattern
  // would need is the cost per write times the writes it asks for.
  const double wanted_per_s = double(o.sockets) * 1e6 / double(o.interval_us);
  const double needed_pct = us_per_write * wanted_per_s / 1e4;
  std::printf("== floor %s: %d sockets, one %zu-byte write (%d piece%s) each every %ld us\n", o.label.c_str(),
              o.sockets, o.bytes, o.iovecs, o.iovecs == 1 ? "" : "s", o.interval_us);
  std::printf("  writes_per_s                 %.0f (pattern: %.0f)\n", writes_per_s, wanted_per_s);
  std::printf("  short_writes                 %llu\n", static_cast<unsigned long long>(short_writes));
  std::printf("  writer_cpu_pct               %.1f\n", 100.0 * cpu / wall);
  std::printf("  writer_us_per_write          %.3f\n", us_per_write);
  std::printf("  cpu_needed_pct               %.1f%s\n", needed_pct,
              writes_per_s < 0.95 * wanted_per_s ? " (the writer could not keep the cadence)" : "");
  std::printf(
      "{\"label\":\"%s\",\"sockets\":%d,\"interval_us\":%ld,\"bytes\":%zu,\"iovecs\":%d,\"writes_per_s\":%.0f,"
      "\"wanted_writes_per_s\":%.0f,\"short_writes\":%llu,\"writer_cpu_pct\":%.2f,\"us_per_write\":%.4f,"
      "\"cpu_needed_pct\":%.2f}\n",
      o.label.c_str(), o.sockets, o.interval_us, o.bytes, o.iovecs, writes_per_s, wanted_per_s,
      static_cast<unsigned long long>(short_writes), 100.0 * cpu / wall, us_per_write, needed_pct);
  return 0;
}
