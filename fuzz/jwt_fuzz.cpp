// fuzz/jwt_fuzz.cpp: verify_jwt on hostile tokens.
//
// Input: byte 0 picks the mode and the clock, the rest is
//   mode 0 (even byte 0): a raw token, verified against a fixed secret;
//   mode 1 (odd byte 0):  "<header JSON>\n<payload JSON>", which the harness encodes and
//                         signs correctly, so the fuzzer reaches the header, claim and
//                         time rules behind the signature check.
// Invariants (proto/jwt.h):
//   - success only with sub non-empty, exp > now, rooms present iff has_rooms;
//   - success is impossible in raw mode unless the token is a valid HS256 signature,
//     and any change to a verified token's signature makes it fail;
//   - the verdict is deterministic, and independent of what `out` held before;
//   - jwt_allows_room never crashes and follows its definition.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz/fuzz_common.h"
#include "proto/jwt.h"
#include "tests/proto/jwt_sign.h"

namespace roomcast_fuzz::jwt {

using roomcast::JwtClaims;
using roomcast::JwtError;

constexpr std::string_view kSecret = "fuzz-secret";


std::string sign(std::string_view header, std::string_view payload) {
  return roomcast::jwt_sign::sign(header, payload, kSecret);
}

bool reference_allows(const JwtClaims& c, std::string_view room) {
  if (!c.has_rooms) return true;
  for (const std::string& p : c.rooms) {
    if (p == room) return true;
    if (!p.empty() && p.back() == '*' && room.starts_with(std::string_view(p).substr(0, p.size() - 1))) return true;
  }
  return false;
}

void one_input(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const bool structured = data[0] & 1;
  const int64_t now = 1'700'000'000 + (int64_t(data[0] >> 1) - 64);
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  std::string token;
  if (structured) {
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return;
    token = sign(rest.substr(0, nl), rest.substr(nl + 1));
  } else {
    token.assign(rest);
  }

  JwtClaims claims;
  JwtError err = JwtError::Malformed;
  bool ok = roomcast::verify_jwt(token, kSecret, now, claims, err);

  // Deterministic, and not influenced by stale output.
  JwtClaims dirty;
  dirty.sub = "stale";
  dirty.has_rooms = true;
  dirty.rooms = {"stale"};
  dirty.has_name = true;
  dirty.name = "stale";
  JwtError err2 = JwtError::Expired;
  bool ok2 = roomcast::verify_jwt(token, kSecret, now, dirty, err2);
  check(ok == ok2, "deterministic verdict");
  if (!ok) {
    check(err == err2, "deterministic error");
    check(!roomcast::to_string(err).empty(), "error has a name");
    if (structured) check(err != JwtError::BadSignature, "a correctly signed token never fails its signature");
    return;
  }

  check(token.size() <= roomcast::kMaxJwtBytes, "length bound");
  check(!claims.sub.empty(), "sub non-empty");
  check(claims.exp > now, "not expired");
  check(claims.sub == dirty.sub && claims.exp == dirty.exp && claims.has_name == dirty.has_name &&
            claims.name == dirty.name && claims.has_rooms == dirty.has_rooms && claims.rooms == dirty.rooms,
        "same claims whatever `out` held");
  check(claims.has_rooms || claims.rooms.empty(), "rooms only with has_rooms");
  check(claims.has_name || claims.name.empty(), "name only with has_name");

  // The same token with another secret, or one signature character changed, fails.
  JwtError e3;
  check(!roomcast::verify_jwt(token, "another secret", now, dirty, e3) && e3 == JwtError::BadSignature,
        "wrong secret fails with BadSignature");
  std::string flipped = token;
  char& last = flipped[flipped.size() - 6];
  last = last == 'A' ? 'B' : 'A';
  check(!roomcast::verify_jwt(flipped, kSecret, now, dirty, e3), "changed signature fails");
  // At exp itself, it is expired.
  if (claims.exp < INT64_MAX) {
    check(!roomcast::verify_jwt(token, kSecret, claims.exp, dirty, e3) && e3 == JwtError::Expired,
          "expired at exp");
  }

  for (std::string_view room : {"p1", "proj-42", "team-a.x", "", "*"}) {
    check(roomcast::jwt_allows_room(claims, room) == reference_allows(claims, room), "room rule");
  }
  for (const std::string& r : claims.rooms) {
    check(roomcast::jwt_allows_room(claims, r), "a listed room is allowed");
  }
}

}  // namespace roomcast_fuzz::jwt

#ifndef ROOMCAST_FUZZ_NO_ENTRY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  roomcast_fuzz::jwt::one_input(data, size);
  return 0;
}
#endif
