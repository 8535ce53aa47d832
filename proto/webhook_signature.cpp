// proto/webhook_signature.cpp: HMAC-SHA256 and base64 through OpenSSL.
#include "proto/webhook_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace roomcast {

namespace {

constexpr size_t kMacBytes = 32;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// Standard base64 (RFC 4648 section 4), padding optional. EVP_DecodeBlock wants whole
// quanta and counts padding as output bytes, so the padding is handled here.
bool base64_decode(std::string_view in, std::string& out) {
  size_t pad = 0;
  while (!in.empty() && in.back() == '=' && pad < 2) {
    in.remove_suffix(1);
    ++pad;
  }
  for (char c : in)
    if (!is_base64_char(c)) return false;
  if (in.size() % 4 == 1) return false;
  std::string padded(in);
  const size_t missing = (4 - padded.size() % 4) % 4;
  padded.append(missing, '=');
  out.assign(padded.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(padded.data()), static_cast<int>(padded.size()));
  if (n < 0 || static_cast<size_t>(n) < missing) return false;
  out.resize(static_cast<size_t>(n) - missing);
  return true;
}

std::string base64_encode(const unsigned char* bytes, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

bool mac(std::string_view key, std::string_view id, std::string_view timestamp, std::string_view body,
         unsigned char (&out)[kMacBytes]) {
  std::string content;
  content.reserve(id.size() + timestamp.size() + body.size() + 2);
  content.append(id).append(".").append(timestamp).append(".").append(body);
  unsigned int len = 0;
  return HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(content.data()), content.size(), out, &len) != nullptr &&
         len == kMacBytes;
}

}  // namespace

bool parse_webhook_secret(std::string_view secret, std::string& key, std::string& error) {
  secret = trim(secret);
  if (secret.substr(0, kWebhookSecretPrefix.size()) != kWebhookSecretPrefix) {
    error = "the hook secret does not start with whsec_";
    return false;
  }
  secret.remove_prefix(kWebhookSecretPrefix.size());
  if (!base64_decode(secret, key)) {
    error = "the hook secret is not base64 after whsec_";
    return false;
  }
  if (key.size() < kMinWebhookKeyBytes || key.size() > kMaxWebhookKeyBytes) {
    error = "the hook secret's key is " + std::to_string(key.size()) + " bytes; it must be " +
            std::to_string(kMinWebhookKeyBytes) + " to " + std::to_string(kMaxWebhookKeyBytes);
    key.clear();
    return false;
  }
  return true;
}

std::string webhook_signature(std::string_view key, std::string_view id, int64_t timestamp, std::string_view body) {
  unsigned char digest[kMacBytes];
  // Only fails if libcrypto itself is broken: an empty signature then fails every check
  // on the backend instead of claiming a wrong one.
  if (!mac(key, id, std::to_string(timestamp), body, digest)) return {};
  return "v1," + base64_encode(digest, kMacBytes);
}

bool verify_webhook_signature(std::string_view key, std::string_view id, std::string_view timestamp,
                              std::string_view body, std::string_view signature_header, int64_t now,
                              int64_t tolerance_s) {
  if (timestamp.empty() || timestamp.size() > 18) return false;
  int64_t ts = 0;
  for (char c : timestamp) {
    if (c < '0' || c > '9') return false;
    ts = ts * 10 + (c - '0');
  }
  if (ts < now - tolerance_s || ts > now + tolerance_s) return false;
  unsigned char expected[kMacBytes];
  if (!mac(key, id, timestamp, body, expected)) return false;
  bool found = false;
  while (!signature_header.empty()) {
    const size_t sp = signature_header.find(' ');
    std::string_view one = signature_header.substr(0, sp);
    signature_header = sp == std::string_view::npos ? std::string_view{} : signature_header.substr(sp + 1);
    if (one.substr(0, 3) != "v1,") continue;
    std::string got;
    if (!base64_decode(one.substr(3), got) || got.size() != kMacBytes) continue;
    found |= CRYPTO_memcmp(got.data(), expected, kMacBytes) == 0;
  }
  return found;
}

}  // namespace roomcast
