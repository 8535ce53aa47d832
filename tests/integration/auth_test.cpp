// tests/integration/auth_test.cpp: docs/protocol.md 1.1 (JWT HS256 via ?token= or
// Authorization: Bearer, `rooms` claim, --allow-origin) and POST /api/rooms/{room}/publish.
// The server flags used here (--jwt-secret-file, --api-key-file, --allow-origin) are the
// ones its --help documents.
#include <stdlib.h>
#include <unistd.h>

#include <ctime>
#include <fstream>

#include "../proto/jwt_sign.h"  // the one token signer (header-only, no server code)
#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;

using roomcast::jwt_sign::b64url;

std::string jwt(const std::string& secret, const std::string& payload_json,
                const std::string& header_json = R"({"alg":"HS256","typ":"JWT"})") {
  return roomcast::jwt_sign::sign(header_json, payload_json, secret);
}

long long now_s() { return static_cast<long long>(std::time(nullptr)); }

const std::string kSecret = "integration-test-secret-0123456789";

class AuthTest : public RoomcastTest {
 protected:
  void StartWithAuth(std::vector<std::string> extra = {}) {
    secret_file_ = std::make_unique<TempFile>(kSecret);
    extra.insert(extra.begin(), {"--jwt-secret-file", secret_file_->path});
    ASSERT_NO_FATAL_FAILURE(StartServer(extra));
  }
  int UpgradeStatus(const std::string& path, const std::string& extra_headers = "") {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                      extra_headers + "\r\n";
    HttpResponse r = http_raw(port(), req);
    EXPECT_TRUE(r.ok) << r.error;
    return r.status;
  }
  std::unique_ptr<TempFile> secret_file_;
};

::testing::AssertionResult IsAuthError(int status) {
  if (status == 401 || status == 403) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "status " << status << ", want 401 or 403";
}

// (1.1: an upgrade with no token at all is accepted and authenticates in band, see
// inband_auth_test.cpp.)
TEST_F(AuthTest, MalformedExpiredOrBadlySignedTokenIsRejectedBeforeUpgrade) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  long long exp = now_s() + 3600;
  EXPECT_TRUE(IsAuthError(UpgradeStatus("/ws/r?token=not.a.jwt"))) << "malformed";
  EXPECT_TRUE(IsAuthError(UpgradeStatus("/ws/r?token=garbage"))) << "malformed";
  EXPECT_TRUE(IsAuthError(UpgradeStatus("/ws/r?token=" + jwt("wrong-secret", R"({"sub":"u1","exp":)" +
                                                                                  std::to_string(exp) + "}"))))
      << "bad signature";
  EXPECT_TRUE(IsAuthError(UpgradeStatus("/ws/r?token=" + jwt(kSecret, R"({"sub":"u1","exp":)" +
                                                                           std::to_string(now_s() - 60) + "}"))))
      << "expired";
  EXPECT_TRUE(IsAuthError(UpgradeStatus("/ws/r?token=" + jwt(kSecret, R"({"sub":"u1"})")))) << "exp is required";
}

TEST_F(AuthTest, ValidTokenInQueryOrBearerHeaderUpgradesAndSubOverridesUserId) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  std::string token = jwt(kSecret, R"({"sub":"real-user","name":"Real","exp":)" + std::to_string(now_s() + 3600) + "}");
  std::string err;
  ConnectOptions q;
  q.path = "/ws/r?token=" + token;
  auto a = WsClient::connect(port(), q, &err);
  ASSERT_TRUE(a) << err;
  ASSERT_TRUE(a->send_text(join_msg("spoofed-id", "X")));
  IT_ASSERT_JSON(w, a->recv_json());
  EXPECT_EQ(w.type(), "welcome") << w.text;
  EXPECT_EQ(sget((*w)["user"], "id"), "real-user") << "user.id must come from sub: " << w.text;

  ConnectOptions h;
  h.path = "/ws/r";
  h.extra_headers = {{"Authorization", "Bearer " + token}};
  auto b = WsClient::connect(port(), h, &err);
  ASSERT_TRUE(b) << err;
  ASSERT_TRUE(b->send_text(join_msg("other-spoof")));
  IT_ASSERT_JSON(w2, b->recv_json());
  EXPECT_EQ(sget((*w2)["user"], "id"), "real-user") << w2.text;
  IT_ASSERT_JSON(p, a->recv_json());
  EXPECT_EQ(sget((*p)["user"], "id"), "real-user") << "presence must carry the authenticated id: " << p.text;
}

