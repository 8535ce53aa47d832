// core/http/http_front.cpp: request head -> route -> limits, Origin, token -> decision.
#include "core/http/http_front.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "net/event_loop.h"
#include "proto/hook_messages.h"
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

// The address without its port, as the auth hook's remote_addr: "1.2.3.4", "::1".
std::string remote_ip(const PeerAddress& peer) {
  std::string s = peer.to_string();
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    return close == std::string::npos ? s : s.substr(1, close - 1);
  }
  const size_t colon = s.rfind(':');
  return colon == std::string::npos ? s : s.substr(0, colon);
}

HttpDecision route_to(RouteKind kind, std::string room) {
  HttpDecision d;
  d.kind = HttpDecision::Kind::Route;
  d.route = kind;
  d.room = std::move(room);
  return d;
}

}  // namespace

HttpFront::HttpFront(const Config& config, ConnectionLimits& limits, ApiRateLimit& api_rate, const StaticFiles& files,
                     Logger& log)
    : config_(config), limits_(limits), api_rate_(api_rate), files_(files), log_(log), proxy_(config), tokens_(config) {}

HttpDecision HttpFront::on_bytes(HttpExchange& ex, const PeerAddress& peer, const uint8_t* data, size_t len) {
  ex.head.append(reinterpret_cast<const char*>(data), len);
  if (ex.awaiting_auth) return {};  // kept for after the upgrade
  PeerAddress client = peer;
  bool client_named = false;
  // --proxy-protocol: the PROXY header comes before the HTTP request (core/http/proxy_front.h).
  if (!ex.proxy_header_read && proxy_.expects_header()) {
    switch (proxy_.take_header(ex.head, client)) {
      case ProxyFront::Step::NeedMore:
        return {};
      case ProxyFront::Step::Bad: {
        HttpDecision d;
        d.kind = HttpDecision::Kind::Drop;
        d.response = "bad PROXY protocol header";
        return d;
      }
      case ProxyFront::Step::Named:
        client_named = true;
        [[fallthrough]];
      case ProxyFront::Step::Unnamed:
        ex.proxy_header_read = true;
        break;
    }
  }
  HttpDecision d = on_head(ex, client, client_named);
  if (client_named) d.client = client;
  return d;
}

HttpDecision HttpFront::on_head(HttpExchange& ex, PeerAddress& client, bool& client_named) {
  if (ex.body_end != 0) {  // a publish waiting for its body
    if (ex.head.size() < ex.body_end) return {};
    HttpDecision d = route_to(RouteKind::Publish, std::move(ex.room));
    d.leftover = ex.head.substr(ex.body_start, ex.body_end - ex.body_start);
    return d;
  }
  HttpRequest request;
  HttpParseResult parsed = parse_http_request(ex.head, config_.max_header, request);
  switch (parsed.status) {
    case HttpParseStatus::Incomplete:
      return {};
    case HttpParseStatus::Bad:
      return HttpDecision::respond(400, http_response(400, "bad request\n"));
    case HttpParseStatus::TooLarge:
      return HttpDecision::respond(431, http_response(431, "request header fields too large\n"));
    case HttpParseStatus::Complete:
      break;
  }
  if (std::optional<PeerAddress> forwarded = proxy_.forwarded_client(client, request)) {
    client = *forwarded;
    client_named = true;
  }
  return decide(ex, client, request, parsed.consumed);
}

