// proto/ip_address.cpp: inet_pton does the strict parsing (glibc refuses leading zeros in
// IPv4 octets and anything but four decimal parts); this file only bounds the text and
// maps IPv4 into the 16-byte form.
#include "proto/ip_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace roomcast {

bool parse_ip_address(std::string_view text, IpBytes& out) {
  char buf[48];  // the longest IPv6 text (with an embedded IPv4) is 45 characters
  if (text.empty() || text.size() >= sizeof(buf)) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (std::memchr(buf, '\0', text.size()) != nullptr) return false;
  if (text.find(':') == std::string_view::npos) {
    in_addr v4{};
    if (inet_pton(AF_INET, buf, &v4) != 1) return false;
    out.fill(0);
    out[10] = out[11] = 0xFF;
    std::memcpy(out.data() + 12, &v4, 4);
    return true;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) != 1) return false;
  std::memcpy(out.data(), &v6, 16);
  return true;
}

bool is_ipv4_mapped(const IpBytes& a) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  return std::memcmp(a.data(), prefix, 12) == 0;
}

bool CidrRange::contains(const IpBytes& address) const {
  size_t full = prefix_bits / 8;
  if (std::memcmp(address.data(), base.data(), full) != 0) return false;
  unsigned rest = prefix_bits % 8;
  if (rest == 0) return true;
  uint8_t mask = uint8_t(0xFF << (8 - rest));
  return (address[full] & mask) == (base[full] & mask);
}

bool parse_cidr(std::string_view text, CidrRange& out) {
  size_t slash = text.find('/');
  CidrRange r;
  if (!parse_ip_address(text.substr(0, slash), r.base)) return false;
  const bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
  unsigned width = v4 ? 32 : 128;
  unsigned bits = width;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) return false;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (ec != std::errc() || end != digits.data() + digits.size() || bits > width) return false;
  }
  r.prefix_bits = uint8_t(v4 ? 96 + bits : bits);
  // No bit may be set beyond the prefix.
  for (unsigned i = r.prefix_bits; i < 128; ++i)
    if (r.base[i / 8] & (0x80 >> (i % 8))) return false;
  out = r;
  return true;
}

}  // namespace roomcast
