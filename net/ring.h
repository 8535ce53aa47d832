// net/ring.h: an io_uring set up for one loop thread, and its provided-buffer ring.
//
// Owns: the ring (Ring) and the receive buffer pool (BufferRing). Created inside the
// loop thread that uses them (SINGLE_ISSUER is enforced by the kernel), destroyed by it.
// Called by: net/uring_loop.cpp, the only user of io_uring in the server.
// Promises: Ring::sqe() never returns null (it submits to make room); a BufferRing
// hands out fixed-size buffers that the kernel fills for multishot receives and takes
// back with recycle() + publish().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "net/uring_compat.h"

namespace roomcast {

class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring();

  // Creates the ring with the best flags this kernel accepts. Returns 0 or -errno;
  // `description` says which flags were taken.
  int init(unsigned entries, std::string* description);

  io_uring* get() { return &ring_; }
  io_uring_sqe* sqe();
  // DEFER_TASKRUN is on: the kernel fills receive buffers only inside this thread's
  // io_uring_enter, never while user code runs.
  bool defers_task_work() const { return defer_taskrun_; }

 private:
  io_uring ring_{};
  bool live_ = false;
  bool defer_taskrun_ = false;
};

class BufferRing {
 public:
  BufferRing() = default;
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;
  ~BufferRing();

  // `count` must be a power of two. Returns 0 or -errno.
  int init(Ring& ring, uint16_t group, unsigned count, unsigned buffer_size);

  uint16_t group() const { return group_; }
  uint8_t* buffer(uint16_t id) { return pool_ + size_t(id) * buffer_size_; }
  // Gives buffer `id` back to the kernel; visible after publish().
  void recycle(uint16_t id);
  // Makes every recycled buffer visible to the kernel with one store.
  void publish();
  // A completion carried buffer `id`: the kernel no longer has it.
  void taken() { ++taken_; }
  // Buffers the kernel can still pick (published and not yet seen in a completion).
  unsigned available() const { return count_ - taken_; }
  // Gives the pool's pages back to the kernel (MADV_DONTNEED); a buffer reads as zeros
  // until the kernel fills it again. Only safe while the kernel cannot be writing into
  // the pool and the caller holds no received bytes (see Ring::defers_task_work()).
  void release_pages();

 private:
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  uint8_t* pool_ = nullptr;
  size_t ring_bytes_ = 0;
  unsigned count_ = 0;
  unsigned buffer_size_ = 0;
  unsigned pending_ = 0;
  unsigned taken_ = 0;  // seen in completions, not yet published back
  uint16_t group_ = 0;
};

}  // namespace roomcast
