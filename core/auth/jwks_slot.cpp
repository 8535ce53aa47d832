// core/auth/jwks_slot.cpp: the fetched key set's hand-over and the unknown-kid throttle.
#include "core/auth/jwks_slot.h"

namespace roomcast {

bool JwksSlot::request_fetch(std::chrono::steady_clock::time_point now) {
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  int64_t last = last_request_ms_.load(std::memory_order_relaxed);
  // One winner per interval, decided without a lock.
  do {
    if (last != INT64_MIN && now_ms - last < kRefetchInterval.count()) return false;
  } while (!last_request_ms_.compare_exchange_weak(last, now_ms, std::memory_order_relaxed));
  {
    std::lock_guard lock(mutex_);
    requested_ = true;
  }
  wake_.notify_one();
  return true;
}

bool JwksSlot::wait_for_request(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, timeout, [&] { return requested_ || stopping(); });
  const bool requested = requested_ && !stopping();
  requested_ = false;
  return requested;
}

void JwksSlot::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true, std::memory_order_release);
  }
  wake_.notify_all();
}

}  // namespace roomcast
