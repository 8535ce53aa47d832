// tests/proto/jwk_test.cpp: proto/jwk.h (JWK sets, PEM keys) and the public-key rules of
// proto/jwt.h (kid, alg binding, iss/aud, leeway, claims), with the RFC 7515 and RFC 8037
// examples and keys generated per test (tests/proto/jws_keys.h).
#include "proto/jwk.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/jwt.h"
#include "tests/proto/jws_keys.h"

namespace roomcast {
namespace {

using jws_keys::KeyPair;
using jwt_sign::b64url;

constexpr int64_t kNow = 1'700'000'000;

// --- RFC examples ---

constexpr std::string_view kRfcPayload =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
constexpr int64_t kRfcNow = 1300819379;  // one second before the example's exp

// RFC 7515 A.2.1, the RSA key (2048 bits), line breaks removed.
constexpr std::string_view kRfc7515RsaJwks =
    R"({"keys":[{"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}]})";
const std::string kRfc7515Rs256Token =
    std::string("eyJhbGciOiJSUzI1NiJ9.") + std::string(kRfcPayload) +
    ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZ"
    "cAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-e"
    "OkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

// RFC 7515 A.3.1, the P-256 key.
constexpr std::string_view kRfc7515EcJwks =
    R"({"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})";
const std::string kRfc7515Es256Token = std::string("eyJhbGciOiJFUzI1NiJ9.") + std::string(kRfcPayload) +
                                       ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

// RFC 8037 A.2 (public key) and A.4 (the signed example; its payload is not JSON).
constexpr std::string_view kRfc8037Jwks =
    R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})";
constexpr std::string_view kRfc8037Token =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

JwkSet parse_ok(std::string_view json) {
  JwkSet set;
  std::string error;
  EXPECT_TRUE(parse_jwk_set(json, set, error)) << error;
  return set;
}

struct Verdict {
  bool ok;
  JwtError err;
  JwtClaims claims;
};

Verdict verify(std::string_view token, const JwkSet* set, const JwtRules& rules = {}, int64_t now = kNow,
               std::string_view secret = {}) {
  JwtKeys keys;
  keys.hs256_secret = secret;
  keys.sets[0] = set;
  Verdict v{false, JwtError::Malformed, {}};
  v.ok = verify_jwt(token, keys, rules, now, v.claims, v.err);
  return v;
}

void expect_error(std::string_view token, const JwkSet* set, JwtError want, const JwtRules& rules = {},
                  int64_t now = kNow, std::string_view secret = {}) {
  Verdict v = verify(token, set, rules, now, secret);
  EXPECT_FALSE(v.ok);
  if (!v.ok) {
    EXPECT_EQ(to_string(v.err), to_string(want));
  }
}

std::string flip_last_signature_char(std::string token) {
  char& c = token.back();
  c = c == 'A' ? 'Q' : 'A';  // stays canonical: A and Q differ in the top bits only
  return token;
}

std::string payload(int64_t exp, std::string_view extra = {}) {
  return R"({"sub":"u1","exp":)" + std::to_string(exp) + std::string(extra) + "}";
}

TEST(JwkRfc, Rfc7515AppendixA2Rs256KeyVerifiesTheExample) {
  JwkSet set = parse_ok(kRfc7515RsaJwks);
  ASSERT_EQ(set.keys.size(), 1u);
  EXPECT_EQ(set.keys[0].bits(), 2048);
  // No `sub` in the example: the signature passed, then the claim is missing.
  expect_error(kRfc7515Rs256Token, &set, JwtError::MissingClaim, {}, kRfcNow);
  // With `iss` as the user claim the example is a whole, valid token.
  JwtRules rules;
  rules.user_claim = "iss";
  Verdict v = verify(kRfc7515Rs256Token, &set, rules, kRfcNow);
  ASSERT_TRUE(v.ok) << to_string(v.err);
  EXPECT_EQ(v.claims.sub, "joe");
  EXPECT_EQ(v.claims.exp, 1300819380);
  expect_error(kRfc7515Rs256Token, &set, JwtError::Expired, rules, kRfcNow + 1);
  expect_error(flip_last_signature_char(kRfc7515Rs256Token), &set, JwtError::BadSignature, rules, kRfcNow);
}

