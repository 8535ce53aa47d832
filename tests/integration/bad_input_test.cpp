// tests/integration/bad_input_test.cpp: docs/protocol.md 5: error replies that keep
// the connection open (and relay nothing), and the close codes for frame-level violations.
#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;

// v1 departure semantics (peers see `leave` when a connection is closed for bad input):
// resume is off here; 1.1 holds such sessions (resume_test.cpp).
const std::vector<std::string> kHighRate = {"--rate-limit", "100000", "--rate-burst", "100000", "--resume-grace", "0"};

class BadInputTest : public RoomcastTest {
 protected:
  // Hang up before the server is stopped, so its shutdown does not wait for our FIN.
  void TearDown() override {
    a_ = Member{};
    b_ = Member{};
    RoomcastTest::TearDown();
  }

  // Two joined members in room "r": `a` misbehaves, `b` watches.
  void SetUpRoom(std::vector<std::string> extra = kHighRate) {
    ASSERT_NO_FATAL_FAILURE(StartServer(extra));
    a_ = Join("r", "ua");
    ASSERT_TRUE(a_.ws);
    b_ = Join("r", "ub");
    ASSERT_TRUE(b_.ws);
    ExpectPresenceJoin({&a_}, b_);
  }

  // Sends `text` on `c`, expects {type:error, code, message} and then proves the connection
  // still works with a JSON ping whose t is a fresh counter (so the pong is the very next
  // message: nothing else was sent back).
  void ExpectError(WsClient* c, const std::string& text, const std::string& code) {
    SCOPED_TRACE("input: " + text.substr(0, 120));
    ASSERT_TRUE(c->send_text(text));
    IT_ASSERT_JSON(e, c->recv_json());
    EXPECT_EQ(e.type(), "error") << e.text;
    EXPECT_EQ(sget(*e, "code"), code) << e.text;
    EXPECT_TRUE(has(*e, "message") && (*e)["message"].IsString()) << "error needs a message string: " << e.text;
    ++probe_;
    ASSERT_TRUE(c->send_text(R"({"type":"ping","t":)" + std::to_string(probe_) + "}"));
    IT_ASSERT_JSON(p, c->recv_json());
    EXPECT_EQ(p.type(), "pong") << "connection no longer answers after error: " << p.text;
    EXPECT_EQ(iget(*p, "t"), probe_) << p.text;
  }

  // After the bad inputs: nothing reached the watcher, and A's next cursor does.
  void ExpectNothingRelayedAndStillRelaying() {
    EXPECT_TRUE(b_->expect_no_message(milliseconds(300))) << "bad input was relayed";
    ASSERT_TRUE(a_->send_text(cursor_msg(9, 9, 9, 0, 0, 0, 99)));
    IT_ASSERT_JSON(m, b_->recv_json());
    EXPECT_EQ(m.type(), "cursor") << m.text;
    EXPECT_EQ(sget(*m, "session"), a_.session) << m.text;
    EXPECT_EQ(nget(*m, "fov"), 99) << m.text;
  }

  // Expects a close frame with `code` and then the TCP close.
  void ExpectClosedWith(WsClient* c, int code) {
    CloseResult cr = c->wait_close();
    EXPECT_TRUE(cr.got_close_frame) << cr.describe();
    EXPECT_EQ(cr.code, code) << cr.describe();
    EXPECT_TRUE(c->wait_eof()) << "server kept the TCP connection open after close " << code;
  }

  Member a_, b_;
  long long probe_ = 1000;
};

TEST_F(BadInputTest, NotJsonGetsBadJsonAndConnectionStaysOpen) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  for (const char* s : {"{not json", "", "nul", R"({"type":"cursor")", "{\"type\":\"ping\"}}", "\xef\xbb\xbf{}x"}) {
    ASSERT_NO_FATAL_FAILURE(ExpectError(a_.ws.get(), s, "bad_json"));
  }
  ExpectNothingRelayedAndStillRelaying();
}

