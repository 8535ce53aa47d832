// proto/http_request.cpp: a single forward scan over the request head.
//
// The scan never looks ahead: each byte either extends the current element, ends it, or
// is rejected on the spot. That makes "Incomplete" exactly "the bytes so far are a valid
// prefix", which is what lets the caller re-feed an arbitrarily split request, and it
// keeps every index check next to the read it guards.
#include "proto/http_request.h"

#include <algorithm>

#include "proto/ascii.h"

namespace roomcast {

namespace {

// request-target is visible ASCII; anything else (space, controls, 8-bit) ends or breaks it.
bool is_target_char(unsigned char c) { return c >= 0x21 && c <= 0x7E; }

// field-value: VCHAR, obs-text, SP, HTAB. Excludes NUL, CR, LF, DEL and other controls.
bool is_field_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7F); }

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Cursor over the bytes a head may occupy. Running off `limit` means either "need more
// bytes" or, once the caller's bytes already reach max_head_bytes, "too large".
class Scanner {
 public:
  Scanner(std::string_view data, size_t max_head_bytes)
      : data_(data),
        limit_(std::min(data.size(), max_head_bytes)),
        too_large_(data.size() >= max_head_bytes) {}

  bool at_end() const { return pos_ >= limit_; }
  unsigned char peek() const { return static_cast<unsigned char>(data_[pos_]); }
  void advance() { ++pos_; }
  size_t pos() const { return pos_; }
  std::string_view slice(size_t from) const { return data_.substr(from, pos_ - from); }

  HttpParseResult out_of_bytes() const {
    return {too_large_ ? HttpParseStatus::TooLarge : HttpParseStatus::Incomplete, 0};
  }

 private:
  std::string_view data_;
  size_t limit_;
  bool too_large_;
  size_t pos_ = 0;
};

constexpr HttpParseResult kBad{HttpParseStatus::Bad, 0};

// Consumes CRLF. On false, `result` says why the scan stops: out of bytes, or a line
// ending that is not exactly CRLF (bare LF, bare CR).
bool expect_crlf(Scanner& s, HttpParseResult& result) {
  if (s.at_end()) {
    result = s.out_of_bytes();
    return false;
  }
  if (s.peek() != '\r') {
    result = kBad;
    return false;
  }
  s.advance();
  if (s.at_end()) {
    result = s.out_of_bytes();
    return false;
  }
  if (s.peek() != '\n') {
    result = kBad;
    return false;
  }
  s.advance();
  return true;
}

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (equals_ignoring_case(key, name)) return value;
  }
  return {};
}

bool HttpRequest::has_header(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return equals_ignoring_case(h.first, name); });
}

size_t HttpRequest::header_count(std::string_view name) const {
  return size_t(std::count_if(headers.begin(), headers.end(),
                              [&](const auto& h) { return equals_ignoring_case(h.first, name); }));
}

bool HttpRequest::header_has_token(std::string_view name, std::string_view token) const {
  // Repeated header lines are equivalent to one comma-joined line (RFC 9110 5.3), so
  // every line with this name counts.
  for (const auto& [key, value] : headers) {
    if (!equals_ignoring_case(key, name)) continue;
    std::string_view rest = value;
    while (true) {
      size_t comma = rest.find(',');
      if (equals_ignoring_case(trim_ows(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

std::string_view HttpRequest::query_param(std::string_view key) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

HttpParseResult parse_http_request(std::string_view data, size_t max_head_bytes, HttpRequest& out) {
  // `out` is written as the scan goes (its header vector keeps its capacity across the
  // caller's re-parses); its contents mean something only after Complete.
  out.headers.clear();
  Scanner s(data, max_head_bytes);
  HttpParseResult stop{};

  // Request line: METHOD SP TARGET SP HTTP/1.d CRLF
  size_t start = s.pos();
  while (!s.at_end() && is_tchar(s.peek())) s.advance();
  if (s.at_end()) return s.out_of_bytes();
  if (s.peek() != ' ' || s.pos() == start) return kBad;
  out.method = s.slice(start);
  s.advance();

  if (s.at_end()) return s.out_of_bytes();
  if (s.peek() != '/') return kBad;
  start = s.pos();
  while (!s.at_end() && is_target_char(s.peek())) s.advance();
  if (s.at_end()) return s.out_of_bytes();
  if (s.peek() != ' ') return kBad;
  out.target = s.slice(start);
  s.advance();
  size_t question = out.target.find('?');
  out.path = out.target.substr(0, question);
  out.query = question == std::string_view::npos ? std::string_view{} : out.target.substr(question + 1);

  for (char expected : std::string_view("HTTP/1.")) {
    if (s.at_end()) return s.out_of_bytes();
    if (s.peek() != static_cast<unsigned char>(expected)) return kBad;
    s.advance();
  }
  if (s.at_end()) return s.out_of_bytes();
  if (s.peek() < '0' || s.peek() > '9') return kBad;
  out.version_minor = s.peek() - '0';
  s.advance();
  if (!expect_crlf(s, stop)) return stop;

  // Header lines until the empty line.
  while (true) {
    if (s.at_end()) return s.out_of_bytes();
    if (s.peek() == '\r') {
      if (!expect_crlf(s, stop)) return stop;
      return {HttpParseStatus::Complete, s.pos()};
    }
    // A line starting with whitespace is obs-fold (or junk before a name): refused, as
    // RFC 9112 5.2 allows, because it is a classic request-smuggling vector.
    start = s.pos();
    while (!s.at_end() && is_tchar(s.peek())) s.advance();
    if (s.at_end()) return s.out_of_bytes();
    if (s.peek() != ':' || s.pos() == start) return kBad;
    std::string_view name = s.slice(start);
    s.advance();
    start = s.pos();
    while (!s.at_end() && is_field_char(s.peek())) s.advance();
    std::string_view value = s.slice(start);
    if (!expect_crlf(s, stop)) return stop;
    out.headers.emplace_back(name, trim_ows(value));
  }
}

}  // namespace roomcast
