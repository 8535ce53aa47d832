#include "core/room/history.h"

namespace roomcast {

void History::push(uint64_t seq, SharedFrame* frame) {
  if (limit_ == 0) return;
  frame->retain();
  if (frames_.empty()) first_seq_ = seq;
  frames_.push_back(FrameRef::adopt(frame));
  if (frames_.size() > limit_) {
    frames_.pop_front();
    ++first_seq_;
  }
}

}  // namespace roomcast
