// core/cluster/cluster_store.h: the store port over Redis: one loop thread's rooms shared with every
// other instance (docs/protocol.md 3.6).
//
// Owns: the calls in flight to Redis and what each waits for, the window's relays (one
// PUBLISH per room per window), the edits whose ack waits for their seq, the presence API
// reads of rooms not served here, the Redis clock and the instances known to be gone. Per
// room: a RoomLink (core/cluster/room_link.h) in Room::store.
// Called by: the RoomService it is attached to (the RoomStore calls), and by its worker:
// on_redis for what the RedisLink delivered to this thread, tick every ~100 ms. It calls
// back into the domain only through RoomService's store side, and reaches Redis only
// through a ClusterPort (the worker, or a unit test's fake).
// Formats on the wire and the Lua scripts: core/cluster/cluster_wire.h.
// Promises:
//   - a join waits for its room's first sync once; a Redis that does not answer gets its
//     waiting joins closed 1013 within kSubscribeWaitNs, never a silent hang;
//   - every instance applies a room's edits in seq order exactly once; an ack goes out
//     once its seq is applied here (and, with --redis-min-replicas, once Redis says
//     that many replicas hold it); a refused edit consumes no seq;
//   - sessions of another instance are mirrored (presence, cameras, selections,
//     follows); those of a dead instance are held for the grace, then end once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/base/config.h"
#include "core/base/log.h"
#include "core/base/metrics.h"
#include "core/cluster/cluster_port.h"
#include "core/cluster/redis_hook_outbox.h"
#include "core/cluster/room_link.h"
#include "core/room/room_store.h"

namespace roomcast {

class RoomService;
namespace wire {
enum class Record : char;  // a channel record's kind (core/cluster/cluster_wire.h)
}

class ClusterStore final : public RoomStore {
 public:
  // Attaches itself to `domain` (which must have made no room yet); `instance_id` names
  // this instance in records and leases.
  ClusterStore(RoomService& domain, ClusterPort& port, std::string instance_id, const Config& config,
               Metrics& metrics, const Logger* log = nullptr);
  ClusterStore(const ClusterStore&) = delete;
  ClusterStore& operator=(const ClusterStore&) = delete;

  // What Redis answered or another instance published (RedisLink events for this thread).
  void on_redis(RedisEvent& event, int64_t now_ns);
  // Every ~100 ms: gaps, orphaned sessions, presence records, polls, outboxes.
  void tick(int64_t now_ns);

  // --webhook (docs/integration.md 4): every edit this thread stores keeps its webhook
  // event in the room's outbox in Redis, in the edit script's call; this thread delivers
  // the outboxes of the rooms `mine` says are its own whenever it holds their lease
  // (core/cluster/redis_hook_outbox.h), through `sink`. Before any edit.
  void deliver_webhooks(HookSink& sink, std::function<bool(std::string_view)> mine);
  // A join's or leave's event of `room`, kept in its outbox (in the order of this
  // thread's scripts, so after the edits stored before it).
  void keep_event(std::string_view room, HookEvent event);
  // The delivery is done with `room`'s events through n (delivered or dropped).
  void webhooks_done(std::string_view room, uint64_t through);
  const RedisHookOutbox* hook_outbox() const { return hooks_.get(); }

  // RoomStore
  void opened(Room& room) override;
  bool keeps(const Room& room) const override;
  void closing(Room& room) override;
  bool join_waits(Member& m, Room& room, const ClientMessage& join, std::string_view text) override;
  std::unique_ptr<Session> claimed(Member& m, Room& room) override;
  void add_peers_elsewhere(const Room& room, std::vector<PeerView>& out) const override;
  bool is_elsewhere(const Room& room, std::string_view session_id) const override;
  Session* find_elsewhere(Room& room, std::string_view session_id) override;
  void joined(Room& room, Session& s, bool resumed, bool claimed) override;
  void relayed(Room& room, Session& s, Relay what, std::string_view frame) override;
  void held(Room& room, const Session& s) override;
  void ended(Room& room, const Session& s) override;
  void left(Member& m) override;
  EditPath append_edit(Member* m, Session* s, Room& room, const ClientMessage& msg, std::string key,
                       uint64_t ticket) override;
  void end_window() override;
  bool window_open() const override { return !outbox_rooms_.empty() || !calls_.empty(); }
  bool presence_ready(std::string_view room, int64_t now_ns) override;
  bool take_peeked(std::string_view room, std::vector<PresenceEntry>& out) override;

