// core/room_service.h: protocol 1.1 semantics for the rooms of one loop thread, with no
// transport in sight.
//
// Owns: this thread's rooms (by name), their sessions (through the Members that joined,
// or the room while a session is held), presence, edit history, the resume tokens of this
// thread's sessions, and the encode buffer every outbound message is serialized into once
// before it becomes a SharedFrame.
// Called by: the loop thread's connections for each decoded client message (handle) or
// each message that failed to decode (refuse), when a member's connection ends (leave);
// by the HTTP front for the rooms this thread owns (presence_json, publish); by the
// output step at the end of each window (end_window), by housekeeping (reap) and by the
// grace timer (expire_held).
// Knows: Members (an identity, a rate limiter, a SendQueue to push frames into and a link
// to close them) and decoded ClientMessages. Never a socket, a wslay context or a
// Connection, so a unit test drives it with plain SendQueues, and a member on another
// instance can plug in the same way.
// Promises:
//   - every outbound message is encoded once; a relay reaches the other members as one
//     shared frame (Room::broadcast), never the sender;
//   - bad input gets exactly the spec's `error` and changes nothing for anyone else;
//   - a joiner receives welcome, then (with `since`) the missed edits or `resync`, then
//     live traffic, in that order; a `since` from another epoch always gets `resync`;
//   - cameras are latest-wins: a newer camera marks the sender's previous one superseded
//     (queues that have not started it drop it, see net/send_queue.h);
//   - a session whose connection drops is held for --resume-grace with no presence event;
//     a resume within the grace keeps the session id and nobody sees anything;
//   - an edit id (1 to 64 characters) is applied once per user while the edit is in
//     history; a repeat gets the original seq with `duplicate: true`.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <rapidjson/stringbuffer.h>

#include "core/admission.h"
#include "core/cluster_port.h"
#include "core/config.h"
#include "core/log.h"
#include "core/member.h"
#include "core/metrics.h"
#include "core/presence_page.h"
#include "core/room.h"
#include "core/token_verifier.h"
#include "proto/message.h"

namespace roomcast {

namespace wire {
enum class Record : char;  // a channel record's kind (core/cluster_wire.h)
}

// What the member's transport must do after a message.
struct Verdict {
  uint16_t close_code = 0;  // 0: carry on; otherwise close with this code and reason
  std::string_view reason;  // a static string

  static Verdict proceed() { return {}; }
  static Verdict close(uint16_t code, std::string_view reason) { return {code, reason}; }
  bool closes() const { return close_code != 0; }
};

// How a member's connection ended, which decides whether its session is held (docs/protocol.md 3.1).
enum class Departure : uint8_t {
  Final,    // `leave`, or the client's close with 1000 or no code: the session ends now
  Dropped,  // anything else (network, timeouts, every close the server starts): held
};

class RoomService {
 public:
  // `instance`: this loop thread's index. Session ids are random (docs/protocol.md), so
  // they are unique across threads, restarts and instances without it.
  // `limits` (may be null) gets back the places held sessions kept.
  RoomService(const Config& config, unsigned instance, Metrics& metrics, ConnectionLimits* limits = nullptr,
              const Logger* log = nullptr);
  RoomService(const RoomService&) = delete;
  RoomService& operator=(const RoomService&) = delete;

  // One decoded message from `m`, at loop time `now_ns`. `text` is the message as
  // received (scale-out keeps it when the message must wait for Redis).
  Verdict handle(Member& m, const ClientMessage& msg, int64_t now_ns, std::string_view text = {});
  // A message that did not decode: `error` with its code (no rate token is spent), or,
  // from a member still owing its in-band token, close 4001.
  [[nodiscard]] Verdict refuse(Member& m, const DecodeError& error);
  // `m`'s connection ended: the session is held (Dropped, grace on) or ends with
  // `presence leave` to the others. No-op if not joined. `admission`, if given, is the
  // connection's ConnectionLimits place; returns true if a held session took it over
  // (the caller must then not release it).
  bool leave(Member& m, int64_t now_ns, Departure how, const PeerAddress* admission = nullptr);
  // Ends the holds whose grace is over (presence leave to the others).
  void expire_held(int64_t now_ns);
  // Whether some session is held (the caller then runs expire_held every ~100 ms).
  bool holding() const { return held_ != 0; }

  // POST /api/rooms/{room}/publish: `edit` from session "server". Returns its seq.
  uint64_t publish(std::string_view room, const ClientMessage& edit, int64_t now_ns);
  // GET /api/rooms/{room}/presence: one page of the room's sessions (core/presence_page.h),
  // those after session id `after` (empty: from the first).
  PresencePage presence(std::string_view room, std::string_view after);
  // The whole first page as JSON (tests).
  std::string presence_json(std::string_view room);

  // The window's frames are on their way: later cameras start new arena chunks
  // (net/frame_arena.h), and the window's relayed records go out in one PUBLISH per room.
  // Called by the output step on a socket's rule (core/output.h): in the iteration that
  // opened the window when the last one ended W ago or more, else W after that one.
  void end_window();
  // Whether end_window() has anything to do: a camera arena, a Redis outbox or Redis
  // calls are filling.
  bool window_open() const { return !filling_arenas_.empty() || !outbox_rooms_.empty() || !calls_.empty(); }
  // Forgets rooms that have been empty for longer than --room-ttl.
  void reap(int64_t now_ns);

