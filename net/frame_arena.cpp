#include "net/frame_arena.h"

#include <new>

namespace roomcast {

struct FrameArena::Chunk {
  uint32_t refs;
  uint32_t used;
  uint32_t capacity;
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(this + 1); }
};

namespace {
size_t round_up_pow2(size_t n) {
  size_t p = FrameArena::kMinChunk;
  while (p < n) p *= 2;
  return p;
}
}  // namespace

uint8_t* FrameArena::allocate(size_t n, Chunk** chunk) {
  if (n > kMaxFrame) return nullptr;
  if (!current_ || current_->used + n > current_->capacity) {
    if (current_) release(current_);  // its frames keep it alive as long as they need it
    size_t bytes = next_chunk_;
    if (current_) bytes = kMaxChunk;  // this window outgrew its estimate
    if (bytes < sizeof(Chunk) + n) bytes = round_up_pow2(sizeof(Chunk) + n);
    void* mem = ::operator new(bytes);
    current_ = new (mem) Chunk{1, 0, static_cast<uint32_t>(bytes - sizeof(Chunk))};
  }
  uint8_t* at = current_->bytes() + current_->used;
  current_->used += static_cast<uint32_t>(n);
  ++current_->refs;
  *chunk = current_;
  return at;
}

bool FrameArena::seal() {
  if (!current_) return false;
  // Size the next window's chunk for what this one held (with room to grow).
  size_t want = round_up_pow2(sizeof(Chunk) + current_->used + current_->used / 4);
  next_chunk_ = want > kMaxChunk ? kMaxChunk : want;
  release(current_);
  current_ = nullptr;
  return true;
}

void FrameArena::release(Chunk* chunk) {
  if (--chunk->refs == 0) {
    chunk->~Chunk();
    ::operator delete(chunk);
  }
}

}  // namespace roomcast
