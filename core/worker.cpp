#include "core/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>

#include "proto/handshake.h"
#include "proto/http_request.h"

namespace roomcast {
namespace {

// user_data layout, the one place it is defined:
//   bits 56..63  operation (Op)
//   bits 32..55  connection generation (low 24 bits): a completion for a slot that has
//                since been reused is recognised and ignored (cf. nginx's instance bit)
//   bits  0..31  connection slot
enum class Op : uint8_t { Accept = 1, Recv, Send, Wake, Timer, Flush, Cancel };

uint64_t encode(Op op, uint32_t slot = 0, uint32_t generation = 0) {
  return (uint64_t(op) << 56) | (uint64_t(generation & 0xFFFFFF) << 32) | slot;
}
Op op_of(uint64_t ud) { return static_cast<Op>(ud >> 56); }
uint32_t slot_of(uint64_t ud) { return static_cast<uint32_t>(ud); }
uint32_t generation_of(uint64_t ud) { return static_cast<uint32_t>(ud >> 32) & 0xFFFFFF; }

constexpr size_t kMaxIov = 64;
constexpr size_t kMaxSendBytes = 256 * 1024;
constexpr int64_t kLingerNs = 2'000'000'000;      // wait for the peer's FIN after ours
constexpr int64_t kStopDrainNs = 3'000'000'000;   // SIGTERM: time for close frames to leave

}  // namespace

struct SendOp {
  msghdr msg{};
  iovec iov[kMaxIov];
};

void Connection::on_text(std::string_view message) { worker->on_text(*this, message); }

void Connection::on_control_bytes(std::string_view bytes) { out.push_adopt(SharedFrame::raw(bytes)); }

Worker::Worker(const Config& config, unsigned index, int listen_fd)
    : config_(config),
      index_(index),
      listen_fd_(listen_fd),
      batch_delay_ns_(int64_t(config.max_batch_delay_ms) * 1'000'000),
      protocol_(config, index) {
  ping_frame_ = FrameRef::adopt(SharedFrame::make(Opcode::Ping, {}));
}

Worker::~Worker() {
  for (auto& c : conns_)
    if (c && c->fd >= 0) close(c->fd);
  for (Handoff& h : inbox_) close(h.fd);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (listen_fd_ >= 0) close(listen_fd_);
}

int Worker::init(std::string* description) {
  int error = 0;
  loop_ = EventLoop::create(config_.backend, description, &error);
  if (!loop_) return error ? error : -ENOSYS;
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return -errno;
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
    if (stopping_ && (live_ == 0 || now_ns_ >= stop_deadline_ns_)) break;
    now_fresh_ = false;
    int rc = loop_->run_once(*this);
    if (rc < 0) {
      std::fprintf(stderr, "roomcast: worker %u: %s loop failed: %s\n", index_, loop_->name(), std::strerror(-rc));
      break;
    }
    if (!now_fresh_) now_ns_ = monotonic_ns();
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
    case Op::Flush:
      flush_timer_armed_ = false;  // the loop top flushes what is due
      return;
    case Op::Cancel:
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
  conns_[slot] = std::make_unique<Connection>(this, &dirty_, slot);
  Connection* c = conns_[slot].get();
  c->generation = generations_[slot];
  c->fd = fd;
  c->last_rx_ns = now_ns_;
  ++live_;
  return c;
}

// ---------------------------------------------------------------------------------------
// Accept and handshake.

void Worker::arm_accept() {
  if (listen_fd_ < 0 || accept_armed_) return;
  loop_->accept(listen_fd_, encode(Op::Accept));
  accept_armed_ = true;
}

void Worker::on_accept(const Completion& done) {
  if (!done.more) accept_armed_ = false;
  if (done.result < 0) {
    // EMFILE/ENFILE/ENOBUFS: the next tick re-arms, so a full fd table cannot spin the
    // loop while connected clients keep being served.
    if (done.result != -ECANCELED && done.result != -EAGAIN && done.result != -EINTR)
      std::fprintf(stderr, "roomcast: worker %u: accept: %s (retrying in 1 s)\n", index_, std::strerror(-done.result));
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
  c->deadline_ns = now_ns_ + int64_t(config_.handshake_timeout_s) * 1'000'000'000;
  arm_recv(*c);
  if (!accept_armed_) arm_accept();
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
    on_bytes(c, done.data, size_t(res));
  } else if (res == -ENOBUFS) {
    // Every receive buffer of this thread is in use; they come back at the end of this
    // batch and the re-arm below is submitted after that.
  } else if (res != -ECANCELED || c.state != ConnState::Dead) {
    // EOF or a socket error: the client is gone without a close handshake.
    if (c.state == ConnState::Open) protocol_.on_leave(c, now_ns_);
    kill(c);
  }
  if (done.buffer != kNoBuffer) loop_->release_buffer(done.buffer);  // wslay and the head copied what they keep
  Connection* still = lookup(slot, generation);
  if (still && still->state != ConnState::Dead && !still->recv_armed) arm_recv(*still);
  if (still && still->state == ConnState::Dead) dead_.push_back(slot);
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

void Worker::on_handshake_bytes(Connection& c, const uint8_t* data, size_t len) {
  c.head.append(reinterpret_cast<const char*>(data), len);
  HttpRequest request;
  HttpParseResult parsed = parse_http_request(c.head, config_.max_header, request);
  switch (parsed.status) {
    case HttpParseStatus::Incomplete:
      return;
    case HttpParseStatus::Bad:
      respond_and_close(c, http_response(400, "bad request\n"));
      return;
    case HttpParseStatus::TooLarge:
      respond_and_close(c, http_response(431, "request header fields too large\n"));
      return;
    case HttpParseStatus::Complete:
      break;
  }
  Route route = route_request(request);
  if (route.kind == RouteKind::Respond) {
    respond_and_close(c, route.response);
    return;
  }
  std::string_view leftover = std::string_view(c.head).substr(parsed.consumed);
  Worker* owner = owner_of(route.room);
  if (owner == this) {
    std::string leftover_copy(leftover);
    open_websocket(c, std::move(route.room), route.accept_key, leftover_copy);
    return;
  }
  // The room lives on another thread: the socket moves there, with nothing in flight.
  Handoff h{c.fd, std::move(route.room), std::move(route.accept_key), std::string(leftover)};
  loop_->forget(c.fd);
  c.fd = -1;
  c.state = ConnState::Dead;
  kill(c);
  owner->adopt(std::move(h));
}

void Worker::open_websocket(Connection& c, std::string room, const std::string& accept_key,
                            std::string_view leftover) {
  c.state = ConnState::Open;
  c.room_name = std::move(room);
  std::string().swap(c.head);
  c.last_rx_ns = c.last_ping_ns = now_ns_;
  c.rate = RateLimiter(config_.rate_limit, config_.rate_burst, now_ns_);
  c.out.push_adopt(SharedFrame::raw(upgrade_response(accept_key)));
  if (!c.ws.init(config_.max_message, &c)) {
    kill(c);
    return;
  }
  if (!leftover.empty()) feed(c, reinterpret_cast<const uint8_t*>(leftover.data()), leftover.size());
}

void Worker::respond_and_close(Connection& c, const std::string& response) {
  c.out.push_adopt(SharedFrame::raw(response));
  std::string().swap(c.head);
  c.state = ConnState::Closing;
  c.deadline_ns = now_ns_ + kLingerNs;
}

// ---------------------------------------------------------------------------------------
// Frames in, messages through.

void Worker::feed(Connection& c, const uint8_t* data, size_t len) {
  if (c.ws.feed(data, len) == WsReader::FeedResult::ProtocolError) {
    close_with(c, kCloseProtocolError, "protocol error");
    return;
  }
  c.ws.flush();  // pongs and close echoes wslay queued, into c.out
  if (c.ws.close_sent()) enter_closing(c);
}

void Worker::on_text(Connection& c, std::string_view text) { protocol_.on_text(c, text, now_ns_); }

void Worker::close_with(Connection& c, uint16_t code, std::string_view reason) {
  if (c.state != ConnState::Open) return;
  c.ws.shutdown_write();  // our close frame is the last thing on this stream
  c.out.push_adopt(SharedFrame::close(code, reason));
  enter_closing(c);
}

void Worker::enter_closing(Connection& c) {
  if (c.state != ConnState::Open) return;
  protocol_.on_leave(c, now_ns_);
  c.state = ConnState::Closing;
  c.deadline_ns = now_ns_ + kLingerNs;
}

void Worker::kill(Connection& c) {
  if (c.state == ConnState::Open) protocol_.on_leave(c, now_ns_);
  c.state = ConnState::Dead;
  if (c.recv_armed && c.fd >= 0) loop_->cancel(c.fd, encode(Op::Recv, c.slot, c.generation));
  dead_.push_back(c.slot);
}

// A dead connection is freed only when the kernel holds nothing of it.
void Worker::sweep_dead() {
  for (uint32_t slot : dead_) {
    Connection* c = conns_[slot].get();
    if (!c || c->state != ConnState::Dead || c->recv_armed || c->send_in_flight) continue;
    if (c->fd >= 0) {
      loop_->forget(c->fd);
      close(c->fd);
    }
    if (c->op) free_send_ops_.push_back(c->op);
    conns_[slot].reset();
    ++generations_[slot];
    free_slots_.push_back(slot);
    --live_;
  }
  dead_.clear();
}

// ---------------------------------------------------------------------------------------
// Frames out: once per iteration, one sendmsg per socket with output.

// With --max-batch-delay, a recipient's frames wait up to that long so that frames from
// many senders leave in one sendmsg: the first frame queued after a flush sets the
// deadline, every socket dirtied before it leaves together. 0 sends every iteration.
bool Worker::flush_due() {
  if (dirty_.slots.empty()) return false;
  if (batch_delay_ns_ == 0 || stopping_) return true;
  if (flush_at_ns_ == 0) flush_at_ns_ = now_ns_ + batch_delay_ns_;
  if (now_ns_ >= flush_at_ns_) return true;
  if (!flush_timer_armed_) {
    loop_->timeout_at(flush_at_ns_, encode(Op::Flush));
    flush_timer_armed_ = true;
  }
  return false;
}

void Worker::flush_dirty() {
  flush_at_ns_ = 0;
  while (!dirty_.slots.empty()) {
    flushing_.swap(dirty_.slots);
    for (uint32_t slot : flushing_) {
      Connection* c = slot < conns_.size() ? conns_[slot].get() : nullptr;
      if (!c) continue;
      c->out.clear_dirty();
      if (c->state == ConnState::Dead) continue;
      if (c->state == ConnState::Open && c->out.pending_bytes() > config_.max_pending) {
        c->out.drop_superseded();
        if (c->out.pending_bytes() > config_.max_pending) {
          // A slow reader: close rather than drop an edit silently. It reconnects with
          // `since` and loses nothing.
          c->out.drop_unstarted();
          close_with(*c, kClosePolicyViolation, "slow reader: output limit exceeded");
        }
      }
      start_send(*c);
    }
    flushing_.clear();
  }
}

void Worker::start_send(Connection& c) {
  if (c.send_in_flight || c.fd < 0 || c.state == ConnState::Dead) return;
  // Latest-wins applies to cameras that waited: behind a short send, or in a batch window.
  if (c.out.backed_up() || batch_delay_ns_ != 0) c.out.drop_superseded();
  if (c.out.empty()) {
    maybe_shut_write(c);
    return;
  }
  SendOp* op;
  if (c.op) {
    op = c.op;
  } else if (!free_send_ops_.empty()) {
    op = free_send_ops_.back();
    free_send_ops_.pop_back();
  } else {
    send_ops_.push_back(std::make_unique<SendOp>());
    op = send_ops_.back().get();
  }
  c.op = op;
  op->msg.msg_iov = op->iov;
  op->msg.msg_iovlen = c.out.gather(op->iov, kMaxIov, kMaxSendBytes);
  c.send_in_flight = true;
  loop_->send(c.fd, &op->msg, encode(Op::Send, c.slot, c.generation));
}

void Worker::on_send(Connection& c, int result) {
  c.send_in_flight = false;
  c.out.complete(result > 0 ? size_t(result) : 0);
  if (c.op) {
    free_send_ops_.push_back(c.op);
    c.op = nullptr;
  }
  if (result <= 0) {
    kill(c);  // EPIPE/ECONNRESET: the peer is gone
    return;
  }
  if (c.state == ConnState::Dead) {
    dead_.push_back(c.slot);
    return;
  }
  start_send(c);
}

void Worker::maybe_shut_write(Connection& c) {
  if (c.state != ConnState::Closing || c.write_shut || c.send_in_flight || !c.out.empty()) return;
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

void Worker::arm_wake() {
  loop_->read(wake_fd_, &wake_value_, sizeof(wake_value_), encode(Op::Wake));
}

void Worker::on_wake() {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_taken_.swap(inbox_);
  }
  for (Handoff& h : inbox_taken_) {
    if (stopping_) {
      close(h.fd);
      continue;
    }
    Connection* c = new_connection(h.fd);
    open_websocket(*c, std::move(h.room), h.accept_key, h.leftover);
    if (c->state != ConnState::Dead) arm_recv(*c);
  }
  inbox_taken_.clear();
  if (stop_requested_.load(std::memory_order_acquire) && !stopping_) begin_stop();
  arm_wake();
}

void Worker::arm_timer() {
  loop_->timeout_at(now_ns_ + 1'000'000'000, encode(Op::Timer));
}

void Worker::on_tick() {
  arm_timer();
  const int64_t interval = int64_t(config_.ping_interval_s) * 1'000'000'000;
  for (auto& owned : conns_) {
    Connection* c = owned.get();
    if (!c) continue;
    switch (c->state) {
      case ConnState::Handshake:
        if (now_ns_ >= c->deadline_ns) kill(*c);  // slowloris: no slot held forever
        break;
      case ConnState::Open:
        if (now_ns_ - c->last_rx_ns >= 2 * interval) {
          c->ws.queue_close(kCloseGoingAway, "idle timeout");
          c->ws.flush();
          if (c->ws.close_sent()) enter_closing(*c);
        } else if (now_ns_ - c->last_ping_ns >= interval) {
          c->out.push(ping_frame_.get());
          c->last_ping_ns = now_ns_;
        }
        break;
      case ConnState::Closing:
        if (now_ns_ >= c->deadline_ns) kill(*c);
        break;
      case ConnState::Dead:
        break;
    }
  }
  protocol_.reap_rooms(now_ns_);
  if (!stopping_) arm_accept();
}

void Worker::begin_stop() {
  stopping_ = true;
  stop_deadline_ns_ = now_ns_ + kStopDrainNs;
  if (accept_armed_) loop_->cancel(listen_fd_, encode(Op::Accept));
  for (auto& owned : conns_) {
    Connection* c = owned.get();
    if (!c) continue;
    if (c->state == ConnState::Open) {
      c->ws.queue_close(kCloseGoingAway, "server shutting down");
      c->ws.flush();
      if (c->ws.close_sent()) enter_closing(*c);
    } else if (c->state == ConnState::Handshake) {
      kill(*c);
    }
  }
}

}  // namespace roomcast
