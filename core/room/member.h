// core/room/member.h: a client of the room service, as the service sees it.
//
// Owns: what the service keeps per client between messages: its SendQueue, the room it
// asked for, what a token proved about it, its rate limiter and, once joined, its Session.
// A Member knows no transport: frames for it go to `out`, which whoever owns the member drains
// (a WebSocket connection today; a link to another instance could drain one tomorrow).
// Lives inside its owner (core/server/connection.h), touched by one loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/admission.h"
#include "core/base/rate_limiter.h"
#include "core/room/room.h"
#include "core/room/session.h"
#include "net/send_queue.h"

namespace roomcast {

// Who a verified token says the client is (docs/protocol.md 1.1).
struct Identity {
  bool verified = false;
  std::string user_id;  // the token's `sub`
  bool has_name = false;
  std::string name;
  int64_t exp = 0;      // the token's expiry, Unix seconds (1.1: welcome.exp, close 4001 after it)
  bool from_auth_hook = false;  // the auth hook said who this is (no token)
  Role role = Role::Editor;  // 1.2: jwt_allows_edit for the room (docs/protocol.md 7.1-7.2)
};

struct Member;

// How the service reaches a member's transport besides its queue: to end it (a session
// resumed elsewhere closes the old connection with 4008), and to give a member that
// authenticated in band its place in the connection limits (docs/protocol.md 3.4: a place is
// taken when a member is admitted, not at the upgrade). Implemented once per loop
// thread (its ConnectionTable), which finds the connection by the member's queue, so a
// member carries one pointer for it and the connection no virtual table.
class MemberLink {
 public:
  virtual void close_member(Member& m, uint16_t code, std::string_view reason) = 0;
  // `resume`: the member resumed a session, and gets a place whatever the limits.
  virtual Admission admit_member(Member& m, bool resume) = 0;

 protected:
  ~MemberLink() = default;
};

struct Member {
  Member(DirtyList* dirty, uint32_t slot, MemberLink* link_ = nullptr) : out(dirty, slot), link(link_) {}
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  SendQueue out;                       // every frame for this member; its owner drains it
  MemberLink* link;                    // may be null (then it cannot be closed from here)
  // The room named when it connected: room(). Once joined the Room has the name, so this
  // copy exists only before the join and after the session is taken (for the close log):
  // a joined member carries 8 bytes for it, not 32.
  std::unique_ptr<std::string> room_name;
  std::unique_ptr<Identity> identity;  // null without a verified token
  RateLimiter rate;
  std::unique_ptr<Session> session;    // non-null once joined
  // docs/protocol.md 3.4: authentication is on and the upgrade carried no token, so the first
  // message must be a `join` with one.
  bool awaiting_token = false;
  // It holds no place in the connection limits yet (in band, or let past a full address
  // because it may resume a held session): its join takes one, or is closed 1013.
  bool awaiting_place = false;
  // A `since` replay to this member is in progress (RoomService::replay_pump): its queue's
  // head is welcome and replay, paced from the room's history and outside the slow-reader
  // limit. A flag here (in what was padding) so the output step asks the service only then.
  bool replaying = false;
  // 1.2: the join's camera_rate (cursors per second per sender, docs/protocol.md 7.3); 0:
  // every cursor. Set at the join, for this connection only.
  float camera_rate = 0;

  // Scale-out only: a join waiting for its room's first sync or for a resume claim, or an
  // edit waiting for Redis. Made on first use, so a member costs one pointer without it.
  struct Wait {
    bool busy = false;                 // later messages wait in `deferred`
    // The edit waiting for its store was rewritten by the edit hook: the sender receives
    // the stored edit like every member, and its ack says "rewritten":true.
    bool rewritten = false;
    std::deque<std::string> deferred;  // raw messages, handled in order once not busy
    size_t deferred_bytes = 0;
    enum class Claim : uint8_t { None, Pending, Done } claim = Claim::None;
    std::string claimed_session;       // a session another instance held, now ours
    std::string claimed_state;         // its presence entry (JSON)
  };
  std::unique_ptr<Wait> wait;

  bool joined() const { return session != nullptr; }
  std::string_view room() const {
    if (session && session->room) return session->room->name();
    return room_name ? std::string_view(*room_name) : std::string_view();
  }
  void set_room(std::string name) { room_name = std::make_unique<std::string>(std::move(name)); }
  // The session joined: the Room names it from now on.
  void attach(std::unique_ptr<Session> s) {
    session = std::move(s);
    room_name.reset();
  }
  // The session leaves this member (left, dropped, or resumed elsewhere); the member
  // keeps the room's name for whatever it still reports.
  std::unique_ptr<Session> take_session() {
    if (session && session->room && !room_name) room_name = std::make_unique<std::string>(session->room->name());
    return std::move(session);
  }
  bool busy() const { return wait && wait->busy; }
};

}  // namespace roomcast