TEST(JwkRfc, Rfc7515AppendixA3Es256KeyVerifiesTheExample) {
  JwkSet set = parse_ok(kRfc7515EcJwks);
  ASSERT_EQ(set.keys.size(), 1u);
  EXPECT_EQ(set.keys[0].type(), PublicKeyType::P256);
  JwtRules rules;
  rules.user_claim = "iss";
  Verdict v = verify(kRfc7515Es256Token, &set, rules, kRfcNow);
  ASSERT_TRUE(v.ok) << to_string(v.err);
  EXPECT_EQ(v.claims.sub, "joe");
  std::string tampered = kRfc7515Es256Token;
  tampered[tampered.size() - 10] = tampered[tampered.size() - 10] == 'x' ? 'y' : 'x';
  expect_error(tampered, &set, JwtError::BadSignature, rules, kRfcNow);
  // The RSA example key does not take an ES256 token: alg bound to key type.
  JwkSet rsa = parse_ok(kRfc7515RsaJwks);
  expect_error(kRfc7515Es256Token, &rsa, JwtError::UnsupportedAlgorithm, rules, kRfcNow);
}

TEST(JwkRfc, Rfc8037AppendixA4Ed25519KeyVerifiesTheExample) {
  JwkSet set = parse_ok(kRfc8037Jwks);
  ASSERT_EQ(set.keys.size(), 1u);
  EXPECT_EQ(set.keys[0].type(), PublicKeyType::Ed25519);
  // The payload is the text "Example of Ed25519 signing": past the signature it is
  // not a JSON object (Malformed, not BadSignature).
  expect_error(kRfc8037Token, &set, JwtError::Malformed);
  expect_error(flip_last_signature_char(std::string(kRfc8037Token)), &set, JwtError::BadSignature);
}

// --- every algorithm with generated keys ---

class JwkAlgorithms : public ::testing::TestWithParam<const char*> {};

TEST_P(JwkAlgorithms, AGeneratedKeyVerifiesFromAJwkAndFromPem) {
  KeyPair pair = KeyPair::generate(GetParam(), "k1");
  JwkSet from_jwk = parse_ok(jws_keys::jwk_set({&pair}));
  JwkSet from_pem;
  std::string error;
  ASSERT_TRUE(parse_public_key_pem(pair.pem(), from_pem, error)) << error;
  std::string token = pair.token(payload(kNow + 60, R"(,"name":"Ann","rooms":["p-*"],"edit":[])"));
  for (const JwkSet* set : {&from_jwk, &from_pem}) {
    Verdict v = verify(token, set);
    ASSERT_TRUE(v.ok) << GetParam() << ": " << to_string(v.err);
    EXPECT_EQ(v.claims.sub, "u1");
    EXPECT_EQ(v.claims.name, "Ann");
    EXPECT_TRUE(v.claims.has_rooms);
    EXPECT_TRUE(v.claims.has_edit);
    EXPECT_TRUE(v.claims.edit.empty());
    expect_error(flip_last_signature_char(token), set, JwtError::BadSignature);
  }
  // Another key of the same type, same kid: the signature does not match.
  KeyPair other = KeyPair::generate(GetParam(), "k1");
  JwkSet others = parse_ok(jws_keys::jwk_set({&other}));
  expect_error(token, &others, JwtError::BadSignature);
}

INSTANTIATE_TEST_SUITE_P(All, JwkAlgorithms, ::testing::Values("RS256", "PS256", "ES256", "EdDSA"));

// --- algorithm confusion ---

TEST(JwkConfusion, Hs256SignedWithThePublicKeyAsSecretIsRefused) {
  KeyPair rsa = KeyPair::generate("RS256", "");
  JwkSet set;
  std::string error;
  ASSERT_TRUE(parse_public_key_pem(rsa.pem(), set, error));
  // The classic forgery: HMAC keyed with the PEM text the server holds.
  std::string forged = jwt_sign::sign(R"({"alg":"HS256"})", payload(kNow + 60), rsa.pem());
  expect_error(forged, &set, JwtError::UnsupportedAlgorithm);
  // Even with HS256 on (its own secret), the PEM text is not that secret.
  expect_error(forged, &set, JwtError::BadSignature, {}, kNow, "the real secret");
  // And the JWK form of the key as a secret fails the same way.
  std::string forged_jwk = jwt_sign::sign(R"({"alg":"HS256"})", payload(kNow + 60), rsa.jwk());
  expect_error(forged_jwk, &set, JwtError::UnsupportedAlgorithm);
}

