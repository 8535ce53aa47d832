// core/cluster/room_link.h: what one instance keeps about a room that other instances share.
//
// Owns (per room, only with --redis): the room's place in the sync with Redis, the joins
// waiting for the first sync, the records relayed this window (one PUBLISH per room per
// window), the sessions of other instances (mirrored from the room's channel and its
// presence hash), edits that arrived ahead of a gap, and acks waiting for their seq.
// Lives inside its Room (Room::store); touched by the ClusterStore (core/cluster/cluster_store.h)
// on the room's loop thread only.
// Invariants:
//   - Room::seq() is the highest seq applied here, and every seq up to it was applied in
//     order (an edit arrives from the channel or from the stream, never twice);
//   - a session is local (in Room::members/held) or remote (here), never both;
//   - an ack for seq n is sent once the room has applied n, so the sender never sees an
//     ack before an edit with a lower seq (docs/protocol.md 3.2).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/room/room.h"
#include "core/room/room_store.h"
#include "core/room/session.h"

namespace roomcast {

struct Member;

// How often and how long the ClusterStore waits for things.
namespace link_timing {
inline constexpr int64_t kMs = 1'000'000;
inline constexpr int64_t kGapWaitNs = 200 * kMs;    // a gap this old is filled from the stream
inline constexpr int64_t kPollEveryNs = 1000 * kMs; // each mirrored room's seq is checked this often
// Presence records (camera, selection, following) are rewritten at most this often: the
// channel carries every change to mirrors already listening; the hash is for late ones.
inline constexpr int64_t kRecordEveryNs = 500 * kMs;
inline constexpr size_t kMaxAhead = 4096;           // edits kept beyond a gap (more: refetched)
inline constexpr int64_t kUnconfirmedNs = 3000 * kMs;  // a live instance re-announces well within this
// A first subscription Redis has not confirmed by then (down, refusing our password):
// the waiting joins are closed 1013 rather than left hanging (docs/protocol.md).
inline constexpr int64_t kSubscribeWaitNs = 3000 * kMs;
}  // namespace link_timing

// A session on another instance, as this one mirrors it.
struct RemotePeer {
  std::unique_ptr<Session> session;  // out, member: always null
  std::string instance;              // the instance it is attached to (or was, if held)
  int64_t held_until_ns = 0;         // while held: when its grace ends (loop clock); 0: connected
  bool orphaned = false;             // held because its instance's lease lapsed
  bool reaping = false;              // the end script is in flight
  // Missing from the presence hash at a reload while its instance lives (Redis lost the
  // hash; its instance re-announces it within a reload): removed if still unconfirmed
  // after a few seconds. 0: confirmed.
  int64_t unconfirmed_since_ns = 0;
};

// An edit this instance submitted, waiting for its seq to be applied here.
struct PendingAck {
  std::string session;  // the sender's session id
  bool has_id = false;
  std::string id;
  bool duplicate = false;
  std::string epoch;  // the history the seq belongs to
};

// An edit from the channel or the stream, not yet applied (a gap before it).
struct RelayedEdit {
  std::string origin;  // sender's session id ("server" for the publish API)
  std::string key;     // exactly-once key, or empty
  std::string frame;   // the edit message as every member receives it
  bool mine = false;   // this instance stored it (ClusterStore::apply_edit)
};

struct RoomLink final : RoomStoreState {
  enum class Sync : uint8_t {
    Idle,         // not subscribed (a new room, or the last sync failed)
    Subscribing,  // SUBSCRIBE sent
    Loading,      // subscribed; the sync script is in flight
    Ready,        // mirrored: joins are served locally (for good: reloads keep it Ready)
  };
  Sync sync = Sync::Idle;
  bool ready() const { return sync == Sync::Ready; }
  int64_t subscribing_since_ns = 0;  // when the first SUBSCRIBE was asked for (Subscribing)
  bool resync_wanted = false;  // subscribed again while loading: load once more
  std::string channel;         // rc:{room}
  std::vector<Member*> waiting;  // joins (or resumes) waiting for the first sync
  size_t http_waiting = 0;       // presence API requests waiting (the worker keeps them)

  std::string outbox;  // records relayed this window, published at the window's end

  std::unordered_map<std::string, RemotePeer> remote;  // by session id
  std::map<uint64_t, RelayedEdit> ahead;               // seq -> edit beyond a gap
  std::multimap<uint64_t, PendingAck> acks;            // seq -> ack waiting for it
  uint64_t known_seq = 0;      // highest seq known to exist in Redis
  bool filling = false;        // an XRANGE for the gap is in flight
  int64_t behind_since_ns = 0; // when known_seq first went past Room::seq (0: not behind)
  std::vector<std::string> early;  // channel messages that came before the first load
  int64_t reload_at_ns = 0;  // a second load after the first (records may have lagged)
};

// The cluster state of a room the ClusterStore opened.
inline RoomLink& link_of(Room& room) { return static_cast<RoomLink&>(*room.store); }
inline const RoomLink& link_of(const Room& room) { return static_cast<const RoomLink&>(*room.store); }

}  // namespace roomcast
