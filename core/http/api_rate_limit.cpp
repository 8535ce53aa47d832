// core/http/api_rate_limit.cpp: a bounded table of token buckets.
#include "core/http/api_rate_limit.h"

namespace roomcast {

bool ApiRateLimit::allow(const PeerAddress& peer, int64_t now_ns) {
  if (rate_per_s_ <= 0) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(peer.bytes);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxAddresses) forget_idle(now_ns);
    if (entries_.size() >= kMaxAddresses) return false;
    it = entries_.emplace(peer.bytes, Entry{RateLimiter(rate_per_s_, 2 * rate_per_s_, now_ns), now_ns}).first;
  }
  it->second.last_ns = now_ns;
  return it->second.bucket.allow(now_ns);
}

size_t ApiRateLimit::tracked() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void ApiRateLimit::forget_idle(int64_t now_ns) {
  // A bucket of 2 * rate refills in 2 s: an address idle that long is as good as new.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (now_ns - it->second.last_ns >= 2'000'000'000) it = entries_.erase(it);
    else ++it;
  }
}

}  // namespace roomcast