TEST(JwkConfusion, NoneAndUnknownAlgorithmsAreRefusedWhateverTheKeys) {
  KeyPair ec = KeyPair::generate("ES256", "k");
  JwkSet set = parse_ok(jws_keys::jwk_set({&ec}));
  for (std::string_view alg : {"none", "None", "NONE", "es256", "ES384", "RS512", "Ed25519", "HS512", ""}) {
    std::string t = b64url(R"({"alg":")" + std::string(alg) + R"(","kid":"k"})") + "." + b64url(payload(kNow + 60)) + ".";
    expect_error(t, &set, JwtError::UnsupportedAlgorithm);
  }
  // "none" with a real signature attached is refused too.
  std::string signed_none = ec.token(payload(kNow + 60), R"({"alg":"none","kid":"k"})", "ES256");
  expect_error(signed_none, &set, JwtError::UnsupportedAlgorithm);
}

TEST(JwkConfusion, AnAlgorithmOutsideTheKeysTypeIsRefused) {
  KeyPair rsa = KeyPair::generate("RS256", "r");
  KeyPair ec = KeyPair::generate("ES256", "e");
  KeyPair ed = KeyPair::generate("EdDSA", "d");
  JwkSet set = parse_ok(jws_keys::jwk_set({&rsa, &ec, &ed}));
  // The header names a key of another type than its alg.
  expect_error(ec.token(payload(kNow + 60), R"({"alg":"ES256","kid":"r"})"), &set, JwtError::UnsupportedAlgorithm);
  expect_error(ed.token(payload(kNow + 60), R"({"alg":"EdDSA","kid":"e"})"), &set, JwtError::UnsupportedAlgorithm);
  expect_error(rsa.token(payload(kNow + 60), R"({"alg":"RS256","kid":"d"})"), &set, JwtError::UnsupportedAlgorithm);
  // PKCS#1 v1.5 and PSS signatures are not interchangeable.
  expect_error(rsa.token(payload(kNow + 60), R"({"alg":"RS256","kid":"r"})", "PS256"), &set, JwtError::BadSignature);
  expect_error(rsa.token(payload(kNow + 60), R"({"alg":"PS256","kid":"r"})", "RS256"), &set, JwtError::BadSignature);
  // A JWK "alg" narrows the key to that algorithm.
  JwkSet narrowed = parse_ok(R"({"keys":[)" + rsa.jwk(R"(,"alg":"RS256","use":"sig")") + "]}");
  EXPECT_TRUE(verify(rsa.token(payload(kNow + 60)), &narrowed).ok);
  expect_error(rsa.token(payload(kNow + 60), R"({"alg":"PS256","kid":"r"})", "PS256"), &narrowed,
               JwtError::UnsupportedAlgorithm);
}

TEST(JwkConfusion, Es256SignaturesMustBeRawAndExactlySixtyFourBytes) {
  KeyPair ec = KeyPair::generate("ES256", "e");
  JwkSet set = parse_ok(jws_keys::jwk_set({&ec}));
  std::string token = ec.token(payload(kNow + 60));
  std::string input = token.substr(0, token.rfind('.'));
  std::string raw = ec.sign("ES256", input);
  ASSERT_EQ(raw.size(), 64u);
  expect_error(input + "." + b64url(raw.substr(0, 63)), &set, JwtError::BadSignature);
  expect_error(input + "." + b64url(raw + '\0'), &set, JwtError::BadSignature);
  // r = 0 / s = 0 are not signatures.
  expect_error(input + "." + b64url(std::string(64, '\0')), &set, JwtError::BadSignature);
}

// --- keys: size, kid ---

TEST(JwkKeys, RsaKeysUnder2048BitsAreRefused) {
  KeyPair short_key = KeyPair::generate("RS256", "short", 1024);
  JwkSet set;
  std::string error;
  std::vector<std::string> skipped;
  EXPECT_FALSE(parse_jwk_set(jws_keys::jwk_set({&short_key}), set, error, &skipped));
  EXPECT_EQ(error, "no usable signature key");
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("1024 bits"), std::string::npos) << skipped[0];
  EXPECT_FALSE(parse_public_key_pem(short_key.pem(), set, error));
  EXPECT_NE(error.find("1024 bits"), std::string::npos) << error;
  // Beside a good key, the short one is left out and the set still loads.
  KeyPair good = KeyPair::generate("RS256", "good");
  skipped.clear();
  ASSERT_TRUE(parse_jwk_set(jws_keys::jwk_set({&short_key, &good}), set, error, &skipped));
  ASSERT_EQ(set.keys.size(), 1u);
  EXPECT_EQ(set.keys[0].kid(), "good");
  // A token signed by the short key, naming it: no key by that kid is held.
  expect_error(short_key.token(payload(kNow + 60)), &set, JwtError::UnknownKey);
  expect_error(short_key.token(payload(kNow + 60), R"({"alg":"RS256"})"), &set, JwtError::BadSignature);
}

