// core/http/http_exchange.h: what one connection keeps of its HTTP exchange before it
// upgrades or is answered.
//
// Owned by its Connection (core/server/connection.h), filled and read by the HTTP front
// (core/http/http_front.h) on the connection's loop thread only.
#pragma once

#include <cstddef>
#include <string>

#include "core/http/file_body.h"

namespace roomcast {

// The HTTP request being read before the connection upgrades (or is answered), and a
// file answer's body while it streams.
struct HttpExchange {
  std::string head;       // request head (and publish body) bytes so far
  size_t body_start = 0;  // publish: where the body begins in `head`
  size_t body_end = 0;    // publish: head + body bytes to wait for (0: not waiting)
  std::string room;       // publish: the room, while waiting for the body
  FileBody body;          // a file answer: what is still to be read and sent
  bool proxy_header_read = false;  // --proxy-protocol: the PROXY header is behind us
  // --auth-hook: the upgrade waits for the backend's answer (HttpFront::auth_answered);
  // bytes that come meanwhile stay in `head` after `head_bytes`.
  bool awaiting_auth = false;
  size_t head_bytes = 0;
  std::string accept_key;
  bool admitted = false;        // a ConnectionLimits place taken at the request
  bool awaiting_place = false;  // let past a full address as a possible resume
};

}  // namespace roomcast