TEST_F(BadInputTest, JsonThatIsNotAnObjectGetsBadMessage) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  for (const char* s : {"[1,2]", "\"cursor\"", "42", "null", "true", R"([{"type":"ping"}])"}) {
    ASSERT_NO_FATAL_FAILURE(ExpectError(a_.ws.get(), s, "bad_message"));
  }
  ExpectNothingRelayedAndStillRelaying();
}

TEST_F(BadInputTest, MissingOrNonStringTypeGetsBadMessage) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  for (const char* s : {"{}", R"({"type":5})", R"({"type":null})", R"({"type":["cursor"]})",
                        R"({"position":[1,2,3],"target":[1,2,3]})"}) {
    ASSERT_NO_FATAL_FAILURE(ExpectError(a_.ws.get(), s, "bad_message"));
  }
  ExpectNothingRelayedAndStillRelaying();
}

TEST_F(BadInputTest, UnknownTypeGetsUnknownType) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  for (const char* s : {R"({"type":"dance"})", R"({"type":"Cursor","position":[1,2,3],"target":[1,2,3]})",
                        R"({"type":""})", R"({"type":"welcome"})"}) {
    ASSERT_NO_FATAL_FAILURE(ExpectError(a_.ws.get(), s, "unknown_type"));
  }
  ExpectNothingRelayedAndStillRelaying();
}

TEST_F(BadInputTest, CursorWithWrongFieldTypesGetsBadMessageAndIsNotRelayed) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  for (const char* s : {
           R"({"type":"cursor","target":[1,2,3]})",                           // missing position
           R"({"type":"cursor","position":[1,2,3]})",                         // missing target
           R"({"type":"cursor","position":"1,2,3","target":[1,2,3]})",        // not an array
           R"({"type":"cursor","position":[1,2],"target":[1,2,3]})",          // too short
           R"({"type":"cursor","position":[1,2,3,4],"target":[1,2,3]})",      // too long
           R"({"type":"cursor","position":[1,"2",3],"target":[1,2,3]})",      // string element
           R"({"type":"cursor","position":[1,2,3],"target":[1,2,null]})",     // null element
           R"({"type":"cursor","position":[1,2,3],"target":[1,2,3],"up":[0,1]})",
           R"({"type":"cursor","position":[1,2,3],"target":[1,2,3],"up":"y"})",
           R"({"type":"cursor","position":[1,2,3],"target":[1,2,3],"fov":"wide"})",
       }) {
    ASSERT_NO_FATAL_FAILURE(ExpectError(a_.ws.get(), s, "bad_message"));
  }
  ExpectNothingRelayedAndStillRelaying();
}

TEST_F(BadInputTest, SelectEditFollowWithWrongFieldTypesGetBadMessage) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  for (const char* s : {
           R"({"type":"select"})",
           R"({"type":"select","ids":"b1"})",
           R"({"type":"select","ids":[1,2]})",
           R"({"type":"select","ids":["b1",null]})",
           R"({"type":"edit","op":"move"})",                     // missing building
           R"({"type":"edit","building":"b1"})",                 // missing op
           R"({"type":"edit","building":5,"op":"move"})",
           R"({"type":"edit","building":"b1","op":["move"]})",
           R"({"type":"edit","building":"b1","op":"move","id":7})",
           R"({"type":"follow"})",
           R"({"type":"follow","session":5})",
           R"({"type":"follow","session":{"id":"x"}})",
       }) {
    ASSERT_NO_FATAL_FAILURE(ExpectError(a_.ws.get(), s, "bad_message"));
  }
  ExpectNothingRelayedAndStillRelaying();
  // No edit was stamped: the first valid edit gets seq 1.
  ASSERT_TRUE(a_->send_text(edit_msg("b1", "move", "", "ok")));
  IT_ASSERT_JSON(ack, a_->recv_json());
  EXPECT_EQ(ack.type(), "ack") << ack.text;
  EXPECT_EQ(iget(*ack, "seq"), 1) << "a rejected edit consumed a seq: " << ack.text;
}

