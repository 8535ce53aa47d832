// core/redis_url.cpp: RedisLink::parse_url (its contract is in core/redis_link.h), kept
// apart from the link's thread: it runs once, at configuration time, and shares nothing
// with the rest of the link.
//
// What is accepted: redis://HOST[:PORT][/DB] with HOST a host name or an IPv4 literal,
// PORT 1-65535 (6379 when absent), DB 0-15. Refused with a reason: anything else,
// notably credentials (user:pass@) and IPv6 literals. *out is written only on success.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "core/redis_link.h"

namespace roomcast {

namespace {

bool valid_host(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  bool dotted_digits = true;
  for (char c : h) {
    bool digit = c >= '0' && c <= '9';
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!digit && !alpha && c != '-' && c != '.') return false;
    if (!digit && c != '.') dotted_digits = false;
  }
  if (h.front() == '.' || h.front() == '-' || h.back() == '-') return false;
  if (dotted_digits) {  // then it must be a real IPv4 literal, not a name
    in_addr a{};
    return ::inet_pton(AF_INET, std::string(h).c_str(), &a) == 1;
  }
  return true;
}

bool parse_uint(std::string_view s, size_t max_digits, unsigned long max, unsigned long* out) {
  if (s.empty() || s.size() > max_digits) return false;
  unsigned long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned long>(c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

}  // namespace

bool RedisLink::parse_url(std::string_view url, RedisOptions* out, std::string* error) {
  auto fail = [&](const std::string& why) {
    if (error) *error = "redis URL \"" + std::string(url) + "\": " + why;
    return false;
  };
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return fail("expected redis://HOST[:PORT][/DB]");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find('@') != std::string_view::npos) return fail("credentials (user:pass@) are not supported");
  unsigned long db = 0;
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    if (!parse_uint(rest.substr(slash + 1), 2, 15, &db)) return fail("DB must be a number 0-15");
    rest = rest.substr(0, slash);
  }
  unsigned long port = 6379;
  size_t colon = rest.find(':');
  if (colon != std::string_view::npos) {
    if (!parse_uint(rest.substr(colon + 1), 5, 65535, &port) || port == 0) return fail("PORT must be 1-65535");
    rest = rest.substr(0, colon);
  }
  if (!valid_host(rest)) return fail("HOST must be a host name or an IPv4 address");
  out->host = std::string(rest);
  out->port = static_cast<uint16_t>(port);
  out->db = static_cast<int>(db);
  return true;
}

}  // namespace roomcast
