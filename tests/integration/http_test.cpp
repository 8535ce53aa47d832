// tests/integration/http_test.cpp: plain HTTP on the WebSocket port (docs/protocol.md 1:
// the endpoint rules and the HTTP answers).
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;

class HttpTest : public RoomcastTest {};

std::string UpgradeRequest(uint16_t port, const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n";
}

TEST_F(HttpTest, HealthzAnswers200Ok) {
  StartServer();
  HttpResponse r = http_get(port(), "/healthz");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_TRUE(r.body == "ok" || r.body == "ok\n") << "body: \"" << r.body << "\"";
}

TEST_F(HttpTest, UnknownPathAnswers404AndCloses) {
  StartServer();
  for (const char* path : {"/", "/nope", "/ws", "/healthz/extra", "/wsroom"}) {
    SCOPED_TRACE(path);
    HttpResponse r = http_get(port(), path);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 404) << r.raw;
    EXPECT_TRUE(r.connection_closed) << "server must close after an HTTP error";
  }
}

TEST_F(HttpTest, WsPathWithoutUpgradeHeadersAnswers426AndCloses) {
  StartServer();
  HttpResponse r = http_get(port(), "/ws/room1");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 426) << r.raw;
  EXPECT_TRUE(r.connection_closed);
}

TEST_F(HttpTest, BadRoomNamesAnswer404EvenWithValidUpgradeHeaders) {
  StartServer();
  for (const std::string& path : {std::string("/ws/bad!name"), "/ws/" + std::string(129, 'a'), std::string("/ws/"),
                                 std::string("/ws/a/b"), std::string("/ws/caf%C3%A9"), std::string("/ws/semi;colon")}) {
    SCOPED_TRACE(path.substr(0, 40));
    HttpResponse plain = http_get(port(), path);
    ASSERT_TRUE(plain.ok) << plain.error;
    EXPECT_EQ(plain.status, 404) << plain.raw;
    HttpResponse up = http_raw(port(), UpgradeRequest(port(), path));
    ASSERT_TRUE(up.ok) << up.error;
    EXPECT_EQ(up.status, 404) << up.raw;
    EXPECT_TRUE(up.connection_closed);
  }
}

TEST_F(HttpTest, RoomNameOf128AllowedCharactersUpgrades) {
  StartServer();
  std::string room = "A-z_0.9";
  while (room.size() < 128) room += "x";
  auto c = Connect(room);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(join_msg("u")));
  IT_ASSERT_JSON(w, c->recv_json());
  EXPECT_EQ(sget(*w, "room"), room) << w.text;
}

TEST_F(HttpTest, QueryStringIsNotPartOfTheRoomName) {
  StartServer();
  auto c = Connect("qroom?token=abc");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(join_msg("u")));
  IT_ASSERT_JSON(w, c->recv_json());
  EXPECT_EQ(sget(*w, "room"), "qroom") << w.text;
}

TEST_F(HttpTest, MalformedRequestAnswers400AndCloses) {
  StartServer();
  HttpResponse r = http_raw(port(), "GARBAGE\r\n\r\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_TRUE(r.connection_closed);
}

TEST_F(HttpTest, OversizedRequestHeadAnswers431AndCloses) {
  StartServer();
  std::string req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + std::string(9000, 'a') + "\r\n\r\n";
  HttpResponse r = http_raw(port(), req);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 431) << r.raw.substr(0, 200);
  EXPECT_TRUE(r.connection_closed);
}

TEST_F(HttpTest, ConnectionThatNeverCompletesItsRequestIsClosedAfterHandshakeTimeout) {
  StartServer({"--handshake-timeout", "1"});
  std::string err;
  int silent = tcp_connect(port(), milliseconds(3000), 0, &err);
  ASSERT_GE(silent, 0) << err;
  int partial = tcp_connect(port(), milliseconds(3000), 0, &err);
  ASSERT_GE(partial, 0) << err;
  const char head[] = "GET /ws/room HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(::send(partial, head, sizeof head - 1, MSG_NOSIGNAL), ssize_t(sizeof head - 1));
  auto t0 = std::chrono::steady_clock::now();
  for (int fd : {silent, partial}) {
    // Read until EOF/reset (a 408 or similar answer before closing is fine).
    bool closed = false;
    char buf[4096];
    auto deadline = t0 + milliseconds(4000);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        closed = true;
        break;
      }
    }
    EXPECT_TRUE(closed) << "connection without a complete request still open after 4 s";
    ::close(fd);
  }
  auto ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(ms, 500) << "closed before the handshake timeout";
}

TEST_F(HttpTest, HandshakeTimeoutDoesNotApplyToUpgradedConnections) {
  StartServer({"--handshake-timeout", "1"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  EXPECT_TRUE(a->expect_no_message(milliseconds(2500)));
  ASSERT_TRUE(a->send_text(R"({"type":"ping","t":1})"));
  IT_ASSERT_JSON(p, a->recv_json());
  EXPECT_EQ(p.type(), "pong") << p.text;
}

TEST_F(HttpTest, ErrorResponsesAreWellFormedWithContentLength) {
  StartServer();
  for (const char* path : {"/nope", "/ws/room"}) {
    HttpResponse r = http_get(port(), path);
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_TRUE(r.headers.count("content-length")) << r.raw;
    EXPECT_EQ(std::to_string(r.body.size()), r.headers["content-length"]) << r.raw;
  }
}

TEST_F(HttpTest, ServerKeepsServingAfterHttpErrors) {
  StartServer();
  for (int i = 0; i < 5; ++i) {
    http_raw(port(), "GARBAGE\r\n\r\n");
    http_get(port(), "/nope");
    http_raw(port(), "GET /healthz HTTP/1.1\r\n", milliseconds(200));  // incomplete, then we hang up
  }
  HttpResponse r = http_get(port(), "/healthz");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  Member a = Join("r", "u");
  EXPECT_TRUE(a.ws);
}

TEST_F(HttpTest, MetricsAnswers200WithPrometheusText) {
  StartServer();
  Member a = Join("r", "u");
  ASSERT_TRUE(a.ws);
  HttpResponse r = http_get(port(), "/metrics");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200) << r.raw.substr(0, 300);
  EXPECT_FALSE(r.body.empty());
}

TEST_F(HttpTest, PresenceApiListsTheRoomsSessions) {
  StartServer();
  Member a = Join("pr", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("pr", "ub");
  ASSERT_TRUE(b.ws);
  Member other = Join("elsewhere", "uo");
  ASSERT_TRUE(other.ws);
  HttpResponse r = http_get(port(), "/api/rooms/pr/presence");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200) << r.raw.substr(0, 300);
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  ASSERT_FALSE(d.HasParseError()) << r.body;
  ASSERT_TRUE(d.IsArray()) << r.body;
  EXPECT_EQ(d.Size(), 2u) << r.body;
  EXPECT_NE(r.body.find(a.session), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(b.session), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find(other.session), std::string::npos) << r.body;
}

}  // namespace
}  // namespace it
