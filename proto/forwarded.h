// proto/forwarded.h: the client addresses a proxy writes into the request head:
// X-Forwarded-For, X-Real-IP and Forwarded (RFC 7239).
//
// Owns nothing. Called by the core's ProxyFront (core/proxy_front.h), and only for a
// request whose peer is a trusted proxy: which of the listed addresses to believe (the
// rightmost one that is not itself a trusted proxy) is the core's decision; this file
// only reads the lists. docs/protocol.md "Behind a proxy" says what roomcast accepts.
// Promises: pure, never throws. Each list comes back in header order, left (the client,
// as the first proxy saw it) to right (the nearest proxy), one entry per list element,
// with `known` false for an element that is not an address (RFC 7239 "unknown", an
// obfuscated "_name", an element without for=, garbage): the caller must not look past
// such an element, since nothing says who wrote what lies beyond it.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "proto/ip_address.h"

namespace roomcast {

struct ForwardedNode {
  bool known = false;  // an IP address (false: unknown, obfuscated or malformed)
  IpBytes address{};
  uint16_t port = 0;   // 0 when the element names none
};

// One node as X-Forwarded-For and X-Real-IP write it: "192.0.2.1", "192.0.2.1:4711",
// "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:4711", spaces around it ignored.
ForwardedNode parse_forwarded_node(std::string_view text);

// X-Forwarded-For: "client, proxy1, proxy2". Appends one entry per element (empty
// elements, which RFC 9110 lists allow, are skipped).
void parse_x_forwarded_for(std::string_view value, std::vector<ForwardedNode>& out);

// Forwarded: `for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"` (RFC 7239 section 4):
// appends one entry per element, from its for= parameter (a token or a quoted string;
// IPv6 must be bracketed). An element without for=, or the rest of a value whose quotes
// never close, is one entry with `known` false.
void parse_forwarded(std::string_view value, std::vector<ForwardedNode>& out);

}  // namespace roomcast
