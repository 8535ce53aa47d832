#include "net/send_queue.h"

#include <cassert>

namespace roomcast {

// A frame leaves this queue unsent: its bytes stop counting, and its fan-out count learns
// that this recipient is done with it (an arena frame may give its bytes back).
void SendQueue::forget(SharedFrame* f) {
  bytes_ -= f->size();
  f->abandoned_one();
  f->release();
}

bool SendQueue::release_storage() {
  if (count_ != 0 || !ring_) return false;
  ring_.reset();
  capacity_ = 0;
  head_ = 0;
  return true;
}

void SendQueue::grow() {
  const uint32_t cap = capacity_ ? capacity_ * 2 : 8;
  auto bigger = std::make_unique_for_overwrite<SharedFrame*[]>(cap);
  for (size_t i = 0; i < count_; ++i) bigger[i] = at(i);
  ring_ = std::move(bigger);
  capacity_ = cap;
  head_ = 0;
}

size_t SendQueue::drop_superseded() {
  // Frames in flight, or a half-sent head, must finish whatever they are.
  size_t keep = in_flight_ ? in_flight_ : (head_offset_ ? 1 : 0);
  size_t out = keep;
  for (size_t i = keep; i < count_; ++i) {
    SharedFrame* f = at(i);
    if (f->policy() == DropPolicy::WhenSuperseded && f->superseded()) {
      forget(f);
      continue;
    }
    at(out++) = f;
  }
  size_t dropped = count_ - out;
  count_ = static_cast<uint32_t>(out);
  return dropped;
}

void SendQueue::insert(size_t pos, SharedFrame* const* frames, size_t n) {
  assert(pos <= count_ && pos >= in_flight_ && (pos > 0 || head_offset_ == 0));
  if (n == 0) return;
  while (count_ + n > capacity_) grow();
  for (size_t i = count_; i > pos; --i) at(i - 1 + n) = at(i - 1);
  for (size_t i = 0; i < n; ++i) {
    frames[i]->retain();
    at(pos + i) = frames[i];
    bytes_ += frames[i]->size();
  }
  count_ += static_cast<uint32_t>(n);
}

size_t SendQueue::gather(iovec* iov, size_t max_iov, size_t max_bytes, size_t max_frames) {
  assert(in_flight_ == 0);
  size_t frames = 0, n = 0, total = 0;
  const size_t limit = max_frames < count_ ? max_frames : count_;
  while (frames < limit && total < max_bytes) {
    SharedFrame* f = at(frames);
    const uint32_t skip = frames == 0 ? head_offset_ : 0;
    uint8_t* bytes = const_cast<uint8_t*>(f->data()) + skip;
    const size_t len = f->size() - skip;
    // Frames produced one after another into one arena sit next to each other in its
    // FrameArena: extend the previous range instead of starting a new one.
    if (n > 0 && static_cast<uint8_t*>(iov[n - 1].iov_base) + iov[n - 1].iov_len == bytes) {
      iov[n - 1].iov_len += len;
    } else {
      if (n == max_iov) break;
      iov[n].iov_base = bytes;
      iov[n].iov_len = len;
      ++n;
    }
    total += len;
    ++frames;
  }
  in_flight_ = static_cast<uint32_t>(frames);
  in_flight_bytes_ = static_cast<uint32_t>(total);
  if (frames == count_) urgent_flag_ = false;  // every queued reply is on its way
  return n;
}

void SendQueue::complete(size_t sent) {
  backed_up_ = sent < in_flight_bytes_;
  in_flight_bytes_ = 0;
  bytes_ -= sent;
  while (sent > 0) {
    assert(count_ > 0);
    SharedFrame* f = ring_[head_];
    size_t left = f->size() - head_offset_;
    if (sent < left) {
      head_offset_ += static_cast<uint32_t>(sent);
      break;
    }
    sent -= left;
    if (f->delivered_one() && dirty_->observer) dirty_->observer->fanout_done(f->born_ns());
    f->release();
    head_ = (head_ + 1) & (capacity_ - 1);
    --count_;
    head_offset_ = 0;
  }
  in_flight_ = 0;
}

void SendQueue::drop_unstarted() {
  size_t keep = in_flight_ ? in_flight_ : (head_offset_ ? 1 : 0);
  while (count_ > keep) {
    forget(at(count_ - 1));
    --count_;
  }
}

void SendQueue::clear() {
  for (size_t i = 0; i < count_; ++i) forget(at(i));
  count_ = 0;
  head_ = 0;
  bytes_ = 0;
  head_offset_ = 0;
  in_flight_ = 0;
}

}  // namespace roomcast
