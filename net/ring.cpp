#include "net/ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>

namespace roomcast {

Ring::~Ring() {
  if (live_) io_uring_queue_exit(&ring_);
}

int Ring::init(unsigned entries, std::string* description) {
  io_uring_params p{};
  // Multishot accept/recv produce many CQEs per SQE: give the CQ room (CQSIZE).
  // SUBMIT_ALL: one bad SQE (e.g. a send on a socket closed in the same batch) must not
  // stop the rest of a broadcast's sends.
  // SINGLE_ISSUER + DEFER_TASKRUN (6.1+): completions run only when this thread enters
  // the kernel to wait, which is exactly once per loop iteration; fewer context switches.
  // COOP_TASKRUN is the fallback for kernels without DEFER_TASKRUN. No SQPOLL: it burns
  // a core per ring.
  const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  const unsigned tries[] = {
      base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      base | IORING_SETUP_COOP_TASKRUN,
      base,
  };
  const char* names[] = {"SINGLE_ISSUER|DEFER_TASKRUN", "COOP_TASKRUN", "plain"};
  int rc = -EINVAL;
  for (size_t i = 0; i < 3; ++i) {
    p = io_uring_params{};
    p.flags = tries[i];
    p.cq_entries = entries * 8;
    rc = io_uring_queue_init_params(entries, &ring_, &p);
    if (rc == 0) {
      live_ = true;
      defer_taskrun_ = (tries[i] & IORING_SETUP_DEFER_TASKRUN) != 0;
      if (description) *description = names[i];
      // Saves an fget/fput on every io_uring_enter; optional, so a failure (old kernel)
      // only costs that.
      (void)io_uring_register_ring_fd(&ring_);
      return 0;
    }
    if (rc != -EINVAL) break;  // EPERM/ENOSYS/ENOMEM: no flag change will help
  }
  return rc;
}

io_uring_sqe* Ring::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  while (!s) {
    // The submission queue is full: hand it to the kernel to make room. A failure here
    // resurfaces from the loop's own io_uring_submit_and_wait, which reports it.
    (void)io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

BufferRing::~BufferRing() {
  if (br_) {
    // Teardown: the ring goes away with its buffers either way.
    (void)io_uring_unregister_buf_ring(ring_, group_);
    (void)munmap(br_, ring_bytes_);
  }
  std::free(pool_);
}

int BufferRing::init(Ring& ring, uint16_t group, unsigned count, unsigned buffer_size) {
  ring_ = ring.get();
  group_ = group;
  count_ = count;
  buffer_size_ = buffer_size;
  // liburing 2.3 has no io_uring_setup_buf_ring(): map and register by hand, as 2.4's
  // br_setup() does. The ring memory must be page aligned.
  ring_bytes_ = size_t(count) * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return -errno;
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(mem);
  reg.ring_entries = count;
  reg.bgid = group;
  int rc = io_uring_register_buf_ring(ring_, &reg, 0);
  if (rc != 0) {
    munmap(mem, ring_bytes_);
    return rc;
  }
  br_ = static_cast<io_uring_buf_ring*>(mem);
  pool_ = static_cast<uint8_t*>(std::aligned_alloc(4096, size_t(count) * buffer_size));
  if (!pool_) return -ENOMEM;
  io_uring_buf_ring_init(br_);
  for (unsigned i = 0; i < count; ++i)
    io_uring_buf_ring_add(br_, buffer(uint16_t(i)), buffer_size, uint16_t(i), io_uring_buf_ring_mask(count), int(i));
  io_uring_buf_ring_advance(br_, int(count));
  return 0;
}

void BufferRing::release_pages() {
  // Advisory: if the kernel refuses, the pages just stay resident.
  if (pool_) (void)madvise(pool_, size_t(count_) * buffer_size_, MADV_DONTNEED);
}

void BufferRing::recycle(uint16_t id) {
  io_uring_buf_ring_add(br_, buffer(id), buffer_size_, id, io_uring_buf_ring_mask(count_), int(pending_));
  ++pending_;
}

void BufferRing::publish() {
  if (pending_) {
    io_uring_buf_ring_advance(br_, int(pending_));
    taken_ -= pending_;
    pending_ = 0;
  }
}

}  // namespace roomcast
