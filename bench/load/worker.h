// bench/load/worker.h: one tool thread driving its share of the connections.
//
// Contract with the main thread (main.cpp), all through SharedState:
//   1. main sets connect_start_us, then connect_go (release). Every worker then opens its
//      connections at once: nonblocking connect from 127.0.0.2..254 (bind before connect,
//      so 10k+ connections do not run out of ephemeral ports) to the connection's server
//      (room_layout.h), HTTP upgrade, join.
//      Each welcome increments `welcomed`; each connection lost before its welcome
//      increments `failed`.
//   2. main fills `plan` and sets plan_ready (release). Workers send cursors on the
//      plan's absolute schedule: connection i of N, at rate F, sends at
//      step_start + (k + i/N) / F for k = 0, 1, ... (even phases, no drift).
//   3. main sets stop; each worker closes its sockets and returns within ~5 ms.
// Every loop in a worker is bounded per turn (events, reads, sends) and the whole run is
// bounded by stop and by a hard deadline of its own.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "bench/load/client_frame.h"
#include "bench/load/connection.h"
#include "bench/load/options.h"
#include "bench/load/plan.h"
#include "bench/load/room_layout.h"
#include "bench/load/stats.h"

namespace load {

struct SharedState {
  Options opts;
  RoomLayout layout;
  std::vector<sockaddr_in> servers;  // one per Options::servers, same order
  int64_t hard_deadline_us = 0;  // workers return at this time whatever happens

  int64_t connect_start_us = 0;  // written before connect_go
  std::atomic<bool> connect_go{false};
  std::atomic<int> welcomed{0};
  std::atomic<int> failed{0};

  // --followers: each room's leader's session id, once its welcome came (under leader_mu).
  std::mutex leader_mu;
  std::vector<std::string> leader_session;

  Plan plan;  // written before plan_ready
  std::atomic<bool> plan_ready{false};
  std::atomic<bool> stop{false};
};

class Worker {
 public:
  Worker(SharedState& shared, int index, std::vector<int> connection_ids);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  void run();  // the thread body
  const RunStats& stats() const { return stats_; }
  // This thread's connections, as they ended (after run() returned).
  const std::vector<Connection>& connections() const { return conns_; }

 private:
  void connect_batch(size_t& next, size_t batch);
  void start_connect(Connection& c);
  void handle_event(Connection& c, uint32_t events);
  void on_writable(Connection& c);
  void on_readable(Connection& c);
  void consume(Connection& c, const char* data, size_t n, int64_t now);
  size_t parse_handshake(Connection& c, std::string_view data);
  size_t parse_frames(Connection& c, std::string_view data, int64_t now);
  void on_text(Connection& c, std::string_view payload, int64_t now);
  void on_cursor(Connection& c, std::string_view payload, int64_t now);
  void send_bytes(Connection& c, const char* data, size_t n);
  void watch_out(Connection& c, bool on);
  void lose(Connection& c, bool close_frame, const std::string& why);
  void close_all();

  // Cursor schedule.
  bool plan_started_ = false;
  void start_plan();
  int64_t next_due() const;  // INT64_MAX when nothing is left to send
  void send_due(int64_t now);
  void send_cursor(Connection& c, int64_t at);
  // --followers: sends `follow` to the room's leader once its session id is known.
  void try_follow(Connection& c);
  void send_edit(Connection& c, int64_t at);

  SharedState& shared_;
  int index_;
  int epoll_fd_ = -1;
  std::vector<Connection> conns_;
  std::vector<double> phase_;  // per local connection: i / N, ascending
  std::vector<char> read_buf_;
  MaskSource masks_;
  RunStats stats_;
  int live_ = 0;  // connections not Closed

  size_t step_ = 0;     // current step of the plan
  int64_t round_ = 0;   // round k within the step
  size_t pos_ = 0;      // next connection (local index) in this round
  double period_us_ = 0;
  int unwelcomed_ = 0;  // connections started and neither welcomed nor lost (--join-in-flight)
};

}  // namespace load
