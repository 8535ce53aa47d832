#include "proto/base64url.h"
#include "proto/jwt.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/proto/jwt_sign.h"

namespace roomcast {
namespace {

constexpr std::string_view kSecret = "correct horse battery staple";
constexpr int64_t kNow = 1'700'000'000;

using jwt_sign::b64url;

std::string hmac_sha256(std::string_view key, std::string_view data) { return jwt_sign::hmac(EVP_sha256(), key, data); }

// Signs arbitrary header and payload JSON (bytes as given) with HS256.
std::string sign(std::string_view header_json, std::string_view payload_json, std::string_view secret = kSecret) {
  return jwt_sign::sign(header_json, payload_json, secret);
}

constexpr std::string_view kHs256 = R"({"alg":"HS256","typ":"JWT"})";

std::string payload_exp(int64_t exp, std::string_view extra = {}) {
  return R"({"sub":"u1","exp":)" + std::to_string(exp) + std::string(extra) + "}";
}

struct Result {
  bool ok;
  JwtError err;
  JwtClaims claims;
};

Result verify(std::string_view token, std::string_view secret = kSecret, int64_t now = kNow) {
  Result r{false, JwtError::Malformed, {}};
  r.ok = verify_jwt(token, secret, now, r.claims, r.err);
  return r;
}

void expect_error(std::string_view token, JwtError want, std::string_view secret = kSecret, int64_t now = kNow) {
  Result r = verify(token, secret, now);
  EXPECT_FALSE(r.ok) << token;
  if (!r.ok) {
    EXPECT_EQ(to_string(r.err), to_string(want)) << token;
  }
}

TEST(Jwt, ValidTokenFillsClaims) {
  std::string t = sign(kHs256, R"({"sub":"alice","name":"Alice A.","exp":1700000060,"rooms":["p1","team-*"],"iss":"x"})");
  Result r = verify(t);
  ASSERT_TRUE(r.ok) << to_string(r.err);
  EXPECT_EQ(r.claims.sub, "alice");
  EXPECT_TRUE(r.claims.has_name);
  EXPECT_EQ(r.claims.name, "Alice A.");
  EXPECT_EQ(r.claims.exp, 1700000060);
  EXPECT_TRUE(r.claims.has_rooms);
  ASSERT_EQ(r.claims.rooms.size(), 2u);
  EXPECT_EQ(r.claims.rooms[0], "p1");
  EXPECT_EQ(r.claims.rooms[1], "team-*");
}

TEST(Jwt, MinimalTokenWithoutTyp) {
  Result r = verify(sign(R"({"alg":"HS256"})", payload_exp(kNow + 1)));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.claims.sub, "u1");
  EXPECT_FALSE(r.claims.has_name);
  EXPECT_FALSE(r.claims.has_rooms);
  EXPECT_TRUE(r.claims.rooms.empty());
}

TEST(Jwt, TypMayBeAnyStringButNotOtherTypes) {
  EXPECT_TRUE(verify(sign(R"({"alg":"HS256","typ":"at+jwt"})", payload_exp(kNow + 1))).ok);
  expect_error(sign(R"({"alg":"HS256","typ":1})", payload_exp(kNow + 1)), JwtError::Malformed);
  expect_error(sign(R"({"alg":"HS256","typ":null})", payload_exp(kNow + 1)), JwtError::Malformed);
}

TEST(Jwt, ErrorNames) {
  EXPECT_EQ(to_string(JwtError::Malformed), "malformed");
  EXPECT_EQ(to_string(JwtError::UnsupportedAlgorithm), "unsupported_algorithm");
  EXPECT_EQ(to_string(JwtError::BadSignature), "bad_signature");
  EXPECT_EQ(to_string(JwtError::Expired), "expired");
  EXPECT_EQ(to_string(JwtError::MissingClaim), "missing_claim");
}

// --- algorithm ---

TEST(Jwt, AlgNoneWithEmptySignatureIsRefused) {
  std::string t = b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(payload_exp(kNow + 100)) + ".";
  expect_error(t, JwtError::UnsupportedAlgorithm);
  // Even "signed" with our secret.
  expect_error(sign(R"({"alg":"none"})", payload_exp(kNow + 100)), JwtError::UnsupportedAlgorithm);
}

TEST(Jwt, OnlyExactlyHS256) {
  for (std::string_view h : {R"({"alg":"hs256"})", R"({"alg":"HS512"})", R"({"alg":"HS384"})",
                             R"({"alg":"RS256"})", R"({"alg":"ES256"})", R"({"alg":"HS256 "})",
                             R"({"alg":""})", R"({"alg":null})", R"({"alg":["HS256"]})", R"({"typ":"JWT"})",
                             R"({})", R"({"alg":"HS256\u0000"})"}) {
    expect_error(sign(h, payload_exp(kNow + 100)), JwtError::UnsupportedAlgorithm);
  }
}

TEST(Jwt, AlgConfusionRs256SignedWithSecretAsHmacKeyIsRefused) {
  // The classic attack: the header says RS256 and the "public key" is used as an HMAC key.
  // We never look at anything but HS256 with our secret.
  std::string t = sign(R"({"alg":"RS256","typ":"JWT"})", payload_exp(kNow + 100), "-----BEGIN PUBLIC KEY-----");
  expect_error(t, JwtError::UnsupportedAlgorithm, "-----BEGIN PUBLIC KEY-----");
}

TEST(Jwt, CritHeaderIsRefused) {
  expect_error(sign(R"({"alg":"HS256","crit":["b64"],"b64":false})", payload_exp(kNow + 100)), JwtError::Malformed);
}

TEST(Jwt, DuplicateNamesAreRefused) {
  // RapidJSON would find the first "alg"; another library the last.
  expect_error(sign(R"({"alg":"HS256","alg":"none"})", payload_exp(kNow + 100)), JwtError::Malformed);
  expect_error(sign(kHs256, R"({"sub":"a","sub":"admin","exp":1800000000})"), JwtError::Malformed);
}

// --- signature ---

TEST(Jwt, TamperedPayloadFailsSignature) {
  std::string good = sign(kHs256, R"({"sub":"alice","exp":1800000000})");
  std::string forged_payload = b64url(R"({"sub":"admin","exp":1800000000})");
  size_t d1 = good.find('.'), d2 = good.rfind('.');
  std::string t = good.substr(0, d1 + 1) + forged_payload + good.substr(d2);
  expect_error(t, JwtError::BadSignature);
}

TEST(Jwt, TamperedHeaderFailsSignature) {
  std::string good = sign(kHs256, payload_exp(kNow + 100));
  std::string t = b64url(R"({"alg":"HS256","typ":"jwt"})") + good.substr(good.find('.'));
  expect_error(t, JwtError::BadSignature);
}

TEST(Jwt, WrongSecret) {
  expect_error(sign(kHs256, payload_exp(kNow + 100), "other secret"), JwtError::BadSignature);
}

TEST(Jwt, EmptySecretNeverVerifies) {
  expect_error(sign(kHs256, payload_exp(kNow + 100), ""), JwtError::BadSignature, "");
}

TEST(Jwt, SignatureLengthAndBits) {
  std::string good = sign(kHs256, payload_exp(kNow + 100));
  std::string head = good.substr(0, good.rfind('.') + 1);
  std::string sig = good.substr(good.rfind('.') + 1);
  ASSERT_EQ(sig.size(), 43u);
  expect_error(head, JwtError::BadSignature);                                  // empty
  std::string mac = hmac_sha256(kSecret, head.substr(0, head.size() - 1));
  ASSERT_EQ(b64url(mac), sig);
  expect_error(head + b64url(mac.substr(0, 31)), JwtError::BadSignature);     // 31 bytes
  expect_error(head + b64url(mac + '\0'), JwtError::BadSignature);            // 33 bytes
  expect_error(head + b64url(mac + mac), JwtError::BadSignature);              // 64 bytes
  std::string flipped = sig;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  expect_error(head + flipped, JwtError::BadSignature);
  // 43 chars carry 258 bits: the last char must leave its 2 low bits zero.
  std::string noncanonical = sig;
  noncanonical.back() = char(noncanonical.back() + 1);
  expect_error(head + noncanonical, JwtError::Malformed);
}

// --- shape and encoding ---

TEST(Jwt, ShapeErrorsAreMalformed) {
  std::string good = sign(kHs256, payload_exp(kNow + 100));
  expect_error("", JwtError::Malformed);
  expect_error("abc", JwtError::Malformed);
  expect_error("a.b", JwtError::Malformed);
  expect_error("..", JwtError::Malformed);
  expect_error(good + ".", JwtError::Malformed);
  expect_error(good + ".x.y", JwtError::Malformed);  // JWE-like, five parts
  expect_error(" " + good, JwtError::Malformed);
  expect_error(good + "\n", JwtError::Malformed);
}

TEST(Jwt, StrictBase64url) {
  std::string h = b64url(kHs256), p = b64url(payload_exp(kNow + 100));
  std::string input = h + "." + p;
  std::string sig = b64url(hmac_sha256(kSecret, input));
  ASSERT_TRUE(verify(input + "." + sig).ok);
  // Padding, standard-alphabet characters, whitespace.
  expect_error(input + "." + sig + "=", JwtError::Malformed);
  std::string plus = sig;
  plus[0] = '+';
  expect_error(input + "." + plus, JwtError::Malformed);
  std::string slash = sig;
  slash[0] = '/';
  expect_error(input + "." + slash, JwtError::Malformed);
  expect_error(h + "." + p.substr(0, 4) + " " + p.substr(4) + "." + sig, JwtError::Malformed);
  // A 4n+1 length cannot be base64.
  std::string p1 = p;
  while (p1.size() % 4 != 1) p1.push_back('A');
  expect_error(h + "." + p1 + "." + sig, JwtError::Malformed);
}

TEST(Jwt, NonCanonicalTrailingBitsInHeaderAreMalformed) {
  // {"alg":"HS256"} is 15 bytes -> 20 chars, no leftover bits; add one byte to get 4n+3.
  std::string json = R"({"alg":"HS256" })";  // 16 bytes -> 22 chars, 4 unused bits
  std::string h = b64url(json);
  ASSERT_EQ(h.size() % 4, 2u);
  std::string p = b64url(payload_exp(kNow + 100));
  std::string bad_h = h;
  bad_h.back() = char(bad_h.back() + 1);  // sets an unused bit; decodes to the same bytes
  std::string input = bad_h + "." + p;
  expect_error(input + "." + b64url(hmac_sha256(kSecret, input)), JwtError::Malformed);
  std::string ok_input = h + "." + p;
  EXPECT_TRUE(verify(ok_input + "." + b64url(hmac_sha256(kSecret, ok_input))).ok);
}

TEST(Jwt, TooLongIsMalformedEvenIfSigned) {
  std::string pad(kMaxJwtBytes, 'x');
  std::string t = sign(kHs256, R"({"sub":"u","exp":1800000000,"pad":")" + pad + "\"}");
  ASSERT_GT(t.size(), kMaxJwtBytes);
  expect_error(t, JwtError::Malformed);
  // Just under the limit is fine.
  std::string small_pad(kMaxJwtBytes / 2, 'x');
  EXPECT_TRUE(verify(sign(kHs256, R"({"sub":"u","exp":1800000000,"pad":")" + small_pad + "\"}")).ok);
}