 private:
  enum class CallKind : uint8_t { Sync, Edit, Publish, Claim, Fill, Poll, Reap, Peek, Hook, HookAppend };
  struct PendingCall {
    PendingCall(CallKind k, std::string r, std::string s = {}) : kind(k), room(std::move(r)), session(std::move(s)) {}
    CallKind kind;
    std::string room;
    std::string session;  // Edit: the sender; Reap: the session
    bool has_id = false;
    std::string id;
    uint64_t ticket = 0;      // Publish
    std::string key;          // Edit, Publish: the exactly-once key (or empty)
    uint64_t applied = 0;     // Sync, Poll: Room::seq() when sent (Redis cannot hold fewer)
    Member* member = nullptr; // Claim: valid while listed in the room's waiting joins
    bool acked = false;       // Edit: its E record was applied first and carried the ack
    bool session_reaped = false;  // Reap: of a dead instance's session (not one of ours)
    RedisHookOutbox::Step step{};  // Hook
    // Edit, Publish with --webhook: the event's body up to its epoch (`event.body`), after
    // its seq (`event_tail`), its webhook-id up to the epoch (`event.id`). HookAppend: the
    // event as kept. Reap of a dead instance's session: its leave event (empty without
    // --webhook), kept if the end script says this instance ended it.
    HookEvent event;
    std::string event_tail;
  };
  // The webhook outbox's wanted calls, made now (with the others of this window).
  void take_hook_calls();
  // An edit script's reply with --webhook: the event's n and deliverer answer.
  void edit_event_kept(const PendingCall& p, const RedisValue& value);
  uint64_t call(PendingCall pending, int script, unsigned keys, std::vector<std::string> argv);
  void submit_calls();
  bool wait_for_room(Member& m, Room& room, std::string_view text);
  void start_claim(Member& m, Room& room, std::string_view token, std::string_view text);
  void relay(Room& room, wire::Record kind, std::string_view session, std::string_view frame);
  void publish_outbox(RoomLink& link);  // the room's records of this window, as one PUBLISH
  // Publishes `room`'s outbox now (before an edit or a leave, for per-sender order).
  void flush_outbox(Room& room);
  void write_presence(Room& room, const Session& s);
  void announce_resume(Room& room, const Session& s);
  void on_reply(uint64_t cookie, bool ok, RedisValue& value);
  void on_message(std::string_view channel, std::string_view payload);
  void on_subscribed(std::string_view channel);
  void on_instances(const RedisEvent& event);
  // `applied`: the room's seq when the load was sent; Redis holding fewer edits than
  // that lost some (a failover).
  void apply_sync(Room& room, RedisValue& value, uint64_t applied);
  void fail_sync(Room& room);
  // `mine`: this instance's edit script stored it (the channel record or the log entry
  // names this instance): only then does the backend hear of it (AppliedEdit::stored_here).
  void apply_edit(Room& room, uint64_t seq, std::string_view epoch, std::string_view origin, std::string_view key,
                  std::string_view frame, bool mine);
  // An edit Redis stored and (with --redis-min-replicas) WAIT confirmed, from the edit
  // script's reply: applied here in seq order and, unless the script published it
  // itself, published to the other instances.
  void confirmed_edit(Room* room, const PendingCall& p, RedisValue& value);
  void commit_relayed(Room& room, std::string_view origin, std::string key, std::string_view frame, bool mine);
  void settle_acks(Room& room);
  void restart_room(Room& room, std::string_view epoch, uint64_t seq);
  // A local session another instance took over: it becomes a remote peer of `owner`.
  void hand_to_remote(Room& room, std::string_view session_id, std::string_view owner);
  void remove_remote(Room& room, std::string_view session_id);
  void apply_late_relay(Room& room, Session& s, wire::Record kind, std::string_view frame);
  void start_load(Room& room);
  void apply_peek(const std::string& room, bool ok, RedisValue& value);
  int64_t redis_now_ms(int64_t now_ns) const;
  std::string session_record(const Session& s, int64_t held_until_ms);
  // The room `name` if this thread serves it.
  Room* room(std::string_view name);

  RoomService& domain_;
  ClusterPort& port_;
  const std::string instance_id_;
  const Config& config_;
  Metrics& metrics_;
  const Logger* log_;  // may be null (tests)
  int64_t now_ns_ = 0;

  uint64_t next_cookie_ = 1;
  std::unordered_map<uint64_t, PendingCall> pending_;
  // Presence API for rooms not served here: rooms whose HGETALL is in flight, and the
  // entries read, kept only while room_ready() answers the requests waiting for them.
  std::unordered_map<std::string, bool> peeking_;
  std::unordered_map<std::string, std::vector<PresenceEntry>> peeked_;
  // Session id -> cookie of its edit whose reply has not come (one per member: its later
  // messages wait). Its E record may arrive first, on the other connection: the ack then
  // goes out as that edit is applied, before any later edit reaches the sender.
  std::unordered_map<std::string, uint64_t> edits_in_flight_;
  std::vector<RedisCall> calls_;          // submitted at the end of the window (or at once)
  std::vector<Room*> outbox_rooms_;       // rooms with relayed records this window
  int64_t redis_base_ms_ = 0;             // Redis clock at the last lease round...
  int64_t redis_base_ns_ = 0;             // ...and the loop clock then
  // Instances whose lease lapsed, or that were missing from two lease rounds in a row
  // (a graceful stop withdraws its lease; a new instance may miss one round). Sorted.
  std::vector<std::string> gone_;
  std::vector<std::string> absent_before_;  // seen in a record, missing from the last round
  int64_t next_slow_tick_ns_ = 0;
  int64_t next_record_tick_ns_ = 0;
  std::unique_ptr<RedisHookOutbox> hooks_;  // --webhook
};

}  // namespace roomcast
