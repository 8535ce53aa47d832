// fuzz/http_request_fuzz.cpp: parse_http_request under several head limits, then
// route_request on every Complete head, checking the parser's documented promises:
//   - one of Incomplete / Complete / Bad / TooLarge, and Complete only within the limit;
//   - every view in HttpRequest points inside the consumed head;
//   - "Incomplete means the bytes so far are a valid prefix": every strict prefix of a
//     Complete head is Incomplete, and the head alone re-parses to the same result;
//   - the route is well formed (101 with a valid room and a 28-byte accept key, or a
//     complete "HTTP/1.1 <status>" response);
//   - a 101 only for a head with one Sec-WebSocket-Key, one Sec-WebSocket-Version and no
//     body (Content-Length absent or zero, no Transfer-Encoding).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz/fuzz_common.h"
#include "proto/handshake.h"
#include "proto/http_request.h"

namespace roomcast_fuzz::http_request {

using roomcast::HttpParseResult;
using roomcast::HttpParseStatus;
using roomcast::HttpRequest;


bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_route(const HttpRequest& req) {
  roomcast::Route route = roomcast::route_request(req);
  if (route.kind == roomcast::RouteKind::Upgrade) {
    check(route.status == 101, "upgrade status is 101");
    check(roomcast::is_valid_room_name(route.room), "upgrade room is valid");
    check(route.accept_key.size() == 28, "accept key is 28 bytes");
    std::string resp = roomcast::upgrade_response(route.accept_key);
    check(resp.starts_with("HTTP/1.1 101 ") && resp.ends_with("\r\n\r\n"), "101 response shape");
    // Nothing two parsers could read differently becomes a WebSocket (issue 9).
    check(req.header_count("Sec-WebSocket-Key") == 1 && req.header_count("Sec-WebSocket-Version") == 1,
          "an upgrade has exactly one key and one version");
    check(req.header_count("Content-Length") == 0 ||
              (req.header_count("Content-Length") == 1 && req.header("Content-Length").find_first_not_of('0') ==
                                                              std::string_view::npos &&
               !req.header("Content-Length").empty()),
          "an upgrade announces no body");
    check(!req.has_header("Transfer-Encoding"), "an upgrade has no Transfer-Encoding");
  } else if (route.kind == roomcast::RouteKind::Metrics) {
    check(route.room.empty() && req.path == "/metrics", "metrics route");
  } else if (route.kind == roomcast::RouteKind::Presence || route.kind == roomcast::RouteKind::Publish) {
    check(roomcast::is_valid_room_name(route.room), "api room is valid");
    check(route.response.empty() && route.accept_key.empty(), "api route carries no response/key");
  } else {
    check(route.status >= 200 && route.status < 600, "respond status range");
    check(route.response.starts_with("HTTP/1.1 " + std::to_string(route.status) + " "), "response status line");
    check(route.response.find("\r\n\r\n") != std::string::npos, "response has a head");
    check(route.room.empty() && route.accept_key.empty(), "respond carries no room/key");
  }
  // What the handshake will read for authentication.
  (void)req.query_param("token");
  (void)req.header("Authorization");
  (void)req.header_has_token("Connection", "upgrade");
}

void run(std::string_view data, size_t max) {
  HttpRequest req;
  HttpParseResult r = roomcast::parse_http_request(data, max, req);
  switch (r.status) {
    case HttpParseStatus::Incomplete:
      check(data.size() < max, "Incomplete only below the limit");
      check(r.consumed == 0, "Incomplete consumes nothing");
      return;
    case HttpParseStatus::TooLarge:
      check(data.size() >= max, "TooLarge only at the limit");
      return;
    case HttpParseStatus::Bad:
      return;
    case HttpParseStatus::Complete:
      break;
  }
  check(r.consumed >= 4 && r.consumed <= data.size() && r.consumed <= max, "consumed within data and limit");
  std::string_view head = data.substr(0, r.consumed);
  check(head.ends_with("\r\n\r\n"), "head ends with CRLFCRLF");
  check(!req.method.empty() && inside(req.method, head), "method inside head");
  check(!req.target.empty() && req.target[0] == '/' && inside(req.target, head), "target inside head");
  check(inside(req.path, req.target) && inside(req.query, req.target), "path/query inside target");
  check(req.version_minor >= 0 && req.version_minor <= 9, "version digit");
  for (const auto& [name, value] : req.headers) {
    check(!name.empty() && inside(name, head) && inside(value, head), "header views inside head");
    check(value.find('\r') == std::string_view::npos && value.find('\n') == std::string_view::npos,
          "no CR/LF in a header value");
  }
  check_route(req);

  // The head alone parses the same; every strict prefix is a valid prefix.
  HttpRequest again;
  HttpParseResult r2 = roomcast::parse_http_request(head, max, again);
  check(r2.status == HttpParseStatus::Complete && r2.consumed == r.consumed, "head re-parses identically");
  check(again.target == req.target && again.headers.size() == req.headers.size(), "same request twice");
  for (size_t cut : {size_t(0), r.consumed / 2, r.consumed - 1}) {
    HttpParseResult p = roomcast::parse_http_request(head.substr(0, cut), max, again);
    check(p.status == HttpParseStatus::Incomplete, "strict prefix of a head is Incomplete");
  }
}

void one_input(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  for (size_t max : {size_t(8192), size_t(512), size_t(64), size_t(1), size, size + 1}) {
    if (max == 0) continue;
    run(data, max);
  }
}

}  // namespace roomcast_fuzz::http_request

#ifndef ROOMCAST_FUZZ_NO_ENTRY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  roomcast_fuzz::http_request::one_input(data, size);
  return 0;
}
#endif
