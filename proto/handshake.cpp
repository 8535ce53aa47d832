// proto/handshake.cpp: routing and response bytes for the one listening port.
//
// Checks run from "is this a path we serve" down to "is this upgrade well formed", so a
// client always learns about the most basic thing it got wrong first.
#include "proto/handshake.h"

#include <openssl/evp.h>

#include <string>

namespace roomcast {

namespace {

constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::string_view kWsPrefix = "/ws/";

std::string_view reason_phrase(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// RFC 6455 4.2.1 item 5: the key is base64 of 16 bytes, which is always 22 alphabet
// characters and "==". Non-zero pad bits in the last character are tolerated, as most
// decoders do; the server never decodes the key, it only hashes the text.
bool is_valid_websocket_key(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; ++i) {
    if (!is_base64_char(key[i])) return false;
  }
  return true;
}

// The HTTP API answers errors as JSON {"error": "..."} (messages here need no escaping).
Route respond_json(int status, std::string_view message, std::string_view extra_headers = {}) {
  Route route;
  route.kind = RouteKind::Respond;
  route.status = status;
  route.response = http_response_typed(status, "application/json",
                                       "{\"error\":\"" + std::string(message) + "\"}", extra_headers);
  return route;
}

Route respond(int status, std::string_view body, std::string_view extra_headers = {}) {
  Route route;
  route.kind = RouteKind::Respond;
  route.status = status;
  route.response = http_response(status, body, extra_headers);
  return route;
}

// Content-Length as RFC 9110 8.6 defines it, strictly: one header line, 1 to 15 ASCII
// digits. A negative, signed, spaced, comma-listed, repeated or absurdly long value is
// a request whose body length two parsers could disagree on (request smuggling).
enum class BodyLength { Absent, Valid, Invalid };
constexpr size_t kMaxLengthDigits = 15;

BodyLength content_length(const HttpRequest& request, size_t& n) {
  n = 0;
  const size_t lines = request.header_count("Content-Length");
  if (lines == 0) return BodyLength::Absent;
  if (lines > 1) return BodyLength::Invalid;
  std::string_view value = request.header("Content-Length");
  if (value.empty() || value.size() > kMaxLengthDigits) return BodyLength::Invalid;
  for (char ch : value) {
    if (ch < '0' || ch > '9') return BodyLength::Invalid;
    n = n * 10 + size_t(ch - '0');
  }
  return BodyLength::Valid;
}

}  // namespace

bool is_valid_room_name(std::string_view room) {
  if (room.empty() || room.size() > 128) return false;
  for (char c : room) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string websocket_accept_key(std::string_view client_key) {
  std::string input;
  input.reserve(client_key.size() + kWebSocketGuid.size());
  input.append(client_key);
  input.append(kWebSocketGuid);

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_len, EVP_sha1(), nullptr) != 1 ||
      digest_len != 20) {
    // Only reachable if libcrypto itself is broken; an empty key fails every client's
    // check rather than handing out a wrong one.
    return {};
  }
  // base64 of 20 bytes is 28 characters; EVP_EncodeBlock also writes a NUL.
  unsigned char encoded[29];
  int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(digest_len));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(n));
}

