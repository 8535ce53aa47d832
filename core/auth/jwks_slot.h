// core/auth/jwks_slot.h: where the key set fetched from --jwt-jwks-url waits for the loop
// threads, and how they ask for a fresh one.
//
// Owns: the newest good set (an immutable JwkSet behind an atomically swapped
// std::shared_ptr) and the request flag. Made by parse_config with the URL (so every
// verifier reaches it through the read-only Config); written by core/jwks_fetcher on its
// own thread; read by core/token_verifier on every loop thread.
// Promises:
//   - current() never blocks on I/O or on a fetch: it is one atomic load, and the set it
//     returns stays alive as long as the caller holds it, whatever is published meanwhile.
//   - publish() replaces the set only with a good one: a failed fetch publishes nothing,
//     so the last good set stays (docs/identity.md).
//   - request_fetch() (a token named an unknown kid) wakes the fetcher at most once per
//     kRefetchInterval, whichever thread asks: a flood of unknown kids is one fetch every
//     10 s, never a fetch per token. Its mutex is held only to set a flag, never during a
//     fetch, so a loop thread never waits for the network.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "proto/jwk.h"

namespace roomcast {

class JwksSlot {
 public:
  static constexpr std::chrono::milliseconds kRefetchInterval{10'000};

  std::shared_ptr<const JwkSet> current() const { return set_.load(std::memory_order_acquire); }
  void publish(std::shared_ptr<const JwkSet> set) { set_.store(std::move(set), std::memory_order_release); }

  // `now` on a steady clock. True if this call woke the fetcher.
  bool request_fetch(std::chrono::steady_clock::time_point now);

  // The fetcher's sleep: returns at a request (true), at `timeout` or at stop() (false).
  bool wait_for_request(std::chrono::milliseconds timeout);
  void stop();
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const JwkSet>> set_;
  // Milliseconds on the steady clock of the last request honoured (INT64_MIN: none yet).
  std::atomic<int64_t> last_request_ms_{INT64_MIN};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false;  // guarded by mutex_
};

}  // namespace roomcast
