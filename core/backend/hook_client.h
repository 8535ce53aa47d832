// core/backend/hook_client.h: roomcast's HTTP client to the app's backend (auth hook, edit
// hook, webhooks; integration contract sections 1-4), never on a loop thread.
//
// Owns: one hook thread running libcurl's multi interface, its connection cache (kept-alive
// connections to the backend, shared by every request), and per submitter a completion
// queue. Made by the server before the loop threads start; stopped (and joined) at shutdown.
// Called by: loop threads (submit, take), each with its own submitter index and eventfd
// (attach), like the Redis link (core/redis_link.h); by any thread reading stats().
// Promises:
//   - every accepted submit gets exactly one HookResult, on the submitter's queue, within
//     `timeout` of the submit (time waiting in the queue included) plus the hook thread's
//     scheduling: an answer (status and at most max_response_bytes of body), or why there
//     is none (timeout, no connection, transport error, an answer too long, stopped);
//     then the submitter's eventfd is written (8 bytes, value 1);
//   - submit never blocks on the network and refuses (returns false, nothing queued)
//     beyond max_queued requests queued or in flight, all submitters together, or once
//     stop() began: the caller answers at once (503, `unavailable`, retry later);
//   - each request is a POST with the body as given and the headers `content-type:
//     application/json`, `user-agent`, `webhook-id`, `webhook-timestamp` (Unix seconds of
//     this attempt, taken on the hook thread when it starts) and, when a key is set,
//     `webhook-signature` (proto/webhook_signature.h); no redirects are followed;
//   - http and https only; https is verified against the system's CA store (or ca_file)
//     for peer and host name; connections are kept alive and reused between requests;
//   - at most max_in_flight transfers run at once; the rest wait their turn in order;
//   - nothing of the request or answer body is logged or kept after the result is handed
//     over; the error text names the failure, never the body or a header value.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast {

// Which hook a request is for: the label of its metrics.
enum class HookKind : uint8_t { Auth, Edit, Webhook };
inline constexpr size_t kHookKinds = 3;
std::string_view hook_kind_label(HookKind kind);  // "auth", "edit", "webhook"

enum class HookOutcome : uint8_t {
  Answered,     // an HTTP answer came: see status
  Timeout,      // no whole answer within the timeout (connecting, sending, waiting or reading)
  Unreachable,  // no connection: refused, host unknown, network unreachable
  Transport,    // connected but broken: TLS not verified, connection reset, malformed answer
  TooLarge,     // the answer's body was longer than max_response_bytes
  Stopped,      // stop() came first
};

// The result label of roomcast_hook_requests_total{hook,result}: "2xx", "4xx", "5xx",
// "other_status" (1xx, 3xx), "timeout", "unreachable", "transport_error", "too_large",
// "stopped", "queue_full".
inline constexpr size_t kHookResultLabels = 10;
std::string_view hook_result_label(size_t index);

struct HookRequest {
  uint64_t cookie = 0;      // handed back in the HookResult, opaque to the client
  HookKind kind = HookKind::Webhook;
  std::string url;          // http:// or https://
  std::string webhook_id;   // the same on every retry of one message
  std::string body;         // JSON
};

struct HookResult {
  uint64_t cookie = 0;
  HookKind kind = HookKind::Webhook;
  HookOutcome outcome = HookOutcome::Stopped;
  long status = 0;          // Answered: the HTTP status
  std::string body;         // Answered: the answer's body (at most max_response_bytes)
  std::string error;        // not Answered: why, for a log line (no secrets, no bodies)
  std::chrono::microseconds latency{0};  // submit to result
  bool reused_connection = false;        // Answered: sent on a kept-alive connection

  bool ok() const { return outcome == HookOutcome::Answered && status >= 200 && status < 300; }
};

struct HookClientOptions {
  std::chrono::milliseconds timeout{2000};  // --hook-timeout
  std::string key;                          // HMAC key (parse_webhook_secret); empty: unsigned
  std::string user_agent = "roomcast";      // the server passes "roomcast/<version>"
  std::string ca_file;                      // empty: the system's CA store
  size_t max_queued = 4096;                 // queued + in flight, all submitters
  size_t max_in_flight = 64;                // transfers running at once
  size_t max_connections = 32;              // kept-alive connections cached
  size_t max_response_bytes = 256 * 1024;   // an answer's body beyond this: TooLarge
};

// Counters for /metrics, written by the hook thread (and submit, for queue_full), read by
// a scrape on any thread.
struct HookStats {
  // [kind][result label index] (hook_result_label)
  std::atomic<uint64_t> requests[kHookKinds][kHookResultLabels] = {};
  // Submit to result of every request the hook thread ended (not queue_full, not
  // stopped), cumulative buckets like Prometheus.
  static constexpr double kBucketsSeconds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  static constexpr size_t kBuckets = sizeof(kBucketsSeconds) / sizeof(kBucketsSeconds[0]);
  std::atomic<uint64_t> latency_bucket[kHookKinds][kBuckets] = {};
  std::atomic<uint64_t> latency_count[kHookKinds] = {};
  std::atomic<uint64_t> latency_us_sum[kHookKinds] = {};
  std::atomic<uint64_t> queued{0};            // gauge: queued + in flight now
  std::atomic<uint64_t> connections_made{0};  // new connections (the rest reused one)
};

class HookClient {
 public:
  // `submitters`: the loop threads, plus one per other user (e.g. the webhook delivery).
  HookClient(HookClientOptions options, unsigned submitters);
  ~HookClient();  // stop() if still running
  HookClient(const HookClient&) = delete;
  HookClient& operator=(const HookClient&) = delete;

  // Submitter `s`'s eventfd, written whenever results were queued for it. Before start();
  // also later with -1 (a submitter that goes away before the client: no more writes to a
  // descriptor it is about to close; the race-free order is still stop() first).
  void attach(unsigned submitter, int notify_fd);
  void start();
  // Ends the transfers in flight and queued with Stopped results, joins the thread.
  void stop();

  // Thread-safe, never blocks on the network. False: refused (queue full or stopping),
  // no result will come for it.
  bool submit(unsigned submitter, HookRequest request);
  // Moves every result queued for `submitter` into *out (appending).
  void take(unsigned submitter, std::vector<HookResult>* out);

  const HookStats& stats() const { return stats_; }
  // Appends roomcast_hook_requests_total and roomcast_hook_latency_seconds (Prometheus text).
  void render_metrics(std::string* out) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  HookStats stats_;
};

}  // namespace roomcast
