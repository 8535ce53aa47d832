// core/http/http_front.h: from request bytes to a decision: answer, or route to a room's thread.
//
// Owns nothing per connection: the bytes read so far live in the connection's
// HttpExchange. Decides, once per connection, everything before the upgrade: the request
// head (proto/http_request), routing (proto/handshake), the WebSocket connection limits,
// the Origin allow-list and the token, so nothing on the message path checks them again.
// Called by: the Worker with each chunk of request bytes (on_bytes), and by the thread
// that owns a request's room to answer the HTTP API (presence, publish).
// Promises: returns a decision and changes nothing else, with one exception it says so:
// a Route decision for an upgrade carries `admitted`, a place taken in ConnectionLimits
// that the connection's final owner gives back when it is freed. A refusal takes none.
// With --auth-hook, an upgrade without a JWT gets an AuthHook decision (the place, if
// taken, is kept in the exchange) and no anonymous upgrade ever: auth_answered turns the
// backend's answer into the Route or the refusal (docs/integration.md 2).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/auth/token_verifier.h"
#include "core/base/admission.h"
#include "core/base/config.h"
#include "core/base/log.h"
#include "core/http/api_rate_limit.h"
#include "core/http/http_exchange.h"
#include "core/http/proxy_front.h"
#include "core/http/static_files.h"
#include "core/room/room_service.h"
#include "proto/handshake.h"
#include "proto/message.h"

namespace roomcast {

struct HttpDecision {
  enum class Kind : uint8_t {
    NeedMore,  // the head (or a publish body) is not complete yet
    Respond,   // send `response` and close
    Drop,      // close without a word (a bad PROXY protocol header: not HTTP)
    Metrics,   // GET /metrics: the caller renders every thread's counters
    Route,     // hand the request to the thread owning `room`
    AuthHook,  // --auth-hook: POST `hook_body` to it; its answer goes to auth_answered()
  };
  Kind kind = Kind::NeedMore;
  int status = 0;
  std::string response;                 // Respond: all of it, or a file answer's head
  FileBody body;                        // Respond: a file answer's body, streamed after `response`
  RouteKind route = RouteKind::Upgrade;  // Route: Upgrade, Presence or Publish
  std::string room;                      // Route
  std::string accept_key;                // Upgrade
  std::string leftover;                  // Upgrade: bytes after the head; Publish: the body; Presence: `after`
  std::string hook_body;                 // AuthHook: the request body (docs/integration.md 2)
  std::unique_ptr<Identity> identity;    // Upgrade with a verified token
  bool admitted = false;                 // Upgrade: a ConnectionLimits place, released by the final owner
  bool awaiting_token = false;           // Upgrade, auth on, no token: the join must carry it (docs/protocol.md 3.4)
  bool awaiting_place = false;           // Upgrade without a place yet (in band, or a possible resume): the join takes it
  // Any kind: the client behind a proxy became known with these bytes (core/http/proxy_front.h);
  // the caller counts the connection under it before acting on the decision.
  std::optional<PeerAddress> client;

  static HttpDecision respond(int status, std::string response) {
    HttpDecision d;
    d.kind = Kind::Respond;
    d.status = status;
    d.response = std::move(response);
    return d;
  }
};

class HttpFront {
 public:
  // `api_rate` (shared by every thread) limits /api/... requests per address.
  HttpFront(const Config& config, ConnectionLimits& limits, ApiRateLimit& api_rate, const StaticFiles& files,
            Logger& log);

  // `len` more bytes of `exchange`, a request from `peer`.
  HttpDecision on_bytes(HttpExchange& exchange, const PeerAddress& peer, const uint8_t* data, size_t len);
  // Who a new connection's peer is: a client, a proxy that will name one, or refused.
  PeerRole role_of(const PeerAddress& peer) const { return proxy_.role_of(peer); }

  // --auth-hook: the backend's answer about the upgrade that got an AuthHook decision on
  // `exchange` (`status` 0: no answer: a timeout, no connection, the hook queue full):
  // the upgrade (Route) with the identity it gave, or 401 / 403 / 503 (+ Retry-After: 5
  // when the backend did not answer). A refusal gives back the request's place.
  HttpDecision auth_answered(HttpExchange& exchange, const PeerAddress& peer, long status, std::string_view body,
                             int64_t now_unix);

  // The answers of the thread that owns the room.
  // One page of presence (`after`: the query's cursor), with a `Link: rel="next"` header
  // when more remain.
  static HttpDecision presence(RoomService& rooms, std::string_view room, std::string_view after);
  static HttpDecision publish(RoomService& rooms, MessageDecoder& decoder, ClientMessage& scratch,
                              std::string_view room, std::string_view body, int64_t now_ns);
  // With Redis the publish answer waits for the store: `ticket` names it to
  // ClusterPort::published. NeedMore while it waits, or the 400 for a bad body.
  static HttpDecision publish_stored(RoomService& rooms, MessageDecoder& decoder, ClientMessage& scratch,
                                     std::string_view room, std::string_view body, uint64_t ticket, int64_t now_ns);
  // The answers once Redis replied: {"seq":N}, or 503 when the store is unavailable.
  static HttpDecision published(bool ok, uint64_t seq);
  static HttpDecision store_unavailable();

 private:
  // The request head so far (after any PROXY header); `client` starts as the peer and
  // ends as the client a trusted proxy's headers name, if they do.
  HttpDecision on_head(HttpExchange& exchange, PeerAddress& client, bool& client_named);
  HttpDecision decide(HttpExchange& exchange, const PeerAddress& peer, const HttpRequest& request,
                      size_t head_bytes);
  // Origin allow-list and token; a refusal (Respond) or NeedMore meaning "allowed".
  // `in_band` (auth on, no token in the request): allowed, the join must carry the token.
  HttpDecision check_upgrade(const HttpRequest& request, const PeerAddress& peer, const std::string& room,
                             std::unique_ptr<Identity>& identity, bool in_band);
  // The presence API with authentication on: NeedMore (allowed), or 401/403.
  HttpDecision check_presence_access(const HttpRequest& request, const PeerAddress& peer, const std::string& room);
  HttpDecision api_rate_limited(const PeerAddress& peer);
  // Authentication is on and the request carries no token: 1.1 in-band authentication.
  bool in_band(const HttpRequest& request) const;

  const Config& config_;
  ConnectionLimits& limits_;
  ApiRateLimit& api_rate_;
  const StaticFiles& files_;
  Logger& log_;
  ProxyFront proxy_;
  TokenVerifier tokens_;  // every token of the upgrade and the presence API
};

}  // namespace roomcast