TEST_F(BadInputTest, SelectWithMoreThan1000IdsGetsBadMessage) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  std::string ids;
  for (int i = 0; i < 1001; ++i) ids += (i ? ",\"b" : "\"b") + std::to_string(i) + "\"";
  ASSERT_NO_FATAL_FAILURE(ExpectError(a_.ws.get(), R"({"type":"select","ids":[)" + ids + "]}", "bad_message"));
  ExpectNothingRelayedAndStillRelaying();
}

TEST_F(BadInputTest, FollowOfSessionNotInRoomGetsBadMessageAndIsNotRelayed) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  // A session in another room is "not in the room" too.
  Member other = Join("other-room", "uo");
  ASSERT_TRUE(other.ws);
  ASSERT_NO_FATAL_FAILURE(ExpectError(a_.ws.get(), R"({"type":"follow","session":"no-such-session"})", "bad_message"));
  ASSERT_NO_FATAL_FAILURE(
      ExpectError(a_.ws.get(), R"({"type":"follow","session":)" + jstr(other.session) + "}", "bad_message"));
  ExpectNothingRelayedAndStillRelaying();
  // A later joiner does not see A following anyone.
  JsonResult w;
  Member c = Join("r", "uc", std::nullopt, &w);
  ASSERT_TRUE(c.ws);
  for (auto& p : (*w)["peers"].GetArray())
    EXPECT_TRUE(has(p, "following") && p["following"].IsNull()) << w.text;
}

TEST_F(BadInputTest, SecondJoinGetsAlreadyJoinedAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ASSERT_NO_FATAL_FAILURE(ExpectError(a_.ws.get(), join_msg("someone-else", "X"), "already_joined"));
  ASSERT_NO_FATAL_FAILURE(ExpectError(a_.ws.get(), join_msg("ua", "", "", 0), "already_joined"));
  ExpectNothingRelayedAndStillRelaying();
  // Still the same session and user for a late joiner.
  JsonResult w;
  Member c = Join("r", "uc", std::nullopt, &w);
  ASSERT_TRUE(c.ws);
  bool found = false;
  for (auto& p : (*w)["peers"].GetArray()) {
    if (sget(p, "session") == a_.session) {
      found = true;
      EXPECT_EQ(sget(p["user"], "id"), "ua") << w.text;
    }
  }
  EXPECT_TRUE(found) << w.text;
}

TEST_F(BadInputTest, AnyMessageBeforeJoinGetsNotJoinedIncludingPing) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  auto c = Connect("r");
  ASSERT_TRUE(c);
  for (const char* s : {R"({"type":"cursor","position":[1,2,3],"target":[1,2,3]})", R"({"type":"select","ids":["x"]})",
                        R"({"type":"edit","building":"b","op":"o"})", R"({"type":"follow","session":null})",
                        R"({"type":"ping","t":1})"}) {
    SCOPED_TRACE(s);
    ASSERT_TRUE(c->send_text(s));
    IT_ASSERT_JSON(e, c->recv_json());
    EXPECT_EQ(e.type(), "error") << e.text;
    EXPECT_EQ(sget(*e, "code"), "not_joined") << e.text;
    EXPECT_TRUE(has(*e, "message") && (*e)["message"].IsString()) << e.text;
  }
  EXPECT_TRUE(a_->expect_no_message(milliseconds(200))) << "pre-join message was relayed";
  EXPECT_TRUE(b_->expect_no_message(milliseconds(100))) << "pre-join message was relayed";
  // The connection still works: it can join now, and no edit was stamped.
  ASSERT_TRUE(c->send_text(join_msg("late")));
  IT_ASSERT_JSON(w, c->recv_json());
  EXPECT_EQ(w.type(), "welcome") << w.text;
  EXPECT_EQ(iget(*w, "seq"), 0) << w.text;
}

