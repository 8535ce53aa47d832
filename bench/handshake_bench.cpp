// bench/handshake_bench.cpp: the per-connection cost of the HTTP upgrade.
#include <benchmark/benchmark.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <string_view>

#include "proto/handshake.h"
#include "proto/http_request.h"
#include "proto/jwt.h"

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

std::string b64url(std::string_view bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) out.push_back(kAlphabet[(acc >> (bits -= 6)) & 63]);
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

// A typical token: user, display name, an hour of validity, two room patterns.
void BM_VerifyJwt(benchmark::State& state) {
  constexpr std::string_view secret = "a-32-byte-secret-for-benchmarks!";
  std::string input = b64url(R"({"alg":"HS256","typ":"JWT"})") + "." +
                      b64url(R"({"sub":"user-1234","name":"Ada Lovelace","exp":4102444800,"rooms":["project-42","team-7-*"]})");
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), int(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  std::string token = input + "." + b64url(std::string_view(reinterpret_cast<char*>(mac), len));
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
