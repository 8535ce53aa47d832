// proto/jwt.h: verification of the JSON Web Tokens that authenticate a client: at the
// upgrade, in band (1.1 join) and on `refresh`.
//
// Owns nothing. Called by core/token_verifier (with the server's secret, key sets and
// rules) whenever a token arrives. Pure functions: token, keys, rules and clock in,
// claims or one error out, so every rule is unit-testable and fuzzable without sockets.
//
// Promises (verify_jwt), checked in this order; the first failing rule names the error:
//   1. Malformed: the token is longer than kMaxJwtBytes, is not exactly three segments
//      `header.payload.signature`, or a segment is not strict base64url (RFC 7515 sec. 2:
//      no padding, no characters outside [A-Za-z0-9_-], no length of the form 4n+1, and
//      unused trailing bits must be zero, so every byte string has one encoding);
//      or the header is not a JSON object, has a duplicate member name, has a non-string
//      "typ" or "kid", or has a "crit" member (no extension is understood, RFC 7515 4.1.11).
//   2. UnsupportedAlgorithm: header "alg" is absent, not a string, or not exactly one of
//      HS256, RS256, PS256, ES256, EdDSA ("none", "hs256", "HS512" ... are all refused);
//      or no configured key may check that algorithm: HS256 only ever with the secret
//      (never with a public key's bytes: no alg confusion), the others only with a
//      public key whose type binds it (proto/jwk.h). With a "kid" in the header, only
//      keys with that kid, or keys without a kid (a PEM key), are candidates.
//      UnknownKey: the header names a kid no key set holds and no kid-less key of the
//      algorithm's type exists to try instead (the caller may fetch the set again).
//   3. BadSignature: no candidate key verifies the signature (at most kMaxKeysTried are
//      tried, kid matches first), or HS256 with an empty secret (an empty key would let
//      anyone sign; we fail closed). HMAC is compared in constant time. The payload is
//      not parsed before this check passes.
//   4. Malformed: the payload is not a JSON object, has a duplicate member name, or a
//      known claim has the wrong type: `sub`, `iss`, the user claim and the name claim
//      not strings, `exp`/`nbf`/`iat` not numbers, `aud` neither a string nor an array
//      of strings, `rooms`/`edit` not arrays of strings.
//   5. MissingClaim: the user claim (JwtRules::user_claim, `sub` by default) absent or
//      empty, or `exp` absent.
//   6. WrongIssuer: rules name an issuer and `iss` is absent or differs.
//      WrongAudience: rules name an audience and `aud` (string or array) lacks it.
//   7. Expired: exp + leeway <= now_unix, or ("not valid yet") nbf or iat > now + leeway.
//      A future `nbf`/`iat` is reported as Expired: both mean "this token is not valid
//      at this moment", and the handshake answers both with 401. Fractional dates are
//      honoured exactly (exp 100.5 is still valid at now 100); JwtClaims::exp holds exp
//      rounded up, which is expired under the same rule, clamped to the int64 range.
// Unknown claims (jti, azp, ...) are ignored. JSON strings must be valid UTF-8.
// Never throws, never recurses on nesting (RapidJSON's iterative parser), allocates only
// for the decoded segments and the two small JSON documents.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/jwk.h"

namespace roomcast {

struct JwtClaims {
  std::string sub;   // the user claim's value (`sub` unless JwtRules::user_claim says otherwise)
  std::string name;  // the name claim, else `preferred_username`
  bool has_name = false;
  int64_t exp = 0;           // the token's exp, rounded up
  int64_t usable_until = 0;  // exp + leeway: the session closes (4001) at this second
  bool has_rooms = false;
  std::vector<std::string> rooms;
  // Protocol 1.2 rights: the rooms where the holder may edit and present; absent means
  // the same rooms as `rooms` (docs/protocol.md 7.1-7.2; docs/identity.md).
  bool has_edit = false;
  std::vector<std::string> edit;
};

enum class JwtError : uint8_t {
  Malformed,
  UnsupportedAlgorithm,
  BadSignature,
  Expired,
  MissingClaim,
  UnknownKey,
  WrongIssuer,
  WrongAudience,
};

// "malformed", "unsupported_algorithm", "bad_signature", "expired", "missing_claim",
// "unknown_key", "wrong_issuer", "wrong_audience".
std::string_view to_string(JwtError error);

// What a token must say besides being signed (docs/identity.md).
struct JwtRules {
  std::string issuer;            // empty: `iss` not checked
  std::string audience;          // empty: `aud` not checked
  int64_t leeway_s = 0;          // tolerance for exp, nbf and iat (0..300)
  std::string user_claim = "sub";
  std::string name_claim = "name";  // falls back to `preferred_username`
};

// The keys a token may be signed with. Not owned: the caller keeps them alive for the call.
struct JwtKeys {
  std::string_view hs256_secret;              // empty: HS256 refused
  const JwkSet* sets[2] = {nullptr, nullptr};  // e.g. the configured keys and the fetched set
};

// Candidate keys tried for one token: a forged token costs at most this many checks.
inline constexpr size_t kMaxKeysTried = 4;

// Longer tokens are Malformed without being looked at.
inline constexpr size_t kMaxJwtBytes = 8 * 1024;

// Verifies a compact JWS (header.payload.signature, base64url without padding).
// True and `out` filled on success; false and `err` set otherwise (`out` is then
// unspecified). `now_unix` in seconds.
bool verify_jwt(std::string_view token, const JwtKeys& keys, const JwtRules& rules, int64_t now_unix,
                JwtClaims& out, JwtError& err);
// HS256 with `secret` only and the default rules.
bool verify_jwt(std::string_view token, std::string_view secret, int64_t now_unix, JwtClaims& out,
                JwtError& err);

// `rooms` absent: every room. Otherwise the room must equal an entry, or start with the
// part before the '*' of an entry ending in '*' ("*" alone: every room). An empty
// `rooms` array allows no room.
bool jwt_allows_room(const JwtClaims& claims, std::string_view room);
// Protocol 1.2: whether the holder may `edit` and `present` in `room` (its role is
// "editor"): `room` must be allowed by `rooms` and match `edit` (same patterns); `edit`
// absent: the same as `rooms`; `[]`: view only everywhere.
bool jwt_allows_edit(const JwtClaims& claims, std::string_view room);

}  // namespace roomcast
