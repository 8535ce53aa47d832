// core/backend/webhook_delivery.h: delivers webhook events to --webhook: a WebhookQueue
// (order, pace, drops) driven on a thread of its own, its attempts sent by the HookClient.
//
// Owns: one delivery thread, the WebhookQueue it drives (only that thread touches it), an
// inbox of pushed events and commands, and an eventfd waking the thread for the inbox and
// for the hook client's results (it is the client's submitter `submitter`).
// Called by: loop threads or the persistence layer (push, forget_room: thread-safe, never
// blocking on the network); the server (start before or after the client starts; at
// shutdown stop() this, then stop the client, then destroy both); a scrape (stats,
// render_metrics).
// Promises:
//   - everything WebhookQueue promises (order per room, one in flight per room,
//     --webhook-concurrency, full-jitter retries, --webhook-max-age, --webhook-queue), with
//     the wall clock; an attempt is a POST of the event's body with its webhook-id, signed
//     by the client; a 2xx is delivered, anything else (another status, a timeout, no
//     connection, the client's queue full) is a failed attempt;
//   - the listener (delivered, dropped) is called on the delivery thread, never on the
//     pushing thread: a persistence layer marks events acked from there, the server logs
//     drops from there;
//   - with a store-backed queue (queue.drop_oldest_when_full false), push refuses once
//     max_events are held (inbox included), so the store keeps the event and pushes it again
//     later (after a delivered() made room); otherwise push always takes the event and the
//     queue drops the oldest beyond the bound;
//   - stop() joins the thread; what was not delivered stays undelivered (a store still
//     holds it; without one it is lost, as the README says).
#pragma once

#include <memory>
#include <string>

#include "core/backend/hook_client.h"
#include "core/backend/webhook_queue.h"

namespace roomcast {

struct WebhookDeliveryOptions {
  std::string url;            // --webhook
  WebhookQueueOptions queue;  // --webhook-concurrency, --webhook-max-age, --webhook-queue
};

class WebhookDelivery {
 public:
  // Must be made before client.start(): it attaches its eventfd as `submitter`.
  WebhookDelivery(WebhookDeliveryOptions options, HookClient& client, unsigned submitter,
                  WebhookQueueListener* listener);
  ~WebhookDelivery();  // stop()
  WebhookDelivery(const WebhookDelivery&) = delete;
  WebhookDelivery& operator=(const WebhookDelivery&) = delete;

  void start();
  void stop();

  // Thread-safe. Events of one room must be pushed in the order they happened.
  bool push(WebhookEvent event);
  // Thread-safe: this instance no longer delivers `room` (another took it over).
  void forget_room(std::string room);

  const WebhookQueueStats& stats() const;
  void render_metrics(std::string* out) const;  // the queue's metrics at the wall clock

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace roomcast
