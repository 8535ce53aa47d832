// core/http/api_rate_limit.h: how often one client address may call the HTTP API.
//
// Owns: a token bucket per client address that called /api/... recently. Shared by every
// loop thread (a mutex, touched once per API request, never per WebSocket message).
// Called by: HttpFront, when a request's route is an API route (presence, publish).
// Why: an API request is cheap to send and not always cheap to answer (a presence answer
// is rendered whole; with --redis one costs a round trip), so one address must not be
// able to keep a loop or Redis busy with them (docs/protocol.md "What one address can
// hold").
// Promises: allow() lets an address make `rate` requests a second sustained and `2 *
// rate` at once; the table holds at most kMaxAddresses entries (idle ones, whose bucket
// has refilled, are forgotten first; when every entry is busy, a new address is refused
// until one refills, so the table cannot be grown without bound by many addresses).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "core/base/admission.h"
#include "core/base/rate_limiter.h"

namespace roomcast {

class ApiRateLimit {
 public:
  static constexpr size_t kMaxAddresses = 65536;

  // `rate_per_s` 0: no limit.
  explicit ApiRateLimit(double rate_per_s) : rate_per_s_(rate_per_s) {}

  bool allow(const PeerAddress& peer, int64_t now_ns);
  size_t tracked() const;

 private:
  // Forgets the addresses whose bucket is full again (they have not called for 2 s).
  void forget_idle(int64_t now_ns);

  struct Entry {
    RateLimiter bucket;
    int64_t last_ns = 0;
  };
  const double rate_per_s_;
  mutable std::mutex mutex_;
  std::unordered_map<std::array<uint8_t, 16>, Entry, PeerAddressHash> entries_;
};

}  // namespace roomcast
