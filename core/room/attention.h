// core/room/attention.h: protocol 1.2 camera rate by attention (docs/protocol.md 7.3): which
// of a room's recipients get a sender's cursor at once, and the newest cursor of each
// sender held back for the others until their rate class's tick.
//
// Owns (per room, inside its Room): the room's rate classes. A member whose join carried
// `camera_rate` R is "reduced" and belongs to the class of its interval (1/R rounded up
// to 50 ms: at most R per second). For each class: its members, the senders whose newest
// cursor its members have not had yet, and when its last tick was. Plus the reduced
// members that follow someone (rebuilt when a follow changes).
// Called by: Room (membership, cursor fan-out) and RoomService (ticks, per-sender order)
// on the room's loop thread.
// Grouping (no per-recipient decision on the hot path): for one cursor of sender S,
//   - full rate: every member without camera_rate (a contiguous run at the front of
//     Room::members), the reduced members following S, or everyone if S presents;
//   - reduced: the rest. They get nothing now: S is marked held back in each class (one
//     bit in S's view and one pointer per class, whatever the number of recipients).
// A class's tick (at most once per interval) pushes each held-back sender's newest frame
// (the very frame the full-rate group got: no copy, no encoding) to each member of the
// class but S itself and S's followers: together, so about one write per tick per
// recipient, not one per cursor. A newer cursor supersedes the queued one as for anyone
// (latest wins), and the newest is never lost: it stays held back until a tick or flush.
// Promises:
//   - a reduced member gets a held-back sender's cursor at most once per its interval and
//     at most one interval after it was sent (plus the batch window);
//   - flush(S) delivers S's held-back cursor now (per-sender order: before S's next
//     non-cursor message, docs/protocol.md 7.3), forget(S) drops it (S is going away
//     without a word or changes owner): after either, no pointer to S is kept;
//   - a member removed from the room (remove) is never pushed to again.
// Frames pushed at a tick must still have their bytes: RoomService makes cursor frames
// outside the room's camera arena while any class exists (any()).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/room/session.h"
#include "net/shared_frame.h"

namespace roomcast {

class Attention {
 public:
  static constexpr int64_t kStepNs = 50'000'000;  // intervals are multiples of this
  static constexpr int64_t kMinIntervalNs = 100'000'000;   // camera_rate 10
  static constexpr int64_t kMaxIntervalNs = 2'000'000'000; // camera_rate 0.5
  static constexpr size_t kClasses = (kMaxIntervalNs - kMinIntervalNs) / kStepNs + 1;
  // The class of camera_rate `rate` (0.5 to 10).
  static size_t class_of(double rate);
  static int64_t interval_of(size_t cls) { return kMinIntervalNs + int64_t(cls) * kStepNs; }

  // Whether any member of the room has a camera_rate.
  bool any() const { return reduced_ != 0; }
  // Member `s` (connected, its Member's camera_rate > 0) joins / leaves the recipients.
  void add(Session* s, double rate);
  void remove(Session* s);
  // Some follow changed: the followers index is rebuilt at the next cursor.
  void follows_changed() { followers_stale_ = true; }

  // `frame`, the newest cursor of `sender` (not presenting), already pushed to the
  // full-rate members: pushes it to the reduced members following `sender` and holds it
  // back for the others. Returns the recipients pushed to. `urgent`: see Room::broadcast.
  uint32_t cursor(Session& sender, SharedFrame* frame, int64_t now_ns, bool urgent);
  // `sender`'s held-back cursor to every class now. Returns the recipients pushed to.
  uint32_t flush(Session& sender);
  // `sender`'s held-back cursor is dropped.
  void forget(Session& sender);

  // The earliest time a class with held-back cursors may tick; 0 if none waits.
  int64_t due_ns() const;
  // Ticks every class that is due. `presenter`: the room's presenting session (its
  // cursors reached everyone already). Returns the recipients pushed to.
  uint32_t tick(int64_t now_ns, std::string_view presenter);

 private:
  struct Class {
    std::vector<Session*> members;
    std::vector<Session*> held_back;  // senders; each has this class's bit in view->held_back
    int64_t last_tick_ns = INT64_MIN / 2;
  };
  // Pushes sender's newest frame to the members of `c` that have not had it.
  uint32_t deliver(Class& c, Session& sender);
  void drop_held_back(Class& c, size_t cls);

  // By class; empty until the room's first reduced member (every room carries an
  // Attention, and an idle room of 10 costs 24 bytes here instead of 39 pointers).
  std::vector<std::unique_ptr<Class>> classes_;
  size_t reduced_ = 0;                      // members in all classes
  std::vector<Session*> followers_;         // reduced members following someone
  bool followers_stale_ = true;
};

}  // namespace roomcast
