// proto/http_request.h: an HTTP/1.1 request-head parser for the upgrade handshake.
//
// Owns nothing: the parsed request holds views into the caller's bytes, valid while
// those bytes are. Called by core/http_front.cpp each time more bytes of a request
// arrive (it re-parses from the start; a request head is small and bounded).
// Promises: never reads past `data`, never allocates per byte, and answers every input
// with exactly one of Incomplete / Complete / Bad / TooLarge. It is written to survive
// the fuzzers: no recursion, no unchecked index.
#pragma once

#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

namespace roomcast {

struct HttpRequest {
  std::string_view method;   // "GET"
  std::string_view target;   // "/ws/room?token=..." exactly as sent
  std::string_view path;     // target up to '?'
  std::string_view query;    // after '?', empty if none
  int version_minor = 1;     // HTTP/1.x
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // values trimmed

  // First header with this name (ASCII case-insensitive), or empty view if absent.
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // How many header lines carry this name (a field that must appear once is refused
  // when repeated: two lines may disagree, and two parsers may pick different ones).
  size_t header_count(std::string_view name) const;
  // True if a comma-separated header (e.g. Connection: keep-alive, Upgrade) contains
  // `token`, compared case-insensitively.
  bool header_has_token(std::string_view name, std::string_view token) const;
  // Value of query parameter `key` (not percent-decoded), empty if absent.
  std::string_view query_param(std::string_view key) const;
};

enum class HttpParseStatus {
  Incomplete,  // need more bytes; no error yet
  Complete,    // a full head was parsed; `consumed` bytes belong to it
  Bad,         // malformed: answer 400 and close
  TooLarge,    // head exceeds max_head_bytes: answer 431 and close
};

struct HttpParseResult {
  HttpParseStatus status;
  size_t consumed = 0;  // bytes of the head including the final CRLFCRLF (Complete only)
};

// Parses one request head from `data`. `out` is overwritten on Complete.
// Rules: request line `METHOD SP TARGET SP HTTP/1.x CRLF`, target starts with '/',
// header names are tokens, no obs-fold, no bare LF, no NUL; a body is not read.
HttpParseResult parse_http_request(std::string_view data, size_t max_head_bytes, HttpRequest& out);

}  // namespace roomcast
