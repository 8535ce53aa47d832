// proto/ip_address.h: IP addresses and CIDR ranges as text, for the proxy settings.
//
// Owns nothing. Called by the forwarded-header and PROXY protocol parsers (an address a
// proxy names) and by the configuration (--trusted-proxy ranges). Every address is kept
// as 16 bytes, IPv4 as the IPv4-mapped IPv6 address ::ffff:a.b.c.d, the same form the
// core's PeerAddress uses, so one range check serves both families.
// Promises: pure; the parsers are strict (dotted-quad IPv4 without leading zeros, RFC 4291
// IPv6 text without brackets or zone, nothing else) and never read past their input.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace roomcast {

using IpBytes = std::array<uint8_t, 16>;

// "192.0.2.1" or "2001:db8::1" -> 16 bytes; false for anything else.
bool parse_ip_address(std::string_view text, IpBytes& out);
bool is_ipv4_mapped(const IpBytes& address);

// An address range: the first `prefix_bits` of `base` (IPv4 ranges are counted from the
// mapped form: 10.0.0.0/8 is base ::ffff:10.0.0.0 with 104 bits).
struct CidrRange {
  IpBytes base{};
  uint8_t prefix_bits = 128;

  bool contains(const IpBytes& address) const;
};

// "10.0.0.0/8", "fd00::/8", or a bare address (one host). False for a bad address, a
// prefix beyond the family's width, or bits set beyond the prefix (a typo such as
// 10.1.0.0/8 is refused rather than silently widened).
bool parse_cidr(std::string_view text, CidrRange& out);

}  // namespace roomcast
