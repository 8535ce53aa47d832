// fuzz/proxy_protocol_fuzz.cpp: parse_proxy_header on every input and on its prefixes, then
// the forwarded-header lists on the same bytes, checking the parsers' documented promises:
//   - one of Incomplete / Complete / Bad, and Incomplete only below the bounds (a v1
//     header is Complete or Bad by byte 107, a v2 header by 16 + kMaxV2Body bytes);
//   - Complete consumes at least the signature and never more than the input or the bound
//     of its version, and a v1 header ends with CRLF;
//   - "Incomplete means a valid prefix": every strict prefix of a Complete header is
//     Incomplete, and the header alone parses to the same result (bytes after it, the
//     client's HTTP request, change nothing);
//   - an address is named only by a v1 TCP4/TCP6 or a v2 PROXY INET/INET6 header, and a
//     v1 TCP4 or v2 INET address is IPv4-mapped;
//   - the X-Forwarded-For and Forwarded readers never crash and only give addresses that
//     the strict address parser would accept back from their own text.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_common.h"
#include "proto/forwarded.h"
#include "proto/ip_address.h"
#include "proto/proxy_protocol.h"

namespace roomcast_fuzz::proxy_protocol {

using roomcast::ProxyHeader;
using roomcast::ProxyHeaderStatus;

void check_header(const uint8_t* data, size_t size) {
  const ProxyHeader h = roomcast::parse_proxy_header(data, size);
  switch (h.status) {
    case ProxyHeaderStatus::Incomplete:
      check(size < roomcast::kMaxV2Bytes, "Incomplete only below the v2 bound");
      if (size > 0 && data[0] == 'P') check(size < roomcast::kMaxV1Bytes, "v1 Incomplete only below 107 bytes");
      check(!h.has_source && h.consumed == 0, "Incomplete names nothing");
      return;
    case ProxyHeaderStatus::Bad:
      check(!h.has_source && h.consumed == 0, "Bad names nothing");
      return;
    case ProxyHeaderStatus::Complete:
      break;
  }
  check(h.version == 1 || h.version == 2, "version 1 or 2");
  check(h.consumed <= size, "consumed within the input");
  if (h.version == 1) {
    check(h.consumed >= 15 && h.consumed <= roomcast::kMaxV1Bytes, "v1 length within 15..107");
    check(data[h.consumed - 2] == '\r' && data[h.consumed - 1] == '\n', "v1 ends with CRLF");
    if (h.has_source) {
      const bool tcp4 = std::string_view(reinterpret_cast<const char*>(data), 10) == "PROXY TCP4";
      if (tcp4) check(roomcast::is_ipv4_mapped(h.source), "TCP4 names an IPv4 address");
    }
  } else {
    check(h.consumed >= 16 && h.consumed <= roomcast::kMaxV2Bytes, "v2 length within its bound");
    check((data[12] >> 4) == 2, "v2 version nibble");
    if (h.has_source) {
      check((data[12] & 0x0F) == 1, "only PROXY names an address");
      check(data[13] == 0x11 || data[13] == 0x21, "only INET/INET6 STREAM name an address");
      if (data[13] == 0x11) check(roomcast::is_ipv4_mapped(h.source), "INET is IPv4-mapped");
    }
  }
  // The header alone parses the same; every strict prefix is Incomplete.
  const ProxyHeader again = roomcast::parse_proxy_header(data, h.consumed);
  check(again.status == ProxyHeaderStatus::Complete && again.consumed == h.consumed &&
            again.has_source == h.has_source && again.source == h.source && again.source_port == h.source_port,
        "header re-parses identically");
  for (size_t cut : {size_t(0), size_t(1), h.consumed / 2, h.consumed - 1}) {
    if (cut >= h.consumed) continue;
    check(roomcast::parse_proxy_header(data, cut).status == ProxyHeaderStatus::Incomplete,
          "strict prefix of a header is Incomplete");
  }
}

// An address the readers give must survive a round trip through its own text.
void check_node(const roomcast::ForwardedNode& node) {
  if (!node.known) return;
  char text[INET6_ADDRSTRLEN];
  roomcast::IpBytes back{};
  if (roomcast::is_ipv4_mapped(node.address)) {
    check(inet_ntop(AF_INET, node.address.data() + 12, text, sizeof(text)) != nullptr, "IPv4 to text");
  } else {
    check(inet_ntop(AF_INET6, node.address.data(), text, sizeof(text)) != nullptr, "IPv6 to text");
  }
  check(roomcast::parse_ip_address(text, back) && back == node.address, "address round-trips");
}

void check_headers(std::string_view text) {
  std::vector<roomcast::ForwardedNode> nodes;
  roomcast::parse_x_forwarded_for(text, nodes);
  for (const auto& n : nodes) check_node(n);
  nodes.clear();
  roomcast::parse_forwarded(text, nodes);
  check(nodes.size() <= text.size() + 1, "at most one Forwarded element per byte");
  for (const auto& n : nodes) check_node(n);
  check_node(roomcast::parse_forwarded_node(text));
  roomcast::CidrRange range;
  if (roomcast::parse_cidr(text, range)) check(range.contains(range.base), "a range contains its base");
}

void one_input(const uint8_t* data, size_t size) {
  check_header(data, size);
  check_headers(std::string_view(reinterpret_cast<const char*>(data), size));
}

}  // namespace roomcast_fuzz::proxy_protocol

#ifndef ROOMCAST_FUZZ_NO_ENTRY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  roomcast_fuzz::proxy_protocol::one_input(data, size);
  return 0;
}
#endif
