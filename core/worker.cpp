#include "core/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

#include "core/heap.h"

namespace roomcast {
namespace {

// user_data layout, the one place it is defined:
//   bits 56..63  operation (Op)
//   bits 32..55  connection generation (low 24 bits): a completion for a slot that has
//                since been reused is recognised and ignored (cf. nginx's instance bit)
//   bits  0..31  connection slot
enum class Op : uint8_t { Accept = 1, Recv, Send, Wake, Timer };

uint64_t encode(Op op, uint32_t slot = 0, uint32_t generation = 0) {
  return (uint64_t(op) << 56) | (uint64_t(generation & 0xFFFFFF) << 32) | slot;
}
Op op_of(uint64_t ud) { return static_cast<Op>(ud >> 56); }
uint32_t slot_of(uint64_t ud) { return static_cast<uint32_t>(ud); }
uint32_t generation_of(uint64_t ud) { return static_cast<uint32_t>(ud >> 32) & 0xFFFFFF; }

// A server-wide budget split over the loop threads, at least 1 each.
size_t per_thread(size_t total, unsigned threads) { return std::max<size_t>(1, (total + threads - 1) / std::max(1u, threads)); }

constexpr size_t kMaxIov = 64;
constexpr size_t kMaxSendBytes = 256 * 1024;
constexpr int64_t kLingerNs = 2'000'000'000;  // wait for the peer's FIN after ours

}  // namespace

struct SendOp {
  msghdr msg{};
  iovec iov[kMaxIov];
};

void Connection::on_text(std::string_view message) { worker->on_text(*this, message); }

void Connection::on_control_bytes(std::string_view bytes) { out.push_adopt(SharedFrame::raw(bytes)); }

Worker::Worker(const Config& config, unsigned index, int listen_fd, ConnectionLimits* limits)
    : config_(config),
      index_(index),
      listen_fd_(listen_fd),
      limits_(limits),
      log_(config.log_format, config.log_level, int(index)),
      batch_delay_ns_(int64_t(config.max_batch_delay_ms) * 1'000'000),
      handshakes_(per_thread(config.max_handshakes, config.threads), per_thread(config.max_handshakes_per_ip, config.threads)),
      protocol_(config, index, metrics_) {
  ping_frame_ = FrameRef::adopt(SharedFrame::make(Opcode::Ping, {}));
  // Made here, not in init(): another thread may hand a connection over before this
  // thread has finished setting up its loop.
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Worker::~Worker() {
  for (auto& c : conns_) {
    if (c && c->fd >= 0) close(c->fd);
    if (c) delete c->op;
  }
  for (SendOp* op : free_send_ops_) delete op;
  for (Handoff& h : inbox_) close(h.fd);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (listen_fd_ >= 0) close(listen_fd_);
}

int Worker::init(std::string* description) {
  int error = 0;
  loop_ = EventLoop::create(config_.backend, config_.recv_buffers, description, &error);
  if (!loop_) return error ? error : -ENOSYS;
  if (wake_fd_ < 0) return -EMFILE;
  now_ns_ = monotonic_ns();
  return 0;
}

Worker* Worker::owner_of(std::string_view room) const {
  return peers_[std::hash<std::string_view>{}(room) % peers_.size()];
}

// ---------------------------------------------------------------------------------------
// The loop.

void Worker::run() {
  arm_accept();
  arm_wake();
  arm_timer();
  for (;;) {
    if (flush_due()) flush_dirty();
    if (stopping_ && (drained() || now_ns_ >= stop_deadline_ns_)) break;
    now_fresh_ = false;
    int rc = loop_->run_once(*this, flush_at_ns_);
    if (rc < 0) {
      log_.log(LogLevel::Error, "loop_failed", {{"backend", loop_->name()}, {"error", std::strerror(-rc)}});
      break;
    }
    if (!now_fresh_) now_ns_ = monotonic_ns();
    if (!starved_.empty()) rearm_starved();
    if (trim_pending_) {
      trim_pending_ = false;
      release_free_heap_memory();
      loop_->release_idle_memory();
    }
    sweep_dead();
  }
}

void Worker::on_completion(const Completion& done) {
  if (!now_fresh_) {  // one clock read per batch of completions
    now_ns_ = monotonic_ns();
    now_fresh_ = true;
  }
  uint64_t ud = done.user_data;
  switch (op_of(ud)) {
    case Op::Accept:
      on_accept(done);
      return;
    case Op::Wake:
      on_wake();
      return;
    case Op::Timer:
      on_tick();
      return;
    case Op::Recv: {
      Connection* c = lookup(slot_of(ud), generation_of(ud));
      if (!c) {
        // A completion for a connection already gone still owns a buffer.
        if (done.buffer != kNoBuffer) loop_->release_buffer(done.buffer);
        return;
      }
      on_recv(*c, done);
      return;
    }
    case Op::Send: {
      Connection* c = lookup(slot_of(ud), generation_of(ud));
      if (c) on_send(*c, done.result);
      return;
    }
  }
}

void Worker::fanout_done(int64_t born_ns) { metrics_.observe_fanout(now_ns_ - born_ns); }

Connection* Worker::lookup(uint32_t slot, uint32_t generation) {
  if (slot >= conns_.size()) return nullptr;
  Connection* c = conns_[slot].get();
  if (!c || (c->generation & 0xFFFFFF) != generation) return nullptr;
  return c;
}

Connection* Worker::new_connection(int fd) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(conns_.size());
    conns_.emplace_back();
    generations_.push_back(0);
  }
  conns_[slot] = std::make_unique<Connection>(this, &dirty_, slot, static_cast<FanoutObserver*>(this));
  Connection* c = conns_[slot].get();
  c->generation = generations_[slot];
  c->fd = fd;
  c->last_rx_ns = now_ns_;
  ++live_;
  metrics_.connections_open.set(live_);
  return c;
}