TEST_F(BadInputTest, JoinFailingValidationIsNeverCountedAsJoined) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  auto c = Connect("r");
  ASSERT_TRUE(c);
  for (const char* s : {R"({"type":"join"})", R"({"type":"join","user":"ua"})", R"({"type":"join","user":{}})",
                        R"({"type":"join","user":{"id":5}})", R"({"type":"join","user":{"id":"x","name":5}})",
                        R"({"type":"join","user":{"id":"x","color":[1]}})",
                        R"({"type":"join","user":{"id":"x"},"since":"3"})"}) {
    SCOPED_TRACE(s);
    ASSERT_TRUE(c->send_text(s));
    IT_ASSERT_JSON(e, c->recv_json());
    EXPECT_EQ(e.type(), "error") << e.text;
    EXPECT_EQ(sget(*e, "code"), "bad_message") << e.text;
    // Not joined: a cursor is refused with not_joined.
    ASSERT_TRUE(c->send_text(cursor_msg(1, 2, 3, 4, 5, 6)));
    IT_ASSERT_JSON(n, c->recv_json());
    EXPECT_EQ(sget(*n, "code"), "not_joined") << "after a rejected join: " << n.text;
  }
  // Nobody saw a presence join or anything else.
  EXPECT_TRUE(a_->expect_no_message(milliseconds(200)));
  EXPECT_TRUE(b_->expect_no_message(milliseconds(100)));
  // A valid join now works and is announced exactly once.
  ASSERT_TRUE(c->send_text(join_msg("uc")));
  IT_ASSERT_JSON(w, c->recv_json());
  EXPECT_EQ(w.type(), "welcome") << w.text;
  EXPECT_EQ((*w)["peers"].Size(), 2u) << w.text;
  IT_ASSERT_JSON(p, a_->recv_json());
  EXPECT_EQ(sget(*p, "event"), "join") << p.text;
  EXPECT_EQ(sget((*p)["user"], "id"), "uc") << p.text;
  EXPECT_TRUE(a_->expect_no_message(milliseconds(200)));
}

TEST_F(BadInputTest, NotJsonBeforeJoinIsAnErrorAndConnectionStaysOpen) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto c = Connect("r");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text("{oops"));
  IT_ASSERT_JSON(e, c->recv_json());
  EXPECT_EQ(e.type(), "error") << e.text;
  EXPECT_TRUE(sget(*e, "code") == "bad_json" || sget(*e, "code") == "not_joined") << e.text;
  ASSERT_TRUE(c->send_text(join_msg("u")));
  IT_ASSERT_JSON(w, c->recv_json());
  EXPECT_EQ(w.type(), "welcome") << w.text;
}

// ---- frame-level violations: the connection is closed with the spec's code.

TEST_F(BadInputTest, InvalidUtf8InTextFrameClosesWith1007AndPeersSeeLeave) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ASSERT_TRUE(a_->send_text("{\"type\":\"ping\",\"t\":\"\xff\xfe\"}"));
  ExpectClosedWith(a_.ws.get(), 1007);
  IT_ASSERT_JSON(p, b_->recv_json());
  EXPECT_EQ(p.type(), "presence") << p.text;
  EXPECT_EQ(sget(*p, "event"), "leave") << p.text;
  EXPECT_EQ(sget(*p, "session"), a_.session) << p.text;
}

TEST_F(BadInputTest, OverlongUtf8EncodingClosesWith1007) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  // "/" encoded as the overlong 2-byte sequence C0 AF.
  ASSERT_TRUE(a_->send_text("{\"type\":\"ping\",\"t\":\"\xc0\xaf\"}"));
  ExpectClosedWith(a_.ws.get(), 1007);
}

