// core/hooks/webhook_outbox.h: where the room domain's webhook events go (docs/integration.md
// 4), and the seam a durable store plugs into.
//
// Owns: nothing of the events once appended. DeliveryOutbox hands them to a
// WebhookDelivery (core/backend/webhook_delivery.h: order per room, retries, max age);
// WebhookDropLog is the delivery's listener without a store: one log line and a count per
// dropped event (room, webhook-id, reason, attempts; never the body).
// Called by: HookBackend (core/hooks/hook_backend.h) on the loop thread that owns the
// room, in the order the room's events happened; the delivery thread calls the listener.
// Promises:
//   - append never blocks on the network and keeps the order of one room's events;
//   - the in-memory outbox (DeliveryOutbox) is bounded by --webhook-queue (the oldest
//     event is dropped beyond it) and loses what it holds when the process ends; the
//     README says so.
// The seam for a durable outbox (--data-dir, --redis): implement WebhookOutbox so append
// keeps the event with the edit it describes (or derives it from the stored edit), push it
// to a WebhookDelivery made with `queue.drop_oldest_when_full = false` (a refused push is
// pushed again after a delivery made room), and implement WebhookQueueListener so
// `delivered` marks it acknowledged (for an edit: delivered through seq N of the room's
// epoch) and `dropped` logs it; at start, push again what is not acknowledged. Nothing
// else in the hooks changes: webhook-ids are stable (edit:<room>:<epoch>:<seq>), so a
// re-sent event is deduplicated by the backend. The disk store's outbox does exactly this
// (core/server/store_webhooks.h, docs/durability.md "The webhook outbox"): its edits'
// events come from BackendPort::edit_event, so only joins and leaves pass through append.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/backend/webhook_delivery.h"
#include "core/backend/webhook_queue.h"
#include "core/base/log.h"
#include "core/room/backend_port.h"

namespace roomcast {

// A stored event as the delivery takes it: `token` is the store's number for it, which
// comes back with its acknowledgement (WebhookQueueListener).
inline WebhookEvent delivery_event(std::string_view room, uint64_t token, const HookEvent& event) {
  WebhookEvent out;
  out.room = std::string(room);
  out.id = event.id;
  out.body = event.body;
  out.created_ms = event.created_ms;
  out.token = token;
  return out;
}

class WebhookOutbox {
 public:
  virtual ~WebhookOutbox() = default;
  // One event that happened on the calling loop thread (WebhookEvent::created_ms set).
  virtual void append(WebhookEvent event) = 0;
};

// Without a store: the events go straight to the delivery's bounded memory queue.
class DeliveryOutbox final : public WebhookOutbox {
 public:
  explicit DeliveryOutbox(WebhookDelivery& delivery) : delivery_(delivery) {}
  void append(WebhookEvent event) override { delivery_.push(std::move(event)); }

 private:
  WebhookDelivery& delivery_;
};

// The delivery's listener without a store: nothing to acknowledge, a log line per drop.
class WebhookDropLog final : public WebhookQueueListener {
 public:
  explicit WebhookDropLog(const Logger& log) : log_(log) {}
  void delivered(const WebhookEvent&) override {}
  void dropped(const WebhookEvent& event, WebhookDropReason why, unsigned attempts) override {
    log_.log(LogLevel::Warn, "webhook_dropped",
             {{"room", event.room}, {"webhook_id", event.id}, {"reason", webhook_drop_reason_label(why)},
              {"attempts", uint64_t(attempts)}});
  }

 private:
  const Logger& log_;
};

}  // namespace roomcast