TEST_F(AuthTest, RoomsClaimLimitsRoomsIncludingTrailingStarPatterns) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  std::string token =
      jwt(kSecret, R"({"sub":"u","rooms":["exact-room","proj-*"],"exp":)" + std::to_string(now_s() + 3600) + "}");
  EXPECT_EQ(UpgradeStatus("/ws/exact-room?token=" + token), 101);
  EXPECT_EQ(UpgradeStatus("/ws/proj-42?token=" + token), 101);
  EXPECT_TRUE(IsAuthError(UpgradeStatus("/ws/other-room?token=" + token)));
  EXPECT_TRUE(IsAuthError(UpgradeStatus("/ws/exact-room2?token=" + token)));
  EXPECT_TRUE(IsAuthError(UpgradeStatus("/ws/proj?token=" + token)));
}

TEST_F(AuthTest, AllowOriginRejectsUnlistedOriginWith403) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--allow-origin", "https://viewer.example"}));
  EXPECT_EQ(UpgradeStatus("/ws/r", "Origin: https://viewer.example\r\n"), 101);
  EXPECT_EQ(UpgradeStatus("/ws/r", "Origin: https://evil.example\r\n"), 403);
}

TEST_F(AuthTest, PublishWithApiKeyBroadcastsEditFromServerSessionWithFreshSeq) {
  TempFile key("publish-key-123");
  ASSERT_NO_FATAL_FAILURE(StartServer({"--api-key-file", key.path}));
  Member a = Join("pub", "ua");
  ASSERT_TRUE(a.ws);
  ASSERT_TRUE(a->send_text(edit_msg("b0", "first")));
  IT_ASSERT_JSON(ack, a->recv_json());
  EXPECT_EQ(iget(*ack, "seq"), 1);

  auto post = [&](const std::string& auth, const std::string& body) {
    std::string req = "POST /api/rooms/pub/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
                      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                      body;
    return http_raw(port(), req);
  };
  std::string body = R"({"building":"b9","op":"import","data":{"h":3}})";
  HttpResponse bad = post("Authorization: Bearer wrong\r\n", body);
  ASSERT_TRUE(bad.ok) << bad.error;
  EXPECT_TRUE(IsAuthError(bad.status)) << bad.raw;
  HttpResponse none = post("", body);
  ASSERT_TRUE(none.ok) << none.error;
  EXPECT_TRUE(IsAuthError(none.status)) << none.raw;
  EXPECT_TRUE(a->expect_no_message(milliseconds(200)));

  HttpResponse r = post("Authorization: Bearer publish-key-123\r\n", body);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200) << r.raw;
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  ASSERT_FALSE(d.HasParseError()) << r.body;
  EXPECT_EQ(iget(d, "seq"), 2) << r.body;
  IT_ASSERT_JSON(e, a->recv_json());
  EXPECT_EQ(e.type(), "edit") << e.text;
  EXPECT_EQ(sget(*e, "session"), "server") << e.text;
  EXPECT_EQ(iget(*e, "seq"), 2) << e.text;
  EXPECT_EQ(sget(*e, "building"), "b9") << e.text;
  EXPECT_EQ(sget(*e, "op"), "import") << e.text;
  ASSERT_TRUE(has(*e, "data"));
  EXPECT_TRUE(json_equal((*e)["data"], parse(R"({"h":3})"))) << e.text;
}

// ---- exact statuses and claims (docs/protocol.md "Authentication")

std::string Exp(long long delta_s) { return std::to_string(now_s() + delta_s); }

// A token signed with HMAC-SHA512 (a valid signature for alg HS512).
std::string jwt_hs512(const std::string& secret, const std::string& payload_json) {
  return roomcast::jwt_sign::sign(R"({"alg":"HS512","typ":"JWT"})", payload_json, secret, EVP_sha512());
}