  size_t room_count() const { return rooms_.size(); }

  // A `since` replay (docs/protocol.md 3.1; docs/protocol.md "A since replay") is
  // outside the slow-reader limit and paced: the member's queue holds at most about
  // kReplayAhead bytes of it at a time, queued from the room's history (the broadcast
  // frames themselves: no copy) as its socket drains, ahead of any live frame that came
  // meanwhile. The output step calls these only while `m.replaying`:
  // before a gather: queues the next replayed edits if the queued part ran low, and
  // returns how many frames at the head of m's queue the gather may take (live frames
  // behind a replay still being queued must wait; SIZE_MAX once it is all queued);
  size_t replay_pump(Member& m);
  // after a send: `frames` whole frames and `bytes` bytes left the head of m's queue;
  void replay_sent(Member& m, size_t frames, size_t bytes);
  // for the slow-reader limit: bytes at the head of m's queue that are welcome and
  // replay, not live traffic.
  size_t replay_bytes(const Member& m) const;
  static constexpr size_t kReplayAhead = 512 * 1024;

  // Scale-out over Redis (core/room_cluster.cpp, docs/protocol.md 3.6). Without
  // attach_cluster() every room lives in this process alone.
  void attach_cluster(ClusterPort* port, std::string instance_id);
  bool clustered() const { return port_ != nullptr; }
  // `m` has a join or an edit waiting for Redis: its next message waits too (in order,
  // at most kMaxDeferred messages and kMaxDeferredBytes; beyond, `rate_limited`). The rate
  // limiter applies as to any message.
  bool busy(const Member& m) const { return m.busy(); }
  void defer(Member& m, std::string_view text, int64_t now_ns);
  // What Redis answered or another instance published (RedisLink events for this thread).
  void on_redis(RedisEvent& event, int64_t now_ns);
  // Every ~100 ms: gaps, orphaned sessions, presence records, polls, outboxes.
  void cluster_tick(int64_t now_ns);
  // Presence API: true if `room` can be answered now; otherwise ClusterPort::room_ready
  // follows. A room this thread does not serve is read from Redis (one HGETALL of its
  // presence records) without being made, subscribed to or written: a read creates nothing.
  bool presence_ready(std::string_view room, int64_t now_ns);
  // Publish API with Redis: stored by the edit script; ClusterPort::published answers.
  void publish_stored(std::string_view room, const ClientMessage& edit, uint64_t ticket, int64_t now_ns);
  static constexpr size_t kMaxDeferred = 256;
  static constexpr size_t kMaxDeferredBytes = 256 * 1024;
  const Room* find_room(std::string_view name) const;

  // Wall-clock seconds for token checks; tests replace it.
  std::function<int64_t()> unix_now;

 private:
  Verdict authenticate(Member& m, std::string_view token);
  // handle() without the rate limiter (messages that waited were let in once already).
  Verdict dispatch(Member& m, const ClientMessage& msg, std::string_view text);
  void join(Member& m, const ClientMessage& msg, std::string_view text);
  // A session for `m` taken over by `resume`, or null (unknown, expired, other room or sub).
  std::unique_ptr<Session> take_over(Member& m, Room& room, std::string_view token);
  void cursor(Session& s, const ClientMessage& msg);
  void select(Session& s, const ClientMessage& msg);
  void edit(Member& m, Session& s, const ClientMessage& msg);
  void follow(Member& m, Session& s, const ClientMessage& msg);
  void refresh(Member& m, const ClientMessage& msg);
  void send_error(Member& m, ErrorCode code, std::string_view message);
  // Presence leave and the end of session `s` (already out of the room's lists).
  void end_session(Room& room, std::unique_ptr<Session> s, int64_t now_ns);
  void issue_token(Session& s);
  // A hold that kept its connection's place gives it back (resumed, or the grace ended).
  void give_back_place(Session::Hold& hold);
  // A new random session id; also gives `s` its first resume token (one getrandom).
  static std::string fresh_session_id(Session& s);

  // What the encoders just wrote.
  std::string_view encoded() const { return {encoded_.GetString(), encoded_.GetSize()}; }
  // `payload` to one member.
  void reply(Member& m, OutType type, std::string_view payload);
  // `payload` as one frame to every member of `room` but `except`; returns the frame.
  FrameRef fan_out(Room& room, const Session* except, OutType type, std::string_view payload,
                   DropPolicy policy = DropPolicy::Never);
  void update_gauges();
  // Every session of `room`, connected then held (as welcome.peers and the presence API show them).
  const std::vector<PeerView>& snapshot(const Room& room);
  Room& room_named(std::string_view name);