TEST(Jwt, HeaderMustBeAJsonObject) {
  for (std::string_view h : {"", "null", "[]", R"(["alg","HS256"])", "\"HS256\"", R"({"alg":"HS256")",
                             R"({"alg":"HS256"} x)", R"({"alg":"HS256"}{})", "{'alg':'HS256'}"}) {
    expect_error(sign(h, payload_exp(kNow + 100)), JwtError::Malformed);
  }
}

TEST(Jwt, NestingUpTo8LevelsIsReadAndDeeperIsMalformedWithoutRecursion) {
  std::string ok_header = R"({"alg":"HS256","x":)" + std::string(7, '[') + std::string(7, ']') + "}";
  EXPECT_TRUE(verify(sign(ok_header, payload_exp(kNow + 100))).ok);
  std::string deep = R"({"alg":"HS256","x":)" + std::string(3000, '[') + std::string(3000, ']') + "}";
  expect_error(sign(deep, payload_exp(kNow + 100)), JwtError::Malformed);
  std::string deep_payload = R"({"sub":"u","exp":1800000000,"x":)" + std::string(3000, '[') + "}";
  expect_error(sign(kHs256, deep_payload), JwtError::Malformed);
}

TEST(Jwt, InvalidUtf8InClaimsIsMalformed) {
  expect_error(sign(kHs256, "{\"sub\":\"\xff\xfe\",\"exp\":1800000000}"), JwtError::Malformed);
}

