// core/base/rate_limiter.h: a token bucket per connection (docs/protocol.md 5).
//
// Owns: the balance and the limits (24 bytes). Lives inside its connection, touched by its loop thread only.
// Promises: allows `rate` messages per second sustained and `burst` at once; time comes
// from the caller (the loop's clock, read once per iteration), so it is testable.
#pragma once

#include <algorithm>
#include <cstdint>

namespace roomcast {

class RateLimiter {
 public:
  RateLimiter() = default;
  RateLimiter(double rate_per_s, double burst, int64_t now_ns)
      : tokens_(burst), last_ns_(now_ns), rate_per_s_(float(rate_per_s)), burst_(float(burst)) {}

  // Takes one token if there is one.
  bool allow(int64_t now_ns) {
    tokens_ = std::min(double(burst_), tokens_ + double(now_ns - last_ns_) * double(rate_per_s_) / 1e9);
    last_ns_ = now_ns;
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  // The limits are stored as float (24 bytes in all, one per connection): a configured
  // rate or burst loses nothing that matters; the balance keeps double precision.
  double tokens_ = 0;
  int64_t last_ns_ = 0;
  float rate_per_s_ = 0;
  float burst_ = 0;
};

}  // namespace roomcast
