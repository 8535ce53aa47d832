// core/server/redis_webhooks.h: webhooks kept in Redis (--redis with --webhook;
// docs/integration.md 4, docs/durability.md "The webhook outbox in Redis"): the wiring
// between one loop thread's ClusterStore and the one WebhookDelivery.
//
// Owns: nothing but the two references. One per loop thread, on that thread.
// Called by: the thread's HookBackend (append: a join's or leave's event; an edit's event
// is written by the edit script itself, so HookBackend never appends it) and the thread's
// ClusterStore's RedisHookOutbox (push, forget) for the rooms it delivers. The delivery's
// acknowledgements come back through WebhookAcks (core/server/store_webhooks.h) to the
// thread that owns the room, which hands them to ClusterStore::webhooks_done.
// Promises: append never blocks (the event goes into the room's outbox with this thread's
// next Redis calls); push is the delivery's push with the event's outbox number as its
// token (false when the delivery is full: the outbox reads it again later); forget makes
// the delivery drop the room's events unsent (another instance delivers them now).
#pragma once

#include "core/backend/webhook_delivery.h"
#include "core/cluster/cluster_store.h"
#include "core/hooks/webhook_outbox.h"

namespace roomcast {

class RedisWebhooks final : public WebhookOutbox, public HookSink {
 public:
  explicit RedisWebhooks(WebhookDelivery& delivery) : delivery_(delivery) {}
  // The thread's cluster store, once made (before any event).
  void attach(ClusterStore& cluster) { cluster_ = &cluster; }

  void append(WebhookEvent event) override {
    if (cluster_) cluster_->keep_event(event.room, HookEvent{std::move(event.id), std::move(event.body), event.created_ms});
  }
  bool push(std::string_view room, uint64_t n, const HookEvent& event) override {
    return delivery_.push(delivery_event(room, n, event));
  }
  void forget(std::string_view room) override { delivery_.forget_room(std::string(room)); }

 private:
  WebhookDelivery& delivery_;
  ClusterStore* cluster_ = nullptr;
};

}  // namespace roomcast
