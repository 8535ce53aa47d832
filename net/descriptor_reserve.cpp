// net/descriptor_reserve.cpp: close the spare, accept4, send, drain, close, reopen.
#include "net/descriptor_reserve.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace roomcast {

DescriptorReserve::DescriptorReserve() { take(); }

DescriptorReserve::~DescriptorReserve() {
  if (fd_ >= 0) close(fd_);
}

void DescriptorReserve::take() {
  if (fd_ < 0) fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

size_t DescriptorReserve::shed(int listen_fd, std::string_view answer, size_t max) {
  size_t answered = 0;
  while (answered < max) {
    take();  // another thread may have freed one since we last tried
    if (fd_ < 0) break;
    close(fd_);  // /dev/null: closing it cannot fail in a way that matters
    fd_ = -1;
    int client = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) {
      take();
      break;  // EAGAIN: nothing pending; EMFILE: another thread took the spare
    }
    // The request head may already be here; read it so that closing sends a FIN, not a
    // reset that could overtake the answer on the client's side.
    char sink[4096];
    for (int i = 0; i < 16 && recv(client, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
    }
    // Best effort by design: a client that is already gone, or whose buffer cannot take
    // ~150 bytes, gets the close without the answer, which is all there is to give.
    (void)!send(client, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)shutdown(client, SHUT_WR);
    close(client);
    ++answered;
    take();
  }
  return answered;
}

}  // namespace roomcast
