// net/descriptor_reserve.h: one spare file descriptor, so that running out of them is
// answered instead of being a silent hang.
//
// Owns: one descriptor on /dev/null, held for as long as the object lives.
// Called by: a loop thread when accepting on its listener fails with EMFILE/ENFILE.
// Why: with the table full, accept() fails and pending clients sit in the listen queue,
// complete at the TCP level, and never hear anything. The classic answer (libev's and
// nginx's users, Redis' "max number of clients reached"): give the spare descriptor back,
// accept one pending connection with it, write a short canned answer, close, take the
// spare again.
// Promises: shed() answers at most `max` pending connections, never blocks (the listener
// and every accepted socket are non-blocking, the answer is one small write), reads what
// the client already sent before closing so the answer is not destroyed by a reset, and
// leaves the reserve held again whenever the process has a descriptor to spare.
#pragma once

#include <cstddef>
#include <string_view>

namespace roomcast {

class DescriptorReserve {
 public:
  DescriptorReserve();
  ~DescriptorReserve();
  DescriptorReserve(const DescriptorReserve&) = delete;
  DescriptorReserve& operator=(const DescriptorReserve&) = delete;

  // Accepts up to `max` connections pending on `listen_fd`, writes `answer` to each and
  // closes it. Returns how many were answered (0 when the queue was empty, or when no
  // descriptor could be freed).
  size_t shed(int listen_fd, std::string_view answer, size_t max);

 private:
  void take();
  int fd_ = -1;
};

}  // namespace roomcast
