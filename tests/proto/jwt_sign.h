// tests/proto/jwt_sign.h: minting JWTs for the tests, benchmarks and fuzzers of proto/jwt.
//
// The server only verifies tokens; whoever tests it must make them. One signer, so the
// unit tests, the integration suite, the handshake benchmark and the JWT fuzzer all sign
// the way RFC 7515 says (base64url without padding, HMAC over "header.payload").
// Header-only; needs OpenSSL's libcrypto, which every binary including it links.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace roomcast::jwt_sign {

// base64url (RFC 4648 sec. 5) without padding. Written here, not taken from
// proto/jwt.h: the integration tests link no server code, and a token minted by an
// independent encoder is what a client would send.
inline std::string b64url(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

inline std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

// "b64url(header).b64url(payload).b64url(HMAC(secret, those two))", header and payload
// JSON taken byte for byte. `md` is SHA-256 for HS256; tests pass others to forge.
inline std::string sign(std::string_view header_json, std::string_view payload_json, std::string_view secret,
                        const EVP_MD* md = EVP_sha256()) {
  std::string input = b64url(header_json) + "." + b64url(payload_json);
  return input + "." + b64url(hmac(md, secret, input));
}

}  // namespace roomcast::jwt_sign
