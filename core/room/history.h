// core/room/history.h: a room's most recent edits, as the frames that were broadcast.
//
// Owns: one reference to each kept edit frame (the same immutable SharedFrame every
// member received), so a `since` replay re-sends bytes without re-encoding anything.
// Called by Room only, on its loop thread.
// Promises: keeps the last `limit` edits in seq order; answers whether a client that
// has seen everything up to `since` can be brought up to date from what is kept, and
// hands out a kept edit by seq (a paced replay reads it one edit at a time, see
// RoomService::replay_pump).
#pragma once

#include <cstdint>

#include "core/base/fifo.h"
#include "net/shared_frame.h"

namespace roomcast {

class History {
 public:
  explicit History(size_t limit) : limit_(limit) {}

  // Appends the edit with seq `seq` (always previous seq + 1).
  void push(uint64_t seq, SharedFrame* frame);

  // Edits with seq > since, oldest first, or false if some of them are no longer kept
  // (the client must resync). `latest` is the room's current seq.
  template <typename F>
  bool replay_since(uint64_t since, uint64_t latest, F&& each) const {
    if (since >= latest) return since == latest;  // ahead of the room: state is foreign
    uint64_t first_needed = since + 1;
    if (frames_.empty() || first_needed < first_seq_) return false;
    for (size_t i = size_t(first_needed - first_seq_); i < frames_.size(); ++i) each(frames_[i].get());
    return true;
  }

  // Whether a client that has seen everything up to `since` can be brought up to date
  // from what is kept (replay_since without the replay).
  bool covers(uint64_t since, uint64_t latest) const {
    if (since >= latest) return since == latest;
    return !frames_.empty() && since + 1 >= first_seq_;
  }
  // The kept edit with seq `seq`, or null if it is no longer (or not yet) kept.
  SharedFrame* at_seq(uint64_t seq) const {
    if (frames_.empty() || seq < first_seq_ || seq - first_seq_ >= frames_.size()) return nullptr;
    return frames_[size_t(seq - first_seq_)].get();
  }

  size_t size() const { return frames_.size(); }
  // Drops every kept edit; the next push() may start at any seq (scale-out: a history
  // loaded from Redis, or a room whose epoch changed).
  void clear() { frames_.clear(); }

 private:
  size_t limit_;
  uint64_t first_seq_ = 1;  // seq of frames_.front()
  Fifo<FrameRef> frames_;
};

}  // namespace roomcast
