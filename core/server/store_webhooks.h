// core/server/store_webhooks.h: webhooks kept by the disk store (--data-dir with --webhook;
// docs/integration.md 4, docs/durability.md "The webhook outbox"): the wiring between
// each loop thread's DurableStore and the one WebhookDelivery.
//
// WebhookAcks (one, shared by every loop thread) is the delivery's listener. Owns one
// mailbox per loop thread (room -> acknowledged through, under its own mutex) and knows
// each thread's eventfd. Called on the delivery thread (delivered, dropped), by the server
// before the delivery starts (attach), and by each loop thread (take).
// Promises: every delivered or dropped event's number reaches the loop thread that owns
// its room (Worker::index_of) with at most one eventfd write per hand-over, never
// blocking on that thread; per room the highest number wins (the delivery reports a
// room's events in order, so "through N" covers the ones before); a drop is logged as
// without a store (room, webhook-id, reason, attempts; never the body) and acknowledged
// too, so a restart does not send it again.
//
// StoreWebhooks (one per loop thread, on that thread) is HookBackend's outbox and the
// store's KeptEvents: a join's or leave's event becomes a record of the thread's
// DurableStore (an edit's event is asked for by the store itself, with the edit:
// BackendPort::edit_event, so HookBackend never enqueues a second copy); an event on disk
// is pushed into the delivery with its number as the event's token; a push the full
// delivery refuses is kept by the store and offered again.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/backend/webhook_delivery.h"
#include "core/durable/durable_store.h"
#include "core/durable/kept_events.h"
#include "core/hooks/webhook_outbox.h"

namespace roomcast {

class WebhookAcks final : public WebhookQueueListener {
 public:
  WebhookAcks(unsigned workers, const Logger& log);
  // Before the delivery starts: loop thread w's eventfd, written when acks wait for it.
  void attach(unsigned w, int notify_fd);

  void delivered(const WebhookEvent& event) override;
  void dropped(const WebhookEvent& event, WebhookDropReason why, unsigned attempts) override;

  // Loop thread w: (room, through) for each of its rooms acknowledged since the last take.
  void take(unsigned w, std::vector<std::pair<std::string, uint64_t>>* out);

 private:
  void post(const WebhookEvent& event);
  struct Box {
    std::mutex mu;
    std::unordered_map<std::string, uint64_t> through;
    int notify_fd = -1;
  };
  std::vector<std::unique_ptr<Box>> boxes_;
  WebhookDropLog drops_;
};

class StoreWebhooks final : public WebhookOutbox, public KeptEvents {
 public:
  explicit StoreWebhooks(WebhookDelivery& delivery) : delivery_(delivery) {}
  // The thread's store, once made (before any event).
  void attach(DurableStore& store) { store_ = &store; }

  // WebhookOutbox: a join or leave of a room of this thread.
  void append(WebhookEvent event) override;
  // KeptEvents: an event on disk.
  bool deliver(std::string_view room, uint64_t number, const HookEvent& event) override;

 private:
  WebhookDelivery& delivery_;
  DurableStore* store_ = nullptr;
};

}  // namespace roomcast
