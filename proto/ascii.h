// proto/ascii.h: the ASCII character rules HTTP and its headers share.
//
// Owns nothing: pure functions. Called by the request-head parser (proto/http_request),
// the forwarding-header readers (proto/forwarded) and whoever compares header names
// (core/proxy_front). One copy, so the head parser and the header readers cannot drift.
// Promises: locale-independent (no <cctype>), ASCII only: bytes >= 0x80 are never letters.
#pragma once

#include <cstddef>
#include <string_view>

namespace roomcast {

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Header names and tokens compare case-insensitively (RFC 9110 section 5.1).
inline bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// RFC 9110 tchar: the characters of a method, a header name, a token.
inline bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

}  // namespace roomcast