Route route_request(const HttpRequest& request, bool serve_files) {
  const bool is_get = request.method == "GET";
  size_t body_bytes = 0;
  const BodyLength body = content_length(request, body_bytes);
  if (body == BodyLength::Invalid) return respond(400, "bad request: invalid Content-Length\n");

  if (request.path == "/healthz") {
    if (!is_get) return respond(405, "method not allowed\n", "Allow: GET\r\n");
    return respond(200, "ok");
  }

  if (request.path == "/metrics") {
    if (!is_get) return respond(405, "method not allowed\n", "Allow: GET\r\n");
    Route route;
    route.kind = RouteKind::Metrics;
    route.status = 200;
    return route;
  }

  constexpr std::string_view kApiPrefix = "/api/rooms/";
  if (request.path.starts_with(kApiPrefix)) {
    std::string_view rest = request.path.substr(kApiPrefix.size());
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return respond_json(404, "not found");
    std::string_view room = rest.substr(0, slash), action = rest.substr(slash + 1);
    if (action != "presence" && action != "publish") return respond_json(404, "not found");
    if (!is_valid_room_name(room)) return respond_json(404, "not found: invalid room name");
    Route route;
    route.room.assign(room);
    route.status = 200;
    if (action == "presence") {
      if (!is_get) return respond_json(405, "method not allowed", "Allow: GET\r\n");
      route.kind = RouteKind::Presence;
      return route;
    }
    if (request.method != "POST") return respond_json(405, "method not allowed", "Allow: POST\r\n");
    if (request.has_header("Transfer-Encoding"))
      return respond_json(411, "length required: send the body with Content-Length, not chunked");
    if (body == BodyLength::Absent) return respond_json(411, "length required");
    route.kind = RouteKind::Publish;
    route.content_length = body_bytes;
    return route;
  }

  if (!request.path.starts_with(kWsPrefix)) {
    if (!serve_files) return respond(404, "not found\n");
    if (!is_get && request.method != "HEAD") return respond(405, "method not allowed\n", "Allow: GET, HEAD\r\n");
    Route route;
    route.kind = RouteKind::File;
    route.status = 200;
    return route;
  }
  std::string_view room = request.path.substr(kWsPrefix.size());
  if (!is_valid_room_name(room)) return respond(404, "not found\n");
  if (!is_get) return respond(405, "method not allowed\n", "Allow: GET\r\n");

  // HTTP/1.0 has no Upgrade mechanism, so the request cannot be one; 426 would invite a
  // retry that can never succeed.
  if (request.version_minor < 1) return respond(400, "bad request: websocket needs HTTP/1.1\n");

  if (!request.header_has_token("Upgrade", "websocket") ||
      !request.header_has_token("Connection", "upgrade")) {
    return respond(426, "upgrade required: this endpoint speaks websocket\n",
                   "Upgrade: websocket\r\n");
  }
  // An upgrade has no body: bytes after the head are WebSocket frames, so a request that
  // announces a body would have a proxy and this server read the stream differently.
  if (request.has_header("Transfer-Encoding") || body_bytes != 0)
    return respond(400, "bad request: an upgrade request has no body\n");
  // Fields that must appear once (RFC 6455 4.2.1): two lines may disagree.
  if (request.header_count("Sec-WebSocket-Key") > 1 || request.header_count("Sec-WebSocket-Version") > 1)
    return respond(400, "bad request: repeated Sec-WebSocket-Key or Sec-WebSocket-Version\n");
  // A missing version is treated like an unsupported one: the 426 tells the client
  // which version to use (RFC 6455 4.2.2).
  if (request.header("Sec-WebSocket-Version") != "13") {
    return respond(426, "upgrade required: unsupported websocket version\n",
                   "Sec-WebSocket-Version: 13\r\n");
  }
  std::string_view key = request.header("Sec-WebSocket-Key");
  if (!is_valid_websocket_key(key)) return respond(400, "bad request: invalid Sec-WebSocket-Key\n");

  Route route;
  route.kind = RouteKind::Upgrade;
  route.status = 101;
  route.room.assign(room);
  route.accept_key = websocket_accept_key(key);
  return route;
}

std::string upgrade_response(std::string_view accept_key) {
  std::string out;
  out.reserve(160);
  out.append(
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ");
  out.append(accept_key);
  out.append("\r\n\r\n");
  return out;
}

std::string http_response(int status, std::string_view body, std::string_view extra_headers) {
  return http_response_typed(status, "text/plain", body, extra_headers);
}

std::string http_response_head(int status, std::string_view content_type, uint64_t content_length,
                               std::string_view extra_headers, size_t reserve_body) {
  std::string out;
  out.reserve(128 + extra_headers.size() + reserve_body);
  out.append("HTTP/1.1 ");
  out.append(std::to_string(status));
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\nContent-Type: ");
  out.append(content_type);
  out.append("\r\nContent-Length: ");
  out.append(std::to_string(content_length));
  out.append(
      "\r\n"
      "Connection: close\r\n");
  out.append(extra_headers);
  out.append("\r\n");
  return out;
}

std::string http_response_typed(int status, std::string_view content_type, std::string_view body,
                                std::string_view extra_headers) {
  std::string out = http_response_head(status, content_type, body.size(), extra_headers, body.size());
  out.append(body);
  return out;
}

}  // namespace roomcast