// `sub` and `name` become user.id and user.name in every member's frames.
TEST(Jwt, LoneSurrogateEscapesInClaimsAreMalformed) {
  expect_error(sign(kHs256, R"({"sub":"x\udc00","exp":1800000000})"), JwtError::Malformed);
  expect_error(sign(kHs256, R"({"sub":"u","name":"\ud800","exp":1800000000})"), JwtError::Malformed);
  expect_error(sign(kHs256, R"({"sub":"u","exp":1800000000,"rooms":["\udfff"]})"), JwtError::Malformed);
}

TEST(Jwt, DuplicateClaimNamesAtAnyLevelAreMalformed) {
  expect_error(sign(kHs256, R"({"sub":"a","sub":"b","exp":1800000000})"), JwtError::Malformed);
  expect_error(sign(kHs256, R"({"sub":"a","exp":1800000000,"x":{"k":1,"k":2}})"), JwtError::Malformed);
}

// --- payload ---

TEST(Jwt, PayloadMustBeAJsonObject) {
  for (std::string_view p : {"", "null", "[]", "1800000000", R"({"sub":"u","exp":1800000000)"})
    expect_error(sign(kHs256, p), JwtError::Malformed);
}

TEST(Jwt, BadSignatureWinsOverBadPayload) {
  // The payload is only parsed once the signature is known good.
  expect_error(sign(kHs256, "not json", "other"), JwtError::BadSignature);
}

