#include "net/frame_arena.h"

#include <new>

namespace roomcast {

struct FrameArena::Chunk {
  uint32_t refs;
  uint32_t used;
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(this + 1); }
};

FrameArena::~FrameArena() {
  if (current_) release(current_);
}

uint8_t* FrameArena::allocate(size_t n, Chunk** chunk) {
  if (n > kMaxFrame) return nullptr;
  constexpr size_t capacity = kChunkBytes - sizeof(Chunk);
  if (!current_ || current_->used + n > capacity) {
    if (current_) release(current_);  // its frames keep it alive as long as they need it
    void* mem = ::operator new(kChunkBytes);
    current_ = new (mem) Chunk{1, 0};
  }
  uint8_t* at = current_->bytes() + current_->used;
  current_->used += static_cast<uint32_t>(n);
  ++current_->refs;
  *chunk = current_;
  return at;
}

void FrameArena::release(Chunk* chunk) {
  if (--chunk->refs == 0) {
    chunk->~Chunk();
    ::operator delete(chunk);
  }
}

}  // namespace roomcast