TEST_F(AuthTest, AlgNoneWithEmptySignatureIs401) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  std::string payload = R"({"sub":"u1","exp":)" + Exp(3600) + "}";
  for (const char* alg : {"none", "None", "NONE"}) {
    std::string token = b64url(std::string(R"({"alg":")") + alg + R"(","typ":"JWT"})") + "." + b64url(payload) + ".";
    EXPECT_EQ(UpgradeStatus("/ws/r?token=" + token), 401) << "alg " << alg;
    EXPECT_EQ(UpgradeStatus("/ws/r", "Authorization: Bearer " + token + "\r\n"), 401) << "alg " << alg;
  }
  // The same token with a (valid HS256) signature but alg none is still refused.
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + jwt(kSecret, payload, R"({"alg":"none","typ":"JWT"})")), 401);
}

TEST_F(AuthTest, OtherAlgorithmsThanHs256Are401EvenWhenCorrectlySigned) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  std::string payload = R"({"sub":"u1","exp":)" + Exp(3600) + "}";
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + jwt_hs512(kSecret, payload)), 401) << "HS512";
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + jwt(kSecret, payload, R"({"alg":"hs256","typ":"JWT"})")), 401)
      << "alg is case-sensitive";
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + jwt(kSecret, payload, R"({"alg":"HS384","typ":"JWT"})")), 401);
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + jwt(kSecret, payload, R"({"typ":"JWT"})")), 401) << "no alg";
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + jwt(kSecret, payload, R"({"alg":"HS256","crit":["x"]})")), 401)
      << "crit header";
  // Control: the same payload as HS256 upgrades.
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + jwt(kSecret, payload)), 101);
}

TEST_F(AuthTest, ExpiredNotYetValidOrBadlySignedTokenIs401WithWwwAuthenticate) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  std::string upgrade = "GET /ws/r?token=x.y.z HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  HttpResponse malformed = http_raw(port(), upgrade);
  ASSERT_TRUE(malformed.ok) << malformed.error;
  EXPECT_EQ(malformed.status, 401) << malformed.raw;
  EXPECT_NE(malformed.headers["www-authenticate"].find("Bearer"), std::string::npos) << malformed.raw;
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + jwt(kSecret, R"({"sub":"u","exp":)" + Exp(-60) + "}")), 401) << "expired";
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + jwt(kSecret, R"({"sub":"u","exp":)" + Exp(0) + "}")), 401)
      << "exp <= now";
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" +
                          jwt(kSecret, R"({"sub":"u","exp":)" + Exp(3600) + R"(,"nbf":)" + Exp(600) + "}")),
            401)
      << "nbf in the future";
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + jwt("other-secret", R"({"sub":"u","exp":)" + Exp(3600) + "}")), 401)
      << "bad signature";
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + jwt(kSecret, R"({"exp":)" + Exp(3600) + "}")), 401) << "no sub";
  EXPECT_EQ(UpgradeStatus("/ws/r", "Authorization: Bearer " + jwt(kSecret, R"({"sub":"u","exp":)" + Exp(-60) + "}") +
                                       "\r\n"),
            401)
      << "expired, in the header";
  // A token with a valid signature but a tampered payload.
  std::string good = jwt(kSecret, R"({"sub":"u","exp":)" + Exp(3600) + "}");
  std::string forged = jwt(kSecret, R"({"sub":"admin","exp":)" + Exp(3600) + "}");
  std::string tampered = forged.substr(0, forged.rfind('.')) + good.substr(good.rfind('.'));
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + tampered), 401) << "signature of another payload";
}

TEST_F(AuthTest, TokenInAuthorizationHeaderOrQueryUpgradesAndOnlyRoomsMatchingThePatternAreAllowed) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  std::string token = jwt(kSecret, R"({"sub":"u","rooms":["a*"],"exp":)" + Exp(3600) + "}");
  EXPECT_EQ(UpgradeStatus("/ws/a?token=" + token), 101);
  EXPECT_EQ(UpgradeStatus("/ws/abc", "Authorization: Bearer " + token + "\r\n"), 101);
  EXPECT_EQ(UpgradeStatus("/ws/b?token=" + token), 403);
  EXPECT_EQ(UpgradeStatus("/ws/b", "Authorization: Bearer " + token + "\r\n"), 403);
  EXPECT_EQ(UpgradeStatus("/ws/ba?token=" + token), 403);
  // `rooms: []` allows no room at all.
  std::string none = jwt(kSecret, R"({"sub":"u","rooms":[],"exp":)" + Exp(3600) + "}");
  EXPECT_EQ(UpgradeStatus("/ws/a?token=" + none), 403);
}