TEST(Jwt, MissingClaims) {
  expect_error(sign(kHs256, R"({"exp":1800000000})"), JwtError::MissingClaim);
  expect_error(sign(kHs256, R"({"sub":"","exp":1800000000})"), JwtError::MissingClaim);
  expect_error(sign(kHs256, R"({"sub":"u"})"), JwtError::MissingClaim);
  expect_error(sign(kHs256, R"({})"), JwtError::MissingClaim);
}

TEST(Jwt, WrongClaimTypesAreMalformed) {
  for (std::string_view p : {R"({"sub":1,"exp":1800000000})", R"({"sub":null,"exp":1800000000})",
                             R"({"sub":"u","exp":"1800000000"})", R"({"sub":"u","exp":null})",
                             R"({"sub":"u","exp":true})", R"({"sub":"u","exp":1800000000,"nbf":"0"})",
                             R"({"sub":"u","exp":1800000000,"name":7})",
                             R"({"sub":"u","exp":1800000000,"rooms":"p1"})",
                             R"({"sub":"u","exp":1800000000,"rooms":{"p1":true}})",
                             R"({"sub":"u","exp":1800000000,"rooms":["p1",2]})",
                             R"({"sub":"u","exp":1800000000,"rooms":[null]})",
                             R"({"sub":"u","exp":1800000000,"rooms":[["p1"]]})"}) {
    expect_error(sign(kHs256, p), JwtError::Malformed);
  }
}

