// core/auth/tokens.h: unguessable identifiers: resume tokens (secrets) and room epochs.
//
// Owns nothing. Called by the room service when it issues a resume token or opens a
// room's history.
// Promises: `bytes` bytes from the kernel's CSPRNG (getrandom), base64url without padding.
// If the kernel cannot give randomness the process aborts rather than hand out a
// predictable secret.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace roomcast {

std::string random_base64url(size_t bytes);
// `n` bytes from the CSPRNG, raw (a resume token kept as bytes).
void random_bytes(uint8_t* out, size_t n);

}  // namespace roomcast
