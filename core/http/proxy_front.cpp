// core/http/proxy_front.cpp: see proxy_front.h. The parsing is proto's (proxy_protocol.h,
// forwarded.h); this file decides whom to believe.
#include "core/http/proxy_front.h"

#include "proto/ascii.h"
#include "proto/proxy_protocol.h"

namespace roomcast {
namespace {

PeerAddress address_of(const ForwardedNode& node) {
  PeerAddress p;
  p.bytes = node.address;
  p.port = node.port;
  return p;
}

}  // namespace

bool ProxyFront::trusts(const IpBytes& address) const {
  for (const CidrRange& range : config_.trusted_proxies)
    if (range.contains(address)) return true;
  return false;
}

bool ProxyFront::trusts(const PeerAddress& peer) const { return trusts(peer.bytes); }

PeerRole ProxyFront::role_of(const PeerAddress& peer) const {
  const bool trusted = trusts(peer);
  if (config_.proxy_protocol) {
    // Without --trusted-proxy any peer may send the header: the port must then be
    // reachable by the proxy alone (README "Behind a proxy").
    if (config_.trusted_proxies.empty() || trusted) return PeerRole::Proxy;
    return PeerRole::Refused;
  }
  return trusted ? PeerRole::Proxy : PeerRole::Client;
}

ProxyFront::Step ProxyFront::take_header(std::string& head, PeerAddress& client) const {
  const ProxyHeader h = parse_proxy_header(reinterpret_cast<const uint8_t*>(head.data()), head.size());
  switch (h.status) {
    case ProxyHeaderStatus::Incomplete:
      return Step::NeedMore;
    case ProxyHeaderStatus::Bad:
      return Step::Bad;
    case ProxyHeaderStatus::Complete:
      break;
  }
  head.erase(0, h.consumed);
  if (!h.has_source) return Step::Unnamed;
  client.bytes = h.source;
  client.port = h.source_port;
  return Step::Named;
}

std::optional<PeerAddress> ProxyFront::rightmost_untrusted(const std::vector<ForwardedNode>& nodes) const {
  for (size_t i = nodes.size(); i-- > 0;) {
    if (!nodes[i].known) return std::nullopt;
    if (!trusts(nodes[i].address) || i == 0) return address_of(nodes[i]);
  }
  return std::nullopt;
}

std::optional<PeerAddress> ProxyFront::forwarded_client(const PeerAddress& peer, const HttpRequest& request) const {
  if (config_.trusted_proxies.empty() || !trusts(peer)) return std::nullopt;
  std::vector<ForwardedNode> nodes;
  // Several lines of one list header are one list, in order (RFC 9110 section 5.3).
  for (const auto& [name, value] : request.headers)
    if (equals_ignoring_case(name, "X-Forwarded-For")) parse_x_forwarded_for(value, nodes);
  if (!nodes.empty()) {
    if (auto client = rightmost_untrusted(nodes)) return client;
  }
  // X-Real-IP is one address; two lines could disagree, so then it is not used.
  if (request.header_count("X-Real-IP") == 1) {
    ForwardedNode node = parse_forwarded_node(request.header("X-Real-IP"));
    if (node.known) return address_of(node);
  }
  nodes.clear();
  for (const auto& [name, value] : request.headers)
    if (equals_ignoring_case(name, "Forwarded")) parse_forwarded(value, nodes);
  if (!nodes.empty()) return rightmost_untrusted(nodes);
  return std::nullopt;
}

}  // namespace roomcast
