// core/room/room_store.h: the store port: where a thread's rooms are kept and how an edit gets
// its seq, as the room domain (core/room/room_service.h) asks for it.
//
// The domain decides what a message means (docs/protocol.md); a store decides where rooms
// live and when an edit counts as stored. The domain calls these at fixed points of a
// message's life and never asks which store it has. Implementations:
//   - MemoryStore (core/room/memory_store.h): this process only; every answer is "now";
//   - ClusterStore (core/cluster/cluster_store.h): rooms shared with other instances over Redis
//     (docs/protocol.md 3.6): joins wait for the room's first sync, edits get their seq
//     from Redis, presence and cameras are relayed;
//   - a disk store (docs/durability.md) plugs in the same way.
// Called by: RoomService on its loop thread only. A store that answers later calls back
// into the RoomService it was attached to (its "store side" methods), on the same thread.
// Promises (of every implementation):
//   - a member made to wait (join_waits, append_edit returning Pending) is let go exactly
//     once, through RoomService::release, unless it left first (left());
//   - an edit returned Pending is applied through RoomService::apply_stored_edit with the
//     seq the store gave it, or refused with `unavailable`, never both; it never consumes
//     a seq when refused.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/room/presence_page.h"
#include "proto/message.h"

namespace roomcast {

class Room;
struct Member;
struct Session;
struct PeerView;

// What a store keeps per room beside the domain's Room (the Room owns it; null for a
// store that keeps nothing).
struct RoomStoreState {
  virtual ~RoomStoreState() = default;
};

// What one session did that other places serving the room must learn.
// Present: a `presenting` frame (start, takeover or stop; 1.2); Role: a presence `role`
// event (1.2).
enum class Relay : uint8_t { Join, Cursor, Select, Follow, Present, Role };

// Where an edit goes after the exactly-once check (RoomStore::append_edit).
enum class EditPath : uint8_t {
  Here,     // the domain gives it the room's next seq and applies it now
  Pending,  // the store took it: the sender waits for apply_stored_edit or an error
};

class RoomStore {
 public:
  virtual ~RoomStore() = default;

  // ---- rooms ----------------------------------------------------------------------
  // `room` was just made on this thread (fresh epoch, seq 0): the store may attach its
  // state (room.store) or give it what it kept (Room::restart).
  virtual void opened(Room& room) = 0;
  // Whether `room`, empty past --room-ttl, must still be kept (something waits on it).
  virtual bool keeps(const Room& room) const = 0;
  // `room` is about to be forgotten.
  virtual void closing(Room& room) = 0;

  // ---- sessions -------------------------------------------------------------------
  // `m`'s join (as received: `text`) must wait for the store (the room is not loaded yet,
  // or its resume token may name a session kept elsewhere). True: the store keeps `text`
  // at the head of m's waiting messages and calls RoomService::release(m) later.
  virtual bool join_waits(Member& m, Room& room, const ClientMessage& join, std::string_view text) = 0;
  // A session for `m`'s resume that the store brought from elsewhere, or null.
  virtual std::unique_ptr<Session> claimed(Member& m, Room& room) = 0;
  // Sessions of the room attached elsewhere: in every snapshot, valid follow targets, and
  // their ids are taken.
  virtual void add_peers_elsewhere(const Room& room, std::vector<PeerView>& out) const = 0;
  virtual bool is_elsewhere(const Room& room, std::string_view session_id) const = 0;
  // The session `session_id` of the room attached elsewhere, as mirrored here, or null.
  virtual Session* find_elsewhere(Room& room, std::string_view session_id) = 0;
  // `s` joined (resumed: an existing session came back; claimed: through claimed()).
  virtual void joined(Room& room, Session& s, bool resumed, bool claimed) = 0;
  // `s` did `what`, already sent to this thread's members as `frame`.
  virtual void relayed(Room& room, Session& s, Relay what, std::string_view frame) = 0;
  // `s` lost its connection and is held for the grace.
  virtual void held(Room& room, const Session& s) = 0;
  // `s` ended here (presence leave already sent to this thread's members).
  virtual void ended(Room& room, const Session& s) = 0;
  // `m` is going away: forget any wait of it.
  virtual void left(Member& m) = 0;

  // ---- edits ----------------------------------------------------------------------
  // The edit `msg` from `s` (null with `m`: the publish API, `ticket` names it), not a
  // duplicate here; `key` is its exactly-once key (may be empty).
  virtual EditPath append_edit(Member* m, Session* s, Room& room, const ClientMessage& msg, std::string key,
                               uint64_t ticket) = 0;

  // ---- the batch window and presence API -------------------------------------------
  // The window's frames are on their way: relays go out now.
  virtual void end_window() = 0;
  virtual bool window_open() const = 0;
  // Presence API: true if `room` can be answered now. Otherwise the store reads it and
  // tells whoever waits (ClusterPort::room_ready): a room this thread does not serve is
  // read without being made.
  virtual bool presence_ready(std::string_view room, int64_t now_ns) = 0;
  // The entries the store read for a room this thread does not serve, if it has them
  // (moved out).
  virtual bool take_peeked(std::string_view room, std::vector<PresenceEntry>& out) = 0;
};

}  // namespace roomcast
