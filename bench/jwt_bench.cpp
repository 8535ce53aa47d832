// bench/jwt_bench.cpp: what one token verification costs on the join path, per algorithm
// (docs/identity.md). Keys are parsed once per set (outside the loop), exactly
// as the server holds them; items/s is verifications per second on one core.
#include <benchmark/benchmark.h>

#include <string>

#include "proto/jwk.h"
#include "proto/jwt.h"
#include "tests/proto/jws_keys.h"

namespace {

using namespace roomcast;

// A typical access token: user, display name, issuer, audience, an hour, two room patterns.
constexpr std::string_view kClaims =
    R"({"sub":"user-1234","name":"Ada Lovelace","iss":"https://idp.example.com/realms/acme","aud":["account","roomcast"],)"
    R"("iat":1699999000,"exp":4102444800,"rooms":["project-42","team-7-*"]})";
constexpr std::string_view kSecret = "a-32-byte-secret-for-benchmarks!";

JwtRules rules() {
  JwtRules r;
  r.issuer = "https://idp.example.com/realms/acme";
  r.audience = "roomcast";
  r.leeway_s = 30;
  return r;
}

// A Keycloak-sized set: the signing key among two others, so kid selection is measured too.
void verify_with(benchmark::State& state, const char* alg, unsigned rsa_bits = 2048) {
  jws_keys::KeyPair key = jws_keys::KeyPair::generate(alg, "signing", rsa_bits);
  jws_keys::KeyPair other1 = jws_keys::KeyPair::generate("ES256", "old-1");
  jws_keys::KeyPair other2 = jws_keys::KeyPair::generate("EdDSA", "old-2");
  JwkSet set;
  std::string error;
  if (!parse_jwk_set(jws_keys::jwk_set({&other1, &other2, &key}), set, error)) state.SkipWithError(error.c_str());
  const std::string token = key.token(kClaims);
  JwtKeys keys;
  keys.sets[0] = &set;
  const JwtRules r = rules();
  JwtClaims claims;
  JwtError err;
  for (auto _ : state) {
    bool ok = verify_jwt(token, keys, r, 1'700'000'000, claims, err) && jwt_allows_room(claims, "project-42");
    if (!ok) state.SkipWithError("token rejected");
    benchmark::DoNotOptimize(claims);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_VerifyHs256(benchmark::State& state) {
  const std::string token = jwt_sign::sign(R"({"alg":"HS256","typ":"JWT"})", kClaims, kSecret);
  JwtKeys keys;
  keys.hs256_secret = kSecret;
  const JwtRules r = rules();
  JwtClaims claims;
  JwtError err;
  for (auto _ : state) {
    bool ok = verify_jwt(token, keys, r, 1'700'000'000, claims, err) && jwt_allows_room(claims, "project-42");
    if (!ok) state.SkipWithError("token rejected");
    benchmark::DoNotOptimize(claims);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyHs256);

void BM_VerifyRs256(benchmark::State& state) { verify_with(state, "RS256"); }
BENCHMARK(BM_VerifyRs256);
void BM_VerifyRs256Key4096(benchmark::State& state) { verify_with(state, "RS256", 4096); }
BENCHMARK(BM_VerifyRs256Key4096);
void BM_VerifyPs256(benchmark::State& state) { verify_with(state, "PS256"); }
BENCHMARK(BM_VerifyPs256);
void BM_VerifyEs256(benchmark::State& state) { verify_with(state, "ES256"); }
BENCHMARK(BM_VerifyEs256);
void BM_VerifyEdDsa(benchmark::State& state) { verify_with(state, "EdDSA"); }
BENCHMARK(BM_VerifyEdDsa);

// What a fetch costs the fetcher thread (never a loop thread): a three-key set to EVP_PKEYs.
void BM_ParseJwkSet(benchmark::State& state) {
  jws_keys::KeyPair a = jws_keys::KeyPair::generate("RS256", "a");
  jws_keys::KeyPair b = jws_keys::KeyPair::generate("ES256", "b");
  jws_keys::KeyPair c = jws_keys::KeyPair::generate("EdDSA", "c");
  const std::string json = jws_keys::jwk_set({&a, &b, &c});
  for (auto _ : state) {
    JwkSet set;
    std::string error;
    if (!parse_jwk_set(json, set, error)) state.SkipWithError(error.c_str());
    benchmark::DoNotOptimize(set);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseJwkSet);

}  // namespace
