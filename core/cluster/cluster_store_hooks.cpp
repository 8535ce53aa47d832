// core/cluster/cluster_store_hooks.cpp: the ClusterStore's side of the webhook outbox in Redis
// (--webhook; docs/integration.md 4): events into the room's outbox, the outbox's calls out,
// acknowledgements in. Which rooms this thread delivers: core/cluster/redis_hook_outbox.h.
#include "core/cluster/cluster_store.h"
#include "core/cluster/cluster_wire.h"

namespace roomcast {

void ClusterStore::deliver_webhooks(HookSink& sink, std::function<bool(std::string_view)> mine) {
  hooks_ = std::make_unique<RedisHookOutbox>(instance_id_, config_.webhook_max_age_ms,
                                             int64_t(config_.room_ttl_s) * 1000, sink, std::move(mine), log_);
}

void ClusterStore::keep_event(std::string_view room, HookEvent event) {
  if (!hooks_) return;
  const std::string name(room);
  std::vector<std::string> args{wire::hooks_key(name), wire::hook_lease_key(name), wire::kHookRoomsKey, name,
                                instance_id_, event.id, event.body, std::to_string(event.created_ms),
                                hooks_->lease_ms(), hooks_->ttl_ms()};
  PendingCall p{CallKind::HookAppend, name};
  p.event = std::move(event);
  call(std::move(p), wire::kHookAppend, 3, std::move(args));
  // Submitted with the window's other calls: after the edits stored before it.
}

void ClusterStore::webhooks_done(std::string_view room, uint64_t through) {
  if (!hooks_) return;
  hooks_->done(room, through);
  take_hook_calls();
  submit_calls();
}

void ClusterStore::take_hook_calls() {
  if (!hooks_) return;
  for (RedisHookOutbox::Call& c : hooks_->calls()) {
    if (!c.wants_reply) {
      calls_.push_back(RedisCall{0, c.script, c.keys, std::move(c.argv)});
      continue;
    }
    PendingCall p{CallKind::Hook, std::move(c.room)};
    p.step = c.step;
    call(std::move(p), c.script, c.keys, std::move(c.argv));
  }
  hooks_->calls().clear();
}

void ClusterStore::edit_event_kept(const PendingCall& p, const RedisValue& value) {
  if (!hooks_ || p.event.body.empty() || value.kind != RedisValue::Kind::Array || value.elements.size() != 7) return;
  if (value.is_error()) return;
  const std::string seq = std::to_string(wire::value_u64(value.elements[0]));
  const std::string& epoch = value.elements[2].str;
  HookEvent event{p.event.id + epoch + ":" + seq, p.event.body + epoch + "\",\"seq\":" + seq + p.event_tail,
                  p.event.created_ms};
  hooks_->kept(p.room, wire::value_u64(value.elements[5]), int(wire::value_u64(value.elements[6])), &event);
  take_hook_calls();
}

}  // namespace roomcast
