// core/session.h: what the room knows about one joined member.
//
// Owns: the presence state a late joiner sees in `welcome.peers` (user, camera,
// selection, following), a reference to the sender's newest cursor frame and (1.1) the
// session's one live resume token.
// Lives inside its Member (core/member.h) from `join` until leave; the Room holds a pointer
// while it is a member. When its connection ends without `leave` (1.1 section 1) the room
// holds it (Room::hold) for --resume-grace: no SendQueue, still in snapshots as not
// connected, until a resume attaches it to a new Member or the grace ends. Loop-thread only.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/admission.h"
#include "net/send_queue.h"
#include "proto/message.h"

namespace roomcast {

class Room;

struct Session {
  std::string id;  // unique per server run
  User user;
  // What a late joiner sees of this member besides its user. Made at the first cursor,
  // select or follow (or when restoring a session that had them), so a member that only
  // watches costs one pointer here, not ~150 bytes.
  struct View {
    bool has_camera = false;
    Camera camera;
    std::vector<std::string> selection;
    std::string following;  // empty: following nobody
  };
  std::unique_ptr<View> view;
  SendQueue* out = nullptr;   // null while held
  struct Member* member = nullptr;  // the member it is attached to; null while held
  Room* room = nullptr;
  uint32_t member_index = 0;  // position in Room::members_ (or held_), for O(1) removal
  FrameRef last_cursor;       // marked superseded when a newer camera is sent

  // 1.1: resume. Kept small: every idle joined connection carries a Session.
  static constexpr size_t kTokenChars = 24;  // 144 random bits, base64url
  std::array<char, kTokenChars> resume_token{};  // a secret: never logged; all zero until issued
  bool connected = true;  // false while held
  bool presence_stale = false;  // scale-out: the Redis presence record lags the camera
  struct Hold {
    int64_t until_ns = 0;  // when the grace ends
    // The connection's place in ConnectionLimits stays taken while held (released when
    // the hold ends), so held sessions count toward --max-connections(-per-ip).
    bool holds_admission = false;
    PeerAddress admission;
  };
  std::unique_ptr<Hold> hold;  // non-null only while held

  View& view_for_update() {
    if (!view) view = std::make_unique<View>();
    return *view;
  }
  // Replaces the view (a session restored from another instance's record).
  void restore_view(bool has_camera, const Camera& camera, std::vector<std::string> selection, std::string following) {
    if (!has_camera && selection.empty() && following.empty()) {
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

  std::string_view token() const {
    return resume_token[0] ? std::string_view(resume_token.data(), kTokenChars) : std::string_view();
  }
};
static_assert(sizeof(Session) <= 224, "every joined member carries one Session: keep it in the 224-byte size class");

}  // namespace roomcast