// ---------------------------------------------------------------------------------------
// Accept and receive.

void Worker::arm_accept() {
  if (listen_fd_ < 0 || accept_armed_) return;
  loop_->accept(listen_fd_, encode(Op::Accept));
  accept_armed_ = true;
}

void Worker::on_accept(const Completion& done) {
  if (!done.more) accept_armed_ = false;
  if (done.result < 0) {
    on_accept_error(-done.result);
    return;
  }
  int fd = done.result;
  if (stopping_) {
    close(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  Connection* c = new_connection(fd);
  metrics_.connections_accepted.add();
  c->peer = PeerAddress::of_socket(fd);
  // Connection limits are checked once the request is known to be an upgrade
  // (dispatch_request); until then the socket lives on this thread's handshake budget.
  enter_handshake_budget(*c);
  c->deadline_ns = now_ns_ + int64_t(config_.handshake_timeout_s) * 1'000'000'000;
  arm_recv(*c);
  if (!accept_armed_) arm_accept();
}

// A full budget never refuses the newcomer: the oldest pre-upgrade connection of the same
// address (or of all, when the thread's total is full) is closed to make room.
void Worker::enter_handshake_budget(Connection& c) {
  for (uint32_t victim; (victim = handshakes_.victim_for(c.peer)) != HandshakeBudget::kNone;) {
    handshakes_.remove(victim);
    Connection* v = conns_[victim].get();
    if (!v || v == &c) continue;
    metrics_.refusals[size_t(Refusal::Evicted)].add();
    log_.log(LogLevel::Debug, "handshake_evicted", {{"peer", v->peer.to_string()}});
    kill(*v, "evicted from the handshake budget");
  }
  handshakes_.add(c.slot, c.peer);
}

void Worker::on_accept_error(int error) {
  // The next tick re-arms (a full fd table cannot spin the loop while connected clients
  // keep being served).
  if (error == ECANCELED || error == EAGAIN || error == EINTR) return;
  if (error == EMFILE || error == ENFILE) {
    metrics_.accept_errors[size_t(AcceptError::OutOfDescriptors)].add();
    // Clients waiting in the listen queue would otherwise hear nothing at all.
    static const std::string answer =
        http_response(503, "server out of file descriptors\n", "Retry-After: 5\r\n");
    size_t shed = reserve_.shed(listen_fd_, answer, 64);
    metrics_.connections_shed.add(shed);
    metrics_.refusals[size_t(Refusal::OverCapacity)].add(shed);
    log_.log(LogLevel::Warn, "accept_failed",
             {{"error", std::strerror(error)}, {"answered_503", shed}, {"retry", "1s"}});
    return;
  }
  metrics_.accept_errors[size_t(error == ENOBUFS || error == ENOMEM ? AcceptError::OutOfMemory : AcceptError::Other)]
      .add();
  log_.log(LogLevel::Warn, "accept_failed", {{"error", std::strerror(error)}, {"retry", "1s"}});
}

void Worker::arm_recv(Connection& c) {
  // One shot during the handshake: once a request head is complete nothing is in
  // flight, so the socket can move to another thread at once.
  loop_->recv(c.fd, encode(Op::Recv, c.slot, c.generation), c.state != ConnState::Handshake);
  c.recv_armed = true;
}

void Worker::on_recv(Connection& c, const Completion& done) {
  if (!done.more) c.recv_armed = false;
  const uint32_t slot = c.slot, generation = c.generation;
  int res = done.result;
  if (res > 0) {
    metrics_.bytes_in.add(uint64_t(res));
    on_bytes(c, done.data, size_t(res));
  } else if (res == -ENOBUFS) {
    // Every receive buffer of this thread is in use (a burst: thousands of sockets had
    // data in one batch). Re-arming now would fail the same way for all but a few, so
    // the connection waits in starved_ and rearm_starved() re-arms as many as there
    // are buffers once this batch has given them back.
    starved_.push_back({slot, generation});
    metrics_.receive_buffers_exhausted.add();
  } else if (res != -ECANCELED || c.state != ConnState::Dead) {
    // EOF or a socket error: the client is gone (without a close handshake if Open).
    kill(c, res == 0 ? "peer closed" : std::strerror(-res));
  }
  if (done.buffer != kNoBuffer) loop_->release_buffer(done.buffer);  // wslay and the head copied what they keep
  Connection* still = lookup(slot, generation);
  if (still && still->state != ConnState::Dead && !still->recv_armed && res != -ENOBUFS) arm_recv(*still);
  if (still && still->state == ConnState::Dead) dead_.push_back(slot);
}

void Worker::rearm_starved() {
  size_t budget = std::min(starved_.size(), loop_->spare_receive_buffers());
  size_t taken = 0;
  while (taken < starved_.size() && budget > 0) {
    const SlotRef ref = starved_[taken++];
    Connection* c = lookup(ref.slot, ref.generation);
    if (!c || c->state == ConnState::Dead || c->recv_armed) continue;
    arm_recv(*c);
    --budget;
  }
  starved_.erase(starved_.begin(), starved_.begin() + ptrdiff_t(taken));
}

void Worker::on_bytes(Connection& c, const uint8_t* data, size_t len) {
  c.last_rx_ns = now_ns_;
  switch (c.state) {
    case ConnState::Handshake:
      on_handshake_bytes(c, data, len);
      break;
    case ConnState::Open:
      feed(c, data, len);
      break;
    case ConnState::Closing:
    case ConnState::Dead:
      break;  // draining until the peer's FIN
  }
}

// ---------------------------------------------------------------------------------------
// Frames in, messages through.

void Worker::open_websocket(Connection& c, std::string room, const std::string& accept_key,
                            std::string_view leftover) {
  c.state = ConnState::Open;
  handshakes_.remove(c.slot);
  c.room_name = std::move(room);
  std::string().swap(c.head);
  c.last_rx_ns = c.last_ping_ns = now_ns_;
  c.rate = RateLimiter(config_.rate_limit, config_.rate_burst, now_ns_);
  c.out.push_adopt(SharedFrame::raw(upgrade_response(accept_key)));
  if (!c.ws.init(config_.max_message, &c)) {
    kill(c, "out of memory");
    return;
  }
  log_.log(LogLevel::Info, "ws_open", {{"peer", c.peer.to_string()}, {"room", c.room_name}});
  if (!leftover.empty()) feed(c, reinterpret_cast<const uint8_t*>(leftover.data()), leftover.size());
}

void Worker::feed(Connection& c, const uint8_t* data, size_t len) {
  switch (c.ws.feed(data, len)) {
    case WsReader::FeedResult::ProtocolError:
      close_with(c, kCloseProtocolError, "protocol error");
      return;
    case WsReader::FeedResult::InvalidPayload:
      close_with(c, kCloseInvalidPayload, "invalid UTF-8 in close reason");
      return;
    case WsReader::FeedResult::Ok:
      break;
  }
  c.ws.flush();  // pongs and close echoes wslay queued, into c.out
  if (c.ws.close_sent()) enter_closing(c);
}

void Worker::on_text(Connection& c, std::string_view text) { protocol_.on_text(c, text, now_ns_); }

void Worker::close_with(Connection& c, uint16_t code, std::string_view reason) {
  if (c.state != ConnState::Open) return;
  c.ws.shutdown_write();  // our close frame is the last thing on this stream
  c.out.push_adopt(SharedFrame::close(code, reason));
  c.close_code = code;
  c.close_reason = reason;
  metrics_.close_code_sent(code);
  enter_closing(c);
}

void Worker::enter_closing(Connection& c) {
  if (c.state != ConnState::Open) return;
  if (c.close_code == 0 && c.ws.close_sent()) {
    c.close_code = c.ws.close_code_sent();
    metrics_.close_code_sent(c.close_code);
    if (c.close_reason.empty()) c.close_reason = c.ws.close_received() ? "client closed" : "protocol";
  }
  protocol_.on_leave(c, now_ns_);
  c.state = ConnState::Closing;
  c.deadline_ns = now_ns_ + kLingerNs;
}

void Worker::kill(Connection& c, std::string_view reason) {
  if (c.state == ConnState::Dead) return;
  if (c.state == ConnState::Open) protocol_.on_leave(c, now_ns_);
  if (c.close_reason.empty()) c.close_reason = reason;
  c.state = ConnState::Dead;
  if (c.recv_armed && c.fd >= 0) loop_->cancel(c.fd, encode(Op::Recv, c.slot, c.generation));
  dead_.push_back(c.slot);
}

// A dead connection is freed only when the kernel holds nothing of it.
void Worker::sweep_dead() {
  for (uint32_t slot : dead_) {
    Connection* c = conns_[slot].get();
    if (!c || c->state != ConnState::Dead || c->recv_armed || c->send_in_flight()) continue;
    if (c->fd >= 0) {
      loop_->forget(c->fd);
      close(c->fd);
      if (c->ws.ready())  // it became a WebSocket
        log_.log(LogLevel::Info, "ws_close",
                 {{"peer", c->peer.to_string()}, {"room", c->room_name}, {"code", c->close_code},
                  {"reason", c->close_reason}});
    }
    if (c->admitted) limits_->release(c->peer);
    handshakes_.remove(slot);
    conns_[slot].reset();
    ++generations_[slot];
    free_slots_.push_back(slot);
    --live_;
  }
  dead_.clear();
  metrics_.connections_open.set(live_);
}

// ---------------------------------------------------------------------------------------
// Frames out: once per iteration (or per batch window), one sendmsg per socket.

// With --max-batch-delay, a recipient's frames wait up to that long so that frames from
// many senders leave in one sendmsg: the first frame queued after a flush sets the
// deadline, every socket dirtied before it leaves together. 0 sends every iteration.
bool Worker::flush_due() {
  if (dirty_.slots.empty()) return false;
  if (batch_delay_ns_ == 0 || stopping_) return true;
  if (flush_at_ns_ == 0) flush_at_ns_ = now_ns_ + batch_delay_ns_;
  // The loop gathers completions until flush_at_ns_ (EventLoop::run_once).
  return now_ns_ >= flush_at_ns_;
}

void Worker::flush_dirty() {
  flush_at_ns_ = 0;
  protocol_.seal_camera_arenas();
  while (!dirty_.slots.empty()) {
    flushing_.swap(dirty_.slots);
    for (uint32_t slot : flushing_) {
      Connection* c = slot < conns_.size() ? conns_[slot].get() : nullptr;
      if (!c) continue;
      c->out.clear_dirty();
      if (c->state == ConnState::Dead) continue;
      if (c->state == ConnState::Open && c->out.pending_bytes() > config_.max_pending) {
        metrics_.cursors_coalesced.add(c->out.drop_superseded());
        if (c->out.pending_bytes() > config_.max_pending) {
          // A slow reader: close rather than drop an edit silently. It reconnects with
          // `since` and loses nothing.
          c->out.drop_unstarted();
          metrics_.slow_reader_closes.add();
          log_.log(LogLevel::Warn, "slow_reader", {{"peer", c->peer.to_string()}, {"room", c->room_name}});
          close_with(*c, kClosePolicyViolation, "slow reader: output limit exceeded");
        }
      }
      start_send(*c);
    }
    flushing_.clear();
  }
}

void Worker::start_send(Connection& c) {
  if (c.send_in_flight() || c.fd < 0 || c.state == ConnState::Dead) return;
  // Latest-wins applies to cameras that waited: behind a short send, or in a batch window.
  if (c.out.backed_up() || batch_delay_ns_ != 0) metrics_.cursors_coalesced.add(c.out.drop_superseded());
  if (c.out.empty()) {
    maybe_shut_write(c);
    return;
  }
  SendOp* op;
  if (!free_send_ops_.empty()) {
    op = free_send_ops_.back();
    free_send_ops_.pop_back();
  } else {
    op = new SendOp;
  }
  c.op = op;
  op->msg.msg_iov = op->iov;
  op->msg.msg_iovlen = c.out.gather(op->iov, kMaxIov, kMaxSendBytes);
  loop_->send(c.fd, &op->msg, encode(Op::Send, c.slot, c.generation));
}

void Worker::on_send(Connection& c, int result) {
  assert(c.op);  // a Send completion exists only for a submitted op (generation-checked)
  c.out.complete(result > 0 ? size_t(result) : 0);
  release_send_op(c.op);
  c.op = nullptr;
  if (result <= 0) {
    kill(c, result < 0 ? std::strerror(-result) : "send failed");  // EPIPE/ECONNRESET: the peer is gone
    return;
  }
  metrics_.bytes_out.add(uint64_t(result));
  if (c.state == ConnState::Dead) {
    dead_.push_back(c.slot);
    return;
  }
  start_send(c);
}

// A burst (10k joins at once) puts a SendOp (~1 KiB of iovecs) in flight per socket;
// keep a few for reuse and give the rest back, so the burst does not stay in RSS.
void Worker::release_send_op(SendOp* op) {
  if (free_send_ops_.size() < 256)
    free_send_ops_.push_back(op);
  else
    delete op;
}

void Worker::maybe_shut_write(Connection& c) {
  if (c.state != ConnState::Closing || c.write_shut || c.send_in_flight() || !c.out.empty()) return;
  // Half-close, then keep reading until the peer's FIN: closing with unread input
  // would send a RST that can destroy our close frame in flight.
  shutdown(c.fd, SHUT_WR);
  c.write_shut = true;
}

// ---------------------------------------------------------------------------------------
// Cross-thread handoff, timers, stop.

void Worker::adopt(Handoff handoff) {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_.push_back(std::move(handoff));
  }
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void Worker::request_stop() {
  stop_requested_.store(true, std::memory_order_release);
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void Worker::arm_wake() { loop_->read(wake_fd_, &wake_value_, sizeof(wake_value_), encode(Op::Wake)); }

void Worker::on_wake() {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_taken_.swap(inbox_);
  }
  for (Handoff& h : inbox_taken_) {
    if (stopping_) {
      if (h.admitted) limits_->release(h.peer);
      close(h.fd);
      continue;
    }
    Connection* c = new_connection(h.fd);
    serve_here(*c, std::move(h));
    if (c->state == ConnState::Closing) enter_handshake_budget(*c);  // an API answer lingering for the FIN
    if (c->state != ConnState::Dead && !c->recv_armed) arm_recv(*c);
  }
  inbox_taken_.clear();
  if (stop_requested_.load(std::memory_order_acquire) && !stopping_) begin_stop();
  arm_wake();
}

void Worker::arm_timer() { loop_->timeout_at(now_ns_ + 1'000'000'000, encode(Op::Timer)); }

void Worker::on_tick() {
  arm_timer();
  size_t parked = 0;
  const int64_t interval = int64_t(config_.ping_interval_s) * 1'000'000'000;
  for (auto& owned : conns_) {
    Connection* c = owned.get();
    if (!c) continue;
    switch (c->state) {
      case ConnState::Handshake:
        if (now_ns_ >= c->deadline_ns) {  // slowloris: no slot held forever
          metrics_.refusals[size_t(Refusal::Timeout)].add();
          log_.log(LogLevel::Info, "handshake_timeout", {{"peer", c->peer.to_string()}});
          kill(*c, "handshake timeout");
        }
        break;
      case ConnState::Open:
        if (now_ns_ - c->last_rx_ns >= 2 * interval) {
          c->close_reason = "idle timeout";
          c->ws.queue_close(kCloseGoingAway, "idle timeout");
          c->ws.flush();
          if (c->ws.close_sent()) enter_closing(*c);
        } else if (now_ns_ - c->last_ping_ns >= interval) {
          c->out.push(ping_frame_.get());
          c->last_ping_ns = now_ns_;
        }
        // Quiet for a second: give back the framing state (~8.5 KiB) until the next byte.
        if (now_ns_ - c->last_rx_ns >= 1'000'000'000 && c->state == ConnState::Open && c->ws.park()) {
          ++parked;
          c->out.release_storage();  // the send ring too, unless a ping is waiting in it
        }
        break;
      case ConnState::Closing:
        if (now_ns_ >= c->deadline_ns) kill(*c, "linger timeout");
        break;
      case ConnState::Dead:
        break;
    }
  }
  protocol_.reap_rooms(now_ns_);
  // Freed framing state sits in the heap between live objects; hand the whole free pages
  // back so many idle connections really cost little memory (only after many parked at once).
  if (parked >= 256) trim_pending_ = true;  // after this batch: its buffers are still in use
  if (!stopping_) arm_accept();
}

// Stopping is done when every close frame (and what was queued before it) has been
// handed to the kernel; waiting for each client's FIN as well would let one silent
// client hold the whole process until --drain-timeout.
bool Worker::drained() const {
  for (const auto& c : conns_)
    if (c && c->state != ConnState::Dead && !(c->state == ConnState::Closing && c->write_shut)) return false;
  return true;
}

void Worker::begin_stop() {
  stopping_ = true;
  stop_deadline_ns_ = now_ns_ + int64_t(config_.drain_timeout_s) * 1'000'000'000;
  if (accept_armed_) loop_->cancel(listen_fd_, encode(Op::Accept));
  for (auto& owned : conns_) {
    Connection* c = owned.get();
    if (!c) continue;
    if (c->state == ConnState::Open) {
      c->close_reason = "server shutting down";
      c->ws.queue_close(kCloseGoingAway, "server shutting down");
      c->ws.flush();
      if (c->ws.close_sent()) enter_closing(*c);
      c->deadline_ns = stop_deadline_ns_;  // queued output may take the whole drain
    } else if (c->state == ConnState::Handshake) {
      kill(*c, "server shutting down");
    }
  }
}

}  // namespace roomcast
