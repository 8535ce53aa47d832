// core/auth/tokens.cpp: getrandom(2), encoded by proto/jwt.h's base64url_encode.
#include "core/auth/tokens.h"

#include "proto/base64url.h"
#include "proto/jwt.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace roomcast {

void random_bytes(uint8_t* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(out + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no randomness: never issue a guessable secret
    }
    got += size_t(r);
  }
}

std::string random_base64url(size_t bytes) {
  std::vector<uint8_t> raw(bytes);
  random_bytes(raw.data(), bytes);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
}

}  // namespace roomcast
