// net/send_queue.h: one connection's outbound frames, waiting for the socket.
//
// Owns: one reference to each queued SharedFrame and the offset into the first one.
// Called by: whoever produces output for the owner (push: a broadcast, a reply), and by
// the loop's output step (gather -> one sendmsg -> complete). A queue lives inside its
// connection and is touched only by the loop thread that owns that connection.
// Promises:
//   - push() is the whole per-recipient cost of a broadcast: one pointer store, one
//     refcount increment, and, the first time the queue becomes non-empty in an
//     iteration, one append to the loop's DirtyList. No allocation in steady state.
//   - Frames leave in push order. Under backpressure (the kernel took less than the last
//     gather offered: the socket buffer is full) a DropPolicy::WhenSuperseded frame whose
//     producer has since marked it superseded and that has not started to leave is
//     dropped instead of sent, so a slow recipient gets only the newest of each such
//     series. A recipient that keeps up gets every frame. Nothing else is ever dropped.
//   - At most one gather() is outstanding: the caller must complete() it before the
//     next gather() (one send in flight per socket).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "net/shared_frame.h"

namespace roomcast {

// Told when the kernel has taken a tracked broadcast frame for its last recipient.
class FanoutObserver {
 public:
  virtual void fanout_done(int64_t born_ns) = 0;

 protected:
  ~FanoutObserver() = default;
};

// One loop thread's outbound bookkeeping, shared by all its queues (so a queue carries one
// pointer for it, not three): `slots`, queues that became non-empty in this loop iteration
// (the output step decides when each leaves); `urgent`, queues holding a reply its client
// is waiting for (they leave at the end of this loop iteration); `observer`, told when a
// tracked frame has left for its last recipient (may be null).
struct DirtyList {
  std::vector<uint32_t> slots;
  std::vector<uint32_t> urgent;
  FanoutObserver* observer = nullptr;
};

class SendQueue {
 public:
  SendQueue(DirtyList* dirty, uint32_t owner_slot) : dirty_(dirty), owner_(owner_slot) {}
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;
  ~SendQueue() { clear(); }

  // Queues a reference to `frame` (retained) and marks the owner dirty.
  void push(SharedFrame* frame) {
    if (count_ == capacity_) grow();
    frame->retain();
    ring_[(head_ + count_) & (capacity_ - 1)] = frame;
    ++count_;
    bytes_ += frame->size();
    if (!dirty_flag_) {
      dirty_flag_ = true;
      dirty_->slots.push_back(owner_);
    }
  }

  // Like push(), but takes over the caller's reference (a frame just made for one
  // recipient: an error, a welcome) instead of adding one.
  void push_adopt(SharedFrame* frame) {
    push(frame);
    frame->release();
  }

  // Like push_adopt(), for a reply the client waits for (101, welcome, ack, pong, error, a
  // close): the whole queue leaves at the end of this loop iteration instead of waiting
  // for the batch window. Replies are one per request, so this never defeats batching
  // of broadcasts, which is where the writes are.
  void push_reply(SharedFrame* frame) {
    push_adopt(frame);
    mark_urgent();
  }
  // Like push(), and the queue leaves at the end of this loop iteration: a broadcast
  // that has already waited for a batch window elsewhere (relayed from another instance).
  void push_urgent(SharedFrame* frame) {
    push(frame);
    mark_urgent();
  }
  // Queues references to `frames[0..n)` (retained) at position `pos`, before the frames
  // queued after it, without marking the owner dirty (its caller is about to gather). For
  // a `since` replay that is queued as the socket drains, ahead of live frames that came
  // meanwhile. `pos` must not be inside the outstanding gather() or a half-sent head.
  // O(frames after pos).
  void insert(size_t pos, SharedFrame* const* frames, size_t n);
  uint32_t owner_slot() const { return owner_; }
  bool empty() const { return count_ == 0; }
  size_t frames() const { return count_; }
  // Bytes not yet handed to the kernel (superseded frames included until dropped).
  size_t pending_bytes() const { return bytes_; }
  // The last send was short: the peer is not keeping up.
  bool backed_up() const { return backed_up_; }

  // Set while the output step has the owner on a list (the DirtyList, or its own list of
  // sockets waiting for their window); it clears this when it takes the owner off.
  bool dirty() const { return dirty_flag_; }
  void clear_dirty() { dirty_flag_ = false; }
  // A reply is queued that no gather() has taken yet: it must not wait for a window.
  bool urgent() const { return urgent_flag_; }
  void mark_urgent() {
    if (!urgent_flag_) {
      urgent_flag_ = true;
      dirty_->urgent.push_back(owner_);
    }
  }

  // Drops superseded frames that have not started to leave (frames in flight or
  // half sent stay). O(frames). Returns how many were dropped.
  size_t drop_superseded();

  // Fills `iov` with the next frames to send (after drop_superseded()), at most
  // `max_iov` entries, about `max_bytes` bytes and `max_frames` frames (a replay still
  // being queued: what is behind it must wait); returns the number of entries. The
  // queue is no longer urgent once its replies are gathered.
  // Frames adjacent in memory (consecutive frames of one FrameArena) share one
  // entry, so one entry may cover many frames.
  size_t gather(iovec* iov, size_t max_iov, size_t max_bytes, size_t max_frames = SIZE_MAX);

  // The kernel took `sent` bytes of the last gather(): release finished frames.
  void complete(size_t sent);

  // Forgets every frame except a partially sent head (its remainder must still go out
  // or the stream is corrupt). Used before a close frame on a slow reader.
  void drop_unstarted();

  // Releases everything (connection gone).
  void clear();

  // Gives the ring's storage back when nothing is queued (a quiet connection: the next
  // push allocates it again). Returns whether it gave storage back: false, doing nothing,
  // while frames are queued or when there is no storage to give.
  bool release_storage();

 private:
  void grow();
  void forget(SharedFrame* f);
  SharedFrame*& at(size_t i) { return ring_[(head_ + i) & (capacity_ - 1)]; }

  // Every idle connection carries one queue, so its fields are packed (56 bytes): counts
  // are 32-bit (a queue never holds 4G frames), and so are a gather's bytes (at most
  // max_bytes plus one frame, both far below 4 GiB).
  std::unique_ptr<SharedFrame*[]> ring_;  // capacity_ slots, a power of two (or none)
  DirtyList* dirty_;
  size_t bytes_ = 0;
  uint32_t capacity_ = 0;
  uint32_t head_ = 0;
  uint32_t count_ = 0;
  uint32_t head_offset_ = 0;      // bytes of ring_[head_] already sent
  uint32_t in_flight_ = 0;        // frames covered by the outstanding gather()
  uint32_t in_flight_bytes_ = 0;
  uint32_t owner_;
  bool backed_up_ = false;
  bool dirty_flag_ = false;
  bool urgent_flag_ = false;
};

}  // namespace roomcast
