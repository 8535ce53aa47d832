// core/auth/token_verifier.cpp: the configured keys and rules around verify_jwt.
#include "core/auth/token_verifier.h"

#include <chrono>

#include "core/auth/jwks_slot.h"

namespace roomcast {

bool authentication_on(const Config& config) {
  return !config.jwt_secret.empty() || (config.jwt_keys && !config.jwt_keys->keys.empty()) ||
         !config.jwt_jwks_url.empty();
}

bool TokenVerifier::verify(std::string_view token, int64_t now_unix, JwtClaims& out, JwtError& err) const {
  // Held for the call: a set published meanwhile does not free the one in use.
  std::shared_ptr<const JwkSet> fetched = config_.jwt_jwks ? config_.jwt_jwks->current() : nullptr;
  JwtKeys keys;
  keys.hs256_secret = config_.jwt_secret;
  keys.sets[0] = config_.jwt_keys.get();
  keys.sets[1] = fetched.get();
  if (verify_jwt(token, keys, config_.jwt_rules, now_unix, out, err)) return true;
  if (err == JwtError::UnknownKey && config_.jwt_jwks) config_.jwt_jwks->request_fetch(std::chrono::steady_clock::now());
  return false;
}

}  // namespace roomcast
