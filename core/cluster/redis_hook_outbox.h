// core/cluster/redis_hook_outbox.h: which rooms' webhook outboxes in Redis this loop thread
// delivers, and the hand-over of their events to the delivery (--redis with --webhook;
// docs/integration.md 4, docs/durability.md "The webhook outbox in Redis").
//
// Owns: per room this thread delivers, how far its events were pushed into the delivery
// and which are not yet acknowledged; the rooms it is trying to claim; the Redis calls it
// wants made (taken by its ClusterStore, which makes them and hands back the replies).
// Called by: its ClusterStore on the loop thread only: kept (an edit or join/leave script
// stored an event), on_reply, tick (~every 100 ms), done (the delivery acknowledged or
// dropped a room's events through n). Calls a HookSink (the server's push into the
// WebhookDelivery); the keys and scripts are core/cluster/cluster_wire.h's.
// Promises:
//   - a room's events are pushed into the sink in outbox order (n ascending), each once
//     while this thread delivers the room, never one before an earlier one of the room;
//   - a room is delivered by at most one instance at a time as far as its Redis lease
//     (PX kLeaseMs, renewed every kRoundNs) says; a room whose lease this instance lost is
//     forgotten (HookSink::forget) and whoever holds the lease re-reads the unacknowledged
//     events, so a takeover re-sends them (webhook-ids are stable: the backend dedups);
//   - an instance that died stops renewing: within kLeaseMs + kRoundNs a live instance's
//     scan of the rooms with events (rc:hooks) claims each of its rooms whose thread it is
//     (`mine`), then reads and delivers the outbox from its oldest unacknowledged event;
//   - an acknowledgement trims the room's outbox through that event, only if the entry is
//     still that event; a room idle for kIdleNs with an empty outbox is let go.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/base/log.h"
#include "core/cluster/redis_link.h"
#include "core/room/backend_port.h"

namespace roomcast {

// Where a delivered room's events go: implemented by the server's wiring (a push into the
// WebhookDelivery, acknowledgements back through RedisHookOutbox::done on this thread).
class HookSink {
 public:
  // One event of `room`, rooms' events in order; false: the delivery is full (offered
  // again later), nothing taken.
  virtual bool push(std::string_view room, uint64_t n, const HookEvent& event) = 0;
  // This instance no longer delivers `room`: what the delivery holds of it goes, unsent.
  virtual void forget(std::string_view room) = 0;

 protected:
  ~HookSink() = default;
};

class RedisHookOutbox {
 public:
  static constexpr int kLeaseMs = 5000;
  static constexpr int64_t kRoundNs = 1'000'000'000;       // lease renewal and scan
  static constexpr int64_t kIdleNs = 10'000'000'000;       // an empty room is let go after
  static constexpr size_t kPage = 256;                     // events read per XRANGE
  static constexpr size_t kClaimsPerScan = 64;

  enum class Step : uint8_t { Scan, Claim, Load, Renew };
  struct Call {
    Step step;
    std::string room;
    int script = -1;  // -1: a plain command
    unsigned keys = 0;
    std::vector<std::string> argv;
    bool wants_reply = true;
  };

  // `mine(room)`: this thread is the one of this instance that serves `room`.
  RedisHookOutbox(std::string instance_id, int64_t max_age_ms, int64_t room_ttl_ms, HookSink& sink,
                  std::function<bool(std::string_view)> mine, const Logger* log = nullptr);

  // The edit / append scripts' last arguments (after the room's own).
  std::string lease_ms() const { return std::to_string(kLeaseMs); }
  std::string ttl_ms() const { return std::to_string(ttl_ms_); }

  // A script stored event n of `room`; `own` is its deliverer answer (2 this instance
  // already, 1 it just became, 0 another one). `event` (may be null): the event itself,
  // pushed at once when nothing before it is unread.
  void kept(std::string_view room, uint64_t n, int own, const HookEvent* event);
  void on_reply(Step step, const std::string& room, bool ok, const RedisValue& value);
  void tick(int64_t now_ns);
  // The delivery is done with `room`'s events through n (delivered or dropped).
  void done(std::string_view room, uint64_t through);

  // The calls wanted since the last take (moved out).
  std::vector<Call>& calls() { return calls_; }
  // Rooms this thread delivers now (tests, metrics).
  size_t delivering() const { return rooms_.size(); }
  bool delivers(std::string_view room) const { return rooms_.count(std::string(room)) != 0; }

 private:
  struct Delivering {
    uint64_t pushed = 0;  // the highest n pushed into the delivery
    std::deque<std::pair<uint64_t, std::string>> unacked;  // pushed: n, webhook-id
    bool loading = false;
    bool again = false;     // read once more after the read in flight
    bool complete = false;  // the last read reached the outbox's end and pushed it all
    bool renewing = false;
    int64_t empty_since_ns = 0;  // nothing unacknowledged since (0: something is)
  };
  Delivering& start(const std::string& room);  // fresh state, read from the oldest
  void forget(const std::string& room);
  void load(const std::string& room, Delivering& d);
  void loaded(const std::string& room, bool ok, const RedisValue& value);
  bool push(const std::string& room, Delivering& d, uint64_t n, std::string_view id, std::string_view body,
            int64_t created_ms);

  const std::string instance_id_;
  const int64_t ttl_ms_;
  HookSink& sink_;
  std::function<bool(std::string_view)> mine_;
  const Logger* log_;
  int64_t now_ns_ = 0;
  int64_t next_round_ns_ = 0;
  bool scanning_ = false;
  std::unordered_map<std::string, Delivering> rooms_;
  std::unordered_set<std::string> claiming_;
  std::vector<Call> calls_;
};

}  // namespace roomcast
