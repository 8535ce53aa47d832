// core/member.h: a client of the room service, as the service sees it.
//
// Owns: what the service keeps per client between messages: the room it asked for, what
// a token proved about it, its rate limiter and, once joined, its Session. A Member knows
// no transport: frames for it go to `out`, a SendQueue whoever owns the member drains
// (a WebSocket connection today; a link to another instance could drain one tomorrow).
// Lives inside its owner (core/connection.h), touched by one loop thread only.
#pragma once

#include <memory>
#include <string>

#include "core/rate_limiter.h"
#include "core/session.h"
#include "net/send_queue.h"

namespace roomcast {

// Who a verified token says the client is (protocol-v1 "Authentication").
struct Identity {
  bool verified = false;
  std::string user_id;  // the token's `sub`
  bool has_name = false;
  std::string name;
};

struct Member {
  explicit Member(SendQueue* queue) : out(queue) {}
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  SendQueue* out;                      // where every frame for this member goes
  std::string room;                    // the room named when it connected
  std::unique_ptr<Identity> identity;  // null without a verified token
  RateLimiter rate;
  std::unique_ptr<Session> session;    // non-null once joined

  bool joined() const { return session != nullptr; }
};

}  // namespace roomcast