TEST(JwkKeys, KidSelectsTheKeyAndAnUnknownKidIsUnknownKey) {
  KeyPair a = KeyPair::generate("ES256", "a");
  KeyPair b = KeyPair::generate("ES256", "b");
  JwkSet set = parse_ok(jws_keys::jwk_set({&a, &b}));
  EXPECT_TRUE(verify(a.token(payload(kNow + 60)), &set).ok);
  EXPECT_TRUE(verify(b.token(payload(kNow + 60)), &set).ok);
  KeyPair c = KeyPair::generate("ES256", "c");
  expect_error(c.token(payload(kNow + 60)), &set, JwtError::UnknownKey);
  // b's signature under a's kid: only a is tried.
  expect_error(b.token(payload(kNow + 60), R"({"alg":"ES256","kid":"a"})"), &set, JwtError::BadSignature);
  // Without a kid every key of the algorithm's type is a candidate.
  EXPECT_TRUE(verify(b.token(payload(kNow + 60), R"({"alg":"ES256"})"), &set).ok);
  // A non-string kid is malformed.
  expect_error(a.token(payload(kNow + 60), R"({"alg":"ES256","kid":7})"), &set, JwtError::Malformed);
}

TEST(JwkKeys, AKidlessPemKeyAnswersAnyKid) {
  KeyPair pair = KeyPair::generate("RS256", "idp-key-2024");
  JwkSet set;
  std::string error;
  ASSERT_TRUE(parse_public_key_pem(pair.pem(), set, error));
  EXPECT_TRUE(verify(pair.token(payload(kNow + 60)), &set).ok);
  // Another key's token under another kid: the kid-less key was tried, the signature failed.
  KeyPair stranger = KeyPair::generate("RS256", "idp-key-2025");
  expect_error(stranger.token(payload(kNow + 60)), &set, JwtError::BadSignature);
  // No kid-less key of the token's type to try: the kid is unknown.
  KeyPair ec = KeyPair::generate("ES256", "idp-key-2026");
  expect_error(ec.token(payload(kNow + 60)), &set, JwtError::UnknownKey);
}

TEST(JwkKeys, AtMostFourKeysAreTriedForOneToken) {
  std::vector<KeyPair> pairs;
  for (int i = 0; i < 5; ++i) pairs.push_back(KeyPair::generate("EdDSA", ""));
  std::string json = R"({"keys":[)";
  for (size_t i = 0; i < pairs.size(); ++i) json += (i ? "," : "") + pairs[i].jwk();
  JwkSet set = parse_ok(json + "]}");
  ASSERT_EQ(kMaxKeysTried, 4u);
  EXPECT_TRUE(verify(pairs[3].token(payload(kNow + 60)), &set).ok);
  expect_error(pairs[4].token(payload(kNow + 60)), &set, JwtError::BadSignature);
}

TEST(JwkKeys, TwoSetsAreBothSearched) {
  KeyPair a = KeyPair::generate("RS256", "a");
  KeyPair b = KeyPair::generate("EdDSA", "b");
  JwkSet first = parse_ok(jws_keys::jwk_set({&a}));
  JwkSet second = parse_ok(jws_keys::jwk_set({&b}));
  JwtKeys keys;
  keys.hs256_secret = "s3cret";
  keys.sets[0] = &first;
  keys.sets[1] = &second;
  JwtClaims claims;
  JwtError err;
  EXPECT_TRUE(verify_jwt(a.token(payload(kNow + 60)), keys, {}, kNow, claims, err));
  EXPECT_TRUE(verify_jwt(b.token(payload(kNow + 60)), keys, {}, kNow, claims, err));
  EXPECT_TRUE(verify_jwt(jwt_sign::sign(R"({"alg":"HS256"})", payload(kNow + 60), "s3cret"), keys, {}, kNow, claims, err));
}

// --- parsing a set ---

