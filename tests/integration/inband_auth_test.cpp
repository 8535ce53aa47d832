// tests/integration/inband_auth_test.cpp: docs/protocol.md 3.4, 3.5 and 3.7 over real
// sockets: the token inside the socket, refresh, expiry, and close codes a client can act
// on (4001, 4003, 1013, 1002 for a 1-byte close body).
#include <chrono>
#include <ctime>
#include <thread>

#include "../proto/jwt_sign.h"
#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const std::string kSecret = "in-band-secret-0123456789";

long long now_s() { return static_cast<long long>(std::time(nullptr)); }

std::string Token(const std::string& sub, long long exp, const std::string& more = "") {
  return roomcast::jwt_sign::sign(R"({"alg":"HS256","typ":"JWT"})",
                                  R"({"sub":")" + sub + R"(","exp":)" + std::to_string(exp) + more + "}", kSecret);
}

std::string JoinWithToken(const std::string& user, const std::string& token, const std::string& extra = "") {
  return R"({"type":"join","user":{"id":")" + user + R"("},"token":")" + token + R"(")" + extra + "}";
}

class InBandAuthTest : public RoomcastTest {
 protected:
  void StartWithAuth(std::vector<std::string> extra = {}) {
    secret_ = std::make_unique<TempFile>(kSecret);
    extra.insert(extra.begin(), {"--jwt-secret-file", secret_->path});
    ASSERT_NO_FATAL_FAILURE(StartServer(extra));
  }
  // Upgrades without a token (accepted in 1.1), sends `first`, expects close `code`.
  void ExpectClosedAfter(const std::string& first, int code, const std::string& why) {
    SCOPED_TRACE(why);
    auto c = Connect("r");
    ASSERT_TRUE(c) << "an upgrade without a token is accepted with authentication on";
    if (!first.empty()) {
      ASSERT_TRUE(c->send_text(first));
    }
    CloseResult cr = c->wait_close(milliseconds(4000));
    EXPECT_TRUE(cr.got_close_frame) << cr.describe();
    EXPECT_EQ(cr.code, code) << cr.describe();
  }
  std::unique_ptr<TempFile> secret_;
};

TEST_F(InBandAuthTest, AJoinCarryingAValidTokenIsWelcomedWithExpAndTheTokensSub) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  auto c = Connect("r");
  ASSERT_TRUE(c);
  const long long exp = now_s() + 600;
  ASSERT_TRUE(c->send_text(JoinWithToken("claimed", Token("alice", exp))));
  IT_ASSERT_JSON(w, c->recv_json());
  ASSERT_EQ(w.type(), "welcome") << w.text;
  EXPECT_EQ(sget((*w)["user"], "id"), "alice");
  EXPECT_EQ(iget(*w, "exp"), exp);
}

TEST_F(InBandAuthTest, EveryInBandFailureClosesWithTheCodeTheSpecTableNames) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth({"--handshake-timeout", "1"}));
  ExpectClosedAfter(R"({"type":"join","user":{"id":"u"}})", 4001, "join without a token");
  ExpectClosedAfter(JoinWithToken("u", "not.a.token"), 4001, "malformed token");
  ExpectClosedAfter(JoinWithToken("u", Token("u", now_s() - 10)), 4001, "expired token");
  ExpectClosedAfter(JoinWithToken("u", roomcast::jwt_sign::sign(R"({"alg":"HS256"})",
                                                                 R"({"sub":"u","exp":)" + std::to_string(now_s() + 60) + "}",
                                                                 "another-secret")),
                    4001, "badly signed");
  ExpectClosedAfter(JoinWithToken("u", Token("u", now_s() + 60, R"(,"rooms":["other"])")), 4003, "room not granted");
  ExpectClosedAfter(R"({"type":"ping","t":1})", 4001, "first message is not a join");
  ExpectClosedAfter("", 4001, "nothing within --handshake-timeout");
}

TEST_F(InBandAuthTest, AUpgradeWithATokenIsStillCheckedBeforeTheUpgradeAsInV1) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  HttpResponse bad = http_get(port(), "/ws/r?token=not.a.token",
                              "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                              "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n");
  EXPECT_EQ(bad.status, 401) << bad.raw;
  ConnectOptions o;
  o.path = "/ws/r?token=" + Token("bob", now_s() + 60);
  std::string err;
  auto c = WsClient::connect(port(), o, &err);
  ASSERT_TRUE(c) << err;
  ASSERT_TRUE(c->send_text(join_msg("x")));
  IT_ASSERT_JSON(w, c->recv_json());
  EXPECT_EQ(sget((*w)["user"], "id"), "bob");
}

