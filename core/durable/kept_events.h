// core/durable/kept_events.h: where the disk store's webhook events go once they are on disk
// (docs/integration.md 4, docs/durability.md "The webhook outbox").
//
// Implemented by the server's wiring (core/server/store_webhooks.h: a push into the webhook
// delivery); called by DurableStore on its loop thread, per room in event-number order:
// an event is offered once it is on disk (with its edit, or in a record of its own for a
// join or a leave), and at start for every event the load returned unacknowledged.
// Promises (of an implementation): deliver never blocks; true means the event is taken
// and its room's acknowledgement (delivered or dropped) comes back later through
// DurableStore::events_done; false means nothing was taken (the delivery is full), and
// the store offers it again, still ahead of the room's later events.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/room/backend_port.h"

namespace roomcast {

class KeptEvents {
 public:
  virtual bool deliver(std::string_view room, uint64_t number, const HookEvent& event) = 0;

 protected:
  ~KeptEvents() = default;
};

}  // namespace roomcast
