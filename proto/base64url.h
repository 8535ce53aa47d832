// proto/base64url.h: base64url without padding (RFC 4648 section 5).
//
// Owns nothing: pure functions over bytes. Used by JWT/JWK verification (proto/jwt.h,
// proto/jwk.h), which read it strictly, and by the core for what it hands to clients in
// this alphabet (resume tokens, session ids, epochs).
// Promises: encode never pads; decode accepts only the canonical form (see below), so one
// byte string has exactly one accepted text.
#pragma once

#include <string>
#include <string_view>

namespace roomcast {

std::string base64url_encode(std::string_view bytes);
// The strict, canonical reverse: false for a character outside the alphabet, a length of
// 4n+1, or unused trailing bits that are not zero.
bool base64url_decode(std::string_view in, std::string& out);

}  // namespace roomcast
