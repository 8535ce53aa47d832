// bench/load/main.cpp: roomcast-load, the load generator for protocol v1 servers.
//
// The main thread owns the timeline: it starts the tool threads (worker.h), waits for
// every welcome, writes the plan, samples server CPU/RSS (every server instance and any
// extra process, process_watch.h) and its own CPU at the edges of each measured interval,
// stops the threads and prints one report per measurement.
// See `roomcast-load --help` and docs/benchmarks.md.

#include <arpa/inet.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/load/clock.h"
#include "bench/load/options.h"
#include "bench/load/proc_stats.h"
#include "bench/load/process_watch.h"
#include "bench/load/report.h"
#include "bench/load/worker.h"

namespace load {
namespace {

// The tool is called the bottleneck when its CPU passes this share of its threads, or
// when sends leave later than this.
constexpr double kToolCpuWarnPct = 85.0;
constexpr int64_t kLateUs = 1000;
constexpr double kLateFractionWarn = 0.01;
// Runnable-but-waiting time (schedstat) above this share means the CPU is shared.
constexpr double kCpuWaitWarnPct = 10.0;

void sleep_until_us(int64_t t_us) {
  const int64_t abs = clock_origin_us() + t_us;
  timespec ts{abs / 1000000, (abs % 1000000) * 1000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

struct Sample {
  int64_t at_us = 0;
  // The server: with several instances, the sum over all of them (per instance below).
  std::optional<int64_t> server_cpu_us;
  std::optional<int64_t> server_rss_kib;
  int64_t tool_cpu_us = 0;
  std::optional<int64_t> server_wait_us;
  int64_t tool_wait_us = 0;
  TcpCounters tcp;
  std::vector<ProcessSample> servers;  // per --server-pid
  std::vector<ProcessSample> extras;   // per --extra-pid
};

Sample take_sample(const Options& o) {
  Sample s;
  s.at_us = now_us();
  if (!o.server_pids.empty()) {
    for (int pid : o.server_pids) s.servers.push_back(sample_process(pid));
    const ProcessSample total = sum_samples(s.servers);
    s.server_cpu_us = total.cpu_us;
    s.server_rss_kib = total.rss_kib;
    s.server_wait_us = total.wait_us;
  }
  for (const ExtraProcess& p : o.extra_processes) s.extras.push_back(sample_process(p.pid));
  s.tool_cpu_us = self_cpu_us();
  s.tool_wait_us = process_runqueue_wait_us(0).value_or(0);
  s.tcp = read_tcp_counters();
  return s;
}

std::string format_rate(double rate) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", rate);
  return buf;
}

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::Cursors: return "cursors";
    case Mode::Step: return "step";
    case Mode::Idle: return "idle";
    case Mode::JoinBurst: return "join-burst";
  }
  return "?";
}

// Numbers every report carries, and the run-level warnings.
void add_common(Report& r, const Options& o, const SharedState& shared, const RunStats& run,
                int64_t all_joined_us) {
  r.add("label", o.label);
  r.add("mode", std::string(mode_name(o.mode)));
  r.add("connections", int64_t(o.connections));
  r.add("rooms", int64_t(o.rooms));
  if (o.servers.size() > 1) r.add("servers", int64_t(o.servers.size()));
  r.add("tool_threads", int64_t(o.threads));
  r.add("welcomed", int64_t(shared.welcomed.load()));
  r.add("join_failed", int64_t(shared.failed.load()));
  r.add("all_welcomed_ms", all_joined_us >= 0 ? double(all_joined_us) / 1000.0 : NAN, 1);
  r.add("server_close_frames", int64_t(run.server_close_frames));
  r.add("server_eofs", int64_t(run.server_eofs));
  r.add("error_messages", int64_t(run.error_messages));
  if (o.edit_every > 0) {
    r.add("edits_sent", int64_t(run.edits_sent));
    r.add("acks_received", int64_t(run.acks_received));
    r.add("edits_expected", int64_t(run.edits_expected));
    r.add("edits_received", int64_t(run.edits_received));
    r.add("edits_lost", int64_t(run.edits_expected) - int64_t(run.edits_received));
    r.add("edit_gaps", int64_t(run.edit_gaps));
    r.add("edit_reordered", int64_t(run.edit_reordered));
    r.add("ack_p50_us", int64_t(run.ack_latency.percentile(0.5)));
    r.add("ack_p99_us", int64_t(run.ack_latency.percentile(0.99)));
    r.add("ack_max_us", int64_t(run.ack_latency.max()));
    if (run.edit_gaps + run.edit_reordered > 0 || run.edits_received != run.edits_expected ||
        run.acks_received != run.edits_sent)
      r.warn("edits: " + std::to_string(run.edits_expected - std::min(run.edits_expected, run.edits_received)) +
             " not received, " + std::to_string(run.edit_gaps) + " seq gaps, " + std::to_string(run.edit_reordered) +
             " out of order, " + std::to_string(run.edits_sent - std::min(run.edits_sent, run.acks_received)) + " not acked");
  }
  const int welcomed = shared.welcomed.load();
  if (welcomed < o.connections) {
    r.warn(std::to_string(o.connections - welcomed) + " of " + std::to_string(o.connections) +
           " connections were not welcomed (connect errors " + std::to_string(run.connect_errors) +
           ", handshake errors " + std::to_string(run.handshake_errors) + ")");
  }
  if (run.server_close_frames + run.server_eofs > 0) {
    r.warn("the server closed " + std::to_string(run.server_close_frames + run.server_eofs) +
           " connections (close frames " + std::to_string(run.server_close_frames) + ", EOF/reset " +
           std::to_string(run.server_eofs) + ")");
  }
  if (run.error_messages > 0) r.warn(std::to_string(run.error_messages) + " error messages from the server");
  if (run.malformed + run.wrong_room > 0) {
    r.warn(std::to_string(run.malformed) + " unreadable frames/cursors, " + std::to_string(run.wrong_room) +
           " cursors from outside the receiver's room");
  }
  if (!run.first_problem.empty()) r.add("first_problem", run.first_problem);
}

void add_tool_cpu(Report& r, const Sample& a, const Sample& b, int capacity) {
  const double secs = double(b.at_us - a.at_us) / 1e6;
  const double pct = 100.0 * double(b.tool_cpu_us - a.tool_cpu_us) / 1e6 / secs / capacity;
  r.add("tool_cpu_pct", pct, 1);
  const double wait_pct = 100.0 * double(b.tool_wait_us - a.tool_wait_us) / 1e6 / secs / capacity;
  r.add("tool_cpu_wait_pct", wait_pct, 1);
  if (wait_pct > kCpuWaitWarnPct) {
    char buf[240];
    std::snprintf(buf, sizeof buf,
                  "load tool threads waited for a CPU %.0f%% of the time (other processes on its core): "
                  "the tool may be the bottleneck",
                  wait_pct);
    r.warn(buf);
  }
  if (pct > kToolCpuWarnPct) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "load tool CPU at %.0f%% of its %d usable thread(s): the tool may be the bottleneck",
                  pct, capacity);
    r.warn(buf);
  }
}