TEST_F(BadInputTest, BinaryFrameClosesWith1003) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ASSERT_TRUE(a_->send_binary(R"({"type":"ping"})"));
  ExpectClosedWith(a_.ws.get(), 1003);
  IT_ASSERT_JSON(p, b_->recv_json());
  EXPECT_EQ(sget(*p, "event"), "leave") << p.text;
}

TEST_F(BadInputTest, BinaryFrameBeforeJoinClosesWith1003) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto c = Connect("r");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_binary(std::string("\x00\x01\x02", 3)));
  ExpectClosedWith(c.get(), 1003);
}

TEST_F(BadInputTest, MessageAboveMaxMessageClosesWith1009AndOneBelowIsAccepted) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom({"--max-message", "1024", "--resume-grace", "0"}));
  // Just below the limit: a valid edit, relayed.
  std::string small = edit_msg("b", "op", jstr(std::string(900, 'x')));
  ASSERT_LT(small.size(), 1024u);
  ASSERT_TRUE(a_->send_text(small));
  IT_ASSERT_JSON(ack, a_->recv_json());
  EXPECT_EQ(ack.type(), "ack") << ack.text;
  IT_ASSERT_JSON(e, b_->recv_json());
  EXPECT_EQ(e.type(), "edit") << e.text;
  // Above: closed with 1009.
  std::string big = edit_msg("b", "op", jstr(std::string(2000, 'x')));
  ASSERT_TRUE(a_->send_text(big));
  ExpectClosedWith(a_.ws.get(), 1009);
  IT_ASSERT_JSON(p, b_->recv_json());
  EXPECT_EQ(sget(*p, "event"), "leave") << "the oversized edit must not be relayed: " << p.text;
}

TEST_F(BadInputTest, MessageAboveDefaultMaxMessageOf64KiBClosesWith1009) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  std::string big = edit_msg("b", "op", jstr(std::string(70000, 'x')));
  ASSERT_TRUE(a_->send_text(big));
  ExpectClosedWith(a_.ws.get(), 1009);
  IT_ASSERT_JSON(p, b_->recv_json());
  EXPECT_EQ(sget(*p, "event"), "leave") << p.text;
}

TEST_F(BadInputTest, FragmentedTextMessageIsReassembledAndRelayed) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  std::string msg = edit_msg("frag", "op", R"({"k":"fragmented"})", "f1");
  size_t third = msg.size() / 3;
  ASSERT_TRUE(a_->send_frame(kOpText, msg.substr(0, third), false));
  // A control frame may be interleaved between fragments.
  ASSERT_TRUE(a_->send_ping("mid"));
  ASSERT_TRUE(a_->send_frame(kOpContinuation, msg.substr(third, third), false));
  ASSERT_TRUE(a_->send_frame(kOpContinuation, msg.substr(2 * third), true));
  // The pong and the ack may come in either order.
  bool got_pong = false, got_ack = false;
  for (int k = 0; k < 2; ++k) {
    RecvResult r = a_->recv_frame();
    ASSERT_TRUE(r.ok()) << to_string(r.status);
    if (r.frame.opcode == kOpPong) {
      got_pong = true;
      EXPECT_EQ(r.frame.payload, "mid");
    } else {
      ASSERT_EQ(r.frame.opcode, kOpText) << r.frame.payload;
      rapidjson::Document d;
      d.Parse(r.frame.payload.c_str());
      EXPECT_EQ(sget(d, "type"), "ack") << r.frame.payload;
      EXPECT_EQ(sget(d, "id"), "f1") << r.frame.payload;
      got_ack = true;
    }
  }
  EXPECT_TRUE(got_pong && got_ack);
  IT_ASSERT_JSON(e, b_->recv_json());
  EXPECT_EQ(sget(*e, "building"), "frag") << e.text;
}

