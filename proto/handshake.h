// proto/handshake.h: what the server answers to an HTTP request on its one port.
//
// Owns nothing. Called once per connection by the handshake phase after
// parse_http_request() returned Complete. Pure functions: request in, decision and
// response bytes out, so every status code is unit-testable without sockets.
// Promises (docs/protocol.md 1):
//   GET /healthz                               -> 200 "ok"
//   GET /metrics                               -> Metrics
//   GET /api/rooms/{room}/presence             -> Presence (bad room name: 404)
//   POST /api/rooms/{room}/publish             -> Publish with Content-Length (411 without;
//                                                 chunked bodies are refused with 411)
//   GET /ws/{room} with a valid upgrade        -> 101 + Sec-WebSocket-Accept, room named
//   GET /ws/{room} without Upgrade: websocket  -> 426
//   /ws/{room} with a bad room name, any other path -> 404
//   a method other than GET on a known path    -> 405
//   a bad upgrade (HTTP/1.0, missing/invalid Sec-WebSocket-Key) -> 400
//   Sec-WebSocket-Version other than 13        -> 426 with "Sec-WebSocket-Version: 13"
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/http_request.h"

namespace roomcast {

// [A-Za-z0-9_.-]{1,128}
bool is_valid_room_name(std::string_view room);

// base64(SHA-1(key + RFC 6455 GUID)); the RFC sample key "dGhlIHNhbXBsZSBub25jZQ=="
// gives "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
std::string websocket_accept_key(std::string_view client_key);

enum class RouteKind {
  Upgrade,   // answer with upgrade_response(); the connection becomes a WebSocket
  Respond,   // answer with `response` and close
  Metrics,   // GET /metrics: the caller renders the answer
  Presence,  // GET /api/rooms/{room}/presence: answered by the room's thread
  Publish,   // POST /api/rooms/{room}/publish: read `content_length` body bytes first
  File,      // GET/HEAD of any other path, when the caller serves files (`--static`)
};

struct Route {
  RouteKind kind = RouteKind::Respond;
  int status = 0;          // 101 for Upgrade, else the HTTP status sent
  std::string room;        // Upgrade, Presence, Publish
  size_t content_length = 0;  // Publish only
  std::string accept_key;  // Upgrade only
  std::string response;    // Respond only: complete HTTP response bytes ("Connection: close")
};

// `serve_files`: paths that are none of the above go to RouteKind::File (GET and HEAD;
// other methods 405) instead of 404.
Route route_request(const HttpRequest& request, bool serve_files = false);

// "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection and Sec-WebSocket-Accept.
std::string upgrade_response(std::string_view accept_key);

// A complete response with Content-Type text/plain, Content-Length and
// "Connection: close"; `extra_headers` (each line ending CRLF) is inserted verbatim.
std::string http_response(int status, std::string_view body, std::string_view extra_headers = {});
// Only the head of such a response, for a body of `content_length` bytes sent after it
// (a file streamed in chunks). `reserve_body`: capacity to leave for a body appended.
std::string http_response_head(int status, std::string_view content_type, uint64_t content_length,
                               std::string_view extra_headers = {}, size_t reserve_body = 0);
// The same with another Content-Type ("application/json", Prometheus' text format...).
std::string http_response_typed(int status, std::string_view content_type, std::string_view body,
                                std::string_view extra_headers = {});

}  // namespace roomcast
