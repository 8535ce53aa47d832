// core/backend/webhook_queue.cpp: per-room FIFOs, a ready list, retry timers, and two
// ordered indexes (waiting fronts, in flight) for the oldest event.
#include "core/backend/webhook_queue.h"

#include <algorithm>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <random>

namespace roomcast {

std::string_view webhook_drop_reason_label(WebhookDropReason why) {
  return why == WebhookDropReason::MaxAge ? "max_age" : "overflow";
}

WebhookQueue::WebhookQueue(WebhookQueueOptions options, WebhookQueueListener* listener, Random random)
    : options_(options), listener_(listener), random_(std::move(random)) {
  if (!random_) {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    random_ = [engine](int64_t bound) {
      return bound <= 0 ? 0 : std::uniform_int_distribution<int64_t>(0, bound)(*engine);
    };
  }
}

WebhookQueue::~WebhookQueue() = default;

void WebhookQueue::unindex_front(Room& r) {
  if (!r.waiting.empty()) fronts_.erase(front_key(r));
}

void WebhookQueue::index_front(Room& r) {
  if (!r.waiting.empty()) fronts_.insert(front_key(r));
}

void WebhookQueue::make_ready(Room& r) {
  if (r.ready || r.ticket != 0 || r.due_ms != 0 || r.waiting.empty()) return;
  r.ready = true;
  ready_.push_back(&r);
}

void WebhookQueue::erase_if_idle(Room& r) {
  if (r.waiting.empty() && r.ticket == 0 && !r.ready && r.due_ms == 0) rooms_.erase(r.name);
}

void WebhookQueue::drop_front(Room& r, WebhookDropReason why) {
  unindex_front(r);
  Item item = std::move(r.waiting.front());
  r.waiting.pop_front();
  index_front(r);
  --events_;
  (why == WebhookDropReason::MaxAge ? stats_.dropped_max_age : stats_.dropped_overflow)
      .fetch_add(1, std::memory_order_relaxed);
  if (listener_) listener_->dropped(item.event, why, item.attempts);
}

void WebhookQueue::refresh_stats() {
  stats_.events.store(events_, std::memory_order_relaxed);
  stats_.in_flight.store(tickets_.size(), std::memory_order_relaxed);
  int64_t oldest = 0;
  if (!fronts_.empty()) oldest = std::get<0>(*fronts_.begin());
  if (!flying_.empty() && (oldest == 0 || std::get<0>(*flying_.begin()) < oldest)) oldest = std::get<0>(*flying_.begin());
  stats_.oldest_created_ms.store(oldest, std::memory_order_relaxed);
}

int64_t WebhookQueue::wait_bound_ms(unsigned attempts) const {
  const unsigned shift = std::min(attempts == 0 ? 0u : attempts - 1, 30u);
  const int64_t bound = options_.base_wait_ms << shift;
  return std::min(bound, options_.max_wait_ms);
}

WebhookQueue::Push WebhookQueue::push(WebhookEvent event, int64_t now_ms) {
  (void)now_ms;
  if (events_ >= options_.max_events) {
    if (!options_.drop_oldest_when_full) return Push::Refused;
    if (fronts_.empty()) {
      // Everything held is in flight (max_events <= concurrency): the newcomer is the one
      // that cannot be kept.
      stats_.dropped_overflow.fetch_add(1, std::memory_order_relaxed);
      if (listener_) listener_->dropped(event, WebhookDropReason::Overflow, 0);
      return Push::Queued;
    }
    Room& oldest = *std::get<2>(*fronts_.begin());
    drop_front(oldest, WebhookDropReason::Overflow);
    if (oldest.waiting.empty() && oldest.due_ms != 0) {
      timers_.erase({oldest.due_ms, &oldest});
      oldest.due_ms = 0;
    }
    if (oldest.name != event.room) erase_if_idle(oldest);
  }
  auto [it, inserted] = rooms_.try_emplace(event.room);
  Room& r = it->second;
  if (inserted) r.name = event.room;
  const bool was_empty = r.waiting.empty();
  r.waiting.push_back(Item{std::move(event), next_order_++, 0});
  ++events_;
  if (was_empty) index_front(r);
  make_ready(r);
  refresh_stats();
  return Push::Queued;
}

void WebhookQueue::poll(int64_t now_ms, std::vector<WebhookSend>* out) {
  // A retry due more than max_wait_ms ahead means the clock stepped back: it is due now.
  while (!timers_.empty() && (timers_.begin()->first <= now_ms || timers_.begin()->first > now_ms + options_.max_wait_ms)) {
    Room& r = *timers_.begin()->second;
    timers_.erase(timers_.begin());
    r.due_ms = 0;
    make_ready(r);
    erase_if_idle(r);
  }
  while (tickets_.size() < options_.concurrency && !ready_.empty()) {
    Room& r = *ready_.front();
    ready_.pop_front();
    r.ready = false;
    while (!r.waiting.empty() && now_ms - r.waiting.front().event.created_ms >= options_.max_age_ms)
      drop_front(r, WebhookDropReason::MaxAge);
    if (r.waiting.empty()) {
      erase_if_idle(r);
      continue;
    }
    unindex_front(r);
    r.in_flight = std::move(r.waiting.front());
    r.waiting.pop_front();
    index_front(r);
    ++r.in_flight.attempts;
    r.ticket = ++next_ticket_;
    tickets_.emplace(r.ticket, &r);
    flying_.insert({r.in_flight.event.created_ms, r.in_flight.order, &r});
    out->push_back(WebhookSend{r.ticket, r.in_flight.attempts, r.in_flight.event});
  }
  refresh_stats();
}

void WebhookQueue::on_result(uint64_t ticket, bool delivered, int64_t now_ms) {
  auto it = tickets_.find(ticket);
  if (it == tickets_.end()) return;
  Room& r = *it->second;
  tickets_.erase(it);
  r.ticket = 0;
  flying_.erase({r.in_flight.event.created_ms, r.in_flight.order, &r});
  Item item = std::move(r.in_flight);
  if (delivered) {
    --events_;
    stats_.delivered.fetch_add(1, std::memory_order_relaxed);
    if (listener_) listener_->delivered(item.event);
  } else if (now_ms - item.event.created_ms >= options_.max_age_ms) {
    --events_;
    stats_.dropped_max_age.fetch_add(1, std::memory_order_relaxed);
    if (listener_) listener_->dropped(item.event, WebhookDropReason::MaxAge, item.attempts);
  } else {
    // Back at the head of its room, after a full-jitter wait.
    stats_.retries.fetch_add(1, std::memory_order_relaxed);
    unindex_front(r);
    r.waiting.push_front(std::move(item));
    index_front(r);
    r.due_ms = std::max<int64_t>(now_ms + random_(wait_bound_ms(r.waiting.front().attempts)), 1);
    timers_.insert({r.due_ms, &r});
  }
  make_ready(r);
  erase_if_idle(r);
  refresh_stats();
}

size_t WebhookQueue::forget_room(std::string_view room) {
  auto it = rooms_.find(std::string(room));
  if (it == rooms_.end()) return 0;
  Room& r = it->second;
  size_t gone = r.waiting.size();
  unindex_front(r);
  if (r.ticket != 0) {
    tickets_.erase(r.ticket);
    flying_.erase({r.in_flight.event.created_ms, r.in_flight.order, &r});
    ++gone;
  }
  if (r.ready) ready_.erase(std::find(ready_.begin(), ready_.end(), &r));
  if (r.due_ms != 0) timers_.erase({r.due_ms, &r});
  events_ -= gone;
  rooms_.erase(it);
  refresh_stats();
  return gone;
}

int64_t WebhookQueue::next_wakeup_ms(int64_t now_ms) const {
  if (!ready_.empty() && tickets_.size() < options_.concurrency) return now_ms;
  if (timers_.empty()) return INT64_MAX;
  const int64_t due = timers_.begin()->first;
  return due > now_ms + options_.max_wait_ms ? now_ms : due;  // the clock stepped back (see poll)
}

int64_t WebhookQueue::oldest_age_ms(int64_t now_ms) const {
  const int64_t oldest = stats_.oldest_created_ms.load(std::memory_order_relaxed);
  return oldest == 0 ? 0 : std::max<int64_t>(0, now_ms - oldest);
}

void WebhookQueue::render_metrics(std::string* out, int64_t now_ms) const {
  char text[768];
  snprintf(text, sizeof text,
           "# HELP roomcast_webhook_queue_events Webhook events not yet delivered (waiting and in flight).\n"
           "# TYPE roomcast_webhook_queue_events gauge\n"
           "roomcast_webhook_queue_events %" PRIu64 "\n"
           "# HELP roomcast_webhook_dropped_total Webhook events given up, by reason.\n"
           "# TYPE roomcast_webhook_dropped_total counter\n"
           "roomcast_webhook_dropped_total{reason=\"max_age\"} %" PRIu64 "\n"
           "roomcast_webhook_dropped_total{reason=\"overflow\"} %" PRIu64 "\n"
           "# HELP roomcast_webhook_oldest_seconds Age of the oldest undelivered webhook event.\n"
           "# TYPE roomcast_webhook_oldest_seconds gauge\n"
           "roomcast_webhook_oldest_seconds %.3f\n",
           stats_.events.load(std::memory_order_relaxed), stats_.dropped_max_age.load(std::memory_order_relaxed),
           stats_.dropped_overflow.load(std::memory_order_relaxed), double(oldest_age_ms(now_ms)) / 1000.0);
  out->append(text);
}

}  // namespace roomcast