TEST(Jwt, ExpiredByOneSecond) {
  expect_error(sign(kHs256, payload_exp(kNow - 1)), JwtError::Expired);
  expect_error(sign(kHs256, payload_exp(kNow)), JwtError::Expired);  // exp <= now
  EXPECT_TRUE(verify(sign(kHs256, payload_exp(kNow + 1))).ok);
  // The same token, one second later.
  std::string t = sign(kHs256, payload_exp(kNow + 1));
  expect_error(t, JwtError::Expired, kSecret, kNow + 1);
}

TEST(Jwt, FractionalAndExtremeExp) {
  Result r = verify(sign(kHs256, R"({"sub":"u","exp":1700000000.5})"));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.claims.exp, kNow + 1);
  expect_error(sign(kHs256, R"({"sub":"u","exp":1700000000.5})"), JwtError::Expired, kSecret, kNow + 1);
  expect_error(sign(kHs256, R"({"sub":"u","exp":1699999999.9})"), JwtError::Expired);
  expect_error(sign(kHs256, R"({"sub":"u","exp":1.7e9})"), JwtError::Expired);
  r = verify(sign(kHs256, R"({"sub":"u","exp":1.8e9})"));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.claims.exp, 1800000000);
  r = verify(sign(kHs256, R"({"sub":"u","exp":18446744073709551615})"));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.claims.exp, INT64_MAX);
  r = verify(sign(kHs256, R"({"sub":"u","exp":1e300})"));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.claims.exp, INT64_MAX);
  expect_error(sign(kHs256, R"({"sub":"u","exp":-1e300})"), JwtError::Expired);
  expect_error(sign(kHs256, R"({"sub":"u","exp":-9223372036854775808})"), JwtError::Expired);
  expect_error(sign(kHs256, R"({"sub":"u","exp":0})"), JwtError::Expired);
}

TEST(Jwt, NotBeforeInTheFutureIsExpired) {
  EXPECT_TRUE(verify(sign(kHs256, payload_exp(kNow + 100, R"(,"nbf":1700000000)"))).ok);
  EXPECT_TRUE(verify(sign(kHs256, payload_exp(kNow + 100, R"(,"nbf":1699999999.5)"))).ok);
  expect_error(sign(kHs256, payload_exp(kNow + 100, R"(,"nbf":1700000001)")), JwtError::Expired);
  expect_error(sign(kHs256, payload_exp(kNow + 100, R"(,"nbf":1700000000.5)")), JwtError::Expired);
}

// --- rooms ---

JwtClaims with_rooms(std::initializer_list<std::string> rooms) {
  JwtClaims c;
  c.sub = "u";
  c.has_rooms = true;
  c.rooms = rooms;
  return c;
}

TEST(JwtRooms, AbsentAllowsEveryRoom) {
  JwtClaims c;
  c.sub = "u";
  EXPECT_TRUE(jwt_allows_room(c, "anything"));
  EXPECT_TRUE(jwt_allows_room(c, "p1"));
}

TEST(JwtRooms, EmptyArrayAllowsNothing) {
  EXPECT_FALSE(jwt_allows_room(with_rooms({}), "p1"));
}

TEST(JwtRooms, ExactMatch) {
  JwtClaims c = with_rooms({"p1", "p2"});
  EXPECT_TRUE(jwt_allows_room(c, "p1"));
  EXPECT_TRUE(jwt_allows_room(c, "p2"));
  EXPECT_FALSE(jwt_allows_room(c, "p"));
  EXPECT_FALSE(jwt_allows_room(c, "p10"));
  EXPECT_FALSE(jwt_allows_room(c, "P1"));
  EXPECT_FALSE(jwt_allows_room(c, ""));
}

