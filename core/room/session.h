// core/room/session.h: what the room knows about one joined member.
//
// Owns: the presence state a late joiner sees in `welcome.peers` (user, camera,
// selection, following), a reference to the sender's newest cursor frame and (1.1) the
// session's one live resume token.
// Lives inside its Member (core/room/member.h) from `join` until leave; the Room holds a pointer
// while it is a member. When its connection ends without `leave` (docs/protocol.md 3.1) the room
// holds it (Room::hold) for --resume-grace: no Member (so no queue), still in snapshots as
// not connected, until a resume attaches it to a new Member or the grace ends. Frames for
// a connected session go to its Member's queue. Loop-thread only. Kept to 192 bytes (a
// jemalloc size class, asserted below): every idle joined connection carries one.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/admission.h"
#include "net/send_queue.h"
#include "proto/base64url.h"
#include "proto/message.h"

namespace roomcast {

class Room;

struct Session {
  std::string id;  // unique per server run
  User user;
  // What a late joiner sees of this member besides its user, and the frame of its newest
  // camera. Made at the first cursor, select or follow (or when restoring a session that
  // had them), so a member that only watches costs one pointer here, not ~160 bytes.
  struct View {
    bool has_camera = false;
    Camera camera;
    std::vector<std::string> selection;
    std::string following;  // empty: following nobody
    FrameRef last_cursor;   // marked superseded when a newer camera is sent
    // Scale-out: which of camera, selection, following this session's client sent on this
    // instance (since it was claimed here, for a session that moved). What the instance it
    // came from relayed after the move is older than these and is applied only to the
    // others (RoomService::apply_late_relay).
    static constexpr uint8_t kCameraSent = 1, kSelectionSent = 2, kFollowingSent = 4;
    uint8_t sent_here = 0;
    // 1.2 camera rate (core/room/attention.h): the rate classes of the room whose members
    // have not had last_cursor yet (bit i: class i). Zero when nothing is held back.
    uint64_t held_back = 0;
  };
  std::unique_ptr<View> view;
  struct Member* member = nullptr;  // the member it is attached to (its queue gets our frames); null while held
  Room* room = nullptr;
  struct Hold {
    int64_t until_ns = 0;  // when the grace ends
    // The connection's place in ConnectionLimits stays taken while held (released when
    // the hold ends), so held sessions count toward --max-connections(-per-ip).
    bool holds_admission = false;
    PeerAddress admission;
  };
  std::unique_ptr<Hold> hold;  // non-null only while held
  uint32_t member_index = 0;  // position in Room::members_ (or held_), for O(1) removal
  // Bit-fields, so the 1.2 role fits in what was padding (192 bytes, asserted below).
  bool connected : 1 = true;        // false while held
  bool presence_stale : 1 = false;  // scale-out: the Redis presence record lags the camera
  Role role = Role::Editor;         // 1.2: from the token's `edit` claim (docs/protocol.md 7.1-7.2)

  // 1.1: resume. The one live token: 144 random bits, given to the client as 24 base64url
  // characters and kept raw here (every idle joined connection carries a Session). A
  // secret: never logged. All zero: none issued (2^-144 for a random one; issue_token
  // draws again).
  static constexpr size_t kTokenBytes = 18;
  static constexpr size_t kTokenChars = 24;
  std::array<uint8_t, kTokenBytes> resume_token{};

  View& view_for_update() {
    if (!view) view = std::make_unique<View>();
    return *view;
  }
  // Replaces what the view shows (a session restored from another instance's record).
  void restore_view(bool has_camera, const Camera& camera, std::vector<std::string> selection, std::string following) {
    if (!has_camera && selection.empty() && following.empty() && (!view || !view->last_cursor)) {
      view.reset();
      return;
    }
    View& v = view_for_update();
    v.has_camera = has_camera;
    v.camera = camera;
    v.selection = std::move(selection);
    v.following = std::move(following);
  }
  const Camera* camera() const { return view && view->has_camera ? &view->camera : nullptr; }
  const std::vector<std::string>* selection() const { return view ? &view->selection : nullptr; }  // null: none
  std::string_view following() const { return view ? std::string_view(view->following) : std::string_view(); }
  // A departed leader: this member follows nobody now.
  void stop_following(std::string_view leader) {
    if (view && view->following == leader) view->following.clear();
  }

  bool has_token() const {
    uint8_t any = 0;
    for (uint8_t b : resume_token) any |= b;
    return any != 0;
  }
  // The token as the client sees it: 24 base64url characters (empty: none issued).
  std::string token() const {
    if (!has_token()) return {};
    return base64url_encode(std::string_view(reinterpret_cast<const char*>(resume_token.data()), kTokenBytes));
  }
};
static_assert(sizeof(Session) <= 192, "every joined member carries one Session: keep it in the 192-byte size class");

}  // namespace roomcast