void add_server_cpu(Report& r, const Sample& a, const Sample& b, uint64_t deliveries) {
  if (!a.server_cpu_us || !b.server_cpu_us) return;
  const double secs = double(b.at_us - a.at_us) / 1e6;
  const int64_t used = *b.server_cpu_us - *a.server_cpu_us;
  r.add("server_cpu_pct", 100.0 * double(used) / 1e6 / secs, 1);
  if (a.server_wait_us && b.server_wait_us) {
    const double wait_pct = 100.0 * double(*b.server_wait_us - *a.server_wait_us) / 1e6 / secs;
    r.add("server_cpu_wait_pct", wait_pct, 1);
    if (wait_pct > kCpuWaitWarnPct) {
      char buf[240];
      if (a.servers.size() > 1) {
        std::snprintf(buf, sizeof buf,
                      "server threads waited for a CPU %.0f%% of the time (summed over %zu server processes; "
                      "other processes on their cores, each other included): latency includes that wait",
                      wait_pct, a.servers.size());
      } else {
        std::snprintf(buf, sizeof buf,
                      "server threads waited for a CPU %.0f%% of the time (other processes on its core): "
                      "latency includes that wait",
                      wait_pct);
      }
      r.warn(buf);
    }
  }
  if (deliveries > 0) r.add("server_cpu_us_per_delivery", double(used) / double(deliveries), 3);
  if (b.server_rss_kib) r.add("server_rss_kib", *b.server_rss_kib);
}

