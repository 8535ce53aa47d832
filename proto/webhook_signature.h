// proto/webhook_signature.h: the Standard Webhooks signature of every request roomcast
// sends to the app's backend (integration contract, section 1).
//
// Owns: nothing; pure functions over bytes (HMAC-SHA256 and base64 from OpenSSL).
// Called by: core (reading --hook-secret-file / ROOMCAST_HOOK_SECRET once at start) and
// core/backend/hook_client (signing each attempt on the hook thread); tests verify with it.
// Promises:
//   - parse_webhook_secret accepts exactly `whsec_<standard base64>` (padding optional,
//     surrounding ASCII whitespace such as a secret file's trailing newline ignored) whose
//     key is 24 to 64 bytes, the sizes the Standard Webhooks specification asks for; the
//     error text never contains the secret;
//   - webhook_signature is `v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`,
//     the value of the `webhook-signature` header any Standard Webhooks library verifies;
//   - verify_webhook_signature accepts a header holding several space-separated
//     signatures (key rotation) when any `v1` one matches, compares in constant time, and
//     refuses a timestamp that is not decimal digits or is outside `tolerance_s` of `now`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace roomcast {

inline constexpr std::string_view kWebhookSecretPrefix = "whsec_";
inline constexpr size_t kMinWebhookKeyBytes = 24;
inline constexpr size_t kMaxWebhookKeyBytes = 64;

// The HMAC key of a `whsec_<base64>` secret, or false and why.
bool parse_webhook_secret(std::string_view secret, std::string& key, std::string& error);

// The `webhook-signature` header value for one attempt (`timestamp`: Unix seconds).
std::string webhook_signature(std::string_view key, std::string_view id, int64_t timestamp, std::string_view body);

// The receiving side's check (tests and tools; roomcast itself only signs).
bool verify_webhook_signature(std::string_view key, std::string_view id, std::string_view timestamp,
                              std::string_view body, std::string_view signature_header, int64_t now,
                              int64_t tolerance_s = 300);

}  // namespace roomcast