TEST_F(InBandAuthTest, RefreshReplacesTheTokenOrAnswersBadTokenOrForbidden) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  auto c = Connect("r");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(JoinWithToken("u", Token("alice", now_s() + 60))));
  ASSERT_TRUE(c->recv_until_type("welcome").ok);
  const long long later = now_s() + 3600;
  ASSERT_TRUE(c->send_text(R"({"type":"refresh","token":")" + Token("alice", later) + R"("})"));
  IT_ASSERT_JSON(ok, c->recv_json());
  EXPECT_EQ(ok.type(), "refreshed") << ok.text;
  EXPECT_EQ(iget(*ok, "exp"), later);
  ASSERT_TRUE(c->send_text(R"({"type":"refresh","token":")" + Token("mallory", later) + R"("})"));
  IT_ASSERT_JSON(other, c->recv_json());
  EXPECT_EQ(sget(*other, "code"), "bad_token") << other.text;
  ASSERT_TRUE(c->send_text(R"({"type":"refresh","token":"garbage"})"));
  IT_ASSERT_JSON(garbage, c->recv_json());
  EXPECT_EQ(sget(*garbage, "code"), "bad_token") << garbage.text;
  ASSERT_TRUE(c->send_text(R"({"type":"refresh","token":")" + Token("alice", later, R"(,"rooms":["x"])") + R"("})"));
  IT_ASSERT_JSON(forbidden, c->recv_json());
  EXPECT_EQ(sget(*forbidden, "code"), "forbidden") << forbidden.text;
  ASSERT_TRUE(c->send_text(R"({"type":"ping","t":1})"));
  IT_ASSERT_JSON(pong, c->recv_json());
  EXPECT_EQ(pong.type(), "pong") << "a refused refresh keeps the connection";
}

TEST_F(InBandAuthTest, AThreeSecondTokenClosesWith4001AtExpiryUnlessRefreshed) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  auto expiring = Connect("r");
  auto refreshed = Connect("r");
  ASSERT_TRUE(expiring && refreshed);
  const long long exp = now_s() + 3;
  ASSERT_TRUE(expiring->send_text(JoinWithToken("u", Token("alice", exp))));
  ASSERT_TRUE(expiring->recv_until_type("welcome").ok);
  ASSERT_TRUE(refreshed->send_text(JoinWithToken("u", Token("bob", exp))));
  ASSERT_TRUE(refreshed->recv_until_type("welcome").ok);
  ASSERT_TRUE(refreshed->send_text(R"({"type":"refresh","token":")" + Token("bob", now_s() + 600) + R"("})"));
  ASSERT_TRUE(refreshed->recv_until_type("refreshed").ok);
  auto t0 = Clock::now();
  CloseResult cr = expiring->wait_close(milliseconds(6000));
  EXPECT_TRUE(cr.got_close_frame) << cr.describe();
  EXPECT_EQ(cr.code, 4001) << cr.describe();
  EXPECT_EQ(cr.reason, "token expired");
  EXPECT_LT(Clock::now() - t0, milliseconds(5000));
  ASSERT_TRUE(refreshed->send_text(R"({"type":"ping","t":2})"));
  IT_ASSERT_JSON(pong, refreshed->recv_until_type("pong"));
  HttpResponse m = http_get(port(), "/metrics");
  EXPECT_NE(m.body.find("\nroomcast_token_expiry_closes_total 1\n"), std::string::npos) << m.body;
}

TEST_F(InBandAuthTest, AnExpiredSessionIsHeldSoTheClientRefreshesItsTokenAndResumes) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  auto c = Connect("r");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(JoinWithToken("u", Token("alice", now_s() + 2))));
  IT_ASSERT_JSON(w, c->recv_until_type("welcome"));
  CloseResult cr = c->wait_close(milliseconds(5000));
  ASSERT_EQ(cr.code, 4001) << cr.describe();
  auto again = Connect("r");
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->send_text(
      JoinWithToken("u", Token("alice", now_s() + 600), R"(,"resume":")" + sget(*w, "resume") + R"(")")));
  IT_ASSERT_JSON(w2, again->recv_until_type("welcome"));
  EXPECT_TRUE((*w2)["resumed"].GetBool()) << w2.text;
  EXPECT_EQ(sget(*w2, "session"), sget(*w, "session"));
}

TEST_F(InBandAuthTest, OverCapacityAnInBandClientIsUpgradedAndToldCloseTryAgainLater) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth({"--max-connections", "1"}));
  auto first = Connect("r");
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->send_text(JoinWithToken("u", Token("alice", now_s() + 60))));
  ASSERT_TRUE(first->recv_until_type("welcome").ok);
  ExpectClosedAfter(JoinWithToken("u", Token("bob", now_s() + 60)), 1013, "over --max-connections");
  // A client with the token in the upgrade still gets the readable HTTP refusal.
  HttpResponse r = http_get(port(), "/ws/r?token=" + Token("carol", now_s() + 60),
                            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                            "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n");
  EXPECT_EQ(r.status, 503) << r.raw;
}

// RFC 6455 5.5.1: a close body is empty or starts with a 2-byte code.
TEST_F(InBandAuthTest, ACloseFrameWithAOneByteBodyIsAProtocolError1002) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Member m = Join("r", "u");
  ASSERT_TRUE(m.ws);
  ASSERT_TRUE(m->send_frame(kOpClose, std::string(1, '\x03')));
  CloseResult cr = m->wait_close();
  EXPECT_TRUE(cr.got_close_frame) << cr.describe();
  EXPECT_EQ(cr.code, 1002) << cr.describe();
}

TEST_F(InBandAuthTest, RefreshWithAuthenticationOffIsBadToken) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Member m = Join("r", "u");
  ASSERT_TRUE(m->send_text(R"({"type":"refresh","token":"x.y.z"})"));
  IT_ASSERT_JSON(e, m->recv_json());
  EXPECT_EQ(sget(*e, "code"), "bad_token") << e.text;
}

}  // namespace
}  // namespace it