// CPU %, CPU-wait % and RSS of one watched process over [a, b], as PREFIX_cpu_pct, ...
void add_process(Report& r, const std::string& prefix, const ProcessSample& a, const ProcessSample& b,
                 double secs) {
  if (a.cpu_us && b.cpu_us) r.add(prefix + "_cpu_pct", 100.0 * double(*b.cpu_us - *a.cpu_us) / 1e6 / secs, 1);
  if (a.wait_us && b.wait_us) {
    r.add(prefix + "_cpu_wait_pct", 100.0 * double(*b.wait_us - *a.wait_us) / 1e6 / secs, 1);
  }
  if (b.rss_kib) r.add(prefix + "_rss_kib", *b.rss_kib);
}

// With several servers, each one's share (server0 is the first URL); then every extra
// process (e.g. redis_cpu_pct). Nothing for a single server: its numbers are the total.
void add_watched(Report& r, const Options& o, const Sample& a, const Sample& b) {
  const double secs = double(b.at_us - a.at_us) / 1e6;
  if (a.servers.size() > 1) {
    for (size_t i = 0; i < a.servers.size() && i < b.servers.size(); ++i) {
      add_process(r, "server" + std::to_string(i), a.servers[i], b.servers[i], secs);
    }
  }
  for (size_t i = 0; i < o.extra_processes.size() && i < a.extras.size() && i < b.extras.size(); ++i) {
    add_process(r, o.extra_processes[i].name, a.extras[i], b.extras[i], secs);
  }
}

// Same-server and cross-server deliveries (several servers only): what scale-out adds is
// the difference between the two.
void add_path(Report& r, const std::string& prefix, const PathStats& p) {
  r.add(prefix + "_expected", int64_t(p.expected));
  r.add(prefix + "_received", int64_t(p.received));
  r.add(prefix + "_lost", int64_t(p.expected) - int64_t(p.received));
  r.add(prefix + "_p50_us", p.latency.percentile(0.50));
  r.add(prefix + "_p90_us", p.latency.percentile(0.90));
  r.add(prefix + "_p99_us", p.latency.percentile(0.99));
  r.add(prefix + "_p999_us", p.latency.percentile(0.999));
  r.add(prefix + "_max_us", p.latency.max());
  r.add(prefix + "_mean_us", p.latency.mean(), 1);
}

// Latest-wins, checked from the outside: for every (recipient, sender) pair of a room where
// both were still joined at the end and the sender sent a camera, whether the newest camera
// the recipient got from that sender is the last one the sender sent. Under overload the
// server may drop superseded cameras, never the last (the drain lets it arrive).
struct Freshness {
  uint64_t pairs = 0;
  uint64_t fresh = 0;
};

Freshness freshest_cameras(const SharedState& shared, const std::vector<std::unique_ptr<Worker>>& workers) {
  const RoomLayout& layout = shared.layout;
  std::vector<uint32_t> sent(size_t(layout.connections), 0);
  std::vector<char> joined(size_t(layout.connections), 0);
  for (const auto& w : workers)
    for (const Connection& c : w->connections()) {
      sent[size_t(c.id)] = c.seq;
      joined[size_t(c.id)] = c.joined_at_end;
    }
  Freshness f;
  for (const auto& w : workers)
    for (const Connection& c : w->connections()) {
      if (!c.joined_at_end) continue;
      const int size = layout.room_size(c.room);
      for (int m = 0; m < size; ++m) {
        const int sender = m * layout.rooms + c.room;  // room_of(i) = i % rooms, member_of(i) = i / rooms
        if (sender == c.id || !joined[size_t(sender)] || sent[size_t(sender)] == 0) continue;
        ++f.pairs;
        if (size_t(m) < c.last_seq.size() && c.last_seq[size_t(m)] == sent[size_t(sender)]) ++f.fresh;
      }
    }
  return f;
}

