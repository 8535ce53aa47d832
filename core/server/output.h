// core/server/output.h: frames out: when each socket's queued output goes to the kernel, and how.
//
// Owns: the send operations in flight (one msghdr + iovecs per socket, pooled) and the
// sockets waiting for their batch window (--max-batch-delay W).
// Called by: the Worker at the end of every loop iteration (step) and for every send
// completion (on_sent).
// Policy, in one place:
//   - a window only holds a frame back when that saves a write: a socket with nothing in
//     flight that has not been written to for W sends at the end of this loop iteration;
//     otherwise it sends W after its last write, carrying everything queued meanwhile
//     (frames from many senders share that one sendmsg). No frame waits more than W
//     (plus the iteration that queued it) while the loop is not saturated
//     (core/server/loop_load.h); once it is, every socket waits for one shared window, so writes
//     are shared rather than the loop falling further behind; W = 0 sends every iteration;
//   - replies (101, welcome, replay, ack, pong, error, close frames, HTTP answers) never
//     wait for a window: their socket sends at the end of the loop iteration, or as soon
//     as its write in flight completes;
//   - latest wins: cameras that waited (behind a short send, or in a window) and were
//     superseded are dropped before the gather (net/send_queue.h);
//   - a slow reader (more than --max-pending bytes still queued once superseded cameras
//     are gone) is closed with 1008 rather than losing an edit silently; a `since` replay
//     at the head of the queue does not count: it is queued from the room's history as
//     the socket drains, and live frames behind it wait for it (RoomService::replay_pump);
//   - the room service's own window (camera arenas sealed, one Redis PUBLISH per room)
//     follows the same rule as a socket: it ends in the iteration that opened it when the
//     last one ended W ago or more, else W after that one (RoomService::end_window);
//   - a file answer is read one 64 KiB chunk at a time, when its socket has taken the
//     previous one (core/http/file_body.h);
//   - a Closing connection is half-closed (FIN) once its last byte left.
// Promises: at most one send in flight per socket; nothing here blocks.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "core/server/connection_table.h"

namespace roomcast {

class Output {
 public:
  Output(const Config& config, EventLoop& loop, ConnectionTable& table, RoomService& rooms, Metrics& metrics,
         Logger& log);
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  ~Output();

  // The output step of one loop iteration: sockets dirtied in it send now or join the
  // waiting list; waiting sockets whose window has passed send; replies send.
  // `saturated`: the loop's core is busy more than ~80% of the time (core/server/loop_load.h).
  void step(int64_t now_ns, bool stopping, bool saturated);
  // When step() next has something to do without new input (0: nothing waits): the loop
  // sleeps at most until then.
  int64_t next_deadline() const;
  // The kernel took `result` bytes of c's send (or failed with -errno).
  void on_sent(Connection& c, int result, int64_t now_ns);
  // After a burst, once most connections went quiet (Worker): keeps a few spare sends and
  // gives back the rest, and the capacity of the lists the burst grew.
  void release_idle_memory();

 private:
  // Sends what `c` has queued if nothing is in flight (or half-closes a finished close).
  void start(Connection& c);
  void send_waiting(Connection& c);
  void shut_write_if_done(Connection& c);
  // A file answer's next chunk into c's empty queue; false if there is none (or the
  // file failed, and c was dropped).
  bool next_file_chunk(Connection& c);
  SendOp* take_op();
  void give_back(SendOp* op);

  const Config& config_;
  EventLoop& loop_;
  ConnectionTable& table_;
  RoomService& rooms_;
  Metrics& metrics_;
  Logger& log_;
  const int64_t batch_delay_ns_;
  // A socket waiting for its window: it sends at `due` (its last write + W). Entries are
  // appended with due in [now, now + W], so the head's due is never later than W after
  // any later entry was appended: taking due entries from the head keeps the bound.
  struct Waiting {
    uint32_t slot;
    uint32_t generation;
    int64_t due;
  };
  std::deque<Waiting> waiting_;
  int64_t round_ends_ns_ = 0;  // when the room service's open window ends (0: none open)
  int64_t last_round_end_ns_ = 0;
  int64_t now_ns_ = 0;         // the loop's clock at the last step or completion
  int64_t shared_due_ns_ = 0;  // behind (step()): the one deadline of every socket dirtied until then
  std::vector<uint32_t> fresh_;
  std::vector<uint32_t> replying_;
  std::vector<SendOp*> free_ops_;  // owned; at most 256 kept (16 once the thread is quiet)
  std::vector<uint8_t> file_chunk_;  // where file chunks are read before their frame is made
};

}  // namespace roomcast
