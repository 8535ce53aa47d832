// Unit tests for core/http/http_front.h: request bytes in, one decision out (answer, drop,
// metrics, or route to a room's thread), with the connection limits, the token, the
// presence API's access rules, the API rate limit and the PROXY header / forwarding
// headers applied before anything is routed.
#include "core/http/http_front.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/proto/jwt_sign.h"

namespace roomcast {
namespace {

constexpr int64_t kFarFuture = 4'000'000'000;

PeerAddress addr(const char* text) {
  PeerAddress p;
  EXPECT_TRUE(parse_ip_address(text, p.bytes)) << text;
  return p;
}

std::string upgrade(const std::string& target, const std::string& extra = "") {
  return "GET " + target +
         " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra + "\r\n";
}

class HttpFrontTest : public ::testing::Test {
 protected:
  HttpFront& front() {
    if (!front_) front_.emplace(config_, limits_, api_rate_, files_, log_);
    return *front_;
  }
  HttpDecision feed(const std::string& bytes, const char* peer = "10.0.0.1") {
    exchange_ = HttpExchange{};
    return feed_more(bytes, peer);
  }
  HttpDecision feed_more(const std::string& bytes, const char* peer = "10.0.0.1") {
    return front().on_bytes(exchange_, addr(peer), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::string token(const std::string& rooms_claim = "") {
    return jwt_sign::sign(R"({"alg":"HS256","typ":"JWT"})",
                          R"({"sub":"u1","exp":)" + std::to_string(kFarFuture) + rooms_claim + "}", config_.jwt_secret);
  }

  Config config_;
  ConnectionLimits limits_{100, 100};
  ApiRateLimit api_rate_{1000};
  StaticFiles files_;
  Logger log_{LogFormat::Text, LogLevel::Error};
  std::optional<HttpFront> front_;
  HttpExchange exchange_;
};

TEST_F(HttpFrontTest, AnUpgradeIsRoutedToItsRoomOnceItsHeadIsCompleteWithTheBytesAfterIt) {
  const std::string request = upgrade("/ws/board-7");
  HttpDecision d = feed(request.substr(0, 40));
  EXPECT_EQ(d.kind, HttpDecision::Kind::NeedMore);
  d = feed_more(request.substr(40) + "\x81\x80");
  ASSERT_EQ(d.kind, HttpDecision::Kind::Route);
  EXPECT_EQ(d.route, RouteKind::Upgrade);
  EXPECT_EQ(d.room, "board-7");
  EXPECT_EQ(d.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(d.leftover, "\x81\x80") << "a first frame sent with the request is kept";
  EXPECT_TRUE(d.admitted);
  EXPECT_EQ(limits_.open(), 1u) << "the place the final owner gives back";
}

TEST_F(HttpFrontTest, BadRequestsAreAnswered4xx) {
  EXPECT_EQ(feed("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  EXPECT_EQ(feed("NOT HTTP AT ALL\r\n\r\n").status, 400);
  EXPECT_EQ(feed("POST /ws/r HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").status, 405);
  config_.max_header = 256;
  front_.reset();
  HttpDecision d = feed("GET /ws/r HTTP/1.1\r\nX-Long: " + std::string(400, 'a') + "\r\n\r\n");
  EXPECT_EQ(d.kind, HttpDecision::Kind::Respond);
  EXPECT_EQ(d.status, 431);
  EXPECT_EQ(d.response.rfind("HTTP/1.1 431", 0), 0u);
  EXPECT_EQ(limits_.open(), 0u) << "a refusal takes no place";
}

TEST_F(HttpFrontTest, MetricsAndHealthAreAnsweredWithoutARoom) {
  EXPECT_EQ(feed("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").kind, HttpDecision::Kind::Metrics);
  HttpDecision d = feed("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(d.kind, HttpDecision::Kind::Respond);
  EXPECT_EQ(d.status, 200);
}

TEST_F(HttpFrontTest, AnUpgradeOverThePerAddressLimitIs429AndOverTheTotalIs503) {
  ConnectionLimits limits(2, 1);
  HttpFront front(config_, limits, api_rate_, files_, log_);
  auto decide = [&](const char* peer) {
    HttpExchange ex;
    const std::string r = upgrade("/ws/r");
    return front.on_bytes(ex, addr(peer), reinterpret_cast<const uint8_t*>(r.data()), r.size());
  };
  EXPECT_EQ(decide("10.0.0.1").kind, HttpDecision::Kind::Route);
  HttpDecision same = decide("10.0.0.1");
  EXPECT_EQ(same.status, 429);
  EXPECT_NE(same.response.find("Retry-After"), std::string::npos);
  EXPECT_EQ(decide("10.0.0.2").kind, HttpDecision::Kind::Route);
  EXPECT_EQ(decide("10.0.0.3").status, 503);
  EXPECT_EQ(limits.open(), 2u) << "refusals took no place";
}

TEST_F(HttpFrontTest, AnInBandUpgradeTakesNoPlaceAndIsRoutedEvenWhenTheLimitsAreFull) {
  config_.jwt_secret = "secret";
  ConnectionLimits full(1, 1);
  ASSERT_EQ(full.admit(addr("10.0.0.1")), Admission::Admitted);
  HttpFront front(config_, full, api_rate_, files_, log_);
  HttpExchange ex;
  const std::string r = upgrade("/ws/r");
  HttpDecision d = front.on_bytes(ex, addr("10.0.0.1"), reinterpret_cast<const uint8_t*>(r.data()), r.size());
  ASSERT_EQ(d.kind, HttpDecision::Kind::Route);
  EXPECT_TRUE(d.awaiting_token) << "the join must carry the token";
  EXPECT_TRUE(d.awaiting_place);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(full.open(), 1u);
}

TEST_F(HttpFrontTest, AnUpgradeWithATokenIsVerifiedBeforeItIsRouted) {
  config_.jwt_secret = "secret";
  HttpDecision ok = feed(upgrade("/ws/r?token=" + token()));
  ASSERT_EQ(ok.kind, HttpDecision::Kind::Route);
  ASSERT_TRUE(ok.identity);
  EXPECT_EQ(ok.identity->user_id, "u1");
  EXPECT_FALSE(ok.awaiting_token);
  EXPECT_EQ(feed(upgrade("/ws/r?token=" + token() + "x")).status, 401);
  EXPECT_EQ(feed(upgrade("/ws/r", "Authorization: Bearer " + token(R"(,"rooms":["other"])") + "\r\n")).status, 403);
  EXPECT_EQ(limits_.open(), 1u) << "only the accepted upgrade holds a place";
}

TEST_F(HttpFrontTest, PresenceWithAuthOnNeedsTheApiKeyOrATokenForThatRoom) {
  config_.jwt_secret = "secret";
  config_.api_key = "key";
  const std::string get = "GET /api/rooms/r/presence HTTP/1.1\r\nHost: x\r\n";
  EXPECT_EQ(feed(get + "\r\n").status, 401);
  EXPECT_EQ(feed(get + "Authorization: Bearer " + token(R"(,"rooms":["other"])") + "\r\n\r\n").status, 403);
  HttpDecision by_token = feed("GET /api/rooms/r/presence?token=" + token() + "&after=s1 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(by_token.kind, HttpDecision::Kind::Route);
  EXPECT_EQ(by_token.route, RouteKind::Presence);
  EXPECT_EQ(by_token.leftover, "s1") << "the page asked for";
  EXPECT_EQ(feed(get + "Authorization: Bearer key\r\n\r\n").kind, HttpDecision::Kind::Route);
}

TEST_F(HttpFrontTest, ApiRequestsBeyondTheRateLimitAre429) {
  ApiRateLimit slow(1);  // 1/s, a burst of 2
  HttpFront front(config_, limits_, slow, files_, log_);
  const std::string r = "GET /api/rooms/r/presence HTTP/1.1\r\nHost: x\r\n\r\n";
  int routed = 0, limited = 0;
  for (int i = 0; i < 4; ++i) {
    HttpExchange ex;
    HttpDecision d = front.on_bytes(ex, addr("10.0.0.1"), reinterpret_cast<const uint8_t*>(r.data()), r.size());
    if (d.kind == HttpDecision::Kind::Route) ++routed;
    if (d.status == 429) ++limited;
  }
  EXPECT_EQ(routed, 2);
  EXPECT_EQ(limited, 2);
  HttpExchange ex;
  EXPECT_EQ(front.on_bytes(ex, addr("10.0.0.2"), reinterpret_cast<const uint8_t*>(r.data()), r.size()).kind,
            HttpDecision::Kind::Route)
      << "per address";
}

TEST_F(HttpFrontTest, PublishNeedsTheApiKeyAndWaitsForItsWholeBody) {
  const std::string head = "POST /api/rooms/r/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n";
  EXPECT_EQ(feed(head + "\r\n0123456789").status, 403) << "no key configured: publishing is off";
  config_.api_key = "key";
  front_.reset();
  EXPECT_EQ(feed(head + "Authorization: Bearer nope\r\n\r\n0123456789").status, 401);
  HttpDecision d = feed(head + "Authorization: Bearer key\r\n\r\n01234");
  EXPECT_EQ(d.kind, HttpDecision::Kind::NeedMore);
  d = feed_more("56789");
  ASSERT_EQ(d.kind, HttpDecision::Kind::Route);
  EXPECT_EQ(d.route, RouteKind::Publish);
  EXPECT_EQ(d.leftover, "0123456789");
}

TEST_F(HttpFrontTest, AProxyHeaderNamesTheClientTheRequestIsCountedUnder) {
  config_.proxy_protocol = true;
  CidrRange proxy;
  ASSERT_TRUE(parse_cidr("10.0.0.1/32", proxy));
  config_.trusted_proxies.push_back(proxy);
  HttpDecision d = feed("PROXY TCP4 203.0.113.7 10.0.0.1 4711 80\r\n" + upgrade("/ws/r"));
  ASSERT_EQ(d.kind, HttpDecision::Kind::Route);
  ASSERT_TRUE(d.client);
  EXPECT_EQ(*d.client, addr("203.0.113.7"));
  EXPECT_EQ(feed("PROXY garbage\r\n" + upgrade("/ws/r")).kind, HttpDecision::Kind::Drop) << "not HTTP: no answer";
}

TEST_F(HttpFrontTest, ATrustedProxysForwardingHeaderNamesTheClientAndAnUntrustedOnesIsIgnored) {
  CidrRange proxy;
  ASSERT_TRUE(parse_cidr("10.0.0.1/32", proxy));
  config_.trusted_proxies.push_back(proxy);
  HttpDecision d = feed(upgrade("/ws/r", "X-Forwarded-For: 198.51.100.4\r\n"), "10.0.0.1");
  ASSERT_TRUE(d.client);
  EXPECT_EQ(*d.client, addr("198.51.100.4"));
  HttpDecision spoofed = feed(upgrade("/ws/r", "X-Forwarded-For: 198.51.100.4\r\n"), "10.0.0.66");
  EXPECT_FALSE(spoofed.client) << "a client cannot choose the address it is counted under";
}

}  // namespace
}  // namespace roomcast
