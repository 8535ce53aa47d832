// The HTTP side of a Worker: from the first request byte to either a WebSocket on the
// room's thread or an HTTP answer. Admission (limits, Origin, token) happens here, once
// per connection, so nothing on the message path ever checks it again.
#include <openssl/crypto.h>

#include <ctime>

#include "core/worker.h"
#include "proto/http_request.h"
#include "proto/jwt.h"

namespace roomcast {
namespace {

std::string json_error(std::string_view message) {
  std::string out = "{\"error\":\"";
  for (char ch : message) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    out.push_back(ch);
  }
  out += "\"}";
  return out;
}

// "Bearer <credential>" (scheme case-insensitive), or empty.
std::string_view bearer(const HttpRequest& request) {
  std::string_view v = request.header("Authorization");
  if (v.size() < 7) return {};
  for (size_t i = 0; i < 6; ++i)
    if (std::tolower(static_cast<unsigned char>(v[i])) != "bearer"[i]) return {};
  if (v[6] != ' ') return {};
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  return v;
}

bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

void Worker::on_handshake_bytes(Connection& c, const uint8_t* data, size_t len) {
  c.head.append(reinterpret_cast<const char*>(data), len);
  if (c.body_end != 0) {  // a publish waiting for its body
    if (c.head.size() >= c.body_end)
      hand_to_owner(c, RouteKind::Publish, c.room_name, {}, c.head.substr(c.body_start, c.body_end - c.body_start));
    return;
  }
  HttpRequest request;
  HttpParseResult parsed = parse_http_request(c.head, config_.max_header, request);
  switch (parsed.status) {
    case HttpParseStatus::Incomplete:
      return;
    case HttpParseStatus::Bad:
      respond_and_close(c, 400, http_response(400, "bad request\n"));
      return;
    case HttpParseStatus::TooLarge:
      respond_and_close(c, 431, http_response(431, "request header fields too large\n"));
      return;
    case HttpParseStatus::Complete:
      dispatch_request(c, request, parsed.consumed);
      return;
  }
}

void Worker::dispatch_request(Connection& c, const HttpRequest& request, size_t head_bytes) {
  Route route = route_request(request);
  switch (route.kind) {
    case RouteKind::Respond:
      respond_and_close(c, route.status, route.response);
      return;
    case RouteKind::Metrics: {
      std::vector<const Metrics*> all;
      for (const Worker* w : peers_) all.push_back(&w->metrics());
      respond_and_close(c, 200, http_response_typed(200, "text/plain; version=0.0.4", render_metrics(all)));
      return;
    }
    case RouteKind::Presence:
      hand_to_owner(c, RouteKind::Presence, std::move(route.room), {}, {});
      return;
    case RouteKind::Publish: {
      if (config_.api_key.empty()) {
        respond_and_close(c, 403, http_response_typed(403, "application/json",
                                                      json_error("publishing is disabled: no API key configured")));
        return;
      }
      if (!same_secret(bearer(request), config_.api_key)) {
        log_.log(LogLevel::Warn, "auth_failed", {{"peer", c.peer.to_string()}, {"endpoint", "publish"}});
        respond_and_close(c, 401, http_response_typed(401, "application/json", json_error("missing or wrong API key"),
                                                      "WWW-Authenticate: Bearer\r\n"));
        return;
      }
      if (route.content_length > config_.max_message) {
        respond_and_close(c, 413, http_response_typed(413, "application/json",
                                                      json_error("body larger than --max-message")));
        return;
      }
      c.room_name = std::move(route.room);
      c.body_start = head_bytes;
      c.body_end = head_bytes + route.content_length;
      if (c.head.size() >= c.body_end)
        hand_to_owner(c, RouteKind::Publish, c.room_name, {}, c.head.substr(c.body_start, route.content_length));
      return;
    }
    case RouteKind::Upgrade:
      if (!admit_connection(c) || !admit_upgrade(c, request, route.room)) return;
      hand_to_owner(c, RouteKind::Upgrade, std::move(route.room), std::move(route.accept_key),
                    c.head.substr(head_bytes));
      return;
  }
}

// --max-connections and --max-connections-per-ip count WebSockets: only a request that
// is a valid upgrade takes a place (counted until the connection is freed, on whichever
// thread owns it then). Answers 503/429 and returns false when a limit is reached.
bool Worker::admit_connection(Connection& c) {
  const Admission verdict = limits_->admit(c.peer);
  if (verdict == Admission::Admitted) {
    c.admitted = true;
    return true;
  }
  const bool total = verdict == Admission::OverTotal;
  log_.log(LogLevel::Warn, "limit",
           {{"peer", c.peer.to_string()}, {"limit", total ? "max-connections" : "max-connections-per-ip"}});
  const int status = total ? 503 : 429;
  respond_and_close(c, status,
                    http_response(status, total ? "server at its connection limit\n"
                                                : "too many connections from this address\n",
                                  "Retry-After: 5\r\n"));
  return false;
}

// Origin allow-list and token (protocol-v1 "Authentication"); answers and returns false
// when the upgrade is refused.
bool Worker::admit_upgrade(Connection& c, const HttpRequest& request, const std::string& room) {
  if (!config_.allow_origins.empty()) {
    // Browsers always send Origin; a missing one is a non-browser client, which
    // cross-site WebSocket hijacking cannot involve.
    std::string_view origin = request.header("Origin");
    bool listed = origin.empty();
    for (const std::string& o : config_.allow_origins) listed = listed || origin == o;
    if (!listed) {
      log_.log(LogLevel::Warn, "origin_refused", {{"peer", c.peer.to_string()}, {"origin", origin}});
      respond_and_close(c, 403, http_response(403, "forbidden: origin not allowed\n"));
      return false;
    }
  }
  if (config_.jwt_secret.empty()) return true;
  std::string_view token = request.query_param("token");
  if (token.empty()) token = bearer(request);
  if (token.empty()) {
    log_.log(LogLevel::Warn, "auth_failed", {{"peer", c.peer.to_string()}, {"reason", "missing token"}});
    respond_and_close(c, 401, http_response(401, "unauthorized: missing token\n", "WWW-Authenticate: Bearer\r\n"));
    return false;
  }
  JwtClaims claims;
  JwtError error;
  if (!verify_jwt(token, config_.jwt_secret, int64_t(std::time(nullptr)), claims, error)) {
    log_.log(LogLevel::Warn, "auth_failed", {{"peer", c.peer.to_string()}, {"reason", to_string(error)}});
    respond_and_close(c, 401, http_response(401, "unauthorized: " + std::string(to_string(error)) + "\n",
                                            "WWW-Authenticate: Bearer\r\n"));
    return false;
  }
  if (!jwt_allows_room(claims, room)) {
    log_.log(LogLevel::Warn, "auth_failed",
             {{"peer", c.peer.to_string()}, {"reason", "room not in token"}, {"room", room}});
    respond_and_close(c, 403, http_response(403, "forbidden: the token does not grant this room\n"));
    return false;
  }
  c.identity = std::make_unique<Identity>();
  c.identity->verified = true;
  c.identity->user_id = std::move(claims.sub);
  c.identity->has_name = claims.has_name;
  c.identity->name = std::move(claims.name);
  return true;
}

// Rooms live on one thread: the request goes there with its socket, nothing in flight.
void Worker::hand_to_owner(Connection& c, RouteKind kind, std::string room, std::string accept_key,
                           std::string leftover) {
  Handoff h{kind, c.fd, std::move(room), std::move(accept_key), std::move(leftover), c.peer, c.admitted,
            std::move(c.identity)};
  Worker* owner = owner_of(h.room);
  if (owner == this) {
    serve_here(c, std::move(h));
    return;
  }
  loop_->forget(c.fd);
  c.fd = -1;
  c.admitted = false;  // the owner releases it
  kill(c, "handed off");
  owner->adopt(std::move(h));
}

void Worker::serve_here(Connection& c, Handoff&& h) {
  c.peer = h.peer;
  c.admitted = h.admitted;
  c.identity = std::move(h.identity);
  c.body_end = 0;
  switch (h.kind) {
    case RouteKind::Presence:
      answer_presence(c, h.room);
      return;
    case RouteKind::Publish:
      answer_publish(c, h.room, h.leftover);
      return;
    default:
      open_websocket(c, std::move(h.room), h.accept_key, h.leftover);
      return;
  }
}

void Worker::answer_presence(Connection& c, const std::string& room) {
  respond_and_close(c, 200, http_response_typed(200, "application/json", protocol_.presence_json(room)));
}

void Worker::answer_publish(Connection& c, const std::string& room, std::string_view body) {
  std::string error;
  uint64_t seq = protocol_.publish(room, body, now_ns_, error);
  if (seq == 0) {
    respond_and_close(c, 400, http_response_typed(400, "application/json", json_error(error)));
    return;
  }
  respond_and_close(c, 200, http_response_typed(200, "application/json", "{\"seq\":" + std::to_string(seq) + "}"));
}

void Worker::respond_and_close(Connection& c, int status, const std::string& response) {
  if (status >= 400) metrics_.refusals[size_t(refusal_for_status(status))].add();
  c.out.push_adopt(SharedFrame::raw(response));
  std::string().swap(c.head);
  c.body_end = 0;
  c.state = ConnState::Closing;
  c.deadline_ns = now_ns_ + 2'000'000'000;
}

}  // namespace roomcast
