#include "bench/load/message_scan.h"

#include <charconv>
#include <cmath>

namespace load {
namespace {

constexpr std::string_view kTypePrefix = "{\"type\":\"";

// The position just after `"key":` (key given with quotes and colon), or npos.
size_t after_key(std::string_view payload, std::string_view quoted_key_colon) {
  const size_t at = payload.find(quoted_key_colon);
  return at == std::string_view::npos ? at : at + quoted_key_colon.size();
}

size_t skip_space(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

}  // namespace

MessageType scan_type(std::string_view payload) {
  std::string_view rest;
  if (payload.starts_with(kTypePrefix)) {
    rest = payload.substr(kTypePrefix.size());
  } else {
    if (payload.empty() || payload.front() != '{') return MessageType::NotJson;
    size_t at = after_key(payload, "\"type\":");
    if (at == std::string_view::npos) return MessageType::Other;
    at = skip_space(payload, at);
    if (at >= payload.size() || payload[at] != '"') return MessageType::Other;
    rest = payload.substr(at + 1);
  }
  if (rest.starts_with("cursor\"")) return MessageType::Cursor;
  if (rest.starts_with("edit\"")) return MessageType::Edit;
  if (rest.starts_with("ack\"")) return MessageType::Ack;
  if (rest.starts_with("presence\"")) return MessageType::Presence;
  if (rest.starts_with("welcome\"")) return MessageType::Welcome;
  if (rest.starts_with("error\"")) return MessageType::Error;
  if (rest.starts_with("pong\"")) return MessageType::Pong;
  return MessageType::Other;
}

size_t scan_integer_number(std::string_view s, int64_t& out) {
  // Hot path of the receiver (three numbers per delivery): pointers, one compare per digit.
  const char* const begin = s.data();
  const char* const end = begin + s.size();
  const char* p = begin;
  const bool negative = p != end && *p == '-';
  if (negative) ++p;
  const char* const digits = p;
  uint64_t value = 0;
  const char* const limit = end - digits > 18 ? digits + 18 : end;  // no overflow
  while (p != limit) {
    const unsigned d = unsigned(static_cast<unsigned char>(*p)) - '0';
    if (d > 9) break;
    value = value * 10 + d;
    ++p;
  }
  if (p == digits) return 0;
  const bool more_digits = p != end && unsigned(static_cast<unsigned char>(*p)) - '0' <= 9;
  // "123" or "123.000" (what RapidJSON writes for integral doubles): fraction truncated.
  const char* q = p;
  if (q != end && *q == '.') {
    ++q;
    while (q != end && unsigned(static_cast<unsigned char>(*q)) - '0' <= 9) ++q;
  }
  const bool exponent = q != end && (*q == 'e' || *q == 'E');
  if (!more_digits && !exponent) {
    out = negative ? -int64_t(value) : int64_t(value);
    return size_t(q - begin);
  }
  // Slow path (exponent or very long mantissa): let the standard library read it.
  double d = 0;
  auto [stop, ec] = std::from_chars(begin, end, d);
  if (ec != std::errc() || !std::isfinite(d) || std::fabs(d) > 9.2e18) return 0;
  out = int64_t(d);
  return size_t(stop - begin);
}

namespace {

// Where the value of `"position":[` starts: the fast path knows the layout both servers
// write ({"type":"cursor","session":"ID","position":[...), the slow path searches.
size_t position_value(std::string_view payload) {
  constexpr std::string_view kHead = "{\"type\":\"cursor\",\"session\":\"";
  constexpr std::string_view kNext = ",\"position\":[";
  if (payload.starts_with(kHead)) {
    const size_t quote = payload.find('"', kHead.size());
    if (quote != std::string_view::npos && payload.substr(quote + 1).starts_with(kNext)) {
      return quote + 1 + kNext.size();
    }
  }
  return after_key(payload, "\"position\":[");
}

// Where the value of `"fov":` starts: fast path, it is the last field; else search.
size_t fov_value(std::string_view payload, size_t from) {
  const size_t colon = payload.rfind(':');
  if (colon != std::string_view::npos && colon >= 5 && payload.substr(colon - 5, 5) == "\"fov\"") {
    return colon + 1;
  }
  const size_t at = payload.find("\"fov\":", from);
  return at == std::string_view::npos ? at : at + 6;
}

}  // namespace

bool scan_cursor(std::string_view payload, CursorProbe& out) {
  size_t at = position_value(payload);
  if (at == std::string_view::npos) return false;
  at = skip_space(payload, at);
  size_t used = scan_integer_number(payload.substr(at), out.sent_us);
  if (used == 0) return false;
  at = skip_space(payload, at + used);
  if (at >= payload.size() || payload[at] != ',') return false;
  at = skip_space(payload, at + 1);
  used = scan_integer_number(payload.substr(at), out.sender);
  if (used == 0) return false;
  at = fov_value(payload, at + used);
  if (at == std::string_view::npos) return false;
  at = skip_space(payload, at);
  return scan_integer_number(payload.substr(at), out.seq) != 0;
}

bool scan_integer_field(std::string_view payload, std::string_view quoted_key_colon, int64_t& out) {
  const size_t at = after_key(payload, quoted_key_colon);
  if (at == std::string_view::npos) return false;
  return scan_integer_number(payload.substr(skip_space(payload, at)), out) > 0;
}

std::string_view scan_string_field(std::string_view payload, std::string_view key) {
  const size_t k = payload.find(key);
  if (k == std::string_view::npos) return {};
  size_t at = k + key.size();
  // key must be quoted: "key"
  if (k == 0 || payload[k - 1] != '"' || at >= payload.size() || payload[at] != '"') return {};
  at = skip_space(payload, at + 1);
  if (at >= payload.size() || payload[at] != ':') return {};
  at = skip_space(payload, at + 1);
  if (at >= payload.size() || payload[at] != '"') return {};
  const size_t end = payload.find('"', at + 1);
  if (end == std::string_view::npos) return {};
  return payload.substr(at + 1, end - at - 1);
}

}  // namespace load
