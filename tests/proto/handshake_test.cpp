// Unit tests for proto/handshake.h: routing decisions and response bytes.
#include "proto/handshake.h"

#include <gtest/gtest.h>

#include <string>

namespace roomcast {
namespace {

// Parses `head` (which must be a complete request head) and routes it. The string is
// kept alive by the caller; HttpRequest only holds views.
Route route(const std::string& head) {
  HttpRequest req;
  HttpParseResult r = parse_http_request(head, 8192, req);
  EXPECT_EQ(r.status, HttpParseStatus::Complete) << head;
  return route_request(req);
}

std::string upgrade_request(const std::string& target, const std::string& extra = {},
                            const std::string& key = "dGhlIHNhbXBsZSBub25jZQ==",
                            const std::string& version = "13") {
  return "GET " + target + " HTTP/1.1\r\n" + "Host: localhost\r\n" + "Upgrade: websocket\r\n" +
         "Connection: Upgrade\r\n" + "Sec-WebSocket-Key: " + key + "\r\n" +
         "Sec-WebSocket-Version: " + version + "\r\n" + extra + "\r\n";
}

// Checks the framing every Respond route promises and returns the body.
std::string checked_body(const Route& r) {
  EXPECT_EQ(r.kind, RouteKind::Respond);
  const std::string& resp = r.response;
  EXPECT_TRUE(resp.starts_with("HTTP/1.1 " + std::to_string(r.status) + " ")) << resp;
  size_t end = resp.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos) << resp;
  if (end == std::string::npos) return {};
  std::string head = resp.substr(0, end + 2);
  std::string body = resp.substr(end + 4);
  EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos) << resp;
  EXPECT_NE(head.find("\r\nContent-Type: text/plain\r\n"), std::string::npos) << resp;
  EXPECT_NE(head.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos)
      << resp;
  EXPECT_FALSE(body.empty());
  return body;
}

bool has_header_line(const Route& r, const std::string& line) {
  size_t end = r.response.find("\r\n\r\n");
  return r.response.substr(0, end + 2).find("\r\n" + line + "\r\n") != std::string::npos;
}