HttpDecision HttpFront::decide(HttpExchange& ex, const PeerAddress& peer, const HttpRequest& request,
                               size_t head_bytes) {
  Route route = route_request(request, files_.enabled());
  switch (route.kind) {
    case RouteKind::Respond:
      return HttpDecision::respond(route.status, std::move(route.response));
    case RouteKind::File: {
      StaticAnswer a = files_.answer(request.method, request.path, request.header("If-None-Match"));
      HttpDecision d = HttpDecision::respond(a.status, std::move(a.response));
      d.body = std::move(a.body);
      return d;
    }
    case RouteKind::Metrics: {
      HttpDecision d;
      d.kind = HttpDecision::Kind::Metrics;
      return d;
    }
    case RouteKind::Presence: {
      if (!api_rate_.allow(peer, monotonic_ns())) return api_rate_limited(peer);
      HttpDecision refused = check_presence_access(request, peer, route.room);
      if (refused.kind == HttpDecision::Kind::Respond) return refused;
      HttpDecision d = route_to(RouteKind::Presence, std::move(route.room));
      d.leftover = std::string(request.query_param("after"));
      return d;
    }
    case RouteKind::Publish: {
      if (!api_rate_.allow(peer, monotonic_ns())) return api_rate_limited(peer);
      if (config_.api_key.empty())
        return HttpDecision::respond(
            403, http_response_typed(403, "application/json", json_error("publishing is disabled: no API key configured")));
      if (!same_secret(bearer(request), config_.api_key)) {
        log_.log(LogLevel::Warn, "auth_failed", {{"peer", peer.to_string()}, {"endpoint", "publish"}});
        return HttpDecision::respond(401, http_response_typed(401, "application/json", json_error("missing or wrong API key"),
                                                              "WWW-Authenticate: Bearer\r\n"));
      }
      if (route.content_length > config_.max_message)
        return HttpDecision::respond(
            413, http_response_typed(413, "application/json", json_error("body larger than --max-message")));
      ex.body_start = head_bytes;
      ex.body_end = head_bytes + route.content_length;
      if (ex.head.size() < ex.body_end) {
        ex.room = std::move(route.room);
        return {};
      }
      HttpDecision d = route_to(RouteKind::Publish, std::move(route.room));
      d.leftover = ex.head.substr(ex.body_start, route.content_length);
      return d;
    }
    case RouteKind::Upgrade:
      break;
  }
  // --max-connections and --max-connections-per-ip count members: a request with its
  // token takes its place now, if it is a valid upgrade. An in-band one (auth on, no token
  // in the request: docs/protocol.md 3.4) takes none yet: it stays on the handshake budget until
  // its join's token verifies, and is told 1013 then if over a limit (a browser cannot
  // read a refused upgrade's status). So tokenless sockets can only crowd each other.
  // --auth-hook: an upgrade without a JWT asks the backend who it is (docs/integration.md 2).
  const bool hook = !config_.auth_hook_url.empty() &&
                    (!tokens_.enabled() || (request.query_param("token").empty() && bearer(request).empty()));
  const bool token_in_band = !hook && in_band(request);
  bool admitted = false;
  bool awaiting_place = token_in_band;
  if (!token_in_band) {
    const Admission verdict = limits_.admit(peer);
    if (verdict != Admission::Admitted && limits_.may_resume(peer, verdict)) {
      // Held sessions fill the limit: this may be one of them coming back (a whole office
      // behind one NAT after a network drop). Its join decides: a resume takes a place, a
      // fresh join is closed 1013 (docs/protocol.md "Resume behind one address").
      awaiting_place = true;
    } else if (verdict != Admission::Admitted) {
      const bool total = verdict == Admission::OverTotal;
      log_.log(LogLevel::Warn, "limit",
               {{"peer", peer.to_string()}, {"limit", total ? "max-connections" : "max-connections-per-ip"}});
      const int status = total ? 503 : 429;
      return HttpDecision::respond(
          status, http_response(status, total ? "server at its connection limit\n" : "too many connections from this address\n",
                                "Retry-After: 5\r\n"));
    } else {
      admitted = true;
    }
  }
  std::unique_ptr<Identity> identity;
  HttpDecision refused = check_upgrade(request, peer, route.room, identity, token_in_band || hook);
  if (refused.kind == HttpDecision::Kind::Respond) {
    if (admitted) limits_.release(peer);
    return refused;
  }
  if (hook) {
    AuthHookHeaders headers;
    headers.cookie = request.header("Cookie");
    headers.authorization = request.header("Authorization");
    headers.origin = request.header("Origin");
    headers.user_agent = request.header("User-Agent");
    HttpDecision d;
    d.kind = HttpDecision::Kind::AuthHook;
    d.room = route.room;
    d.hook_body = encode_auth_hook_request(route.room, headers, remote_ip(peer));
    ex.awaiting_auth = true;
    ex.head_bytes = head_bytes;
    ex.room = std::move(route.room);
    ex.accept_key = std::move(route.accept_key);
    ex.admitted = admitted;
    ex.awaiting_place = awaiting_place;
    return d;
  }
  HttpDecision d = route_to(RouteKind::Upgrade, std::move(route.room));
  d.accept_key = std::move(route.accept_key);
  d.leftover = ex.head.substr(head_bytes);
  d.identity = std::move(identity);
  d.admitted = admitted;
  d.awaiting_token = token_in_band;
  d.awaiting_place = awaiting_place;
  return d;
}

