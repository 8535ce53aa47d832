// net/frame_arena.h: contiguous storage for one room's camera frames.
//
// Owns: the chunk being filled. Each chunk counts the frames whose bytes it holds, plus
// one while it is being filled, and is freed when that count reaches zero.
// Called by: core/protocol through SharedFrame::make (bytes of a room's Cursor frames),
// which seals every arena used since the last flush when the loop flushes; SharedFrame
// gives bytes back. Thread-confined like the room and its frames: plain counters.
// Promises:
//   - consecutive allocations between two seal()s are adjacent in memory, so the cameras
//     a room broadcasts in one batch window are adjacent too, and a recipient's gather
//     sends a run of them as one iovec (SendQueue::gather merges adjacent ranges). The
//     kernel pays per iovec segment (docs/profiling.md): this keeps fan-out copy-free
//     and cheap for the kernel.
//   - a chunk holds one room's frames of one window: a recipient that stops reading pins
//     only chunks of frames it has itself queued (bounded by --max-pending), never other
//     rooms' traffic. seal() sizes the next chunk to the last window's bytes.
//   - frames take their bytes from here only while some queue holds them: SharedFrame
//     gives them back when its last recipient is done, so a frame kept longer (a
//     session's last camera, for latest-wins) never pins a chunk.
#pragma once

#include <cstddef>
#include <cstdint>

namespace roomcast {

class FrameArena {
 public:
  struct Chunk;
  static constexpr size_t kMinChunk = 512;
  static constexpr size_t kMaxChunk = 16 * 1024;
  // Frames larger than this use their own allocation (cameras are ~100 bytes).
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
