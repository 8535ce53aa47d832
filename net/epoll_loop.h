// net/epoll_loop.h: EventLoop on epoll, for kernels or sandboxes without io_uring.
// Readiness is turned into completions: a readable fd with a recv armed is read into one
// 64 KiB buffer and handed to the sink at once; a send is tried at submission and, if the
// socket is full, again when epoll says it is writable.
#pragma once

#include <memory>
#include <string>

#include "net/event_loop.h"

namespace roomcast {

std::unique_ptr<EventLoop> make_epoll_loop(std::string* description, int* error);

}  // namespace roomcast
