// tests/integration/auth_test.cpp: protocol-v1 "Authentication" (JWT HS256 via ?token= or
// Authorization: Bearer, `rooms` claim, --allow-origin) and POST /api/rooms/{room}/publish.
// The server flags used here (--jwt-secret-file, --api-key-file, --allow-origin) are the
// ones its --help documents.
#include <stdlib.h>
#include <unistd.h>

#include <ctime>
#include <fstream>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;

std::string b64url(const std::string& in) {
  std::string s = base64(reinterpret_cast<const uint8_t*>(in.data()), in.size());
  for (auto& c : s) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string jwt(const std::string& secret, const std::string& payload_json) {
  std::string signing = b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(payload_json);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac, &len);
  return signing + "." + b64url(std::string(reinterpret_cast<char*>(mac), len));
}

long long now_s() { return static_cast<long long>(std::time(nullptr)); }

// A temporary file holding `content`, removed with the object.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/roomcast-it-XXXXXX";
    int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    path = tmpl;
    if (fd >= 0) {
      ssize_t n = ::write(fd, content.data(), content.size());
      EXPECT_EQ(n, ssize_t(content.size()));
      ::close(fd);
    }
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

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

TEST_F(AuthTest, MissingMalformedExpiredOrBadlySignedTokenIsRejectedBeforeUpgrade) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  long long exp = now_s() + 3600;
  EXPECT_TRUE(IsAuthError(UpgradeStatus("/ws/r"))) << "missing token";
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

}  // namespace
}  // namespace it
