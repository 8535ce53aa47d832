// core/worker.h: one loop thread: its event loop, its connections and (via Protocol) its rooms.
//
// Owns outright: the EventLoop (io_uring or epoll), every connection accepted on or
// handed to this thread, the rooms that hash to it, and its Metrics. Nothing here is
// shared with another thread except the handoff inbox (a mutex-guarded list plus an
// eventfd, used once per connection, never per message), the server-wide
// ConnectionLimits (touched at accept and free), and Metrics, read by a scrape.
// Called by: core/server.cpp, which creates one Worker per --threads, calls run() on its
// own thread, hands it connections whose room it owns (adopt) and asks it to stop.
// The hot path, in order:
//   accept -> recv (handshake) -> route -> [handoff to the room's thread] -> recv
//   (frames) -> WsReader -> Protocol::on_text -> Room::broadcast -> SendQueue::push
//   -> flush_dirty() -> one sendmsg per socket -> complete.
// Promises: one send in flight per socket; one kernel entry per loop iteration for all
// sockets (io_uring); no blocking call on the loop; stop closes every client with 1001
// and returns once queues flushed or --drain-timeout passed.
// The HTTP side (handshake phase, admission, API answers) is in core/worker_http.cpp.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/admission.h"
#include "core/config.h"
#include "core/connection.h"
#include "core/handshake_budget.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/protocol.h"
#include "net/descriptor_reserve.h"
#include "net/event_loop.h"
#include "net/send_queue.h"
#include "proto/handshake.h"

namespace roomcast {

// A connection whose request named a room owned by another thread.
struct Handoff {
  RouteKind kind = RouteKind::Upgrade;  // Upgrade, Presence or Publish
  int fd = -1;
  std::string room;
  std::string accept_key;  // Upgrade
  std::string leftover;    // Upgrade: bytes after the head; Publish: the body
  PeerAddress peer;
  bool admitted = false;
  std::unique_ptr<Identity> identity;
};

class Worker final : private CompletionSink, private FanoutObserver {
 public:
  Worker(const Config& config, unsigned index, int listen_fd, ConnectionLimits* limits);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  // Sets up the event loop on the calling thread (which must then call run()).
  // 0 or -errno; `description` names the backend.
  int init(std::string* description);
  void run();

  // The workers rooms are spread over; set once before any run().
  void set_peers(std::vector<Worker*> peers) { peers_ = std::move(peers); }

  // Thread-safe.
  void adopt(Handoff handoff);
  void request_stop();
  const Metrics& metrics() const { return metrics_; }

  // Called from Connection's WsReader callbacks.
  void on_text(Connection& c, std::string_view text);

 private:
  Worker* owner_of(std::string_view room) const;
  Connection* lookup(uint32_t slot, uint32_t generation);
  Connection* new_connection(int fd);

  void on_completion(const Completion& done) override;
  void fanout_done(int64_t born_ns) override;
  void on_accept(const Completion& done);
  void on_accept_error(int error);
  void enter_handshake_budget(Connection& c);
  void on_recv(Connection& c, const Completion& done);
  void on_bytes(Connection& c, const uint8_t* data, size_t len);
  void on_send(Connection& c, int result);
  void on_wake();
  void on_tick();

  // worker_http.cpp: the request head, admission, routing and the HTTP API.
  void on_handshake_bytes(Connection& c, const uint8_t* data, size_t len);
  void dispatch_request(Connection& c, const HttpRequest& request, size_t head_bytes);
  bool admit_connection(Connection& c);
  bool admit_upgrade(Connection& c, const HttpRequest& request, const std::string& room);
  void hand_to_owner(Connection& c, RouteKind kind, std::string room, std::string accept_key, std::string leftover);
  void serve_here(Connection& c, Handoff&& h);
  void answer_presence(Connection& c, const std::string& room);
  void answer_publish(Connection& c, const std::string& room, std::string_view body);
  void respond_and_close(Connection& c, int status, const std::string& response);

  void open_websocket(Connection& c, std::string room, const std::string& accept_key, std::string_view leftover);
  void feed(Connection& c, const uint8_t* data, size_t len);
  void close_with(Connection& c, uint16_t code, std::string_view reason);
  void enter_closing(Connection& c);
  void kill(Connection& c, std::string_view reason);
  void sweep_dead();
  void begin_stop();
  bool drained() const;

  bool flush_due();
  void flush_dirty();
  void start_send(Connection& c);
  void maybe_shut_write(Connection& c);
  void release_send_op(SendOp* op);

  void arm_accept();
  void arm_recv(Connection& c);
  void arm_wake();
  void arm_timer();

  const Config& config_;
  const unsigned index_;
  int listen_fd_;
  ConnectionLimits* limits_;
  std::vector<Worker*> peers_;
  Logger log_;
  Metrics metrics_;

  const int64_t batch_delay_ns_;
  int64_t flush_at_ns_ = 0;  // when the sockets dirtied since the last flush must leave

  HandshakeBudget handshakes_;  // this thread's connections not yet upgraded
  DescriptorReserve reserve_;   // answers 503 when accept runs out of descriptors

  std::unique_ptr<EventLoop> loop_;
  int64_t now_ns_ = 0;
  bool now_fresh_ = false;  // now_ns_ was read after the last wait

  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<uint32_t> generations_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> dead_;  // slots to free at the end of the iteration
  // Connections whose receive ended with -ENOBUFS, oldest first, waiting for buffers.
  struct SlotRef {
    uint32_t slot;
    uint32_t generation;
  };
  std::vector<SlotRef> starved_;
  bool trim_pending_ = false;  // many connections parked: give memory back after the batch
  void rearm_starved();
  size_t live_ = 0;
  DirtyList dirty_;
  std::vector<uint32_t> flushing_;
  std::vector<SendOp*> free_send_ops_;  // owned; at most 256 kept
  FrameRef ping_frame_;  // one empty ping shared by every connection

  Protocol protocol_;

  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;
  std::mutex inbox_mutex_;
  std::vector<Handoff> inbox_;
  std::vector<Handoff> inbox_taken_;
  std::atomic<bool> stop_requested_{false};
  bool stopping_ = false;
  bool accept_armed_ = false;
  int64_t stop_deadline_ns_ = 0;
};

}  // namespace roomcast
