// net/listener.h: TCP listening sockets for the loop threads.
//
// Owns nothing after return: the caller owns the file descriptor.
// Called by core/server.cpp at start, once per loop thread: every thread gets its own
// socket on the same address (SO_REUSEPORT), so the kernel spreads accepts without a
// shared accept lock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace roomcast {

struct ListenAddress {
  std::string host;  // numeric IPv4 or IPv6 address
  uint16_t port = 0;
};

// Parses "HOST:PORT" ("127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0"). False if malformed.
bool parse_listen_address(std::string_view text, ListenAddress& out);

// Binds and listens. Returns the fd or -errno.
int open_listener(const ListenAddress& address, int backlog);

// The port a bound socket actually got (useful after binding port 0), or -1.
int bound_port(int fd);

}  // namespace roomcast
