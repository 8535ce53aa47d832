// core/output.h: frames out: when a thread's queued output goes to the kernel, and how.
//
// Owns: the send operations in flight (one msghdr + iovecs per socket, pooled) and the
// batch window (--max-batch-delay).
// Called by: the Worker, once per loop iteration (due/flush), for every send completion
// (on_sent), and when a connection may have finished its last byte (start).
// Policy, in one place:
//   - with a window W, the first frame queued after a flush opens the window and every
//     socket dirtied before it closes leaves together: one sendmsg per socket per window
//     (frames from many senders share a write); W = 0 flushes every iteration;
//   - latest wins: cameras that waited (behind a short send, or in a window) and were
//     superseded are dropped before the gather (net/send_queue.h);
//   - a slow reader (more than --max-pending bytes still queued once superseded cameras
//     are gone) is closed with 1008 rather than losing an edit silently;
//   - replies (101, welcome, replay, ack, pong, error, close frames, HTTP answers) do not
//     wait for the window: their socket sends at the end of the loop iteration;
//   - a Closing connection is half-closed (FIN) once its last byte left.
// Promises: at most one send in flight per socket; nothing here blocks.
#pragma once

#include <cstdint>
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

  // Whether the dirty sockets must be flushed now (opens the window if none is open).
  bool due(int64_t now_ns, bool stopping);
  // When the open window closes (0: none open): the loop gathers completions until then.
  int64_t window_deadline() const { return flush_at_ns_; }
  // One sendmsg for every dirty socket with nothing in flight.
  void flush(int64_t now_ns);
  // Sockets with a reply queued (SendQueue::push_reply) send now, window or not: a
  // client waiting for its welcome or ack never waits for other people's batching.
  void flush_replies();
  // Sends what `c` has queued if nothing is in flight (or half-closes a finished close).
  void start(Connection& c);
  // The kernel took `result` bytes of c's send (or failed with -errno).
  void on_sent(Connection& c, int result, int64_t now_ns);

 private:
  void shut_write_if_done(Connection& c);
  SendOp* take_op();
  void give_back(SendOp* op);

  const Config& config_;
  EventLoop& loop_;
  ConnectionTable& table_;
  RoomService& rooms_;
  Metrics& metrics_;
  Logger& log_;
  const int64_t batch_delay_ns_;
  int64_t flush_at_ns_ = 0;  // when the sockets dirtied since the last flush must leave
  std::vector<uint32_t> flushing_;
  std::vector<uint32_t> replying_;
  std::vector<SendOp*> free_ops_;  // owned; at most 256 kept
};

}  // namespace roomcast
