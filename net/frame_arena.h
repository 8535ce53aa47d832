// net/frame_arena.h: contiguous storage for one loop thread's camera frames.
//
// Owns: chunks of kChunkBytes. Each chunk counts the frames whose bytes it holds, plus one
// while it is the arena's current chunk, and is freed when that count reaches zero.
// Called by: SharedFrame::make (bytes of Cursor frames, via core/protocol) and
// SharedFrame (giving bytes back). Thread-confined like the frames: plain counters.
// Promises: consecutive allocations from one chunk are adjacent in memory, so the frames
// a room broadcasts one after another are adjacent too, and a recipient's gather can send
// a run of them as one iovec (SendQueue::gather merges adjacent ranges). The kernel pays
// per iovec segment (docs/profiling.md), so this is the cheap half of "no copy".
// Frames take their bytes from here only while they are queued somewhere: SharedFrame
// gives them back when its last recipient is done with it, so a frame kept longer (a
// session's last camera, for latest-wins) never pins a chunk.
#pragma once

#include <cstddef>
#include <cstdint>

namespace roomcast {

class FrameArena {
 public:
  struct Chunk;
  static constexpr size_t kChunkBytes = 16 * 1024;
  // Frames larger than this use their own allocation (cameras are ~100 bytes).
  static constexpr size_t kMaxFrame = 1024;

  FrameArena() = default;
  FrameArena(const FrameArena&) = delete;
  FrameArena& operator=(const FrameArena&) = delete;
  ~FrameArena();

  // `n` bytes directly after the previous allocation when they fit in the current chunk,
  // else at the start of a new one; the chunk gains one reference, returned in *chunk.
  // Null when n > kMaxFrame (the caller allocates on its own).
  uint8_t* allocate(size_t n, Chunk** chunk);

  // Drops one reference (a frame's bytes are no longer needed). A chunk outlives its
  // arena while frames still hold it.
  static void release(Chunk* chunk);

 private:
  Chunk* current_ = nullptr;
};

}  // namespace roomcast