HttpDecision HttpFront::api_rate_limited(const PeerAddress& peer) {
  log_.log(LogLevel::Warn, "limit", {{"peer", peer.to_string()}, {"limit", "api-rate-limit"}});
  return HttpDecision::respond(429, http_response_typed(429, "application/json", json_error("too many API requests from this address"),
                                                        "Retry-After: 1\r\n"));
}

// With authentication on, who is in a room (ids, names, cameras, selections) is not
// public: the API key, or a token whose `rooms` allow the room (docs/protocol.md).
HttpDecision HttpFront::check_presence_access(const HttpRequest& request, const PeerAddress& peer,
                                              const std::string& room) {
  if (!tokens_.enabled()) return {};
  std::string_view credential = bearer(request);
  if (credential.empty()) credential = request.query_param("token");
  if (!config_.api_key.empty() && same_secret(credential, config_.api_key)) return {};
  JwtClaims claims;
  JwtError error;
  if (credential.empty() || !tokens_.verify(credential, int64_t(std::time(nullptr)), claims, error)) {
    log_.log(LogLevel::Warn, "auth_failed",
             {{"peer", peer.to_string()}, {"endpoint", "presence"}, {"reason", credential.empty() ? "no token" : to_string(error)}});
    return HttpDecision::respond(401, http_response_typed(401, "application/json",
                                                          json_error("the API key or a token is required"),
                                                          "WWW-Authenticate: Bearer\r\n"));
  }
  if (!jwt_allows_room(claims, room)) {
    log_.log(LogLevel::Warn, "auth_failed", {{"peer", peer.to_string()}, {"endpoint", "presence"}, {"room", room}});
    return HttpDecision::respond(403, http_response_typed(403, "application/json", json_error("the token does not grant this room")));
  }
  return {};
}

bool HttpFront::in_band(const HttpRequest& request) const {
  return tokens_.enabled() && request.query_param("token").empty() && bearer(request).empty();
}

// Origin allow-list and token (docs/protocol.md 1.1).
HttpDecision HttpFront::check_upgrade(const HttpRequest& request, const PeerAddress& peer, const std::string& room,
                                      std::unique_ptr<Identity>& identity, bool in_band) {
  if (!config_.allow_origins.empty()) {
    // Browsers always send Origin; a missing one is a non-browser client, which
    // cross-site WebSocket hijacking cannot involve.
    std::string_view origin = request.header("Origin");
    bool listed = origin.empty();
    for (const std::string& o : config_.allow_origins) listed = listed || origin == o;
    if (!listed) {
      log_.log(LogLevel::Warn, "origin_refused", {{"peer", peer.to_string()}, {"origin", origin}});
      return HttpDecision::respond(403, http_response(403, "forbidden: origin not allowed\n"));
    }
  }
  if (!tokens_.enabled() || in_band) return {};  // in band: the join carries the token
  std::string_view token = request.query_param("token");
  if (token.empty()) token = bearer(request);
  JwtClaims claims;
  JwtError error;
  if (!tokens_.verify(token, int64_t(std::time(nullptr)), claims, error)) {
    log_.log(LogLevel::Warn, "auth_failed", {{"peer", peer.to_string()}, {"reason", to_string(error)}});
    return HttpDecision::respond(401, http_response(401, "unauthorized: " + std::string(to_string(error)) + "\n",
                                                    "WWW-Authenticate: Bearer\r\n"));
  }
  if (!jwt_allows_room(claims, room)) {
    log_.log(LogLevel::Warn, "auth_failed", {{"peer", peer.to_string()}, {"reason", "room not in token"}, {"room", room}});
    return HttpDecision::respond(403, http_response(403, "forbidden: the token does not grant this room\n"));
  }
  identity = std::make_unique<Identity>();
  identity->verified = true;
  identity->user_id = std::move(claims.sub);
  identity->has_name = claims.has_name;
  identity->name = std::move(claims.name);
  identity->exp = claims.usable_until;  // exp + --jwt-leeway: then close 4001
  identity->role = jwt_allows_edit(claims, room) ? Role::Editor : Role::Viewer;
  return {};
}

