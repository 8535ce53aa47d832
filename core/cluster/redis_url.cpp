// core/cluster/redis_url.cpp: RedisLink::parse_url, mask_url and options_from (their contracts
// are in core/cluster/redis_link.h), kept apart from the link's thread: they run at configuration
// time and share nothing with the rest of the link.
//
// What is accepted: redis://[USER[:PASSWORD]@]HOST[:PORT][/DB] (rediss:// for TLS) with HOST a host name or
// an IPv4 literal, PORT 1-65535 (6379 when absent), DB 0-15; USER and PASSWORD are
// percent-decoded (RFC 3986 userinfo, so a password may hold '@', ':' or '/' as %40, %3A,
// %2F), an empty USER means the password alone (AUTH password, the "default" user).
// Refused with a reason: anything else, notably IPv6 literals. *out is written only on
// success. No error text ever carries the password: URLs are shown through mask_url().
#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "core/base/config.h"
#include "core/cluster/redis_link.h"

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

// %XX decoding of a userinfo part; false on a malformed escape or a decoded NUL/CR/LF.
bool percent_decode(std::string_view in, std::string* out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return false;  // '%' needs two hex digits after it
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || c == '\r' || c == '\n') return false;
    out->push_back(c);
  }
  return true;
}

}  // namespace

std::string RedisLink::mask_url(std::string_view url) {
  size_t scheme = url.find("://");
  size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  size_t at = url.rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(url);
  size_t colon = url.substr(start, at - start).find(':');
  if (colon == std::string_view::npos) return std::string(url);  // a user alone
  return std::string(url.substr(0, start + colon + 1)) + "***" + std::string(url.substr(at));
}

bool RedisLink::parse_url(std::string_view url, RedisOptions* out, std::string* error) {
  auto fail = [&](const std::string& why) {
    if (error) *error = "redis URL \"" + mask_url(url) + "\": " + why;
    return false;
  };
  constexpr std::string_view kScheme = "redis://", kTlsScheme = "rediss://";
  const bool tls = url.substr(0, kTlsScheme.size()) == kTlsScheme;
  if (!tls && url.substr(0, kScheme.size()) != kScheme)
    return fail("expected redis[s]://[USER[:PASSWORD]@]HOST[:PORT][/DB]");
  std::string_view rest = url.substr(tls ? kTlsScheme.size() : kScheme.size());
  std::string user, password;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view info = rest.substr(0, at);
    size_t colon = info.find(':');
    if (!percent_decode(info.substr(0, colon), &user)) return fail("USER has a bad %-escape or a control character");
    if (colon != std::string_view::npos && !percent_decode(info.substr(colon + 1), &password))
      return fail("PASSWORD has a bad %-escape or a control character");
    if (colon != std::string_view::npos && password.empty()) return fail("PASSWORD after ':' is empty");
    rest = rest.substr(at + 1);
  }
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
  out->tls = tls;
  out->user = std::move(user);
  out->password = std::move(password);
  return true;
}

RedisOptions RedisLink::options_from(const Config& config) {
  RedisOptions options;
  std::string error;
  parse_url(config.redis_url, &options, &error);  // checked by parse_config
  if (!config.redis_password.empty()) options.password = config.redis_password;  // the file wins
  options.ca_file = config.redis_ca_file;
  options.cert_file = config.redis_cert_file;
  options.key_file = config.redis_key_file;
  for (const std::string& s : config.redis_sentinels) {
    RedisOptions one;
    parse_url("redis://" + s, &one, &error);  // checked by parse_config
    options.sentinels.emplace_back(one.host, one.port);
  }
  options.master_name = config.redis_master;
  options.sentinel_password = config.redis_sentinel_password;
  options.min_replicas = static_cast<int>(config.redis_min_replicas);
  options.log_format = config.log_format;
  options.log_level = config.log_level;
  return options;
}

}  // namespace roomcast