TEST(JwkSetParse, AKeycloakShapedSetKeepsSignatureKeysOnly) {
  KeyPair rs = KeyPair::generate("RS256", "sig-rsa");
  KeyPair enc = KeyPair::generate("RS256", "enc-rsa");
  KeyPair ec = KeyPair::generate("ES256", "sig-ec");
  // Keycloak publishes an RSA-OAEP encryption key beside its signing keys, with x5c.
  std::string json = R"({"keys":[)" + rs.jwk(R"(,"use":"sig","alg":"RS256","x5c":["MIIC"],"x5t":"abc","x5t#S256":"def")") +
                     "," + enc.jwk(R"(,"use":"enc","alg":"RSA-OAEP")") + "," + ec.jwk(R"(,"use":"sig","alg":"ES256")") +
                     R"(,{"kty":"oct","k":"c2VjcmV0","kid":"hmac"}]})";
  JwkSet set;
  std::string error;
  std::vector<std::string> skipped;
  ASSERT_TRUE(parse_jwk_set(json, set, error, &skipped)) << error;
  ASSERT_EQ(set.keys.size(), 2u);
  EXPECT_EQ(set.keys[0].kid(), "sig-rsa");
  EXPECT_EQ(set.keys[1].kid(), "sig-ec");
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_NE(skipped[0].find("enc-rsa"), std::string::npos);
  EXPECT_NE(skipped[1].find("oct"), std::string::npos);
  // An HS256 token keyed with the published "oct" key is not accepted from a set.
  expect_error(jwt_sign::sign(R"({"alg":"HS256","kid":"hmac"})", payload(kNow + 60), "secret"), &set,
               JwtError::UnsupportedAlgorithm);
}

TEST(JwkSetParse, EntriesThatAreNotUsableSignatureKeysAreSkipped) {
  KeyPair ec = KeyPair::generate("ES256", "ok");
  const std::string good = ec.jwk();
  const std::string x = R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU")";
  for (std::string bad : {
           std::string(R"({"kty":"EC","crv":"P-384",)") + x + R"(,"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})",
           std::string(R"({"kty":"EC","crv":"P-256",)") + x + R"(,"y":"AAAAzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})",  // off the curve
           std::string(R"({"kty":"EC","crv":"P-256",)") + x + "}",                                                        // no y
           std::string(R"({"kty":"EC","crv":"P-256",)") + x + R"(,"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0=="})",  // padding
           std::string(R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVE","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})"),
           std::string(R"({"kty":"OKP","crv":"Ed448","x":"AAAA"})"),
           std::string(R"({"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})"),
           std::string(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR"})"),
           std::string(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"})"),
           std::string(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","key_ops":["encrypt"]})"),
           std::string(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":"HS256"})"),
           std::string(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":"ES256"})"),
           std::string(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":5})"),
           std::string(R"({"kty":"RSA","n":"AQAB","e":"AQAB"})"),
           std::string(R"({"kty":"RSA","e":"AQAB"})"),
           std::string(R"({"kty":"oct","k":"AAAA"})"),
           std::string(R"({"kty":7})"),
           std::string(R"({})"),
       }) {
    JwkSet set;
    std::string error;
    std::vector<std::string> skipped;
    ASSERT_TRUE(parse_jwk_set(R"({"keys":[)" + bad + "," + good + "]}", set, error, &skipped)) << bad << ": " << error;
    EXPECT_EQ(set.keys.size(), 1u) << bad;
    EXPECT_EQ(skipped.size(), 1u) << bad;
    EXPECT_FALSE(parse_jwk_set(R"({"keys":[)" + bad + "]}", set, error)) << bad;
  }
}

