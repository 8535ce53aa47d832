// core/cluster/redis_outbox.cpp: per-worker mailboxes of the Redis link (see core/cluster/redis_outbox.h).
#include "core/cluster/redis_outbox.h"

#include <unistd.h>

#include <iterator>

namespace roomcast {

RedisOutbox::RedisOutbox(unsigned workers) : workers_(workers) {
  for (unsigned i = 0; i < workers; ++i) boxes_.push_back(std::make_unique<Box>());
  attached_.assign(workers, false);
  staged_.resize(workers);
}

void RedisOutbox::attach(unsigned w, int notify_fd) {
  if (w >= workers_) return;
  std::lock_guard<std::mutex> lock(boxes_[w]->mu);
  boxes_[w]->notify_fd = notify_fd;
  attached_[w] = true;
}

void RedisOutbox::post(unsigned w, RedisEvent e) {
  if (w >= workers_) return;
  staged_[w].push_back(std::move(e));
}

void RedisOutbox::post_reply(unsigned w, uint64_t cookie, bool ok, RedisValue v) {
  if (cookie == 0 || w >= workers_) return;
  RedisEvent e;
  e.kind = RedisEvent::Kind::Reply;
  e.cookie = cookie;
  e.ok = ok;
  e.value = std::move(v);
  staged_[w].push_back(std::move(e));
}

void RedisOutbox::broadcast(const RedisEvent& e) {
  for (unsigned w = 0; w < workers_; ++w)
    if (attached_[w]) staged_[w].push_back(e);
}

void RedisOutbox::flush() {
  for (unsigned w = 0; w < workers_; ++w) deliver(w, staged_[w]);
}

void RedisOutbox::deliver(unsigned w, std::vector<RedisEvent>& events) {
  if (events.empty() || w >= workers_) return;
  Box& b = *boxes_[w];
  int fd;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    if (b.events.empty()) b.events.swap(events);
    else std::move(events.begin(), events.end(), std::back_inserter(b.events));
    fd = b.notify_fd;
  }
  events.clear();
  if (fd >= 0) {
    uint64_t one = 1;
    // EAGAIN: the counter is already non-zero, the worker wakes anyway.
    ssize_t ignored = ::write(fd, &one, sizeof one);
    (void)ignored;
  }
}

void RedisOutbox::take(unsigned w, std::vector<RedisEvent>* out) {
  if (w >= workers_) return;
  Box& b = *boxes_[w];
  std::lock_guard<std::mutex> lock(b.mu);
  if (out->empty()) out->swap(b.events);
  else {
    std::move(b.events.begin(), b.events.end(), std::back_inserter(*out));
    b.events.clear();
  }
}

}  // namespace roomcast