// RFC 6455 section 1.3. (proto/handshake.h's comment quotes a different, wrong value;
// this one is the RFC's and matches `openssl sha1 -binary | base64`.)
TEST(WebSocketAcceptKey, MatchesTheRfc6455SampleKey) {
  EXPECT_EQ(websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketAcceptKey, IsTwentyEightBase64Characters) {
  std::string key = websocket_accept_key("AAAAAAAAAAAAAAAAAAAAAA==");
  EXPECT_EQ(key.size(), 28u);
  EXPECT_EQ(key.back(), '=');
  EXPECT_NE(key, websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ=="));
}

TEST(RoomName, AcceptsTheAllowedAlphabet) {
  EXPECT_TRUE(is_valid_room_name("a"));
  EXPECT_TRUE(is_valid_room_name("Project_42.v-1"));
  EXPECT_TRUE(is_valid_room_name("ABCXYZabcxyz0189_.-"));
  EXPECT_TRUE(is_valid_room_name(".."));
}

TEST(RoomName, AcceptsExactly128CharactersAndRejects129) {
  EXPECT_TRUE(is_valid_room_name(std::string(128, 'r')));
  EXPECT_FALSE(is_valid_room_name(std::string(129, 'r')));
}

TEST(RoomName, RejectsEmptyAndCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(is_valid_room_name(""));
  for (std::string bad : {"a/b", "a b", "a%20b", "a?b", "a:b", "caf\xc3\xa9", "a+b", "a~b"}) {
    EXPECT_FALSE(is_valid_room_name(bad)) << bad;
  }
  EXPECT_FALSE(is_valid_room_name(std::string("a\0b", 3)));
}

TEST(RouteRequest, HealthzGetAnswers200Ok) {
  Route r = route("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(checked_body(r), "ok");
  EXPECT_EQ(r.response,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
            "Connection: close\r\n\r\nok");
}

TEST(RouteRequest, HealthzWithQueryStringIsStillHealthz) {
  EXPECT_EQ(route("GET /healthz?probe=1 HTTP/1.1\r\n\r\n").status, 200);
}

TEST(RouteRequest, HealthzOverHttp10Answers200) {
  EXPECT_EQ(route("GET /healthz HTTP/1.0\r\n\r\n").status, 200);
}

TEST(RouteRequest, NonGetOnHealthzAnswers405WithAllowGet) {
  for (std::string method : {"POST", "PUT", "DELETE", "HEAD"}) {
    Route r = route(method + " /healthz HTTP/1.1\r\n\r\n");
    EXPECT_EQ(r.status, 405) << method;
    checked_body(r);
    EXPECT_TRUE(has_header_line(r, "Allow: GET")) << r.response;
  }
}

TEST(RouteRequest, UnknownPathsAnswer404) {
  for (std::string path : {"/", "/healthz/", "/healthzz", "/Healthz", "/ws", "/ws/", "/wsx/room",
                           "/ws/a/b", "/ws/a%20b", "/ws/room/"}) {
    Route r = route("GET " + path + " HTTP/1.1\r\n\r\n");
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(checked_body(r), "not found\n");
  }
}

TEST(RouteRequest, WsPathWithInvalidRoomAnswers404EvenForAValidUpgrade) {
  EXPECT_EQ(route(upgrade_request("/ws/bad!room")).status, 404);
  EXPECT_EQ(route(upgrade_request("/ws/" + std::string(129, 'a'))).status, 404);
  EXPECT_EQ(route(upgrade_request("/ws/")).status, 404);
}

TEST(RouteRequest, NonGetOnUnknownPathAnswers404) {
  EXPECT_EQ(route("POST /nope HTTP/1.1\r\n\r\n").status, 404);
  EXPECT_EQ(route("POST /ws/bad!room HTTP/1.1\r\n\r\n").status, 404);
}

TEST(RouteRequest, NonGetOnAWsRoomAnswers405WithAllowGet) {
  Route r = route("POST /ws/room HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  EXPECT_EQ(r.status, 405);
  checked_body(r);
  EXPECT_TRUE(has_header_line(r, "Allow: GET")) << r.response;
}

TEST(RouteRequest, ValidUpgradeAnswers101WithRoomAndAcceptKey) {
  Route r = route(upgrade_request("/ws/project-7"));
  EXPECT_EQ(r.kind, RouteKind::Upgrade);
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.room, "project-7");
  EXPECT_EQ(r.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_TRUE(r.response.empty());
}

TEST(RouteRequest, UpgradeWithQueryStringNamesTheRoomWithoutTheQuery) {
  Route r = route(upgrade_request("/ws/room_1.2?token=eyJhbGciOi.xx.yy"));
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.room, "room_1.2");
}

TEST(RouteRequest, UpgradeWithLongestValidRoomAnswers101) {
  Route r = route(upgrade_request("/ws/" + std::string(128, 'z')));
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.room, std::string(128, 'z'));
}

TEST(RouteRequest, UpgradeTokensAreMatchedCaseInsensitivelyInsideLists) {
  std::string head =
      "GET /ws/r HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  EXPECT_EQ(route(head).status, 101);
}

TEST(RouteRequest, PlainGetOnAWsRoomAnswers426WithUpgradeWebsocket) {
  Route r = route("GET /ws/room HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 426);
  checked_body(r);
  EXPECT_TRUE(has_header_line(r, "Upgrade: websocket")) << r.response;
}

TEST(RouteRequest, UpgradeWithoutConnectionUpgradeAnswers426) {
  Route r = route(
      "GET /ws/room HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  EXPECT_EQ(r.status, 426);
  EXPECT_TRUE(has_header_line(r, "Upgrade: websocket")) << r.response;
}

TEST(RouteRequest, UpgradeToAnotherProtocolAnswers426) {
  Route r = route(
      "GET /ws/room HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  EXPECT_EQ(r.status, 426);
}

TEST(RouteRequest, WrongWebSocketVersionAnswers426NamingVersion13) {
  Route r = route(upgrade_request("/ws/room", {}, "dGhlIHNhbXBsZSBub25jZQ==", "8"));
  EXPECT_EQ(r.status, 426);
  checked_body(r);
  EXPECT_TRUE(has_header_line(r, "Sec-WebSocket-Version: 13")) << r.response;
}

TEST(RouteRequest, MissingWebSocketVersionAnswers426NamingVersion13) {
  Route r = route(
      "GET /ws/room HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  EXPECT_EQ(r.status, 426);
  EXPECT_TRUE(has_header_line(r, "Sec-WebSocket-Version: 13")) << r.response;
}

TEST(RouteRequest, MissingWebSocketKeyAnswers400) {
  Route r = route(
      "GET /ws/room HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  checked_body(r);
}

TEST(RouteRequest, KeyThatIsNotBase64Of16BytesAnswers400) {
  for (std::string key : {
           "AAAAAAAAAAAAAAAAAAAA",          // 15 bytes
           "AAAAAAAAAAAAAAAAAAAAAAA=",      // 17 bytes
           "AAAAAAAAAAAAAAAAAAAAAA",        // 16 bytes, padding missing
           "AAAAAAAAAAAAAAAAAAAAA*==",      // not in the alphabet
           "AAAAAAAAAAAAAAAAAAAAA===",      // padding too early
           "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",  // 21 bytes
           "not a key",
       }) {
    Route r = route(upgrade_request("/ws/room", {}, key));
    EXPECT_EQ(r.status, 400) << key;
  }
}

TEST(RouteRequest, AnyBase64KeyOf16BytesIsAccepted) {
  Route r = route(upgrade_request("/ws/room", {}, "+/+/+/+/+/+/+/+/+/+/+w=="));
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.accept_key, websocket_accept_key("+/+/+/+/+/+/+/+/+/+/+w=="));
}

TEST(RouteRequest, Http10UpgradeOnAValidRoomAnswers400) {
  std::string head = upgrade_request("/ws/room");
  head.replace(head.find("HTTP/1.1"), 8, "HTTP/1.0");
  Route r = route(head);
  EXPECT_EQ(r.status, 400);
  checked_body(r);
}

TEST(RouteRequest, Http10PlainGetOnAValidRoomAnswers400) {
  EXPECT_EQ(route("GET /ws/room HTTP/1.0\r\n\r\n").status, 400);
}

TEST(UpgradeResponse, IsTheExactRfc6455SwitchingProtocolsHead) {
  EXPECT_EQ(upgrade_response("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "\r\n");
}

TEST(HttpResponse, InsertsExtraHeadersVerbatimBeforeTheBlankLine) {
  EXPECT_EQ(http_response(405, "method not allowed\n", "Allow: GET\r\nX-A: b\r\n"),
            "HTTP/1.1 405 Method Not Allowed\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 19\r\n"
            "Connection: close\r\n"
            "Allow: GET\r\nX-A: b\r\n"
            "\r\n"
            "method not allowed\n");
}

TEST(HttpResponse, EmptyBodyHasContentLengthZero) {
  EXPECT_EQ(http_response(404, ""),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
}

TEST(HttpResponse, UsesStandardReasonPhrases) {
  EXPECT_TRUE(http_response(400, "x").starts_with("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_TRUE(http_response(401, "x").starts_with("HTTP/1.1 401 Unauthorized\r\n"));
  EXPECT_TRUE(http_response(403, "x").starts_with("HTTP/1.1 403 Forbidden\r\n"));
  EXPECT_TRUE(http_response(426, "x").starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
  EXPECT_TRUE(http_response(431, "x").starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}

}  // namespace
}  // namespace roomcast

namespace roomcast {
namespace {

TEST(RouteRequest, GetMetricsIsRoutedToTheMetricsRenderer) {
  EXPECT_EQ(route("GET /metrics HTTP/1.1\r\n\r\n").kind, RouteKind::Metrics);
  Route post = route("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.status, 405);
}

TEST(RouteRequest, PresenceApiNamesTheRoom) {
  Route r = route("GET /api/rooms/tower-42/presence HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.kind, RouteKind::Presence);
  EXPECT_EQ(r.room, "tower-42");
  EXPECT_EQ(route("POST /api/rooms/tower-42/presence HTTP/1.1\r\n\r\n").status, 405);
  EXPECT_EQ(route("GET /api/rooms/bad!name/presence HTTP/1.1\r\n\r\n").status, 404);
  EXPECT_EQ(route("GET /api/rooms/tower-42/other HTTP/1.1\r\n\r\n").status, 404);
  EXPECT_EQ(route("GET /api/rooms/tower-42 HTTP/1.1\r\n\r\n").status, 404);
}

TEST(RouteRequest, PublishNeedsPostAndAContentLength) {
  Route r = route("POST /api/rooms/r1/publish HTTP/1.1\r\nContent-Length: 42\r\n\r\n");
  EXPECT_EQ(r.kind, RouteKind::Publish);
  EXPECT_EQ(r.room, "r1");
  EXPECT_EQ(r.content_length, 42u);
  EXPECT_EQ(route("GET /api/rooms/r1/publish HTTP/1.1\r\n\r\n").status, 405);
  EXPECT_EQ(route("POST /api/rooms/r1/publish HTTP/1.1\r\n\r\n").status, 411);
  EXPECT_EQ(route("POST /api/rooms/r1/publish HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").status, 411);
  EXPECT_EQ(route("POST /api/rooms/r1/publish HTTP/1.1\r\nContent-Length: 1x\r\n\r\n").status, 400);
  EXPECT_EQ(route("POST /api/rooms/bad!room/publish HTTP/1.1\r\nContent-Length: 2\r\n\r\n").status, 404);
}

// Request smuggling: a body length two parsers could read differently is refused.
TEST(RouteRequest, UpgradeWithABadContentLengthAnswers400) {
  for (const char* value : {"-1", "+5", "1x", "", "5 5", "5, 5", "0x10", "18446744073709551616",
                            "00000000000000000000", "99999999999999999999"}) {
    Route r = route(upgrade_request("/ws/room", std::string("Content-Length: ") + value + "\r\n"));
    EXPECT_EQ(r.status, 400) << "Content-Length: " << value;
    EXPECT_NE(checked_body(r).find("Content-Length"), std::string::npos);
  }
}

TEST(RouteRequest, UpgradeAnnouncingABodyAnswers400AndContentLengthZeroIsFine) {
  EXPECT_EQ(route(upgrade_request("/ws/room", "Content-Length: 0\r\n")).status, 101);
  EXPECT_EQ(route(upgrade_request("/ws/room", "Content-Length: 5\r\n")).status, 400);
  EXPECT_EQ(route(upgrade_request("/ws/room", "Transfer-Encoding: chunked\r\n")).status, 400);
}

TEST(RouteRequest, RepeatedContentLengthAnswers400EvenWhenTheValuesAgree) {
  EXPECT_EQ(route(upgrade_request("/ws/room", "Content-Length: 0\r\nContent-Length: 0\r\n")).status, 400);
  EXPECT_EQ(route("POST /api/rooms/r1/publish HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n").status,
            400);
  EXPECT_EQ(route("POST /api/rooms/r1/publish HTTP/1.1\r\nContent-Length: -1\r\n\r\n").status, 400);
  EXPECT_EQ(route("POST /api/rooms/r1/publish HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\n").status, 400);
  EXPECT_EQ(route("POST /api/rooms/r1/publish HTTP/1.1\r\nContent-Length: 123456789012345\r\n\r\n").kind,
            RouteKind::Publish);
}

TEST(RouteRequest, RepeatedWebSocketKeyOrVersionAnswers400) {
  const std::string key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  Route twice_key = route(upgrade_request("/ws/room", key));
  EXPECT_EQ(twice_key.status, 400);
  EXPECT_NE(checked_body(twice_key).find("repeated"), std::string::npos);
  EXPECT_EQ(route(upgrade_request("/ws/room", "sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\n")).status, 400);
  EXPECT_EQ(route(upgrade_request("/ws/room", "Sec-WebSocket-Version: 13\r\n")).status, 400);
}

}  // namespace
}  // namespace roomcast