HttpDecision HttpFront::auth_answered(HttpExchange& ex, const PeerAddress& peer, long status, std::string_view body,
                                      int64_t now_unix) {
  ex.awaiting_auth = false;
  JwtClaims claims;
  std::string why;
  const AuthHookVerdict verdict = decide_auth_hook(status, body, ex.room, now_unix, claims, why);
  if (verdict != AuthHookVerdict::Allow) {
    if (ex.admitted) limits_.release(peer);
    ex.admitted = false;
    log_.log(LogLevel::Warn, "auth_hook_refused",
             {{"peer", peer.to_string()}, {"room", ex.room}, {"verdict", to_string(verdict)}, {"why", why}});
  }
  switch (verdict) {
    case AuthHookVerdict::Allow:
      break;
    case AuthHookVerdict::Unauthorized:
      return HttpDecision::respond(401, http_response(401, "unauthorized: the backend does not know this session\n"));
    case AuthHookVerdict::Forbidden:
      return HttpDecision::respond(403, http_response(403, "forbidden: the backend does not grant this room\n"));
    case AuthHookVerdict::Broken:
      return HttpDecision::respond(503, http_response(503, "the authentication backend answered something unusable\n"));
    case AuthHookVerdict::Unavailable:
      return HttpDecision::respond(
          503, http_response(503, "the authentication backend cannot be reached; try again later\n", "Retry-After: 5\r\n"));
  }
  // The backend's `rooms` / `edit` lists give the role as a token's claims would
  // (docs/protocol.md 7.1; docs/integration.md 2).
  const Role role = jwt_allows_edit(claims, ex.room) ? Role::Editor : Role::Viewer;
  HttpDecision d = route_to(RouteKind::Upgrade, std::move(ex.room));
  d.accept_key = std::move(ex.accept_key);
  d.leftover = ex.head.substr(std::min(ex.head_bytes, ex.head.size()));
  auto identity = std::make_unique<Identity>();
  identity->verified = true;
  identity->from_auth_hook = true;
  identity->role = role;
  identity->user_id = std::move(claims.sub);
  identity->has_name = claims.has_name;
  identity->name = std::move(claims.name);
  identity->exp = claims.usable_until;  // now + expires_in; 0: no expiry
  d.identity = std::move(identity);
  d.admitted = ex.admitted;
  d.awaiting_place = ex.awaiting_place;
  ex.admitted = false;
  return d;
}

HttpDecision HttpFront::presence(RoomService& rooms, std::string_view room, std::string_view after) {
  PresencePage page = rooms.presence(room, after);
  std::string link;
  // The room name was checked by the route; a session id is [A-Za-z0-9_-] when this server
  // made it, and one read from Redis that is not is never put into a header.
  const bool safe_id = std::all_of(page.next.begin(), page.next.end(), [](char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
  if (!page.next.empty() && safe_id) link = "Link: </api/rooms/" + std::string(room) + "/presence?after=" + page.next + ">; rel=\"next\"\r\n";
  return HttpDecision::respond(200, http_response_typed(200, "application/json", page.json, link));
}

HttpDecision HttpFront::publish(RoomService& rooms, MessageDecoder& decoder, ClientMessage& scratch,
                                std::string_view room, std::string_view body, int64_t now_ns) {
  DecodeError error;
  if (!decoder.decode_publish(body, scratch, error))
    return HttpDecision::respond(400, http_response_typed(400, "application/json", json_error(error.message)));
  const uint64_t seq = rooms.publish(room, scratch, now_ns);
  return published(true, seq);
}

HttpDecision HttpFront::publish_stored(RoomService& rooms, MessageDecoder& decoder, ClientMessage& scratch,
                                       std::string_view room, std::string_view body, uint64_t ticket, int64_t now_ns) {
  DecodeError error;
  if (!decoder.decode_publish(body, scratch, error))
    return HttpDecision::respond(400, http_response_typed(400, "application/json", json_error(error.message)));
  rooms.publish_stored(room, scratch, ticket, now_ns);
  return {};
}

HttpDecision HttpFront::published(bool ok, uint64_t seq) {
  if (!ok) return store_unavailable();
  return HttpDecision::respond(200, http_response_typed(200, "application/json", "{\"seq\":" + std::to_string(seq) + "}"));
}

HttpDecision HttpFront::store_unavailable() {
  return HttpDecision::respond(503, http_response_typed(503, "application/json", json_error("the store (Redis, or the disk of --data-dir) could not store it")));
}

}  // namespace roomcast
