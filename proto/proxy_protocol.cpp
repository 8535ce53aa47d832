// proto/proxy_protocol.cpp: see proxy_protocol.h. Version 1 is one CRLF-terminated ASCII
// line, version 2 a 12-byte signature, four fixed bytes and a length-prefixed body; both
// are recognised from their first bytes, so a prefix that matches neither is Bad at once.
#include "proto/proxy_protocol.h"

#include <cstring>
#include <string_view>

#include "proto/ip_address.h"

namespace roomcast {
namespace {

constexpr uint8_t kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view kV1Signature = "PROXY ";

ProxyHeader bad() {
  ProxyHeader h;
  h.status = ProxyHeaderStatus::Bad;
  return h;
}

bool matches_prefix(const uint8_t* data, size_t len, const uint8_t* signature, size_t signature_len) {
  size_t n = len < signature_len ? len : signature_len;
  return std::memcmp(data, signature, n) == 0;
}

// A port: decimal, 0..65535, no leading zero, no sign.
bool parse_port(std::string_view s, uint16_t& out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + unsigned(c - '0');
  }
  if (v > 65535) return false;
  out = uint16_t(v);
  return true;
}

// The next space-separated field of `line` from `pos` (fields are separated by exactly one
// space; an empty field is an error the caller sees as an empty view).
std::string_view next_field(std::string_view line, size_t& pos) {
  if (pos > line.size()) return {};
  size_t space = line.find(' ', pos);
  std::string_view field = line.substr(pos, space == std::string_view::npos ? std::string_view::npos : space - pos);
  pos = space == std::string_view::npos ? line.size() + 1 : space + 1;
  return field;
}

ProxyHeader parse_v1(const uint8_t* data, size_t len) {
  const size_t limit = len < kMaxV1Bytes ? len : kMaxV1Bytes;
  size_t cr = 0;
  for (size_t i = kV1Signature.size(); i < limit; ++i) {
    const uint8_t b = data[i];
    if (b == '\r') {
      cr = i;
      break;
    }
    if (b < 0x20 || b > 0x7E) return bad();  // a bare LF, NUL, or anything not text
  }
  if (cr == 0) return len >= kMaxV1Bytes ? bad() : ProxyHeader{};
  if (cr + 2 > kMaxV1Bytes) return bad();  // the LF would be byte 108
  if (cr + 1 >= len) return {};
  if (data[cr + 1] != '\n') return bad();

  std::string_view line(reinterpret_cast<const char*>(data) + kV1Signature.size(), cr - kV1Signature.size());
  size_t pos = 0;
  std::string_view protocol = next_field(line, pos);
  ProxyHeader h;
  h.version = 1;
  h.consumed = cr + 2;
  if (protocol == "UNKNOWN") {  // the rest of the line is ignored (the specification says so)
    h.status = ProxyHeaderStatus::Complete;
    return h;
  }
  const bool v4 = protocol == "TCP4";
  if (!v4 && protocol != "TCP6") return bad();
  std::string_view source = next_field(line, pos);
  std::string_view destination = next_field(line, pos);
  std::string_view source_port = next_field(line, pos);
  std::string_view destination_port = next_field(line, pos);
  if (pos <= line.size()) return bad();  // more fields
  IpBytes src{}, dst{};
  uint16_t sport = 0, dport = 0;
  if (!parse_ip_address(source, src) || !parse_ip_address(destination, dst)) return bad();
  // inet_pton decides the family by the text; TCP4 must name IPv4 and TCP6 IPv6 (an
  // IPv6 text of an IPv4-mapped address counts as IPv6 here, as its text says).
  const bool src_v4 = source.find(':') == std::string_view::npos;
  const bool dst_v4 = destination.find(':') == std::string_view::npos;
  if (src_v4 != v4 || dst_v4 != v4) return bad();
  if (!parse_port(source_port, sport) || !parse_port(destination_port, dport)) return bad();
  h.status = ProxyHeaderStatus::Complete;
  h.has_source = true;
  h.source = src;
  h.source_port = sport;
  return h;
}

ProxyHeader parse_v2(const uint8_t* data, size_t len) {
  if (len < 16) return {};
  const uint8_t version = data[12] >> 4, command = data[12] & 0x0F;
  if (version != 2 || command > 1) return bad();
  const size_t body = size_t(data[14]) << 8 | data[15];
  if (body > kMaxV2Body) return bad();
  if (len < 16 + body) return {};
  ProxyHeader h;
  h.version = 2;
  h.consumed = 16 + body;
  h.status = ProxyHeaderStatus::Complete;
  if (command == 0) return h;  // LOCAL: the proxy's own connection (health checks); family ignored

  const uint8_t family = data[13];
  const uint8_t* p = data + 16;
  size_t addresses = 0;
  switch (family) {
    case 0x00:  // UNSPEC: no address; the receiver keeps the socket's
      addresses = 0;
      break;
    case 0x11:  // INET, STREAM
      addresses = 12;
      if (body < addresses) return bad();
      h.source[10] = h.source[11] = 0xFF;
      std::memcpy(h.source.data() + 12, p, 4);
      h.source_port = uint16_t(p[8] << 8 | p[9]);
      h.has_source = true;
      break;
    case 0x21:  // INET6, STREAM
      addresses = 36;
      if (body < addresses) return bad();
      std::memcpy(h.source.data(), p, 16);
      h.source_port = uint16_t(p[32] << 8 | p[33]);
      h.has_source = true;
      break;
    default:  // UNIX, DGRAM, or a nibble the specification does not define
      return bad();
  }
  // TLVs fill the rest exactly: type (1), length (2, big-endian), value.
  for (size_t at = addresses; at < body;) {
    if (body - at < 3) return bad();
    const size_t value = size_t(p[at + 1]) << 8 | p[at + 2];
    if (body - at - 3 < value) return bad();
    at += 3 + value;
  }
  return h;
}

}  // namespace

ProxyHeader parse_proxy_header(const uint8_t* data, size_t len) {
  if (len == 0) return {};
  if (data[0] == kV2Signature[0]) {
    if (!matches_prefix(data, len, kV2Signature, sizeof(kV2Signature))) return bad();
    return parse_v2(data, len);
  }
  if (!matches_prefix(data, len, reinterpret_cast<const uint8_t*>(kV1Signature.data()), kV1Signature.size()))
    return bad();
  if (len < kV1Signature.size()) return {};
  return parse_v1(data, len);
}

}  // namespace roomcast
