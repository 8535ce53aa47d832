#include "net/event_loop.h"

#include <cstring>
#include <ctime>

#include "net/epoll_loop.h"
#include "net/uring_loop.h"

namespace roomcast {

std::unique_ptr<EventLoop> EventLoop::create(BackendChoice choice, unsigned receive_buffers,
                                             std::string* description, int* error) {
  if (choice == BackendChoice::Epoll) return make_epoll_loop(description, error);
  int uring_error = 0;
  std::unique_ptr<EventLoop> loop = make_uring_loop(receive_buffers, description, &uring_error);
  if (loop || choice == BackendChoice::IoUring) {
    if (error) *error = uring_error;
    return loop;
  }
  // EPERM (kernel.io_uring_disabled, seccomp), ENOSYS (no io_uring), EINVAL (too old for
  // a buffer ring or multishot): the same server runs on epoll.
  loop = make_epoll_loop(description, error);
  if (loop && description)
    *description = "epoll (io_uring unavailable: " + std::string(std::strerror(-uring_error)) + ")";
  return loop;
}

// Both backends and every caller read the same clock; it lives with the interface, not
// in either backend.
int64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace roomcast