TEST_F(AuthTest, SubOverridesJoinUserIdAndTokenNameIsUsedOnlyWhenJoinHasNone) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  std::string token = jwt(kSecret, R"({"sub":"sub-7","name":"Token Name","exp":)" + Exp(3600) + "}");
  std::string err;
  ConnectOptions o;
  o.path = "/ws/names?token=" + token;
  auto a = WsClient::connect(port(), o, &err);
  ASSERT_TRUE(a) << err;
  ASSERT_TRUE(a->send_text(R"({"type":"join","user":{"id":"claimed"}})"));
  IT_ASSERT_JSON(wa, a->recv_json());
  ASSERT_EQ(wa.type(), "welcome") << wa.text;
  EXPECT_EQ(sget((*wa)["user"], "id"), "sub-7") << wa.text;
  EXPECT_EQ(sget((*wa)["user"], "name"), "Token Name") << "join without a name takes the token's: " << wa.text;

  auto b = WsClient::connect(port(), o, &err);
  ASSERT_TRUE(b) << err;
  ASSERT_TRUE(b->send_text(join_msg("claimed-too", "Own Name", "#123456")));
  IT_ASSERT_JSON(wb, b->recv_json());
  ASSERT_EQ(wb.type(), "welcome") << wb.text;
  EXPECT_EQ(sget((*wb)["user"], "id"), "sub-7") << wb.text;
  EXPECT_EQ(sget((*wb)["user"], "name"), "Own Name") << "the join's own name wins: " << wb.text;
  EXPECT_EQ(sget((*wb)["user"], "color"), "#123456") << wb.text;
  // The peers and presence carry the same identities.
  ASSERT_EQ((*wb)["peers"].Size(), 1u) << wb.text;
  EXPECT_EQ(sget((*wb)["peers"][0]["user"], "id"), "sub-7") << wb.text;
  EXPECT_EQ(sget((*wb)["peers"][0]["user"], "name"), "Token Name") << wb.text;
  IT_ASSERT_JSON(p, a->recv_json());
  EXPECT_EQ(sget((*p)["user"], "id"), "sub-7") << p.text;
  EXPECT_EQ(sget((*p)["user"], "name"), "Own Name") << p.text;
}

TEST_F(AuthTest, AllowOriginAcceptsEveryListedOriginAndRequestsWithoutOrigin) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer({"--allow-origin", "https://viewer.example", "--allow-origin", "http://localhost:3000"}));
  EXPECT_EQ(UpgradeStatus("/ws/r", "Origin: https://viewer.example\r\n"), 101);
  EXPECT_EQ(UpgradeStatus("/ws/r", "Origin: http://localhost:3000\r\n"), 101);
  EXPECT_EQ(UpgradeStatus("/ws/r"), 101) << "no Origin header (non-browser client) must pass";
  EXPECT_EQ(UpgradeStatus("/ws/r", "Origin: https://viewer.example.evil\r\n"), 403);
  EXPECT_EQ(UpgradeStatus("/ws/r", "Origin: http://viewer.example\r\n"), 403) << "scheme is part of the origin";
  EXPECT_EQ(UpgradeStatus("/ws/r", "Origin: null\r\n"), 403);
}

TEST_F(AuthTest, AuthAndAllowOriginTogetherNeedBothAValidTokenAndAListedOrigin) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth({"--allow-origin", "https://viewer.example"}));
  std::string token = jwt(kSecret, R"({"sub":"u","exp":)" + Exp(3600) + "}");
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + token, "Origin: https://viewer.example\r\n"), 101);
  EXPECT_EQ(UpgradeStatus("/ws/r?token=" + token, "Origin: https://evil.example\r\n"), 403);
  // 1.1: without a token the upgrade is accepted (the join must carry it), but only
  // from a listed origin.
  EXPECT_EQ(UpgradeStatus("/ws/r", "Origin: https://evil.example\r\n"), 403);
}

}  // namespace
}  // namespace it