TEST(JwkSetParse, TheTextIsReadAsStrictlyAsATokenAndRefusedWhole) {
  KeyPair ec = KeyPair::generate("ES256", "k");
  const std::string good = ec.jwk();
  for (std::string bad : {
           std::string(""), std::string("[]"), std::string("{}"), std::string(R"({"keys":{}})"),
           std::string(R"({"keys":[]})"), std::string(R"({"keys":[1]})"),
           R"({"keys":[)" + good + R"(],"keys":[]})",                                         // duplicate member
           R"({"keys":[{"kty":"EC","kty":"RSA",)" + good.substr(1) + "]}",                    // duplicate in a key
           R"({"keys":[)" + good + R"(],"x":"\udc00"})",                                     // lone surrogate
           R"({"keys":[)" + good + R"(],"x":[[[[1]]]]})",                                    // too deep
           R"({"keys":[)" + good + "]} x", R"({"keys":[)" + good + "]}\xff",
       }) {
    JwkSet set;
    std::string error;
    EXPECT_FALSE(parse_jwk_set(bad, set, error)) << bad;
    EXPECT_TRUE(set.keys.empty());
    EXPECT_FALSE(error.empty());
  }
  std::string many = R"({"keys":[)";
  for (size_t i = 0; i <= kMaxJwks; ++i) many += (i ? "," : "") + good;
  JwkSet set;
  std::string error;
  EXPECT_FALSE(parse_jwk_set(many + "]}", set, error));
  EXPECT_NE(error.find("more than 64"), std::string::npos);
  EXPECT_FALSE(parse_jwk_set(std::string(kMaxJwkSetBytes + 1, ' '), set, error));
}

TEST(JwkSetParse, PemOtherThanAnAcceptedPublicKeyIsRefused) {
  JwkSet set;
  std::string error;
  EXPECT_FALSE(parse_public_key_pem("", set, error));
  EXPECT_FALSE(parse_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", set, error));
  EVP_PKEY* p384 = EVP_EC_gen("P-384");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, p384);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  EXPECT_FALSE(parse_public_key_pem(std::string(data, size_t(len)), set, error));
  EXPECT_NE(error.find("P-256"), std::string::npos) << error;
  BIO_free(bio);
  EVP_PKEY_free(p384);
  EXPECT_TRUE(set.keys.empty());
}

// --- claims and rules ---

class JwtRulesTest : public ::testing::Test {
 protected:
  KeyPair pair_ = KeyPair::generate("EdDSA", "k");
  JwkSet set_ = parse_ok(jws_keys::jwk_set({&pair_}));
  Verdict check(std::string_view payload_json, const JwtRules& rules, int64_t now = kNow) {
    return verify(pair_.token(payload_json), &set_, rules, now);
  }
};

