// tests/integration/room_poisoning_test.cpp: one member must not be able to knock a room
// offline (issue 9). An attacker in the room tries each input that once made the server
// send other members bytes their WebSocket or JSON library refuses (lone surrogate
// escapes, unbounded nesting, duplicate keys, huge identifiers), or lock real clients out
// (idle sockets, malformed upgrade heads). Each time a victim in the room stays connected,
// receives only valid frames, and the attacker gets a specified answer.
//
// The test client (ws_client.cpp) fails on any text frame that is not UTF-8, as a browser
// does; Victim::ExpectOnlyValidFrames also parses every frame strictly.
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kHighRate = {"--rate-limit", "100000", "--rate-burst", "100000"};

// The escapes that became the bytes ED B0 80 (low) or were refused already (high).
const std::vector<std::string> kLoneSurrogates = {R"(\udc00)", R"(x\udfff)", R"(\ud800)", R"(\udbff\u0041)"};

// Depth of a JSON value (a scalar is 0), without recursion.
int Depth(const std::string& json) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') max_depth = std::max(max_depth, ++depth);
    else if (c == ']' || c == '}') --depth;
  }
  return max_depth;
}

class RoomPoisoningTest : public RoomcastTest {
 protected:
  void TearDown() override {
    attacker_ = Member{};
    victim_ = Member{};
    RoomcastTest::TearDown();
  }

  void SetUpRoom(std::vector<std::string> extra = kHighRate) {
    ASSERT_NO_FATAL_FAILURE(StartServer(extra));
    victim_ = Join("r", "victim");
    ASSERT_TRUE(victim_.ws);
    attacker_ = Join("r", "attacker");
    ASSERT_TRUE(attacker_.ws);
    ExpectPresenceJoin({&victim_}, attacker_);
  }

  // `text` from `c` gets error `code`, and the connection still answers a ping (with
  // `not_joined` if it never joined: the refused join did not count).
  void ExpectError(WsClient* c, const std::string& text, const std::string& code, bool joined = true) {
    SCOPED_TRACE("input: " + text.substr(0, 160));
    ASSERT_TRUE(c->send_text(text));
    IT_ASSERT_JSON(e, c->recv_json());
    EXPECT_EQ(e.type(), "error") << e.text;
    EXPECT_EQ(sget(*e, "code"), code) << e.text;
    ++probe_;
    ASSERT_TRUE(c->send_text(R"({"type":"ping","t":)" + std::to_string(probe_) + "}"));
    IT_ASSERT_JSON(p, c->recv_json());
    if (joined) {
      EXPECT_EQ(p.type(), "pong") << p.text;
      EXPECT_EQ(iget(*p, "t"), probe_) << p.text;
    } else {
      EXPECT_EQ(sget(*p, "code"), "not_joined") << p.text;
    }
  }

  // Every frame the victim gets within `window` is valid UTF-8 (checked by the client),
  // strict JSON and shallow; then the room still relays to it. Returns the frames' texts.
  std::vector<std::string> ExpectVictimFine(milliseconds window = milliseconds(300)) {
    std::vector<std::string> texts;
    auto until = Clock::now() + window;
    while (Clock::now() < until) {
      RecvResult r = victim_->recv_frame(milliseconds(50));
      if (r.status == RecvStatus::Timeout) continue;
      EXPECT_EQ(r.status, RecvStatus::Ok) << "victim's connection broke: " << to_string(r.status) << " " << r.error;
      if (!r.ok()) return texts;
      if (r.frame.opcode != kOpText) {
        EXPECT_NE(r.frame.opcode, kOpClose) << "victim was closed: " << r.frame.close_code;
        continue;
      }
      rapidjson::Document d;
      d.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(r.frame.payload.c_str(),
                                                                                      r.frame.payload.size());
      EXPECT_FALSE(d.HasParseError()) << r.frame.payload.substr(0, 200);
      EXPECT_LE(Depth(r.frame.payload), 33) << r.frame.payload.substr(0, 200);
      texts.push_back(r.frame.payload);
    }
    ++probe_;
    EXPECT_TRUE(attacker_->send_text(cursor_msg(double(probe_), 0, 0, 0, 0, 0, 1)));
    JsonResult c = victim_->recv_until_type("cursor", milliseconds(3000));
    EXPECT_TRUE(c.ok) << "the room no longer relays to the victim: " << c.error;
    if (c.ok) {
      EXPECT_EQ(sget(*c, "session"), attacker_.session) << c.text;
    }
    return texts;
  }

  Member attacker_, victim_;
  long long probe_ = 1000;
};

