#include "core/auth/token_verifier.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "core/auth/jwks_slot.h"
#include "tests/proto/jws_keys.h"

namespace roomcast {
namespace {

using jws_keys::KeyPair;

struct TempPath {
  std::string path;
  explicit TempPath(const std::string& content) {
    char tmpl[] = "/tmp/roomcast-unit-XXXXXX";
    int fd = mkstemp(tmpl);
    path = tmpl;
    if (fd >= 0) {
      EXPECT_EQ(write(fd, content.data(), content.size()), ssize_t(content.size()));
      close(fd);
    }
  }
  ~TempPath() { std::remove(path.c_str()); }
};

ConfigOutcome parse(std::vector<const char*> args, Config& c, std::string& message) {
  args.insert(args.begin(), "roomcast");
  return parse_config(int(args.size()), args.data(), c, message);
}

const int64_t kNow = 1'700'000'000;

std::string claims(std::string_view sub, int64_t exp) {
  return R"({"sub":")" + std::string(sub) + R"(","exp":)" + std::to_string(exp) + "}";
}

TEST(TokenVerifierConfig, KeyFilesAreParsedOnceIntoOneSetAndRulesAreRead) {
  KeyPair rs = KeyPair::generate("RS256", "rs");
  KeyPair ed = KeyPair::generate("EdDSA", "");
  TempPath jwks(jws_keys::jwk_set({&rs}));
  TempPath pem(ed.pem());
  Config c;
  std::string m;
  ASSERT_EQ(parse({"--jwt-jwks-file", jwks.path.c_str(), "--jwt-public-key-file", pem.path.c_str(), "--jwt-issuer",
                   "https://idp", "--jwt-audience", "rc", "--jwt-leeway", "300", "--jwt-user-claim", "oid",
                   "--jwt-name-claim", "nickname"},
                  c, m),
            ConfigOutcome::Run)
      << m;
  ASSERT_TRUE(c.jwt_keys);
  EXPECT_EQ(c.jwt_keys->keys.size(), 2u);
  EXPECT_EQ(c.jwt_rules.issuer, "https://idp");
  EXPECT_EQ(c.jwt_rules.audience, "rc");
  EXPECT_EQ(c.jwt_rules.leeway_s, 300);
  EXPECT_EQ(c.jwt_rules.user_claim, "oid");
  EXPECT_EQ(c.jwt_rules.name_claim, "nickname");
  EXPECT_TRUE(authentication_on(c));
  EXPECT_FALSE(c.jwt_jwks);
}

TEST(TokenVerifierConfig, BadKeyFilesAndValuesAreRefusedNamingTheFlag) {
  KeyPair short_key = KeyPair::generate("RS256", "s", 1024);
  TempPath short_pem(short_key.pem());
  TempPath not_jwks("{}");
  for (std::vector<const char*> args : {
           std::vector<const char*>{"--jwt-public-key-file", short_pem.path.c_str()},
           std::vector<const char*>{"--jwt-public-key-file", "/nonexistent"},
           std::vector<const char*>{"--jwt-jwks-file", not_jwks.path.c_str()},
           std::vector<const char*>{"--jwt-jwks-url", "ftp://idp/certs"},
           std::vector<const char*>{"--jwt-jwks-refresh", "0"},
           std::vector<const char*>{"--jwt-leeway", "301"},
           std::vector<const char*>{"--jwt-issuer", ""},
           std::vector<const char*>{"--jwt-user-claim", ""},
       }) {
    Config c;
    std::string m;
    EXPECT_EQ(parse(args, c, m), ConfigOutcome::Error) << args[0] << " " << args[1];
    EXPECT_NE(m.find(std::string(args[0]).substr(2)), std::string::npos) << m;
  }
}

TEST(TokenVerifierConfig, DefaultsAreSubNameNoLeewayAndFiveMinuteRefresh) {
  Config c;
  std::string m;
  ASSERT_EQ(parse({}, c, m), ConfigOutcome::Run);
  EXPECT_FALSE(authentication_on(c));
  EXPECT_EQ(c.jwt_rules.user_claim, "sub");
  EXPECT_EQ(c.jwt_rules.name_claim, "name");
  EXPECT_EQ(c.jwt_rules.leeway_s, 0);
  EXPECT_EQ(c.jwt_jwks_refresh_s, 300u);
  ASSERT_EQ(parse({"--jwt-jwks-url", "https://idp.example/certs"}, c, m), ConfigOutcome::Run);
  EXPECT_TRUE(authentication_on(c));
  EXPECT_TRUE(c.jwt_jwks);
}

TEST(TokenVerifier, UsesTheSecretTheFilesAndTheFetchedSetAndAsksForAFetchOnAnUnknownKid) {
  KeyPair file_key = KeyPair::generate("ES256", "file");
  KeyPair fetched_key = KeyPair::generate("EdDSA", "fetched");
  TempPath jwks(jws_keys::jwk_set({&file_key}));
  Config c;
  std::string m;
  ASSERT_EQ(parse({"--jwt-jwks-file", jwks.path.c_str(), "--jwt-jwks-url", "https://idp.example/certs"}, c, m),
            ConfigOutcome::Run);
  c.jwt_secret = "s3cret";
  TokenVerifier v(c);
  ASSERT_TRUE(v.enabled());
  JwtClaims out;
  JwtError err;
  EXPECT_TRUE(v.verify(file_key.token(claims("a", kNow + 60)), kNow, out, err));
  EXPECT_TRUE(v.verify(jwt_sign::sign(R"({"alg":"HS256"})", claims("b", kNow + 60), "s3cret"), kNow, out, err));
  // Not fetched yet: unknown kid, and the fetcher is asked once.
  EXPECT_FALSE(v.verify(fetched_key.token(claims("c", kNow + 60)), kNow, out, err));
  EXPECT_EQ(err, JwtError::UnknownKey);
  EXPECT_TRUE(c.jwt_jwks->wait_for_request(std::chrono::milliseconds(1)));
  EXPECT_FALSE(v.verify(fetched_key.token(claims("c", kNow + 60)), kNow, out, err));
  EXPECT_FALSE(c.jwt_jwks->wait_for_request(std::chrono::milliseconds(1))) << "within 10 s: not asked again";
  // The fetcher publishes; the same verifier sees it at once.
  auto set = std::make_shared<JwkSet>();
  ASSERT_TRUE(parse_jwk_set(jws_keys::jwk_set({&fetched_key}), *set, m));
  c.jwt_jwks->publish(set);
  EXPECT_TRUE(v.verify(fetched_key.token(claims("c", kNow + 60)), kNow, out, err)) << to_string(err);
  EXPECT_EQ(out.sub, "c");
}

}  // namespace
}  // namespace roomcast
