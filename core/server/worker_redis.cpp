// core/server/worker_redis.cpp: the worker's side of scale-out. The instance's RedisLink answers
// on this worker's eventfd (its loop wakes for it like for a socket); the room service
// reaches Redis through the worker as its ClusterPort; API requests that waited for Redis
// (presence, publish) are answered here. The disk store (--data-dir) is wired the same way.
#include "core/server/completion_tag.h"
#include "core/server/worker.h"

namespace roomcast {

void Worker::arm_redis() { loop_->read(redis_fd_, &redis_value_, sizeof(redis_value_), completion_tag(Op::Redis)); }

void Worker::on_redis() {
  redis_events_.clear();
  redis_->take(index_, &redis_events_);
  for (RedisEvent& event : redis_events_) cluster_->on_redis(event, now_ns_);
  redis_events_.clear();
  arm_redis();
}

// --data-dir: the disk client's eventfd is armed like the Redis one; its completions
// (acks, edits to the others, publish answers) are handled on this thread.
void Worker::arm_disk() { loop_->read(durable_->event_fd(), &disk_value_, sizeof(disk_value_), completion_tag(Op::Disk)); }

void Worker::on_disk() {
  durable_->drain(now_ns_);
  arm_disk();
}

// --data-dir or --redis with --webhook: the delivery thread's acknowledgements of this
// thread's rooms (core/server/store_webhooks.h), written to disk or trimmed from the
// rooms' outboxes in Redis; they made room in the delivery for events it refused.
void Worker::arm_webhook() {
  loop_->read(webhook_fd_, &webhook_value_, sizeof(webhook_value_), completion_tag(Op::Webhook));
}

void Worker::on_webhook() {
  hooks_.acks->take(index_, &acks_taken_);
  if (durable_) {
    for (const auto& [room, through] : acks_taken_) durable_->events_done(room, through);
    durable_->offer_waiting();
  } else if (cluster_) {
    // --redis: trimmed from the rooms' outboxes in Redis (core/cluster/redis_hook_outbox.h).
    for (const auto& [room, through] : acks_taken_) cluster_->webhooks_done(room, through);
  }
  acks_taken_.clear();
  arm_webhook();
}

void Worker::submit(std::vector<RedisCall>& calls) { redis_->submit(index_, calls); }
void Worker::subscribe(const std::string& channel) { redis_->subscribe(index_, channel); }
void Worker::unsubscribe(const std::string& channel) { redis_->unsubscribe(index_, channel); }

void Worker::room_ready(std::string_view room, bool ok) {
  auto it = presence_waiting_.find(std::string(room));
  if (it == presence_waiting_.end()) return;
  std::vector<PresenceWait> waiting = std::move(it->second);
  presence_waiting_.erase(it);
  for (const PresenceWait& w : waiting) {
    Connection* c = table_->lookup(w.ref.slot, w.ref.generation);
    if (!c || c->state == ConnState::Dead) continue;
    apply(*c, ok ? HttpFront::presence(*rooms_, room, w.after) : HttpFront::store_unavailable());
  }
}

void Worker::published(uint64_t ticket, bool ok, uint64_t seq) {
  auto it = publish_waiting_.find(ticket);
  if (it == publish_waiting_.end()) return;
  SlotRef ref = it->second;
  publish_waiting_.erase(it);
  Connection* c = table_->lookup(ref.slot, ref.generation);
  if (c && c->state != ConnState::Dead) apply(*c, HttpFront::published(ok, seq));
}

}  // namespace roomcast

// ---------------------------------------------------------------------------------------
// The app's backend: the hook client answers on this worker's eventfd, like the RedisLink.

namespace roomcast {

void Worker::arm_hook() { loop_->read(hook_fd_, &hook_value_, sizeof(hook_value_), completion_tag(Op::Hook)); }

void Worker::on_hook() {
  hook_results_.clear();
  hooks_.client->take(index_, &hook_results_);
  for (const HookResult& r : hook_results_) {
    if (r.kind == HookKind::Auth) auth_answered(r);
    else if (r.kind == HookKind::Edit && backend_) backend_->edit_answered(r, now_ns_);
  }
  hook_results_.clear();
  arm_hook();
}

void Worker::auth_answered(const HookResult& result) {
  Connection* c = table_->lookup(uint32_t(result.cookie), uint32_t(result.cookie >> 32) & 0xFFFFFF);
  if (!c || c->state != ConnState::Handshake || !c->http || !c->http->awaiting_auth) return;  // gone meanwhile
  const long status = result.outcome == HookOutcome::Answered ? result.status : 0;
  if (status == 0)
    log_.log(LogLevel::Warn, "auth_hook_unavailable", {{"peer", c->peer.to_string()}, {"error", result.error}});
  const uint32_t slot = c->slot, generation = c->generation;
  apply(*c, http_->auth_answered(*c->http, c->peer, status, result.body, int64_t(std::time(nullptr))));
  Connection* still = table_->lookup(slot, generation);
  if (still && still->state != ConnState::Dead && !still->recv_armed) arm_recv(*still);
}

}  // namespace roomcast
