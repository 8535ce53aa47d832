// core/auth/token_verifier.h: the one place a token is judged, for the upgrade (query or
// header), the presence API, the in-band join (1.1) and `refresh`.
//
// Owns nothing: it reads the Config it was made with (the HS256 secret, the keys of
// --jwt-public-key-file / --jwt-jwks-file parsed once by parse_config, the rules) and the
// set core/jwks_fetcher leaves in Config::jwt_jwks. One per HttpFront and RoomService,
// i.e. per loop thread; cheap to make.
// Promises: verify() is proto/jwt.h's verify_jwt with every configured key and rule
// (docs/identity.md); it never blocks (one atomic load for the fetched set).
// A token naming a kid that no set holds (UnknownKey) asks the fetcher for a fresh set,
// at most once per 10 s across all threads (core/auth/jwks_slot.h); that token itself is
// refused: the client's next attempt finds the new key.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/base/config.h"
#include "proto/jwt.h"

namespace roomcast {

// Authentication is on when a secret, a key file or a key set URL is configured.
bool authentication_on(const Config& config);

class TokenVerifier {
 public:
  explicit TokenVerifier(const Config& config) : config_(config) {}

  // Asked of the Config each time (a few compares), not cached at construction.
  bool enabled() const { return authentication_on(config_); }
  bool verify(std::string_view token, int64_t now_unix, JwtClaims& out, JwtError& err) const;

 private:
  const Config& config_;
};

}  // namespace roomcast
