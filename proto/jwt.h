// proto/jwt.h: verification of the HS256 JSON Web Tokens that authenticate an upgrade.
//
// Owns nothing. Called once per connection by the handshake phase when the server has a
// secret (protocol-v1 "Authentication"), with the token from `?token=` or
// `Authorization: Bearer`. Pure functions: token, secret and clock in, claims or one
// error out, so every rule is unit-testable and fuzzable without sockets.
//
// Promises (verify_jwt), checked in this order; the first failing rule names the error:
//   1. Malformed: the token is longer than kMaxJwtBytes, is not exactly three segments
//      `header.payload.signature`, or a segment is not strict base64url (RFC 7515 sec. 2:
//      no padding, no characters outside [A-Za-z0-9_-], no length of the form 4n+1, and
//      unused trailing bits must be zero, so every byte string has one encoding);
//      or the header is not a JSON object, has a duplicate member name, has a non-string
//      "typ", or has a "crit" member (no extension is understood, RFC 7515 4.1.11).
//   2. UnsupportedAlgorithm: header "alg" is absent, not a string, or not exactly
//      "HS256" ("none", "hs256", "HS512", "RS256" ... are all refused: no alg confusion).
//   3. BadSignature: the signature is not HMAC-SHA256(secret, header_b64 "." payload_b64)
//      (compared in constant time), or the secret is empty (an empty key would let anyone
//      sign; we fail closed). The payload is not parsed before this check passes.
//   4. Malformed: the payload is not a JSON object, has a duplicate member name, or a
//      known claim has the wrong type: `sub` not a string, `exp`/`nbf` not a number,
//      `name` not a string, `rooms` not an array of strings.
//   5. MissingClaim: `sub` absent or empty, or `exp` absent.
//   6. Expired: exp <= now_unix, or ("not valid yet") nbf > now_unix. A future `nbf` is
//      reported as Expired: both mean "this token is not valid at this moment", and the
//      handshake answers both with 401. Fractional exp/nbf are honoured exactly
//      (exp 100.5 is still valid at now 100); JwtClaims::exp holds exp rounded up,
//      which is expired under the same rule, clamped to the int64 range.
// Unknown claims (iss, aud, iat, jti, ...) are ignored. JSON strings must be valid UTF-8.
// Never throws, never recurses on nesting (RapidJSON's iterative parser), allocates only
// for the decoded segments and the two small JSON documents.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast {

struct JwtClaims {
  std::string sub;
  std::string name;
  bool has_name = false;
  int64_t exp = 0;
  bool has_rooms = false;
  std::vector<std::string> rooms;
};

enum class JwtError : uint8_t { Malformed, UnsupportedAlgorithm, BadSignature, Expired, MissingClaim };

// "malformed", "unsupported_algorithm", "bad_signature", "expired", "missing_claim".
std::string_view to_string(JwtError error);

// Longer tokens are Malformed without being looked at.
inline constexpr size_t kMaxJwtBytes = 8 * 1024;

// base64url without padding (RFC 4648 section 5), the encoding verify_jwt reads back; also
// what resume tokens and epochs are made of (core/tokens.h).
std::string base64url_encode(std::string_view bytes);
// The strict, canonical reverse: false for a character outside the alphabet, a length of
// 4n+1, or unused trailing bits that are not zero.
bool base64url_decode(std::string_view in, std::string& out);

// Verifies a compact HS256 JWT (header.payload.signature, base64url without padding).
// True and `out` filled on success; false and `err` set otherwise (`out` is then
// unspecified). `now_unix` in seconds.
bool verify_jwt(std::string_view token, std::string_view secret, int64_t now_unix, JwtClaims& out,
                JwtError& err);

// `rooms` absent: every room. Otherwise the room must equal an entry, or start with the
// part before the '*' of an entry ending in '*' ("*" alone: every room). An empty
// `rooms` array allows no room.
bool jwt_allows_room(const JwtClaims& claims, std::string_view room);

}  // namespace roomcast
