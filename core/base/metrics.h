// core/base/metrics.h: what one loop thread counts, and the Prometheus text of all of them.
//
// Owns: plain counters, one Metrics per Worker. Each field has exactly one writer, the
// worker's own thread, which updates it with a relaxed load+store (a plain add, no
// locked instruction); a scrape from any thread reads them relaxed and sums threads.
// So counting costs the hot path an add per event, never a lock or an atomic RMW, and a
// scrape sees each counter as of some recent moment (counters never go backwards).
// Called by: the worker's components and its RoomService (updates), and render_metrics()
// for GET /metrics.
#pragma once

#include <array>
#include <iterator>
#include <atomic>
#include <cstdint>
#include <span>
#include <string>

namespace roomcast {

class Counter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Client message types, in proto/message.h MessageType order.
inline constexpr const char* kInTypes[] = {"join", "cursor", "select", "edit", "follow", "ping", "leave", "refresh", "present"};
inline constexpr size_t kInTypeCount = std::size(kInTypes);
// Server message types.
enum class OutType : uint8_t { Welcome, Presence, Cursor, Select, Edit, Ack, Follow, Pong, Resync, Error, Refreshed, Presenting, Count };
inline constexpr const char* kOutTypes[] = {"welcome", "presence", "cursor", "select", "edit",     "ack",
                                            "follow",  "pong",     "resync", "error",  "refreshed", "presenting"};
// How a `join` with `resume` went (docs/protocol.md 3.1): a held session taken over, a session
// taken from a connection still attached (closed 4008), or a token unknown or expired
// (a fresh session).
enum class ResumeResult : uint8_t { Ok, Replaced, Expired, Count };
inline constexpr const char* kResumeResults[] = {"ok", "replaced", "expired"};
// Why an HTTP request did not become a WebSocket (or API answer).
enum class Refusal : uint8_t {
  BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, LengthRequired, TooLarge,
  UpgradeRequired, PerIpLimit, HeaderTooLarge, OverCapacity, Timeout, Evicted, Count
};
inline constexpr const char* kRefusals[] = {"bad_request",  "unauthorized",     "forbidden",        "not_found",
                                            "method_not_allowed", "length_required", "too_large",
                                            "upgrade_required",  "per_ip_limit",     "header_too_large",
                                            "over_capacity",     "timeout",          "evicted"};
// Why accepting a connection failed (the listener's error, not the client's).
enum class AcceptError : uint8_t { OutOfDescriptors, OutOfMemory, Other, Count };
inline constexpr const char* kAcceptErrors[] = {"out_of_descriptors", "out_of_memory", "other"};
Refusal refusal_for_status(int status);
// Close codes we send (docs/protocol.md 3.5).
inline constexpr int kCloseCodes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1013, 4001, 4003, 4008};
inline constexpr size_t kCloseCodeCount = std::size(kCloseCodes);

// Fan-out latency: a message's arrival to its frame being handed to the kernel for the
// last recipient. Upper bounds in seconds.
inline constexpr std::array<double, 12> kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                           0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

struct Metrics {
  Counter connections_open;  // gauge
  Counter connections_accepted;
  std::array<Counter, size_t(AcceptError::Count)> accept_errors;
  Counter connections_shed;  // answered 503 by the descriptor reserve, never accepted into the loop
  Counter rooms;     // gauge
  Counter sessions;  // gauge
  std::array<Counter, kInTypeCount> messages_in;
  std::array<Counter, size_t(OutType::Count)> messages_out;  // deliveries: one per recipient
  Counter bytes_in;
  Counter bytes_out;
  Counter cursors_coalesced;
  Counter rate_limited;
  Counter slow_reader_closes;
  Counter receive_buffers_exhausted;
  std::array<Counter, kCloseCodeCount> close_codes;
  std::array<Counter, size_t(Refusal::Count)> refusals;
  Counter history_replays;
  Counter resyncs;
  Counter publishes;
  Counter held_sessions;  // gauge: sessions whose connection ended, waiting for a resume
  std::array<Counter, size_t(ResumeResult::Count)> resumes;
  Counter holds_expired;      // held sessions whose grace ended (presence leave sent)
  Counter duplicate_edits;    // edits answered with the original seq, not applied again
  Counter refreshes;          // tokens replaced by `refresh`
  Counter refreshes_refused;  // `refresh` answered bad_token or forbidden
  Counter expiry_closes;      // connections closed 4001 because their token expired
  // Scale-out (--redis).
  Counter room_loads;         // rooms loaded from Redis (first join, reconnects, lost data)
  Counter relayed_in;         // records applied from other instances' channel messages
  Counter gap_fills;          // history reads that filled a gap in the channel's edits
  Counter sessions_reaped;    // sessions of dead instances this instance ended (one leave each)
  Counter edits_rejected;     // edits the app's backend vetoed (docs/integration.md)
  Counter edits_forbidden;    // 1.2: edits and presents from viewers (docs/protocol.md 7.1-7.2)
  Counter hook_edits_unavailable;  // edits answered `unavailable`: the backend did not decide
  Counter edits_unavailable;  // edits answered `unavailable` (Redis did not confirm them)
  Counter store_edits_unavailable;  // edits (and publishes) answered `unavailable`: --data-dir could not store them
  std::array<Counter, kLatencyBuckets.size()> latency_buckets;  // not cumulative; summed on render
  Counter latency_count;
  Counter latency_sum_ns;

  void close_code_sent(int code) {
    for (size_t i = 0; i < kCloseCodeCount; ++i)
      if (kCloseCodes[i] == code) close_codes[i].add();
  }
  void observe_fanout(int64_t ns);
};

// Prometheus text format 0.0.4 of the sum of every thread's metrics.
std::string render_metrics(std::span<const Metrics* const> threads);

}  // namespace roomcast