Report step_report(const Options& o, const SharedState& shared, const RunStats& run, size_t k,
                   const Sample& a, const Sample& b, int capacity, int64_t all_joined_us) {
  const Step& step = shared.plan.steps[k];
  const StepStats& st = run.steps[k];
  std::string title = (o.label.empty() ? std::string("run") : o.label) + ": " +
                      std::to_string(o.connections) + " connections in " + std::to_string(o.rooms) +
                      " room(s)" +
                      (o.servers.size() > 1 ? " over " + std::to_string(o.servers.size()) + " servers" : "") +
                      ", rate " + format_rate(step.rate) + "/s";
  if (shared.plan.steps.size() > 1) {
    title += ", step " + std::to_string(k + 1) + "/" + std::to_string(shared.plan.steps.size());
  }
  Report r(title);
  add_common(r, o, shared, run, all_joined_us);
  const double secs = double(step.measure_end_us - step.measure_start_us) / 1e6;
  r.add("step", int64_t(k));
  r.add("rate_per_conn", step.rate, 3);
  r.add("measured_s", secs, 3);
  r.add("sends", int64_t(st.sends));
  r.add("expected", int64_t(st.expected));
  r.add("received", int64_t(st.received));
  const int64_t lost = int64_t(st.expected) - int64_t(st.received);
  r.add("lost", lost);
  r.add("loss_pct", st.expected ? 100.0 * double(lost) / double(st.expected) : 0.0, 4);
  r.add("duplicates", int64_t(st.duplicates));
  r.add("reordered", int64_t(st.reordered));
  r.add("deliveries_per_s", double(st.received) / secs, 0);
  r.add("sends_per_s", double(st.sends) / secs, 0);
  r.add("p50_us", st.latency.percentile(0.50));
  r.add("p90_us", st.latency.percentile(0.90));
  r.add("p99_us", st.latency.percentile(0.99));
  r.add("p999_us", st.latency.percentile(0.999));
  r.add("max_us", st.latency.max());
  r.add("mean_us", st.latency.mean(), 1);
  // Bytes each client read per second in the measured window (S1A: camera_rate).
  r.add("bytes_in_per_client_per_s", double(st.bytes_in) / double(std::max(1, o.connections)) / secs, 0);
  if (o.followers > 0) {
    r.add("camera_rate", o.camera_rate, 2);
    r.add("follower_received", int64_t(st.follow_received));
    r.add("follower_p50_us", st.follow_latency.percentile(0.50));
    r.add("follower_p99_us", st.follow_latency.percentile(0.99));
  }
  if (o.servers.size() > 1) {
    add_path(r, "same_server", st.same_server);
    add_path(r, "cross_server", st.cross_server);
  }
  add_server_cpu(r, a, b, st.received);
  add_watched(r, o, a, b);
  add_tool_cpu(r, a, b, capacity);
  const int64_t lag99 = st.send_lag.percentile(0.99);
  const double late = st.sends ? double(st.late_sends) / double(st.sends) : 0.0;
  r.add("send_lag_p99_us", lag99);
  r.add("send_lag_max_us", st.send_lag.max());
  r.add("late_send_pct", 100.0 * late, 3);
  r.add("skipped_sends", int64_t(st.skipped));
  if (lag99 > kLateUs || late > kLateFractionWarn) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "sends late: p99 send lag %lld us, %.2f%% of sends > 1 ms late: the tool may be the "
                  "bottleneck",
                  static_cast<long long>(lag99), 100.0 * late);
    r.warn(buf);
  }
  if (st.skipped > 0) r.warn(std::to_string(st.skipped) + " scheduled sends skipped (connection closed)");
  return r;
}

