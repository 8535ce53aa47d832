// core/room/room_service.h: protocol 1.1 semantics for the rooms of one loop thread, with no
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
//     history; a repeat gets the original seq with `duplicate: true`;
//   - (1.2) a viewer's `edit` or `present` gets `forbidden` and changes nothing; the room
//     has at most one presenter, and everyone hears of each change; a member with
//     camera_rate gets cursors grouped as core/room/attention.h says.
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

#include "core/auth/token_verifier.h"
#include "core/base/admission.h"
#include "core/base/config.h"
#include "core/base/log.h"
#include "core/base/metrics.h"
#include "core/room/backend_port.h"
#include "core/room/member.h"
#include "core/room/memory_store.h"
#include "core/room/presence_page.h"
#include "core/room/room.h"
#include "core/room/room_store.h"
#include "proto/message.h"

namespace roomcast {

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
  // GET /api/rooms/{room}/presence: one page of the room's sessions (core/room/presence_page.h),
  // those after session id `after` (empty: from the first).
  PresencePage presence(std::string_view room, std::string_view after);
  // The whole first page as JSON (tests).
  std::string presence_json(std::string_view room);

  // The window's frames are on their way: later cameras start new arena chunks
  // (net/frame_arena.h), and the window's relayed records go out in one PUBLISH per room.
  // Called by the output step on a socket's rule (core/server/output.h): in the iteration that
  // opened the window when the last one ended W ago or more, else W after that one.
  void end_window();
  // Whether end_window() has anything to do: a camera arena, a Redis outbox or Redis
  // calls are filling.
  bool window_open() const { return !filling_arenas_.empty() || store_->window_open(); }
  // 1.2 camera rate (core/room/attention.h): when held-back cursors may next go out (0:
  // none wait), and sending those that are due. Called by the output step each iteration
  // (its wake-up deadline includes cameras_due_ns()).
  int64_t cameras_due_ns() const;
  void camera_tick(int64_t now_ns);
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

  // A member whose earlier join or edit waits for its store (or, later, the backend):
  // its next messages wait too (in order, at most kMaxDeferred messages and
  // kMaxDeferredBytes; beyond, `rate_limited`), as received. The rate limiter applies as
  // to any message.
  bool busy(const Member& m) const { return m.busy(); }
  void defer(Member& m, std::string_view text, int64_t now_ns);
  static constexpr size_t kMaxDeferred = 256;
  static constexpr size_t kMaxDeferredBytes = 256 * 1024;
  // One complete text message from `m`: decoded once (here, with this thread's one
  // decoder) and handled, or kept as received if `m` is waiting (handled in order when
  // its wait ends).
  Verdict receive(Member& m, std::string_view text, int64_t now_ns);

  // The store (core/room/room_store.h): this process's memory unless a store is attached
  // (before any room is made; it must outlive this service).
  void attach_store(RoomStore& store) { store_ = &store; }
  // The app's backend (core/room/backend_port.h): none unless attached (before any message;
  // it must outlive this service).
  void attach_backend(BackendPort& backend) { backend_ = &backend; }
  // The backend's Later answer about the edit it was asked about with `ticket`. The
  // sender's waiting messages follow. Nothing happens if the sender has gone meanwhile
  // (its client resends with the same id after resuming).
  void edit_decided(uint64_t ticket, const EditDecision& decision, int64_t now_ns);

  // Publish API through a store that answers later (Pending): the store answers the
  // ticket itself (ClusterPort::published).
  void publish_stored(std::string_view room, const ClientMessage& edit, uint64_t ticket, int64_t now_ns);
  // Presence API: true if `room` can be answered now (a room this thread serves, or
  // one the store has read for it).
  bool presence_ready(std::string_view room, int64_t now_ns);

