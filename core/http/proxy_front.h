// core/http/proxy_front.h: who the client is when roomcast runs behind a proxy.
//
// Owns nothing per connection (the bytes read so far live in the connection's
// HttpExchange); reads the settings --trusted-proxy and --proxy-protocol. Called by the
// HttpFront, which owns one: at accept (role_of), with the first bytes of a connection
// under --proxy-protocol (take_header), and once a request head is parsed
// (forwarded_client). docs/protocol.md "Behind a proxy" is the contract with operators.
// Promises:
//   - a client can never choose the address it is counted under: forwarding headers
//     are read only from a peer inside a --trusted-proxy range, and the address taken
//     from X-Forwarded-For is the rightmost one that is not itself a trusted proxy;
//   - with --proxy-protocol and --trusted-proxy, a peer outside the ranges is Refused at
//     accept, before it sends a byte;
//   - a peer that will name its client (a trusted proxy, or any peer under
//     --proxy-protocol alone) is a Proxy: until the client is known its connection
//     counts only in the thread's total handshake budget, never per address, so one
//     proxy carrying thousands of clients is not one address's budget.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/base/admission.h"
#include "core/base/config.h"
#include "proto/forwarded.h"
#include "proto/http_request.h"

namespace roomcast {

enum class PeerRole : uint8_t {
  Client,   // its own address is the client's
  Proxy,    // will name the client (PROXY header or forwarding headers)
  Refused,  // --proxy-protocol with --trusted-proxy: not a trusted proxy
};

class ProxyFront {
 public:
  explicit ProxyFront(const Config& config) : config_(config) {}

  bool trusts(const PeerAddress& peer) const;
  PeerRole role_of(const PeerAddress& peer) const;
  bool expects_header() const { return config_.proxy_protocol; }

  enum class Step : uint8_t { NeedMore, Named, Unnamed, Bad };
  // --proxy-protocol: reads the PROXY header at the front of `head` (all bytes so far).
  // Named / Unnamed: the header is removed from `head` (what follows is HTTP); Named:
  // `client` is the address it names; Unnamed (LOCAL, UNKNOWN, UNSPEC): unchanged.
  Step take_header(std::string& head, PeerAddress& client) const;

  // A request head from `peer`: the client a trusted proxy forwards it for, from
  // X-Forwarded-For, else X-Real-IP, else Forwarded. Nothing for an untrusted peer, or
  // when no header names a usable address.
  std::optional<PeerAddress> forwarded_client(const PeerAddress& peer, const HttpRequest& request) const;

 private:
  bool trusts(const IpBytes& address) const;
  // The rightmost node that is not a trusted proxy (the leftmost when all are trusted);
  // nothing when the walk meets a node that is not an address first.
  std::optional<PeerAddress> rightmost_untrusted(const std::vector<ForwardedNode>& nodes) const;

  const Config& config_;
};

}  // namespace roomcast
