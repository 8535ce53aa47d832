// bench/handshake_bench.cpp: the per-connection cost of the HTTP upgrade.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "proto/handshake.h"
#include "proto/http_request.h"
#include "proto/jwt.h"
#include "tests/proto/jwt_sign.h"

namespace {

using namespace roomcast;

// What a browser sends for `new WebSocket("ws://host/ws/project-42")`.
constexpr std::string_view kUpgrade =
    "GET /ws/project-42 HTTP/1.1\r\n"
    "Host: collab.example.com\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: https://viewer.example.com\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

void BM_ParseHttpRequest(benchmark::State& state) {
  HttpRequest req;
  for (auto _ : state) {
    HttpParseResult r = parse_http_request(kUpgrade, 8192, req);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kUpgrade.size()));
}
BENCHMARK(BM_ParseHttpRequest);

void BM_ParseAndRouteUpgrade(benchmark::State& state) {
  HttpRequest req;  // reused, as a connection re-parses into the same one
  for (auto _ : state) {
    HttpParseResult r = parse_http_request(kUpgrade, 8192, req);
    Route route = route_request(req);
    if (r.status != HttpParseStatus::Complete || route.kind != RouteKind::Upgrade) state.SkipWithError("not an upgrade");
    benchmark::DoNotOptimize(route);
  }
}
BENCHMARK(BM_ParseAndRouteUpgrade);

void BM_WebSocketAcceptKey(benchmark::State& state) {
  for (auto _ : state) {
    std::string key = websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==");
    benchmark::DoNotOptimize(key);
  }
}
BENCHMARK(BM_WebSocketAcceptKey);


// A typical token: user, display name, an hour of validity, two room patterns.
void BM_VerifyJwt(benchmark::State& state) {
  constexpr std::string_view secret = "a-32-byte-secret-for-benchmarks!";
  const std::string token = jwt_sign::sign(
      R"({"alg":"HS256","typ":"JWT"})",
      R"({"sub":"user-1234","name":"Ada Lovelace","exp":4102444800,"rooms":["project-42","team-7-*"]})", secret);
  JwtClaims claims;
  JwtError err;
  for (auto _ : state) {
    bool ok = verify_jwt(token, secret, 1'700'000'000, claims, err) && jwt_allows_room(claims, "project-42");
    if (!ok) state.SkipWithError("token rejected");
    benchmark::DoNotOptimize(claims);
  }
}
BENCHMARK(BM_VerifyJwt);

}  // namespace
