// core/tokens.cpp: getrandom(2), encoded by proto/jwt.h's base64url_encode.
#include "core/tokens.h"

#include "proto/jwt.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace roomcast {

std::string random_base64url(size_t bytes) {
  std::vector<uint8_t> raw(bytes);
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(raw.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no randomness: never issue a guessable secret
    }
    got += size_t(n);
  }
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
}

}  // namespace roomcast
