// fuzz/jwks_fuzz.cpp: parse_jwk_set and parse_public_key_pem on hostile text (what a
// --jwt-jwks-url answer or a key file may hold).
//
// Input: the whole text, read as a JWK set and as a PEM public key.
// Invariants (proto/jwk.h):
//   - a refused set leaves `out` as it was and says why; an accepted one adds 1..64 keys;
//   - the verdict, the keys and their kids are deterministic;
//   - every key is a signature key of an accepted type: RSA of 2048..8192 bits (RS256 /
//     PS256), P-256 (ES256) or Ed25519 (EdDSA), and none accepts HS256 or another
//     type's algorithm;
//   - a key never verifies a garbage signature, and never crashes trying.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_common.h"
#include "proto/jwk.h"

namespace roomcast_fuzz::jwks {

using roomcast::JwkSet;
using roomcast::JwsAlg;
using roomcast::PublicKey;
using roomcast::PublicKeyType;

void check_key(const PublicKey& k) {
  check(!k.accepts(JwsAlg::HS256), "no public key is an HMAC secret");
  switch (k.type()) {
    case PublicKeyType::Rsa:
      check(k.bits() >= 2048 && k.bits() <= 8192, "RSA size bounds");
      check(!k.accepts(JwsAlg::ES256) && !k.accepts(JwsAlg::EdDSA), "RSA only for RS256/PS256");
      check(k.accepts(JwsAlg::RS256) || k.accepts(JwsAlg::PS256), "an RSA key verifies something");
      break;
    case PublicKeyType::P256:
      check(k.bits() == 256, "P-256");
      check(k.accepts(JwsAlg::ES256) && !k.accepts(JwsAlg::RS256) && !k.accepts(JwsAlg::EdDSA), "P-256 only ES256");
      break;
    case PublicKeyType::Ed25519:
      check(k.accepts(JwsAlg::EdDSA) && !k.accepts(JwsAlg::RS256) && !k.accepts(JwsAlg::ES256), "Ed25519 only EdDSA");
      break;
  }
  const std::string garbage(size_t(k.bits() + 7) / 8 < 64 ? 64 : size_t(k.bits() + 7) / 8, '\x5a');
  for (JwsAlg alg : {JwsAlg::RS256, JwsAlg::PS256, JwsAlg::ES256, JwsAlg::EdDSA}) {
    check(!k.verify(alg, "eyJhbGciOiJSUzI1NiJ9.e30", garbage), "garbage never verifies");
    check(!k.verify(alg, "x", ""), "empty signature never verifies");
  }
}

void one_input(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  JwkSet set, again;
  std::string error, error2;
  std::vector<std::string> skipped;
  bool ok = roomcast::parse_jwk_set(text, set, error, &skipped);
  bool ok2 = roomcast::parse_jwk_set(text, again, error2);
  check(ok == ok2, "deterministic verdict");
  check(set.keys.size() == again.keys.size(), "deterministic keys");
  if (!ok) {
    check(set.keys.empty(), "a refused set adds nothing");
    check(!error.empty() && error == error2, "a refusal says why, the same way");
  } else {
    check(!set.keys.empty() && set.keys.size() <= roomcast::kMaxJwks, "1..64 keys");
    check(skipped.size() + set.keys.size() <= roomcast::kMaxJwks, "every entry is a key or a skip");
    for (size_t i = 0; i < set.keys.size(); ++i) {
      check(set.keys[i].kid() == again.keys[i].kid() && set.keys[i].type() == again.keys[i].type(), "same keys");
      check_key(set.keys[i]);
    }
  }

  JwkSet pem;
  if (roomcast::parse_public_key_pem(text, pem, error)) {
    check(pem.keys.size() == 1 && pem.keys[0].kid().empty(), "one kid-less key from PEM");
    check_key(pem.keys[0]);
  } else {
    check(pem.keys.empty(), "a refused PEM adds nothing");
  }
}

}  // namespace roomcast_fuzz::jwks

#ifndef ROOMCAST_FUZZ_NO_ENTRY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  roomcast_fuzz::jwks::one_input(data, size);
  return 0;
}
#endif
