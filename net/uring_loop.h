// net/uring_loop.h: EventLoop on io_uring (liburing 2.3): multishot accept, multishot recv
// into one provided-buffer ring per thread, sendmsg, timeouts; one io_uring_enter per
// run_once() for everything queued.
#pragma once

#include <memory>
#include <string>

#include "net/event_loop.h"

namespace roomcast {

// Null with `error` set when this kernel or sandbox refuses io_uring. `receive_buffers`
// (a power of two) buffers of kReceiveBufferSize bytes form the thread's receive pool.
inline constexpr unsigned kReceiveBufferSize = 2048;
std::unique_ptr<EventLoop> make_uring_loop(unsigned receive_buffers, std::string* description, int* error);

}  // namespace roomcast
