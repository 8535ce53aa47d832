// net/frame_arena.h: contiguous storage for a series of short-lived frames.
//
// Owns: the chunk being filled. Each chunk counts the frames whose bytes it holds, plus
// one while it is being filled, and is freed when that count reaches zero.
// Called by: SharedFrame::make with an arena (core gives each room one, for its cameras),
// and by the producer's owner, which seal()s it at the end of every output window;
// SharedFrame gives bytes back. Thread-confined like its frames: plain counters.
// Promises:
//   - consecutive allocations between two seal()s are adjacent in memory, so frames
//     produced one after another in one window are adjacent too, and a recipient's
//     gather sends a run of them as one iovec (SendQueue::gather merges adjacent ranges).
//     The kernel pays per iovec segment (docs/profiling.md): this keeps fan-out
//     copy-free and cheap for the kernel.
//   - a chunk holds one arena's frames of one window: a recipient that stops reading
//     pins only chunks of frames it has itself queued (bounded by its queue limit), never
//     other arenas' traffic. seal() sizes the next chunk to the last window's bytes.
//   - frames take their bytes from here only while some queue holds them: SharedFrame
//     gives them back when its last recipient is done, so a frame kept longer (a
//     producer's last frame, kept for latest-wins) never pins a chunk.
#pragma once

#include <cstddef>
#include <cstdint>

namespace roomcast {

class FrameArena {
 public:
  struct Chunk;
  static constexpr size_t kMinChunk = 512;
  static constexpr size_t kMaxChunk = 16 * 1024;
  // Frames larger than this use their own allocation (the series it is made for, cameras,
  // are ~100 bytes).
  static constexpr size_t kMaxFrame = 1024;

  FrameArena() = default;
  FrameArena(const FrameArena&) = delete;
  FrameArena& operator=(const FrameArena&) = delete;
  ~FrameArena() { seal(); }

  // `n` bytes directly after the previous allocation when they fit in the chunk being
  // filled, else at the start of a new one; the chunk gains one reference, returned in
  // *chunk. Null when n > kMaxFrame (the caller allocates on its own).
  uint8_t* allocate(size_t n, Chunk** chunk);

  // Stops filling the current chunk (it lives on while frames hold it). Returns whether
  // a chunk was being filled.
  bool seal();
  bool filling() const { return current_ != nullptr; }

  // Drops one reference (a frame's bytes are no longer needed). A chunk outlives its
  // arena while frames still hold it.
  static void release(Chunk* chunk);

 private:
  Chunk* current_ = nullptr;
  size_t next_chunk_ = kMinChunk;  // bytes for the next chunk, from the last window's use
};

}  // namespace roomcast