TEST(JwtRooms, PrefixPattern) {
  JwtClaims c = with_rooms({"team-a.*"});
  EXPECT_TRUE(jwt_allows_room(c, "team-a.x"));
  EXPECT_TRUE(jwt_allows_room(c, "team-a."));
  EXPECT_FALSE(jwt_allows_room(c, "team-a"));
  EXPECT_FALSE(jwt_allows_room(c, "team-b.x"));
  EXPECT_FALSE(jwt_allows_room(c, "xteam-a.x"));
  // '*' is only special at the end.
  JwtClaims mid = with_rooms({"a*b"});
  EXPECT_FALSE(jwt_allows_room(mid, "axb"));
  EXPECT_FALSE(jwt_allows_room(mid, "ab"));
}

TEST(JwtRooms, StarAloneAllowsEverything) {
  JwtClaims c = with_rooms({"*"});
  EXPECT_TRUE(jwt_allows_room(c, "p1"));
  EXPECT_TRUE(jwt_allows_room(c, "x"));
}

TEST(JwtRooms, FromAVerifiedToken) {
  Result r = verify(sign(kHs256, R"({"sub":"u","exp":1800000000,"rooms":["lobby","proj-*"]})"));
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(jwt_allows_room(r.claims, "lobby"));
  EXPECT_TRUE(jwt_allows_room(r.claims, "proj-42"));
  EXPECT_FALSE(jwt_allows_room(r.claims, "other"));
  r = verify(sign(kHs256, R"({"sub":"u","exp":1800000000,"rooms":[]})"));
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.claims.has_rooms);
  EXPECT_FALSE(jwt_allows_room(r.claims, "lobby"));
}

// --- RFC 7515 appendix A.1 ---

// The JWK's "k" decoded from base64url: the HMAC key of the example.
constexpr unsigned char kRfc7515Key[] = {
    3,   35,  53,  75,  43,  15,  165, 188, 131, 126, 6,   101, 119, 123, 166, 143, 90,  179, 40,  230, 240, 84,
    201, 40,  169, 15,  132, 178, 210, 80,  46,  191, 211, 251, 90,  146, 210, 6,   71,  239, 150, 138, 180, 195,
    119, 98,  61,  34,  61,  46,  33,  114, 5,   46,  79,  8,   192, 205, 154, 245, 103, 208, 128, 163};

constexpr std::string_view kRfc7515Token =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

TEST(Jwt, Rfc7515AppendixA1) {
  std::string_view key(reinterpret_cast<const char*>(kRfc7515Key), sizeof kRfc7515Key);
  // The JWK's k, re-encoded, is what the RFC prints: the key bytes are right.
  EXPECT_EQ(b64url(key), "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  // The example's claims are iss/exp/is_root and no "sub": the signature verifies (or this
  // would be BadSignature) and then the token is refused for the missing claim.
  expect_error(kRfc7515Token, JwtError::MissingClaim, key, 1300819379);
  expect_error(kRfc7515Token, JwtError::BadSignature, "not the key", 1300819379);
  // Flip one payload character: signature no longer matches.
  std::string tampered(kRfc7515Token);
  tampered[50] = tampered[50] == 'A' ? 'B' : 'A';
  expect_error(tampered, JwtError::BadSignature, key, 1300819379);
}

}  // namespace
}  // namespace roomcast

namespace roomcast {
namespace {

TEST(Base64url, EncodesTheRfc4648VectorsWithoutPaddingAndWithTheUrlAlphabet) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");  // '+' and '/' in plain base64
  EXPECT_EQ(base64url_encode(std::string_view("\0\0\0", 3)), "AAAA");
}

}  // namespace
}  // namespace roomcast