  // A `since` replay in progress (core/room_replay.cpp): made at the join, gone once its
  // last byte left (or the member left).
  struct Replay {
    uint64_t next_seq = 0;  // the next edit to queue
    uint64_t last_seq = 0;  // the room's seq at the join: later edits reach the member live
    std::string epoch;      // the history replayed (a restart of it ends the replay: resync)
    size_t head_frames = 0; // frames at the head of the queue before any live frame
    size_t head_bytes = 0;  // their bytes not yet sent
    bool queued_all() const { return next_seq > last_seq; }
  };
  // Starts `m`'s replay of the edits after `since` (all kept: History::covers).
  void start_replay(Member& m, Room& room, uint64_t since);
  void end_replay(Member& m);
  // Queues the next part of `r` (m's replay of `room`); returns what replay_pump returns.
  size_t pump_replay(Member& m, Replay& r, Room& room);
  std::unordered_map<const Member*, Replay> replays_;
  std::vector<SharedFrame*> replay_batch_;  // reused by replay_pump

  // Scale-out (core/room_cluster.cpp).
  enum class CallKind : uint8_t { Sync, Edit, Publish, Claim, Fill, Poll, Reap, Peek };
  struct PendingCall {
    PendingCall(CallKind k, std::string r, std::string s = {}) : kind(k), room(std::move(r)), session(std::move(s)) {}
    CallKind kind;
    std::string room;
    std::string session;  // Edit: the sender; Reap: the session
    bool has_id = false;
    std::string id;
    uint64_t ticket = 0;      // Publish
    Member* member = nullptr; // Claim: valid while listed in the room's waiting joins
    bool acked = false;       // Edit: its E record was applied first and carried the ack
    bool session_reaped = false;  // Reap: of a dead instance's session (not one of ours)
  };
  uint64_t call(PendingCall pending, int script, unsigned keys, std::vector<std::string> argv);
  void submit_calls();
  bool wait_for_room(Member& m, Room& room, std::string_view text);
  void start_claim(Member& m, Room& room, std::string_view token, std::string_view text);
  std::unique_ptr<Session> claimed_session(Member& m, Room& room);
  void stop_waiting(Member& m);
  void resume_member(Member& m);
  void relay(Room& room, wire::Record kind, std::string_view session, std::string_view frame);
  void publish_outbox(RoomLink& link);  // the room's records of this window, as one PUBLISH
  // Publishes `room`'s outbox now (before an edit or a leave, for per-sender order).
  void flush_outbox(Room& room);
  void store_edit(Member* m, Session* s, Room& room, const ClientMessage& msg, std::string key, uint64_t ticket);
  void write_presence(Room& room, const Session& s);
  void end_everywhere(Room& room, const Session& s);
  void announce_hold(Room& room, const Session& s);
  void announce_resume(Room& room, const Session& s);
  void on_reply(uint64_t cookie, bool ok, RedisValue& value);
  void on_message(std::string_view channel, std::string_view payload);
  void on_subscribed(std::string_view channel);
  void on_instances(const RedisEvent& event);
  void apply_sync(Room& room, RedisValue& value);
  void fail_sync(Room& room);
  void apply_edit(Room& room, uint64_t seq, std::string_view epoch, std::string_view origin, std::string_view key,
                  std::string_view frame);
  void commit_relayed(Room& room, std::string_view origin, std::string key, std::string_view frame);
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

  ClusterPort* port_ = nullptr;
  std::string instance_id_;
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
  std::unique_ptr<MessageDecoder> replay_decoder_;  // deferred messages are decoded again
  std::unique_ptr<ClientMessage> replay_message_;
  int64_t redis_base_ms_ = 0;             // Redis clock at the last lease round...
  int64_t redis_base_ns_ = 0;             // ...and the loop clock then
  // Instances whose lease lapsed, or that were missing from two lease rounds in a row
  // (a graceful stop withdraws its lease; a new instance may miss one round). Sorted.
  std::vector<std::string> gone_;
  std::vector<std::string> absent_before_;  // seen in a record, missing from the last round
  int64_t next_slow_tick_ns_ = 0;
  // While handling what other instances published: their frames waited for a window
  // there already, so they go out now (Room::broadcast urgent), not one window later.
  bool relaying_ = false;
  int64_t next_record_tick_ns_ = 0;

  const Config& config_;
  TokenVerifier tokens_;  // the in-band join's token and `refresh`
  const unsigned instance_;
  Metrics& metrics_;
  ConnectionLimits* limits_;
  const Logger* log_;  // may be null (tests); never given a token
  int64_t now_ns_ = 0;
  uint64_t sessions_ = 0;  // connected
  uint64_t held_ = 0;
  rapidjson::StringBuffer encoded_;      // reused: keeps its capacity
  std::vector<PeerView> peers_;          // reused by snapshot()
  std::vector<Room*> filling_arenas_;    // rooms whose camera arena is open since the last flush
  std::unordered_map<std::string, std::unique_ptr<Room>> rooms_;
  // Holds in the order their grace ends (the grace is one constant, so that is the
  // order they began); an entry whose token no longer names a held session is stale.
  struct Hold {
    int64_t until_ns;
    std::string room;
    std::string token;
  };
  std::deque<Hold> holds_;
};

}  // namespace roomcast