TEST_F(JwtRulesTest, IssuerMustMatchExactlyWhenConfigured) {
  JwtRules rules;
  rules.issuer = "https://idp.example.com/realms/acme";
  EXPECT_TRUE(check(payload(kNow + 60, R"(,"iss":"https://idp.example.com/realms/acme")"), rules).ok);
  expect_error(pair_.token(payload(kNow + 60, R"(,"iss":"https://idp.example.com/realms/acme/")")), &set_,
               JwtError::WrongIssuer, rules);
  expect_error(pair_.token(payload(kNow + 60)), &set_, JwtError::WrongIssuer, rules);
  expect_error(pair_.token(payload(kNow + 60, R"(,"iss":["https://idp.example.com/realms/acme"])")), &set_,
               JwtError::Malformed, rules);
  // Not configured: any iss (but still a string).
  EXPECT_TRUE(check(payload(kNow + 60, R"(,"iss":"anyone")"), {}).ok);
}

TEST_F(JwtRulesTest, AudienceMayBeAStringOrAnArrayThatContainsIt) {
  JwtRules rules;
  rules.audience = "roomcast";
  EXPECT_TRUE(check(payload(kNow + 60, R"(,"aud":"roomcast")"), rules).ok);
  EXPECT_TRUE(check(payload(kNow + 60, R"(,"aud":["account","roomcast"])"), rules).ok);
  expect_error(pair_.token(payload(kNow + 60, R"(,"aud":["account"])")), &set_, JwtError::WrongAudience, rules);
  expect_error(pair_.token(payload(kNow + 60, R"(,"aud":"roomcast2")")), &set_, JwtError::WrongAudience, rules);
  expect_error(pair_.token(payload(kNow + 60, R"(,"aud":[])")), &set_, JwtError::WrongAudience, rules);
  expect_error(pair_.token(payload(kNow + 60)), &set_, JwtError::WrongAudience, rules);
  expect_error(pair_.token(payload(kNow + 60, R"(,"aud":["roomcast",1])")), &set_, JwtError::Malformed, rules);
  expect_error(pair_.token(payload(kNow + 60, R"(,"aud":{"x":"roomcast"})")), &set_, JwtError::Malformed, rules);
}

TEST_F(JwtRulesTest, LeewayToleratesExactlyItsSecondsOnExpNbfAndIat) {
  JwtRules rules;
  rules.leeway_s = 30;
  // exp 29 s ago: within the leeway, usable until exp + 30.
  Verdict v = check(payload(kNow - 29), rules);
  ASSERT_TRUE(v.ok);
  EXPECT_EQ(v.claims.exp, kNow - 29);
  EXPECT_EQ(v.claims.usable_until, kNow + 1);
  expect_error(pair_.token(payload(kNow - 30)), &set_, JwtError::Expired, rules);
  EXPECT_TRUE(check(payload(kNow + 60, R"(,"nbf":1700000030)"), rules).ok);
  expect_error(pair_.token(payload(kNow + 60, R"(,"nbf":1700000031)")), &set_, JwtError::Expired, rules);
  expect_error(pair_.token(payload(kNow + 60, R"(,"nbf":1700000030.5)")), &set_, JwtError::Expired, rules);
  EXPECT_TRUE(check(payload(kNow + 60, R"(,"iat":1700000030)"), rules).ok);
  expect_error(pair_.token(payload(kNow + 60, R"(,"iat":1700000031)")), &set_, JwtError::Expired, rules);
  expect_error(pair_.token(payload(kNow + 60, R"(,"iat":"now")")), &set_, JwtError::Malformed, rules);
  // Without leeway: iat in the future by one second is refused, exp == now expired.
  expect_error(pair_.token(payload(kNow + 60, R"(,"iat":1700000001)")), &set_, JwtError::Expired);
  expect_error(pair_.token(payload(kNow)), &set_, JwtError::Expired);
  Verdict strict = check(payload(kNow + 1), {});
  ASSERT_TRUE(strict.ok);
  EXPECT_EQ(strict.claims.usable_until, kNow + 1);
  // A huge exp does not overflow with the leeway.
  Verdict far = check(R"({"sub":"u","exp":1e300})", rules);
  ASSERT_TRUE(far.ok);
  EXPECT_EQ(far.claims.usable_until, INT64_MAX);
}

TEST_F(JwtRulesTest, UserAndNameClaimsAreConfigurableWithPreferredUsernameFallback) {
  Verdict v = check(R"({"sub":"f:1234","preferred_username":"ann","exp":1700000060})", {});
  ASSERT_TRUE(v.ok);
  EXPECT_EQ(v.claims.sub, "f:1234");
  EXPECT_TRUE(v.claims.has_name);
  EXPECT_EQ(v.claims.name, "ann");
  v = check(R"({"sub":"f:1234","name":"Ann Lee","preferred_username":"ann","exp":1700000060})", {});
  EXPECT_EQ(v.claims.name, "Ann Lee");
  v = check(R"({"sub":"f:1234","exp":1700000060})", {});
  EXPECT_FALSE(v.claims.has_name);
  JwtRules rules;
  rules.user_claim = "email";
  rules.name_claim = "https://example.com/display";
  v = check(R"({"sub":"x","email":"ann@example.com","https://example.com/display":"Ann","exp":1700000060})", rules);
  ASSERT_TRUE(v.ok);
  EXPECT_EQ(v.claims.sub, "ann@example.com");
  EXPECT_EQ(v.claims.name, "Ann");
  expect_error(pair_.token(R"({"sub":"x","exp":1700000060})"), &set_, JwtError::MissingClaim, rules);
  expect_error(pair_.token(R"({"sub":"x","email":"","exp":1700000060})"), &set_, JwtError::MissingClaim, rules);
  expect_error(pair_.token(R"({"sub":"x","email":["a"],"exp":1700000060})"), &set_, JwtError::Malformed, rules);
  expect_error(pair_.token(R"({"sub":"x","exp":1700000060,"edit":"p1"})"), &set_, JwtError::Malformed);
  expect_error(pair_.token(R"({"sub":"x","exp":1700000060,"edit":[1]})"), &set_, JwtError::Malformed);
}

TEST(JwtErrors, NewErrorsHaveNames) {
  EXPECT_EQ(to_string(JwtError::UnknownKey), "unknown_key");
  EXPECT_EQ(to_string(JwtError::WrongIssuer), "wrong_issuer");
  EXPECT_EQ(to_string(JwtError::WrongAudience), "wrong_audience");
  EXPECT_EQ(to_string(JwsAlg::EdDSA), "EdDSA");
  EXPECT_FALSE(parse_jws_alg("none").has_value());
}

}  // namespace
}  // namespace roomcast
