// core/auth/jwks_fetcher.h: keeps the key set of --jwt-jwks-url fresh, on its own thread.
//
// Owns: one thread and, per fetch, one libcurl easy handle. Made and started by
// core/server before the loop threads accept anything; stopped (and joined) at shutdown.
// It writes only to the Config's JwksSlot (core/auth/jwks_slot.h), which the loop threads read.
// Promises (docs/identity.md):
//   - It fetches at start, then every `refresh` after a good fetch; after a failure it
//     tries again after 1 s, 2 s, 4 s ... up to `refresh`; and at once when a loop thread
//     met an unknown kid (which the slot allows at most once per 10 s).
//   - A fetch is bounded: connect within 5 s, all of it within 10 s, at most
//     kMaxJwkSetBytes of body, redirects at most 3 and only to https; http and https only;
//     https is verified against the system's CA store (peer and host name). stop()
//     aborts a fetch in flight.
//   - A good fetch (status 200 and a set proto/jwk.h accepts) replaces the set; anything
//     else is logged with its reason and the last good set stays. Keys are parsed once
//     per fetched set, never per token.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/auth/jwks_slot.h"
#include "core/base/log.h"

namespace roomcast {

class JwksFetcher {
 public:
  JwksFetcher(std::string url, std::chrono::seconds refresh, std::shared_ptr<JwksSlot> slot, const Logger& log);
  JwksFetcher(const JwksFetcher&) = delete;
  JwksFetcher& operator=(const JwksFetcher&) = delete;
  ~JwksFetcher();  // stop()

  void start();
  // The caller (main, before listening) waits until the first fetch has ended, well or
  // not, or `timeout` passed. True if a set is in the slot.
  bool wait_first_fetch(std::chrono::milliseconds timeout);
  void stop();

  // One fetch of `url`: the body of a 200 answer, or false and why. Also for tests.
  static bool fetch(const std::string& url, std::string& body, std::string& error, const JwksSlot* abort_on_stop);

 private:
  void run();
  bool fetch_and_publish();

  const std::string url_;
  const std::chrono::seconds refresh_;
  std::shared_ptr<JwksSlot> slot_;
  const Logger log_;  // its own copy: the thread logs on its own
  std::thread thread_;
  std::mutex first_mutex_;
  std::condition_variable first_done_;
  bool first_ended_ = false;  // guarded by first_mutex_
};

}  // namespace roomcast