TEST_F(RoomPoisoningTest, LoneSurrogateInAnyStringOfAJoinIsBadJsonAndNobodySeesTheJoin) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  for (const std::string& bad : kLoneSurrogates) {
    for (const std::string field : {"id", "name", "color"}) {
      auto c = Connect("r");
      ASSERT_TRUE(c);
      std::string user = field == "id" ? R"({"id":"x)" + bad + R"("})" : R"({"id":"ok",")" + field + R"(":")" + bad + R"("})";
      ExpectError(c.get(), R"({"type":"join","user":)" + user + "}", "bad_json", false);
    }
  }
  std::vector<std::string> seen = ExpectVictimFine();
  for (const std::string& t : seen) EXPECT_EQ(t.find("presence"), std::string::npos) << "a refused join was announced: " << t;
}

TEST_F(RoomPoisoningTest, LoneSurrogateInEveryStringOfAJoinedMembersMessagesIsBadJsonAndNothingIsRelayed) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  const std::vector<std::string> templates = {
      R"({"type":"edit","building":"@","op":"o"})",
      R"({"type":"edit","building":"b","op":"@"})",
      R"({"type":"edit","building":"b","op":"o","id":"@"})",
      R"({"type":"edit","building":"b","op":"o","data":{"@":1}})",
      R"({"type":"edit","building":"b","op":"o","data":{"k":["@"]}})",
      R"({"type":"ping","t":"@"})",
      R"({"type":"ping","t":{"@":0}})",
      R"({"type":"select","ids":["a","@"]})",
      R"({"type":"follow","session":"@"})",
  };
  for (const std::string& tpl : templates) {
    for (const std::string& bad : kLoneSurrogates) {
      std::string t = tpl;
      t.replace(t.find('@'), 1, bad);
      ExpectError(attacker_.ws.get(), t, "bad_json");
    }
  }
  std::vector<std::string> seen = ExpectVictimFine();
  EXPECT_TRUE(seen.empty()) << "something was relayed: " << seen.front();
}

TEST_F(RoomPoisoningTest, HistoryPresenceApiAndLateJoinersStayValidAfterAnAttack) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ExpectError(attacker_.ws.get(), R"({"type":"edit","building":"\udc00","op":"o"})", "bad_json");
  ExpectError(attacker_.ws.get(), R"({"type":"select","ids":["\udc00"]})", "bad_json");
  // A proper edit with a proper pair goes through.
  ASSERT_TRUE(attacker_->send_text(R"({"type":"edit","building":"b\ud83d\ude80","op":"o","id":"m1"})"));
  IT_ASSERT_JSON(ack, attacker_->recv_until_type("ack"));
  IT_ASSERT_JSON(e, victim_->recv_until_type("edit"));
  EXPECT_EQ(sget(*e, "building"), "b\xf0\x9f\x9a\x80");
  // A reconnecting client replays the history, and a late joiner's welcome lists everyone.
  auto late = Connect("r");
  ASSERT_TRUE(late);
  ASSERT_TRUE(late->send_text(join_msg("late", "", "", 0)));
  IT_ASSERT_JSON(w, late->recv_json());
  EXPECT_EQ(w.type(), "welcome") << w.text;
  EXPECT_EQ((*w)["peers"].Size(), 2u) << w.text;
  IT_ASSERT_JSON(replayed, late->recv_json());
  EXPECT_EQ(replayed.type(), "edit") << replayed.text;
  HttpResponse p = http_get(port(), "/api/rooms/r/presence");
  ASSERT_EQ(p.status, 200) << p.raw;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(p.body.c_str(), p.body.size());
  EXPECT_FALSE(d.HasParseError()) << p.body;
  ExpectVictimFine();
}

TEST_F(RoomPoisoningTest, NestingDeeperThan32LevelsIsBadMessageAnd32IsRelayed) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom({"--max-message", "4194304", "--rate-limit", "100000", "--rate-burst", "100000"}));
  auto nested = [](size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  // The message object is level 1: data may open 31 more.
  ExpectError(attacker_.ws.get(), R"({"type":"edit","building":"b","op":"o","data":)" + nested(32000) + "}",
              "bad_message");
  ExpectError(attacker_.ws.get(), R"({"type":"edit","building":"b","op":"o","data":)" + nested(1000000) + "}",
              "bad_message");
  ExpectError(attacker_.ws.get(), R"({"type":"edit","building":"b","op":"o","data":)" + nested(32) + "}",
              "bad_message");
  ExpectError(attacker_.ws.get(), R"({"type":"ping","t":)" + nested(5000) + "}", "bad_message");
  EXPECT_TRUE(ExpectVictimFine().empty());
  ASSERT_TRUE(attacker_->send_text(R"({"type":"edit","building":"b","op":"o","data":)" + nested(31) + "}"));
  IT_ASSERT_JSON(e, victim_->recv_until_type("edit"));
  EXPECT_EQ(Depth(e.text), 32) << e.text;
}