  // ---- the store side: what a store that answers later may do to the domain ----------
  Room* find_room(std::string_view name);
  // The room `name`, made now if it is not here yet (the store's opened() runs then); an
  // empty room made so counts its --room-ttl from `now_ns` (a store that kept rooms
  // across a restart makes them at start).
  Room& open_room(std::string_view name, int64_t now_ns);
  std::unordered_map<std::string, std::unique_ptr<Room>>& rooms() { return rooms_; }
  // The encode buffer: encode_* into encoder(), then use encoded() before the next encode.
  rapidjson::StringBuffer& encoder() { return encoded_; }
  std::string_view encoded() const { return {encoded_.GetString(), encoded_.GetSize()}; }
  // `payload` to one member.
  void reply(Member& m, OutType type, std::string_view payload);
  void send_error(Member& m, ErrorCode code, std::string_view message);
  // `payload` as one frame to every member of `room` but `except`; returns the frame.
  // Not for cursors (fan_out_cursor): this frame has its own allocation and never drops.
  FrameRef fan_out(Room& room, const Session* except, OutType type, std::string_view payload);
  // The newest cursor of `sender` (here, held or elsewhere), as every member receives it:
  // the previous one superseded, the full-rate group now, the others at their tick.
  FrameRef fan_out_cursor(Room& room, Session& sender, std::string_view payload);
  // Per-sender order (docs/protocol.md 7.3): `sender`'s held-back cursor goes out now,
  // before its next non-cursor message. forget_cursor: it is dropped (the session is
  // going away silently or changes owner).
  void flush_cursor(Room& room, Session& sender);
  void forget_cursor(Room& room, Session& sender);
  // 1.2: another instance's `presenting` frame (`session` empty: stopped): the room's
  // presenter changes here too.
  void presenting_relayed(Room& room, std::string_view session, std::string_view frame);
  // 1.2: session `session` (elsewhere) ended: if it presented, nobody does now.
  void presenter_gone(Room& room, std::string_view session);
  // While true, broadcasts leave at the end of this loop iteration (Room::broadcast
  // urgent): frames from another instance already waited for a window there.
  void set_urgent(bool urgent) { relaying_ = urgent; }
  // `m`'s wait is over: its waiting messages are handled in order until it waits again
  // (it may be closed meanwhile).
  void release(Member& m);
  // An edit the store gave seq room.next_seq(), as every member receives it: sent to all
  // but its sender (`origin`, if connected here; unless the edit hook rewrote it) and kept
  // in history. Returns the sender if it is connected here (the store acks it, with
  // rewritten_ack()), else null. `stored_here`: this process's store call gave it its seq
  // (AppliedEdit::stored_here: with several instances, only that one reports it).
  // `event_kept`: the store wrote the edit's webhook event with it (edit_event below), so
  // the backend does not report it again.
  Session* apply_stored_edit(Room& room, std::string_view origin, std::string key, std::string_view frame,
                             bool stored_here = true, bool event_kept = false);
  // The webhook event of an edit about to be written with seq edit.seq (BackendPort::
  // edit_event): false when the backend wants none.
  bool edit_event(const Room& room, const AppliedEdit& edit, HookEvent& out) {
    return backend_->edit_event(room, edit, out);
  }
  // The leave event of another instance's session (BackendPort::leave_event).
  bool leave_event(const Room& room, const Session& s, HookEvent& out) { return backend_->leave_event(room, s, out); }
  // Whether the ack `m` is about to get is for an edit the edit hook rewrote (then
  // forgotten: asked once per ack).
  static bool rewritten_ack(Member& m);
  // Session `id` of `room` is now attached elsewhere: it leaves this thread without a
  // word to anyone (a connection still attached is closed 4008). Null if not here.
  std::unique_ptr<Session> move_elsewhere(Room& room, std::string_view session_id);
  const Config& config() const { return config_; }
  // The loop time of the call being handled (a store called from the domain reads the
  // clock here: it has no entry point of its own then).
  int64_t now_ns() const { return now_ns_; }

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
  // The backend's decision about `msg` from `s` (exactly-once `key`): applied (as sent or
  // rewritten) through the store, or refused.
  // The edit `frame`, numbered room.next_seq(), from `origin`: to every member but
  // `except`, to the backend (`id`: the edit's id, if it had one), then into history
  // with its exactly-once `key`. The one place an edit is applied, whichever store.
  void commit(Room& room, const Session* except, std::string_view origin, const User* user, bool has_id,
              std::string_view id, std::string key, std::string_view frame, bool stored_here, bool event_kept);
  // Returns true if the store took it and the sender waits for it.
  bool apply_decision(Member& m, Session& s, const ClientMessage& msg, std::string key, const EditDecision& d);
  void follow(Member& m, Session& s, const ClientMessage& msg);
  // 1.2 (docs/protocol.md 7.1-7.2): present / stop; a role that changed (refresh, resume).
  void present(Member& m, Session& s, const ClientMessage& msg);
  // The room's presenter becomes `session` (empty: nobody); everyone here hears
  // `presenting`; `by` (a session here) relays it to the other instances.
  void set_presenter(Room& room, Session* by, std::string_view session, const User* user);
  void role_changed(Room& room, Session& s, Role role);
  // The room may have held-back cursors: camera_tick looks at it.
  void note_attention(Room& room);
  void refresh(Member& m, const ClientMessage& msg);
  // `m`'s later messages wait (defer) until release(m).
  void hold_sender(Member& m);
  // Presence leave and the end of session `s` (already out of the room's lists).
  void end_session(Room& room, std::unique_ptr<Session> s, int64_t now_ns);
  void issue_token(Session& s);
  // A hold that kept its connection's place gives it back (resumed, or the grace ended).
  void give_back_place(Session::Hold& hold);
  // A new random session id; also gives `s` its first resume token (one getrandom).
  static std::string fresh_session_id(Session& s);

  void update_gauges();
  // Every session of `room`, connected then held (as welcome.peers and the presence API show them).
  const std::vector<PeerView>& snapshot(const Room& room);
  Room& room_named(std::string_view name);

  // A `since` replay in progress (core/room/room_replay.cpp): made at the join, gone once its
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

  RoomStore* store_;           // &memory_ unless attach_store()
  MemoryStore memory_;
  BackendPort* backend_;       // &no_backend_ unless attach_backend()
  NoBackend no_backend_;
  // Edits the backend answers Later, by ticket: an owned copy (the message's views die
  // with the next decode). One per member at most: its later messages wait.
  struct Vetting {
    std::string room, session, key, id, building, op, data_json;
    bool has_id = false, has_data = false;
  };
  std::unordered_map<uint64_t, Vetting> vetting_;
  uint64_t next_ticket_ = 1;
  MessageDecoder decoder_;     // this thread's one decoder (receive and waiting messages)
  ClientMessage message_;      // reused so its vectors keep their capacity
  bool relaying_ = false;      // set_urgent

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
  std::vector<Room*> attention_rooms_;   // rooms whose attention may hold cursors back (note_attention)
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
