// The Standard Webhooks signer: the specification's published vector, the secret format,
// and a round trip through the verifier.
#include "proto/webhook_signature.h"

#include <gtest/gtest.h>

namespace roomcast {
namespace {

// The vector of the Standard Webhooks reference libraries' sign test.
constexpr std::string_view kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kTimestamp = 1614265330;
constexpr std::string_view kBody = R"({"test": 2432232314})";
constexpr std::string_view kSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

std::string key_of(std::string_view secret) {
  std::string key, error;
  EXPECT_TRUE(parse_webhook_secret(secret, key, error)) << error;
  return key;
}

TEST(WebhookSignature, SignsTheStandardWebhooksTestVector) {
  EXPECT_EQ(webhook_signature(key_of(kSecret), kId, kTimestamp, kBody), kSignature);
}

TEST(WebhookSignature, SecretFromAFileWithATrailingNewlineAndNoPaddingIsTheSameKey) {
  const std::string key = key_of(kSecret);
  EXPECT_EQ(key.size(), 24u);
  EXPECT_EQ(key_of(std::string(kSecret) + "\n"), key);
  // 32 bytes of key: base64 with one '=' of padding, accepted with or without it.
  const std::string padded = "whsec_" + std::string(43, 'A') + "=";
  EXPECT_EQ(key_of(padded), key_of(padded.substr(0, padded.size() - 1)));
}

TEST(WebhookSignature, RefusesSecretsThatAreNotWhsecBase64OfAUsableSize) {
  std::string key, error;
  EXPECT_FALSE(parse_webhook_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, error));
  EXPECT_NE(error.find("whsec_"), std::string::npos);
  EXPECT_FALSE(parse_webhook_secret("whsec_MfKQ9r8GKYqr!wjUPD8ILPZIo2LaLaSw", key, error));
  EXPECT_EQ(error.find("MfKQ"), std::string::npos) << "the secret never appears in the error";
  EXPECT_FALSE(parse_webhook_secret("whsec_c2hvcnQ=", key, error));  // "short": 5 bytes
  EXPECT_NE(error.find("5 bytes"), std::string::npos);
  EXPECT_FALSE(parse_webhook_secret("whsec_" + std::string(88, 'A'), key, error));  // 66 bytes
  EXPECT_FALSE(parse_webhook_secret("whsec_", key, error));
}

TEST(WebhookSignature, VerifierAcceptsWhatTheSignerSignsAndNothingElse) {
  const std::string key = key_of(kSecret);
  const std::string sig = webhook_signature(key, "edit:r1:e:7", 1700000000, R"({"type":"edit"})");
  EXPECT_TRUE(verify_webhook_signature(key, "edit:r1:e:7", "1700000000", R"({"type":"edit"})", sig, 1700000010));
  EXPECT_FALSE(verify_webhook_signature(key, "edit:r1:e:8", "1700000000", R"({"type":"edit"})", sig, 1700000010));
  EXPECT_FALSE(verify_webhook_signature(key, "edit:r1:e:7", "1700000001", R"({"type":"edit"})", sig, 1700000010));
  EXPECT_FALSE(verify_webhook_signature(key, "edit:r1:e:7", "1700000000", R"({"type":"edit" })", sig, 1700000010));
  EXPECT_FALSE(verify_webhook_signature(key_of("whsec_" + std::string(32, 'B')), "edit:r1:e:7", "1700000000",
                                        R"({"type":"edit"})", sig, 1700000010));
}

TEST(WebhookSignature, VerifierRefusesStaleOrFutureOrNonNumericTimestamps) {
  const std::string key = key_of(kSecret);
  const std::string sig = webhook_signature(key, kId, kTimestamp, kBody);
  EXPECT_TRUE(verify_webhook_signature(key, kId, "1614265330", kBody, sig, kTimestamp + 300));
  EXPECT_FALSE(verify_webhook_signature(key, kId, "1614265330", kBody, sig, kTimestamp + 301));
  EXPECT_FALSE(verify_webhook_signature(key, kId, "1614265330", kBody, sig, kTimestamp - 301));
  EXPECT_FALSE(verify_webhook_signature(key, kId, "1614265330.0", kBody, sig, kTimestamp));
  EXPECT_FALSE(verify_webhook_signature(key, kId, "", kBody, sig, kTimestamp));
}

TEST(WebhookSignature, VerifierFindsTheMatchingOneAmongSeveralSignatures) {
  const std::string key = key_of(kSecret);
  const std::string header = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2," + std::string(kSignature.substr(3)) +
                             " " + std::string(kSignature);
  EXPECT_TRUE(verify_webhook_signature(key, kId, "1614265330", kBody, header, kTimestamp));
  EXPECT_FALSE(verify_webhook_signature(key, kId, "1614265330", kBody,
                                        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,xyz", kTimestamp));
}

}  // namespace
}  // namespace roomcast
