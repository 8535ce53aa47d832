// core/rate_limiter.h: a token bucket per connection (protocol-v1 "Bad input").
//
// Owns: two numbers. Lives inside its connection, touched by its loop thread only.
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
      : rate_per_ns_(rate_per_s / 1e9), burst_(burst), tokens_(burst), last_ns_(now_ns) {}

  // Takes one token if there is one.
  bool allow(int64_t now_ns) {
    tokens_ = std::min(burst_, tokens_ + double(now_ns - last_ns_) * rate_per_ns_);
    last_ns_ = now_ns;
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  double rate_per_ns_ = 0;
  double burst_ = 0;
  double tokens_ = 0;
  int64_t last_ns_ = 0;
};

}  // namespace roomcast