TEST_F(BadInputTest, FragmentedMessageAboveMaxMessageClosesWith1009) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom({"--max-message", "1024"}));
  std::string chunk(600, ' ');
  ASSERT_TRUE(a_->send_frame(kOpText, "{\"type\":\"ping\",\"t\":\"" + chunk, false));
  ASSERT_TRUE(a_->send_frame(kOpContinuation, chunk, false));
  ASSERT_TRUE(a_->send_frame(kOpContinuation, chunk + "\"}", true));
  ExpectClosedWith(a_.ws.get(), 1009);
}

TEST_F(BadInputTest, UnmaskedClientFrameClosesWith1002) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ASSERT_TRUE(a_->send_text(R"({"type":"ping","t":1})", /*mask=*/false));
  ExpectClosedWith(a_.ws.get(), 1002);
  IT_ASSERT_JSON(p, b_->recv_json());
  EXPECT_EQ(sget(*p, "event"), "leave") << p.text;
}

TEST_F(BadInputTest, PingWith126BytePayloadClosesWith1002) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ASSERT_TRUE(a_->send_ping(std::string(126, 'p')));
  ExpectClosedWith(a_.ws.get(), 1002);
}

TEST_F(BadInputTest, PingWith125BytePayloadIsAnsweredWithSamePayload) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  std::string payload(125, 'q');
  ASSERT_TRUE(a_->send_ping(payload));
  RecvResult r = a_->recv_frame();
  ASSERT_TRUE(r.ok()) << to_string(r.status);
  EXPECT_EQ(r.frame.opcode, kOpPong);
  EXPECT_EQ(r.frame.payload, payload);
}

TEST_F(BadInputTest, FragmentedPingClosesWith1002) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ASSERT_TRUE(a_->send_frame(kOpPing, "frag", /*fin=*/false));
  ExpectClosedWith(a_.ws.get(), 1002);
}

TEST_F(BadInputTest, ReservedBitsSetClosesWith1002) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  // FIN|RSV1|text, masked, 2-byte payload "{}" with a zero mask.
  ASSERT_TRUE(a_->send_raw(std::string("\xC1\x82\x00\x00\x00\x00{}", 8)));
  ExpectClosedWith(a_.ws.get(), 1002);
}

TEST_F(BadInputTest, ReservedOpcodeClosesWith1002) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ASSERT_TRUE(a_->send_frame(0x3, "x"));
  ExpectClosedWith(a_.ws.get(), 1002);
}

TEST_F(BadInputTest, ContinuationWithoutStartClosesWith1002) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ASSERT_TRUE(a_->send_frame(kOpContinuation, R"({"type":"ping"})", true));
  ExpectClosedWith(a_.ws.get(), 1002);
}

TEST_F(BadInputTest, NewDataFrameInsideFragmentedMessageClosesWith1002) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  ASSERT_TRUE(a_->send_frame(kOpText, R"({"type":)", false));
  ASSERT_TRUE(a_->send_frame(kOpText, R"({"type":"ping"})", true));
  ExpectClosedWith(a_.ws.get(), 1002);
}

TEST_F(BadInputTest, ServerSurvivesAllViolationsAndKeepsServingTheRoom) {
  ASSERT_NO_FATAL_FAILURE(SetUpRoom());
  std::vector<std::string> raw_violations = {
      std::string("\x81\x00", 2),                                      // unmasked empty text
      std::string("\x89\xFE\x00\x7E\x00\x00\x00\x00", 8) + std::string(126, 'p'),  // 126-byte ping
      std::string("\x82\x80\x00\x00\x00\x00", 6),                      // empty binary
      std::string(16, '\xFF'),                                          // garbage header
  };
  for (const auto& bytes : raw_violations) {
    auto c = Connect("r");
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send_raw(bytes));
    EXPECT_TRUE(c->wait_eof(milliseconds(3000))) << "connection not closed after a violation";
  }
  ExpectNothingRelayedAndStillRelaying();
}

}  // namespace
}  // namespace it