int run(const Options& o) {
  const long fd_limit = raise_fd_limit();
  if (fd_limit < o.connections + 64) {
    std::fprintf(stderr,
                 "roomcast-load: RLIMIT_NOFILE is %ld, too low for %d connections; raise the hard "
                 "limit (ulimit -Hn) first\n",
                 fd_limit, o.connections);
    return 1;
  }
  auto shared = std::make_unique<SharedState>();
  shared->opts = o;
  shared->layout = RoomLayout{o.connections, o.rooms, int(o.servers.size())};
  shared->leader_session.resize(size_t(o.rooms));
  for (const ServerAddress& server : o.servers) {
    sockaddr_in& addr = shared->servers.emplace_back();
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server.port);
    inet_pton(AF_INET, server.host.c_str(), &addr.sin_addr);
  }
  const double steps = o.mode == Mode::Step ? double(o.steps.size()) : 1.0;
  shared->hard_deadline_us =
      now_us() + int64_t((o.join_timeout_s + steps * (o.warmup_s + o.duration_s) + o.drain_s + 30.0) * 1e6);

  const Sample before_connect = take_sample(o);
  std::vector<std::vector<int>> ids(size_t(o.threads));
  for (int i = 0; i < o.connections; ++i) ids[size_t(i % o.threads)].push_back(i);
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    workers.push_back(std::make_unique<Worker>(*shared, t, std::move(ids[size_t(t)])));
  }
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  // Join: every connection at once, then wait (bounded) for every welcome or failure.
  shared->connect_start_us = now_us();
  shared->connect_go.store(true, std::memory_order_release);
  const int64_t join_deadline = shared->connect_start_us + int64_t(o.join_timeout_s * 1e6);
  int64_t all_joined_us = -1;
  while (now_us() < join_deadline) {
    const int w = shared->welcomed.load(), f = shared->failed.load();
    if (w + f >= o.connections) {
      if (f == 0) all_joined_us = now_us() - shared->connect_start_us;
      break;
    }
    sleep_until_us(now_us() + 500);
  }
  const Sample joined = take_sample(o);
  if (shared->welcomed.load() == 0) {
    shared->stop = true;
    for (auto& t : threads) t.join();
    RunStats run;
    for (auto& w : workers) run.merge(w->stats());
    std::fprintf(stderr, "roomcast-load: no connection was welcomed within %.1f s: %s\n", o.join_timeout_s,
                 run.first_problem.c_str());
    return 1;
  }
  const int capacity = std::max(1, std::min(o.threads, usable_cpus()));
  std::vector<Report> reports;

  if (o.mode == Mode::Idle || o.mode == Mode::JoinBurst) {
    // Let the server settle (handshake buffers freed, presence fan-out done).
    const double settle = o.mode == Mode::Idle ? 2.0 : 0.5;
    sleep_until_us(now_us() + int64_t(settle * 1e6));
    const Sample a = take_sample(o);
    if (o.mode == Mode::Idle) sleep_until_us(a.at_us + int64_t(o.duration_s * 1e6));
    const Sample b = take_sample(o);
    shared->stop = true;
    for (auto& t : threads) t.join();
    RunStats run;
    for (auto& w : workers) run.merge(w->stats());
    Report r(std::string(o.label.empty() ? "run" : o.label) + ": " + mode_name(o.mode) + ", " +
             std::to_string(o.connections) + " connections in " + std::to_string(o.rooms) + " room(s)" +
             (o.servers.size() > 1 ? " over " + std::to_string(o.servers.size()) + " servers" : ""));
    add_common(r, o, *shared, run, all_joined_us);
    r.add("welcome_p50_ms", double(run.welcome_latency.percentile(0.5)) / 1000.0, 1);
    r.add("welcome_p99_ms", double(run.welcome_latency.percentile(0.99)) / 1000.0, 1);
    r.add("welcome_max_ms", double(run.welcome_latency.max()) / 1000.0, 1);
    // Connection attempts the kernel dropped (machine-wide counters, during the join).
    const int64_t overflows = joined.tcp.listen_overflows - before_connect.tcp.listen_overflows;
    r.add("join_listen_overflows", overflows);
    r.add("join_syn_retransmits", joined.tcp.syn_retransmits - before_connect.tcp.syn_retransmits);
    if (overflows > 0) {
      r.warn(std::to_string(overflows) +
             " SYNs dropped because the server's accept queue was full (TcpExt ListenOverflows); "
             "those connections waited for a SYN retransmit (1 s, then 3 s)");
    }
    // Who used the CPU while connections were opened and joined.
    const double join_s = double(joined.at_us - before_connect.at_us) / 1e6;
    r.add("join_phase_s", join_s, 3);
    r.add("join_tool_cpu_pct", 100.0 * double(joined.tool_cpu_us - before_connect.tool_cpu_us) / 1e6 / join_s, 1);
    r.add("join_tool_cpu_wait_pct",
          100.0 * double(joined.tool_wait_us - before_connect.tool_wait_us) / 1e6 / join_s, 1);
    if (joined.server_cpu_us && before_connect.server_cpu_us) {
      r.add("join_server_cpu_pct",
            100.0 * double(*joined.server_cpu_us - *before_connect.server_cpu_us) / 1e6 / join_s, 1);
    }
    if (joined.server_wait_us && before_connect.server_wait_us) {
      r.add("join_server_cpu_wait_pct",
            100.0 * double(*joined.server_wait_us - *before_connect.server_wait_us) / 1e6 / join_s, 1);
    }
    if (before_connect.server_rss_kib && a.server_rss_kib) {
      r.add("server_rss_before_kib", *before_connect.server_rss_kib);
      r.add("server_rss_joined_kib", *a.server_rss_kib);
      const int welcomed = std::max(1, shared->welcomed.load());
      r.add("server_rss_per_conn_bytes",
            double(*a.server_rss_kib - *before_connect.server_rss_kib) * 1024.0 / welcomed, 0);
    }
    if (o.mode == Mode::Idle && before_connect.server_rss_kib && b.server_rss_kib) {
      // The steady state S4 asks about: RSS per connection after the idle period, when
      // the server has had time to give back what the joins left free.
      const int welcomed = std::max(1, shared->welcomed.load());
      r.add("server_rss_idle_kib", *b.server_rss_kib);
      r.add("server_rss_idle_per_conn_bytes",
            double(*b.server_rss_kib - *before_connect.server_rss_kib) * 1024.0 / welcomed, 0);
    }
    if (o.mode == Mode::Idle) {
      r.add("idle_s", double(b.at_us - a.at_us) / 1e6, 2);
      add_server_cpu(r, a, b, 0);
      add_watched(r, o, a, b);
      add_tool_cpu(r, a, b, capacity);
    }
    r.print(stdout, o.json);
    return 0;
  }

  // Cursors: the plan starts shortly after the last welcome, so every thread has seen it.
  const std::vector<double> rates = o.mode == Mode::Step ? o.steps : std::vector<double>{o.rate};
  int64_t t = now_us() + 100000;
  for (double rate : rates) {
    Step s;
    s.rate = rate;
    s.send_start_us = t;
    s.measure_start_us = t + int64_t(o.warmup_s * 1e6);
    s.measure_end_us = s.send_end_us = s.measure_start_us + int64_t(o.duration_s * 1e6);
    shared->plan.steps.push_back(s);
    t = s.send_end_us;
  }
  shared->plan.drain_end_us = t + int64_t(o.drain_s * 1e6);
  shared->plan_ready.store(true, std::memory_order_release);

  std::vector<std::pair<Sample, Sample>> samples;
  for (const Step& s : shared->plan.steps) {
    sleep_until_us(s.measure_start_us);
    const Sample a = take_sample(o);
    sleep_until_us(s.measure_end_us);
    samples.emplace_back(a, take_sample(o));
    if (o.mode == Mode::Step) {
      std::fprintf(stderr, "roomcast-load: step at %.3g/s done\n", s.rate);
    }
  }
  sleep_until_us(shared->plan.drain_end_us);
  shared->stop = true;
  for (auto& th : threads) th.join();
  RunStats run;
  for (auto& w : workers) run.merge(w->stats());
  run.steps.resize(shared->plan.steps.size());
  const Freshness fresh = freshest_cameras(*shared, workers);
  for (size_t k = 0; k < shared->plan.steps.size(); ++k) {
    Report r = step_report(o, *shared, run, k, samples[k].first, samples[k].second, capacity, all_joined_us);
    if (k + 1 == shared->plan.steps.size()) {
      r.add("freshest_camera_pairs", int64_t(fresh.pairs));
      r.add("freshest_camera_pct", fresh.pairs ? 100.0 * double(fresh.fresh) / double(fresh.pairs) : 0.0);
    }
    r.print(stdout, o.json);
  }
  return 0;
}

}  // namespace
}  // namespace load

int main(int argc, char** argv) {
  load::start_clock();
  signal(SIGPIPE, SIG_IGN);
  const load::Options options = load::parse_options(argc, argv);
  return load::run(options);
}
