// core/backend/webhook_queue.h: the order and pace of webhook deliveries (integration
// contract section 4), independent of where the events are kept and of HTTP.
//
// Owns: the events not yet delivered that it was given, a FIFO per room, and their retry
// timers. Single-threaded: one owner calls everything (the webhook delivery driver); only
// stats() may be read from any thread. Driven by the caller's clock (`now_ms`, Unix
// milliseconds), so tests control time; waits are drawn from the given random source.
// Called by: the producer (push: the room domain without a store, the persistence layer
// with one), the driver (poll, on_result, next_wakeup_ms), a cluster owner (forget_room).
// Promises:
//   - the events of one room go out in push order, one at a time: the next is handed out
//     only after the previous was delivered (on_result true) or dropped;
//   - at most `concurrency` events are in flight, all rooms together; rooms that are
//     ready take turns in the order they became ready;
//   - a failed attempt (on_result false) is retried after a wait drawn uniformly from
//     [0, min(max_wait_ms, base_wait_ms * 2^(attempt-1))], attempt = 1 for the first retry
//     (full jitter); an event is never sent once it is max_age_ms older than created_ms:
//     it is dropped instead (listener dropped MaxAge) and its room's next event goes out;
//   - at most max_events are held (waiting and in flight): a push beyond it drops the
//     oldest waiting event (listener dropped Overflow) or, with drop_oldest_when_full
//     false (a persistence layer that keeps every event), refuses the push;
//   - the listener hears of every event exactly once, delivered or dropped, except after
//     forget_room (the room's events are someone else's now); it is called from inside
//     push, poll and on_result and must not call back into the queue;
//   - a clock that steps back never delays a retry by more than max_wait_ms.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace roomcast {

struct WebhookEvent {
  std::string room;
  std::string id;          // webhook-id, stable across retries and restarts
  std::string body;        // the JSON sent
  int64_t created_ms = 0;  // Unix ms when it happened: max-age counts from here
  uint64_t token = 0;      // the persistence layer's handle of this event (opaque here)
};

enum class WebhookDropReason : uint8_t { MaxAge, Overflow };
std::string_view webhook_drop_reason_label(WebhookDropReason why);  // "max_age", "overflow"

// Implemented by whoever keeps the events (the durable store's or Redis's outbox marks them
// acknowledged; without a store, the server logs drops). Called on the queue's thread.
class WebhookQueueListener {
 public:
  virtual ~WebhookQueueListener() = default;
  virtual void delivered(const WebhookEvent& event) = 0;  // the backend answered 2xx
  // Given up: a log line (room, id, reason, attempts; never the body) and a count.
  virtual void dropped(const WebhookEvent& event, WebhookDropReason why, unsigned attempts) = 0;
};

struct WebhookQueueOptions {
  size_t concurrency = 16;                       // --webhook-concurrency
  int64_t max_age_ms = 24LL * 3600 * 1000;       // --webhook-max-age
  size_t max_events = 100000;                    // --webhook-queue
  bool drop_oldest_when_full = true;             // false: push refuses instead
  int64_t base_wait_ms = 1000;
  int64_t max_wait_ms = 60000;
};

// One attempt to make now: POST event.body with webhook-id event.id, then on_result(ticket).
struct WebhookSend {
  uint64_t ticket = 0;
  unsigned attempt = 0;  // 1 for the first
  WebhookEvent event;
};

// For /metrics; written by the owner, readable from any thread.
struct WebhookQueueStats {
  std::atomic<uint64_t> events{0};     // roomcast_webhook_queue_events: waiting + in flight
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> retries{0};    // failed attempts followed by a wait
  std::atomic<uint64_t> dropped_max_age{0};
  std::atomic<uint64_t> dropped_overflow{0};
  std::atomic<int64_t> oldest_created_ms{0};  // 0: empty; else created_ms of the oldest held
};

class WebhookQueue {
 public:
  // random(bound) returns a uniform integer in [0, bound]; empty: a seeded mt19937_64.
  using Random = std::function<int64_t(int64_t bound)>;
  WebhookQueue(WebhookQueueOptions options, WebhookQueueListener* listener, Random random = {});
  ~WebhookQueue();
  WebhookQueue(const WebhookQueue&) = delete;
  WebhookQueue& operator=(const WebhookQueue&) = delete;

  enum class Push : uint8_t { Queued, Refused };
  Push push(WebhookEvent event, int64_t now_ms);
  // Appends the attempts to start now (each now in flight).
  void poll(int64_t now_ms, std::vector<WebhookSend>* out);
  // The attempt `ticket` ended: delivered (a 2xx) or not. Unknown tickets are ignored.
  void on_result(uint64_t ticket, bool delivered, int64_t now_ms);
  // Stops delivering `room` (another instance took it over): its events leave without a
  // listener call; an attempt in flight is forgotten. Returns how many events left.
  size_t forget_room(std::string_view room);

  // When poll next has something to hand out: now_ms if at once, INT64_MAX if nothing
  // is waiting for time (only results or pushes can make progress then).
  int64_t next_wakeup_ms(int64_t now_ms) const;
  size_t size() const { return events_; }
  size_t rooms() const { return rooms_.size(); }
  int64_t oldest_age_ms(int64_t now_ms) const;
  const WebhookQueueStats& stats() const { return stats_; }
  // Appends roomcast_webhook_queue_events, roomcast_webhook_dropped_total{reason},
  // roomcast_webhook_oldest_seconds (Prometheus text).
  void render_metrics(std::string* out, int64_t now_ms) const;

 private:
  struct Item {
    WebhookEvent event;
    uint64_t order = 0;     // push order, all rooms
    unsigned attempts = 0;  // made so far
  };
  struct Room {
    std::string name;
    std::deque<Item> waiting;
    Item in_flight;
    uint64_t ticket = 0;  // != 0 while an attempt is in flight
    bool ready = false;   // in ready_
    int64_t due_ms = 0;   // != 0 while in timers_
  };
  using Key = std::tuple<int64_t, uint64_t, Room*>;  // (created_ms, order, room)

  Key front_key(Room& r) const { return {r.waiting.front().event.created_ms, r.waiting.front().order, &r}; }
  void unindex_front(Room& r);
  void index_front(Room& r);
  void make_ready(Room& r);
  void erase_if_idle(Room& r);
  void drop_front(Room& r, WebhookDropReason why);
  void refresh_stats();
  int64_t wait_bound_ms(unsigned attempts) const;

  const WebhookQueueOptions options_;
  WebhookQueueListener* const listener_;
  Random random_;
  std::unordered_map<std::string, Room> rooms_;  // node-based: Room* stay valid
  std::deque<Room*> ready_;
  std::set<std::pair<int64_t, Room*>> timers_;
  std::set<Key> fronts_;          // each room's first waiting event
  std::set<Key> flying_;          // events in flight
  std::unordered_map<uint64_t, Room*> tickets_;
  uint64_t next_order_ = 0;
  uint64_t next_ticket_ = 0;
  size_t events_ = 0;
  WebhookQueueStats stats_;
};

}  // namespace roomcast
