// core/server/worker_handoff.cpp: requests crossing threads. A room lives on one loop thread;
// a request for it that arrived on another thread moves there with its socket, once,
// through the owner's inbox (a mutex-guarded list and an eventfd), never per message.
#include <unistd.h>

#include "core/server/completion_tag.h"
#include "core/server/worker.h"

namespace roomcast {

// Rooms live on one thread: the request goes there with its socket, nothing in flight.
void Worker::hand_to_owner(Connection& c, HttpDecision&& route) {
  Worker* owner = owner_of(route.room);
  if (owner == this) {
    serve_here(c, std::move(route));
    return;
  }
  // The ConnectionLimits place (route.admitted) travels with the request; the owner's
  // serve_here() gives it to the connection there.
  Handoff h{c.fd, c.peer, std::move(route)};
  table_->hand_over(c, now_ns_);
  owner->adopt(std::move(h));
}

void Worker::serve_here(Connection& c, HttpDecision&& route) {
  c.admitted = route.admitted;
  switch (route.route) {
    case RouteKind::Presence:
      if (redis_ && !rooms_->presence_ready(route.room, now_ns_)) {
        // Answered by room_ready().
        presence_waiting_[route.room].push_back(PresenceWait{SlotRef{c.slot, c.generation}, std::move(route.leftover)});
        return;
      }
      apply(c, HttpFront::presence(*rooms_, route.room, route.leftover));
      return;
    case RouteKind::Publish:
      // With a store that answers later (Redis, the disk), the 200 waits for it.
      if (redis_ || durable_) {
        const uint64_t ticket = next_ticket_++;
        publish_waiting_[ticket] = SlotRef{c.slot, c.generation};
        HttpDecision d = HttpFront::publish_stored(*rooms_, body_decoder_, body_message_, route.room, route.leftover, ticket, now_ns_);
        if (d.kind != HttpDecision::Kind::NeedMore) {
          publish_waiting_.erase(ticket);
          apply(c, std::move(d));
        }
        return;
      }
      apply(c, HttpFront::publish(*rooms_, body_decoder_, body_message_, route.room, route.leftover, now_ns_));
      return;
    default:
      open_websocket(c, std::move(route));
      return;
  }
}

void Worker::adopt(Handoff handoff) {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_.push_back(std::move(handoff));
  }
  uint64_t one = 1;
  // An eventfd write fails only when the counter would overflow, and then a wake-up is
  // pending anyway.
  (void)!write(wake_fd_, &one, sizeof(one));
}

void Worker::request_stop() {
  stop_requested_.store(true, std::memory_order_release);
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));  // as in adopt()
}

void Worker::arm_wake() { loop_->read(wake_fd_, &wake_value_, sizeof(wake_value_), completion_tag(Op::Wake)); }

void Worker::on_wake() {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_taken_.swap(inbox_);
  }
  for (Handoff& h : inbox_taken_) {
    if (stopping_) {
      if (h.request.admitted) limits_->release(h.peer);
      close(h.fd);  // refused during shutdown
      continue;
    }
    Connection& c = table_->open(h.fd, now_ns_);
    c.peer = h.peer;
    // One budget, whichever thread a socket lands on: until it is a member holding a
    // place (or freed) it is on this thread's handshake budget, as it was on the first.
    table_->admit_handshake(c, now_ns_);
    c.deadline = ClockMs::of(now_ns_ + int64_t(config_.handshake_timeout_s) * 1'000'000'000);
    serve_here(c, std::move(h.request));
    if (c.state != ConnState::Dead && !c.recv_armed) arm_recv(c);
  }
  inbox_taken_.clear();
  if (stop_requested_.load(std::memory_order_acquire) && !stopping_) begin_stop();
  arm_wake();
}

}  // namespace roomcast
