// tests/integration/keepalive_test.cpp: JSON ping/pong, WebSocket ping/pong, server pings
// every --ping-interval, and the idle close of a silent connection.
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class KeepaliveTest : public RoomcastTest {};

TEST_F(KeepaliveTest, JsonPingGetsPongEchoingNumberStringAndObjectT) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  for (const char* t : {"12345", "1.5e3", "\"abc\"", "null", "[1,\"two\",[3]]",
                              R"({"client":"viewer","ts":1700000000123,"nested":{"a":[true,false,null]}})"}) {
    SCOPED_TRACE(std::string("t = ") + t);
    ASSERT_TRUE(a->send_text(std::string(R"({"type":"ping","t":)") + t + "}"));
    IT_ASSERT_JSON(p, a->recv_json());
    EXPECT_EQ(p.type(), "pong") << p.text;
    ASSERT_TRUE(has(*p, "t")) << p.text;
    EXPECT_TRUE(json_equal((*p)["t"], parse(t))) << p.text;
  }
  EXPECT_TRUE(b->expect_no_message()) << "ping/pong must not be relayed";
}

TEST_F(KeepaliveTest, JsonPingWithoutTGetsPongWithoutT) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  ASSERT_TRUE(a->send_text(R"({"type":"ping"})"));
  IT_ASSERT_JSON(p, a->recv_json());
  EXPECT_EQ(p.type(), "pong") << p.text;
  EXPECT_TRUE(!has(*p, "t") || (*p)["t"].IsNull()) << p.text;
}

TEST_F(KeepaliveTest, WebSocketPingIsAnsweredWithPongCarryingSamePayloadBeforeAndAfterJoin) {
  StartServer();
  auto c = Connect("r");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_ping("before-join"));
  RecvResult r = c->recv_frame();
  ASSERT_TRUE(r.ok()) << to_string(r.status);
  EXPECT_EQ(r.frame.opcode, kOpPong);
  EXPECT_EQ(r.frame.payload, "before-join");
  EXPECT_FALSE(r.frame.masked);

  ASSERT_TRUE(c->send_text(join_msg("u")));
  IT_ASSERT_JSON(w, c->recv_json());
  EXPECT_EQ(w.type(), "welcome");
  for (const std::string& payload : {std::string(), std::string("\x00\x01\xff binary", 10), std::string(125, 'z')}) {
    ASSERT_TRUE(c->send_ping(payload));
    RecvResult p = c->recv_frame();
    ASSERT_TRUE(p.ok()) << to_string(p.status);
    EXPECT_EQ(p.frame.opcode, kOpPong);
    EXPECT_EQ(p.frame.payload, payload);
  }
}

TEST_F(KeepaliveTest, UnsolicitedPongFromClientIsIgnored) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  ASSERT_TRUE(a->send_pong("unsolicited"));
  EXPECT_TRUE(a->expect_no_message());
  ASSERT_TRUE(a->send_text(R"({"type":"ping","t":7})"));
  IT_ASSERT_JSON(p, a->recv_json());
  EXPECT_EQ(iget(*p, "t"), 7) << p.text;
}

TEST_F(KeepaliveTest, ServerSendsPingsEveryIntervalAndAnsweringClientStaysConnected) {
  StartServer({"--ping-interval", "1"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  // First server ping within ~one interval (allow slack).
  RecvResult r = a->recv_frame(milliseconds(2500));
  ASSERT_TRUE(r.ok()) << "no server ping within 2.5 s: " << to_string(r.status);
  ASSERT_EQ(r.frame.opcode, kOpPing) << "payload: " << r.frame.payload;
  EXPECT_FALSE(r.frame.masked);
  EXPECT_LE(r.frame.payload.size(), 125u);
  ASSERT_TRUE(a->send_pong(r.frame.payload));
  // Keep answering for ~4 s: well past two intervals, the connection must stay open.
  a->auto_pong = true;
  a->pings_seen = 0;
  EXPECT_TRUE(a->expect_no_message(milliseconds(4000))) << "a client answering pings was closed";
  EXPECT_GE(a->pings_seen, 2) << "expected a ping about every second";
  EXPECT_LE(a->pings_seen, 8);
  ASSERT_TRUE(a->send_text(R"({"type":"ping","t":"still-here"})"));
  IT_ASSERT_JSON(p, a->recv_json());
  EXPECT_EQ(sget(*p, "t"), "still-here") << p.text;
}

// v1 departure semantics: resume is off (1.1 holds dropped sessions; see resume_test.cpp).
TEST_F(KeepaliveTest, SilentClientIsClosedWith1001IdleTimeoutAfterTwoIntervalsAndPeersSeeLeave) {
  StartServer({"--resume-grace", "0", "--ping-interval", "1"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member silent = Join("r", "silent");
  ASSERT_TRUE(silent.ws);
  ExpectPresenceJoin({&a}, silent);
  // `a` answers pings (in its own reader thread) and must survive; it sees the leave.
  a->auto_pong = true;
  JsonResult leave;
  std::thread reader([&] { leave = a->recv_until_type("presence", milliseconds(8000)); });
  auto t0 = Clock::now();
  // `silent` reads (to see the close) but never answers pings or sends anything.
  CloseResult cr = silent->wait_close(milliseconds(6000));
  auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  EXPECT_TRUE(cr.got_close_frame) << cr.describe() << " after " << elapsed << " ms";
  EXPECT_EQ(cr.code, 1001) << cr.describe();
  EXPECT_EQ(cr.reason, "idle timeout") << cr.describe();
  EXPECT_GE(elapsed, 900) << "closed before it had been silent for two intervals";
  EXPECT_LE(elapsed, 4500);
  EXPECT_GE(silent->pings_seen, 1) << "the silent client should have been pinged first";
  EXPECT_TRUE(silent->wait_eof()) << "TCP connection left open after idle close";

  reader.join();
  ASSERT_TRUE(leave.ok) << leave.error;
  EXPECT_EQ(sget(*leave, "event"), "leave") << leave.text;
  EXPECT_EQ(sget(*leave, "session"), silent.session) << leave.text;
  ASSERT_TRUE(a->send_text(R"({"type":"ping","t":1})"));
  IT_ASSERT_JSON(pong, a->recv_until_type("pong"));
}

TEST_F(KeepaliveTest, SilentConnectionThatNeverJoinedIsClosedToo) {
  StartServer({"--ping-interval", "1"});
  auto c = Connect("r");
  ASSERT_TRUE(c);
  CloseResult cr = c->wait_close(milliseconds(6000));
  EXPECT_TRUE(cr.got_close_frame) << cr.describe();
  EXPECT_EQ(cr.code, 1001) << cr.describe();
}

TEST_F(KeepaliveTest, ClientSendingMessagesButNotPongsIsNotIdle) {
  StartServer({"--ping-interval", "1"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  // ~3.5 s (well past two intervals) of JSON pings every 400 ms, never a WebSocket pong.
  auto end = Clock::now() + milliseconds(3500);
  int n = 0;
  while (Clock::now() < end && n < 20) {
    ++n;
    ASSERT_TRUE(a->send_text(R"({"type":"ping","t":)" + std::to_string(n) + "}"));
    IT_ASSERT_JSON(p, a->recv_json(milliseconds(2000)));
    ASSERT_EQ(p.type(), "pong") << p.text;
    EXPECT_EQ(iget(*p, "t"), n);
    std::this_thread::sleep_for(milliseconds(400));
  }
  EXPECT_GE(n, 5);
}

}  // namespace
}  // namespace it
