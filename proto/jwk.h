// proto/jwk.h: the public keys that verify asymmetric JWS signatures (RS256, PS256,
// ES256, EdDSA), read from an RFC 7517 JWK set or a PEM SubjectPublicKeyInfo.
//
// Owns: each PublicKey holds one reference to an OpenSSL EVP_PKEY, made once when the
// set is parsed (never per token) and shared by copies of the key; an EVP_PKEY only
// read is safe to verify with on every thread at once (OpenSSL 3 threading rules).
// Called by: core/config (--jwt-public-key-file, --jwt-jwks-file), core/jwks_fetcher
// (--jwt-jwks-url), proto/jwt (verify_jwt tries the keys), the JWK fuzzer.
// Promises:
//   - parse_jwk_set reads the text with the same strict JSON reader as tokens
//     (proto/json_reader.h: valid UTF-8, no lone surrogate, no duplicate member, depth 4)
//     and base64url as strictly as proto/jwt.h. The set is refused (false, `error`) when
//     the text is longer than kMaxJwkSetBytes, is not an object with a "keys" array, an
//     entry is not an object, there are more than kMaxJwks entries, or no entry is usable.
//   - An entry is skipped (named in `skipped`, the others still used) when it is not a
//     signature key we verify with: "use" other than "sig", "key_ops" without "verify",
//     an "alg" we do not accept for its type (e.g. Keycloak's RSA-OAEP key), a kty other
//     than RSA/EC/OKP (symmetric "oct" keys are never taken from a set: a published set is
//     public), a curve other than P-256 / Ed25519, a private member ("d"), a member of
//     the wrong type or encoding, an RSA modulus under 2048 or over 8192 bits, an RSA
//     exponent that is even, 1, or wider than 32 bits, or an EC point not on the curve.
//   - A key's type binds its algorithms: RSA -> RS256, PS256; P-256 -> ES256;
//     Ed25519 -> EdDSA. A JWK "alg" narrows that to the one named. HS256 is never a
//     PublicKey's algorithm (no public key used as an HMAC secret).
//   - Keys are built with OpenSSL 3's key-from-parameters API (EVP_PKEY_fromdata) and
//     checked with EVP_PKEY_public_check; signatures verified with EVP_DigestVerify.
//     Nothing cryptographic is written here (docs/identity.md says why not a JOSE library).
// Pure: no I/O, never throws, never logs; OpenSSL's error queue is cleared after a
// failure so a loop thread's queue does not grow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

namespace roomcast {

// The JWS "alg" values roomcast accepts (RFC 7518 section 3.1, RFC 8037 section 3.1).
enum class JwsAlg : uint8_t { HS256, RS256, PS256, ES256, EdDSA };

// Exact, case-sensitive: "none", "hs256", "RS512" ... are nullopt.
std::optional<JwsAlg> parse_jws_alg(std::string_view name);
std::string_view to_string(JwsAlg alg);

enum class PublicKeyType : uint8_t { Rsa, P256, Ed25519 };
std::string_view to_string(PublicKeyType type);

class PublicKey {
 public:
  PublicKeyType type() const { return type_; }
  // The JWK "kid"; empty for a PEM key or a JWK without one (such a key is tried for
  // any token whose algorithm it accepts).
  const std::string& kid() const { return kid_; }
  int bits() const { return bits_; }
  // Whether a token signed with `alg` may be checked with this key (type binding, then
  // the JWK's own "alg" if it had one).
  bool accepts(JwsAlg alg) const;
  // The JWS signature over `signing_input` ("header.payload" as sent): RS256 (PKCS#1
  // v1.5), PS256 (PSS, MGF1-SHA-256, salt 32 bytes), ES256 (R||S, 64 bytes, RFC 7518
  // 3.4), EdDSA (Ed25519, 64 bytes). False for an algorithm the key does not accept.
  bool verify(JwsAlg alg, std::string_view signing_input, std::string_view signature) const;

 private:
  friend struct PublicKeyBuilder;
  PublicKeyType type_ = PublicKeyType::Rsa;
  std::string kid_;
  std::optional<JwsAlg> alg_;  // the JWK "alg", if any
  int bits_ = 0;
  std::shared_ptr<EVP_PKEY> key_;
};

// An immutable list of keys, parsed once; shared (std::shared_ptr<const JwkSet>) by every
// verifier that uses it.
struct JwkSet {
  std::vector<PublicKey> keys;
};

inline constexpr size_t kMaxJwkSetBytes = 256 * 1024;
inline constexpr size_t kMaxJwks = 64;

// Appends the usable keys of `json` to `out` (which is untouched on false). `skipped`
// (may be null) gets one line per entry left out, e.g. `kid "x": RSA key of 1024 bits`.
bool parse_jwk_set(std::string_view json, JwkSet& out, std::string& error, std::vector<std::string>* skipped = nullptr);

// Appends the key of a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) block: RSA of 2048..8192
// bits, EC P-256 or Ed25519; anything else is refused with `error`.
bool parse_public_key_pem(std::string_view pem, JwkSet& out, std::string& error);

}  // namespace roomcast