TEST_F(RoomPoisoningTest, DuplicateKeysAndIdentifiersOver256BytesAreBadMessage) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  const std::string huge(65416, 'x');
  ExpectError(attacker_.ws.get(), R"({"type":"edit","building":")" + huge + R"(","op":"o"})", "bad_message");
  ExpectError(attacker_.ws.get(), R"({"type":"edit","building":"b","op":")" + huge + R"("})", "bad_message");
  ExpectError(attacker_.ws.get(), R"({"type":"edit","building":"b","op":"o","id":")" + huge + R"("})", "bad_message");
  ExpectError(attacker_.ws.get(), R"({"type":"select","ids":[")" + huge + R"("]})", "bad_message");
  ExpectError(attacker_.ws.get(), R"({"type":"edit","building":"b","op":"o","data":{")" + huge + R"(":1}})",
              "bad_message");
  ExpectError(attacker_.ws.get(), R"({"type":"edit","building":"a","building":"b","op":"o"})", "bad_message");
  ExpectError(attacker_.ws.get(), R"({"type":"ping","t":{"k":1,"k":2}})", "bad_message");
  auto c = Connect("r");
  ASSERT_TRUE(c);
  ExpectError(c.get(), R"({"type":"join","user":{"id":"a","id":"victim"}})", "bad_message", false);
  EXPECT_TRUE(ExpectVictimFine().empty());
}

TEST_F(RoomPoisoningTest, PublishApiRefusesTheSameBodiesWith400) {
  TempFile key("k3y");
  ASSERT_NO_FATAL_FAILURE(SetUpRoom({"--api-key-file", key.path}));
  auto publish = [&](const std::string& body) {
    return http_raw(port(), "POST /api/rooms/r/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k3y\r\n"
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  };
  for (const std::string& body : {std::string(R"({"building":"\udc00","op":"o"})"),
                                  std::string(R"({"building":"b","op":"o","data":)") + std::string(100, '[') +
                                      std::string(100, ']') + "}",
                                  std::string(R"({"building":"b","op":"o","op":"p"})")}) {
    HttpResponse r = publish(body);
    EXPECT_EQ(r.status, 400) << body.substr(0, 80) << " -> " << r.raw;
  }
  EXPECT_TRUE(ExpectVictimFine().empty());
  EXPECT_EQ(publish(R"({"building":"b","op":"o"})").status, 200);
}

// Hundreds of TCP connections that never send a byte, from the victim's own address, used to
// make its next upgrade get 429 until the handshake timeout reaped them.
TEST_F(RoomPoisoningTest, IdleSocketsFromOneAddressNeverLockOutARealClientFromThatAddress) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom({"--handshake-timeout", "30", "--max-handshakes-per-ip", "64"}));
  std::vector<int> idle;
  std::string err;
  auto open_idle = [&](int n) {
    for (int i = 0; i < n; ++i) {
      int fd = tcp_connect(port(), milliseconds(2000), 0, &err);
      ASSERT_GE(fd, 0) << err;
      idle.push_back(fd);
    }
  };
  for (int round = 0; round < 3; ++round) {
    ASSERT_NO_FATAL_FAILURE(open_idle(200));
    auto t0 = Clock::now();
    Member real = Join("r", "real" + std::to_string(round));
    ASSERT_TRUE(real.ws) << "round " << round << ": a real client was refused";
    EXPECT_LT(Clock::now() - t0, milliseconds(2000));
    ASSERT_TRUE(real->send_text(R"({"type":"ping","t":1})"));
    IT_ASSERT_JSON(p, real->recv_until_type("pong"));
  }
  // The oldest idle sockets were closed to make room, and each was counted.
  HttpResponse m = http_get(port(), "/metrics");
  ASSERT_EQ(m.status, 200) << m.raw;
  size_t at = m.body.find("roomcast_handshake_failures_total{reason=\"evicted\"} ");
  ASSERT_NE(at, std::string::npos) << m.body;
  double evicted = std::strtod(m.body.c_str() + m.body.find(' ', at) + 1, nullptr);
  EXPECT_GE(evicted, 600 - 64) << "at most --max-handshakes-per-ip (64) idle sockets stay";
  for (int fd : idle) ::close(fd);
  ExpectVictimFine();
}

TEST_F(RoomPoisoningTest, MalformedUpgradeHeadsGet400) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto upgrade = [&](const std::string& extra) {
    return http_raw(port(),
                    "GET /ws/r HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n",
                    milliseconds(1000), milliseconds(200));
  };
  EXPECT_EQ(upgrade("Content-Length: -1\r\n").status, 400);
  EXPECT_EQ(upgrade("Content-Length: 18446744073709551616\r\n").status, 400);
  EXPECT_EQ(upgrade("Content-Length: 12345678901234567890\r\n").status, 400);
  EXPECT_EQ(upgrade("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n").status, 400);
  EXPECT_EQ(upgrade("Sec-WebSocket-Version: 13\r\n").status, 400);
  EXPECT_EQ(upgrade("Content-Length: 0\r\n").status, 101);
}

}  // namespace
}  // namespace it
