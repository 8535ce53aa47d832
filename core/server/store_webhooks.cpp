// core/server/store_webhooks.cpp: acknowledgements to the owning loop thread, events into
// the store and out to the delivery (see core/server/store_webhooks.h).
#include "core/server/store_webhooks.h"

#include <unistd.h>

#include <algorithm>

#include "core/server/worker.h"

namespace roomcast {

WebhookAcks::WebhookAcks(unsigned workers, const Logger& log) : drops_(log) {
  for (unsigned i = 0; i < workers; ++i) boxes_.push_back(std::make_unique<Box>());
}

void WebhookAcks::attach(unsigned w, int notify_fd) {
  if (w >= boxes_.size()) return;
  std::lock_guard lock(boxes_[w]->mu);
  boxes_[w]->notify_fd = notify_fd;
}

void WebhookAcks::delivered(const WebhookEvent& event) { post(event); }

void WebhookAcks::dropped(const WebhookEvent& event, WebhookDropReason why, unsigned attempts) {
  drops_.dropped(event, why, attempts);
  post(event);  // given up: not sent again after a restart either
}

void WebhookAcks::post(const WebhookEvent& event) {
  if (boxes_.empty()) return;
  Box& b = *boxes_[Worker::index_of(event.room, boxes_.size())];
  int fd;
  bool first;
  {
    std::lock_guard lock(b.mu);
    first = b.through.empty();
    uint64_t& through = b.through[event.room];
    through = std::max(through, event.token);
    fd = b.notify_fd;
  }
  // Only the hand-over that filled an empty box wakes the thread: it takes everything.
  if (first && fd >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
  }
}

void WebhookAcks::take(unsigned w, std::vector<std::pair<std::string, uint64_t>>* out) {
  if (w >= boxes_.size()) return;
  Box& b = *boxes_[w];
  std::lock_guard lock(b.mu);
  for (auto& [room, through] : b.through) out->emplace_back(room, through);
  b.through.clear();
}

void StoreWebhooks::append(WebhookEvent event) {
  if (!store_) return;  // never: attached before the loop runs
  store_->keep_event(event.room, HookEvent{std::move(event.id), std::move(event.body), event.created_ms});
}

bool StoreWebhooks::deliver(std::string_view room, uint64_t number, const HookEvent& event) {
  return delivery_.push(delivery_event(room, number, event));
}

}  // namespace roomcast
