// core/output.h: frames out: when a thread's queued output goes to the kernel, and how.
//
// Owns: the send operations in flight (one msghdr + iovecs per socket, pooled) and the
// sockets waiting for their batch window (--max-batch-delay W).
// Called by: the Worker, once per loop iteration (flush), when the window timer fires
// (flush), for every send completion (on_sent), and when a connection may have finished
// its last byte (start).
// Policy, in one place:
//   - waiting only when it saves a write: a socket with no write in flight that was not
//     written to within the last W sends at once; one written to less than W ago waits
//     until W after that write, so that what arrives meanwhile leaves in the same write.
//     Each socket is written at most once per W (plus the completions of a write that
//     the kernel took only in part), and no frame waits longer than W in roomcast;
//   - replies to a client's own message (welcome, replay, ack, pong, errors, HTTP
//     answers, close frames) never wait: the queue is marked urgent;
//   - latest wins: cameras that waited (behind a short send, or in a window) and were
//     superseded are dropped before the gather (net/send_queue.h);
//   - a slow reader (more than --max-pending bytes still queued once superseded cameras
//     are gone) is closed with 1008 rather than losing an edit silently;
//   - a Closing connection is half-closed (FIN) once its last byte left.
// Promises: at most one send in flight per socket; nothing here blocks; W = 0 sends
// every iteration.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "core/connection_table.h"

namespace roomcast {

class Output {
 public:
  Output(const Config& config, EventLoop& loop, ConnectionTable& table, RoomService& rooms, Metrics& metrics,
         Logger& log);
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  ~Output();

  // Sends what is due: every dirty socket that may write now, and every waiting socket
  // whose window has closed. `stopping`: nothing waits.
  void flush(int64_t now_ns, bool stopping);
  // When the earliest waiting socket's window closes (0: none waits). The Worker arms a
  // timer for it, so a quiet loop still keeps the bound.
  int64_t next_deadline() const { return waiting_.empty() ? 0 : waiting_.front().at_ns; }
  // Sends what `c` has queued if nothing is in flight (or half-closes a finished close).
  void start(Connection& c, int64_t now_ns);
  // The kernel took `result` bytes of c's send (or failed with -errno).
  void on_sent(Connection& c, int result, int64_t now_ns);

 private:
  void shut_write_if_done(Connection& c);
  bool slow_reader(Connection& c, int64_t now_ns);
  SendOp* take_op();
  void give_back(SendOp* op);

  const Config& config_;
  EventLoop& loop_;
  ConnectionTable& table_;
  RoomService& rooms_;
  Metrics& metrics_;
  Logger& log_;
  const int64_t window_ns_;
  int64_t window_opened_ns_ = 0;  // when the rooms' camera arenas were last sealed
  struct Waiting {
    int64_t at_ns;  // W after the socket's last write: deadlines only grow, so a FIFO
    uint32_t slot;
    uint32_t generation;
  };
  std::deque<Waiting> waiting_;
  std::vector<uint32_t> flushing_;
  std::vector<SendOp*> free_ops_;  // owned; at most 256 kept
};

}  // namespace roomcast
