// tests/integration/presence_test.cpp: join/welcome/presence/leave (docs/protocol.md 2,
// `join`, `leave`, `welcome`, `presence`).
#include <set>

#include "test_util.h"

namespace it {
namespace {

class PresenceTest : public RoomcastTest {};

TEST_F(PresenceTest, WelcomeCarriesSessionRoomUserSeqZeroAndNoPeersInEmptyRoom) {
  StartServer();
  auto c = Connect("alpha");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(join_msg("u1", "Ann", "#ff0000")));
  IT_ASSERT_JSON(w, c->recv_json());
  EXPECT_EQ(w.type(), "welcome") << w.text;
  EXPECT_TRUE((*w)["session"].IsString() && (*w)["session"].GetStringLength() > 0) << w.text;
  EXPECT_EQ(sget(*w, "room"), "alpha") << w.text;
  ASSERT_TRUE(has(*w, "user") && (*w)["user"].IsObject()) << w.text;
  EXPECT_TRUE(json_equal((*w)["user"], parse(R"({"id":"u1","name":"Ann","color":"#ff0000"})"))) << w.text;
  EXPECT_EQ(iget(*w, "seq"), 0) << w.text;
  ASSERT_TRUE(has(*w, "peers") && (*w)["peers"].IsArray()) << w.text;
  EXPECT_EQ((*w)["peers"].Size(), 0u) << w.text;
  EXPECT_TRUE(c->expect_no_message());
}

TEST_F(PresenceTest, WelcomeWithOnlyUserIdEchoesThatUser) {
  StartServer();
  auto c = Connect("alpha");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(R"({"type":"join","user":{"id":"solo"}})"));
  IT_ASSERT_JSON(w, c->recv_json());
  EXPECT_EQ(w.type(), "welcome") << w.text;
  ASSERT_TRUE(has(*w, "user")) << w.text;
  EXPECT_EQ(sget((*w)["user"], "id"), "solo") << w.text;
}

TEST_F(PresenceTest, ThreeClientsEachSeeTheOthersJoinAndWelcomeListsEarlierPeers) {
  StartServer();
  JsonResult wa, wb, wc;
  Member a = Join("room1", "ua", std::nullopt, &wa);
  ASSERT_TRUE(a.ws);
  Member b = Join("room1", "ub", std::nullopt, &wb);
  ASSERT_TRUE(b.ws);
  // A learns about B.
  IT_ASSERT_JSON(pa, a->recv_json());
  EXPECT_EQ(pa.type(), "presence") << pa.text;
  EXPECT_EQ(sget(*pa, "event"), "join") << pa.text;
  EXPECT_EQ(sget(*pa, "session"), b.session) << pa.text;
  ASSERT_TRUE(has(*pa, "user")) << pa.text;
  EXPECT_TRUE(json_equal((*pa)["user"], parse(R"({"id":"ub","name":"Name ub","color":"#00ff00"})"))) << pa.text;

  Member c = Join("room1", "uc", std::nullopt, &wc);
  ASSERT_TRUE(c.ws);
  ExpectPresenceJoin({&a, &b}, c);

  // Sessions are distinct.
  std::set<std::string> sessions = {a.session, b.session, c.session};
  EXPECT_EQ(sessions.size(), 3u);

  // Welcome peers: B sees A; C sees A and B, with their users.
  ASSERT_TRUE((*wb)["peers"].IsArray());
  ASSERT_EQ((*wb)["peers"].Size(), 1u) << wb.text;
  EXPECT_EQ(sget((*wb)["peers"][0], "session"), a.session) << wb.text;
  EXPECT_EQ(sget((*wb)["peers"][0]["user"], "id"), "ua") << wb.text;
  ASSERT_TRUE((*wc)["peers"].IsArray());
  ASSERT_EQ((*wc)["peers"].Size(), 2u) << wc.text;
  std::set<std::string> peer_sessions;
  for (auto& p : (*wc)["peers"].GetArray()) {
    peer_sessions.insert(sget(p, "session"));
    EXPECT_TRUE(has(p, "user") && p["user"].IsObject()) << wc.text;
    // A fresh peer: no camera, empty selection, not following anyone.
    EXPECT_TRUE(has(p, "camera") && p["camera"].IsNull()) << wc.text;
    EXPECT_TRUE(has(p, "selection") && p["selection"].IsArray() && p["selection"].Size() == 0) << wc.text;
    EXPECT_TRUE(has(p, "following") && p["following"].IsNull()) << wc.text;
  }
  EXPECT_EQ(peer_sessions, (std::set<std::string>{a.session, b.session}));

  // Nobody got anything else (in particular, no one got its own presence).
  EXPECT_TRUE(a->expect_no_message(std::chrono::milliseconds(200)));
  EXPECT_TRUE(b->expect_no_message(std::chrono::milliseconds(200)));
  EXPECT_TRUE(c->expect_no_message(std::chrono::milliseconds(200)));
}

TEST_F(PresenceTest, SameUserTwiceIsTwoSessions) {
  StartServer();
  Member a = Join("r", "same-user");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "same-user");
  ASSERT_TRUE(b.ws);
  EXPECT_NE(a.session, b.session);
  ExpectPresenceJoin({&a}, b);
}

TEST_F(PresenceTest, LeaveSendsPresenceLeaveToOthersThenClose1000) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  Member c = Join("r", "uc");
  ASSERT_TRUE(c.ws);
  ExpectPresenceJoin({&a}, b);
  ExpectPresenceJoin({&a, &b}, c);

  ASSERT_TRUE(b->send_text(R"({"type":"leave"})"));
  for (Member* o : {&a, &c}) {
    IT_ASSERT_JSON(p, o->ws->recv_json());
    EXPECT_EQ(p.type(), "presence") << p.text;
    EXPECT_EQ(sget(*p, "event"), "leave") << p.text;
    EXPECT_EQ(sget(*p, "session"), b.session) << p.text;
  }
  CloseResult cr = b->wait_close();
  EXPECT_TRUE(cr.got_close_frame) << cr.describe();
  EXPECT_EQ(cr.code, 1000) << cr.describe();
  EXPECT_EQ(cr.data_frames_skipped, 0) << "the leaver got data before its close frame";
  EXPECT_TRUE(b->wait_eof()) << "server did not close the TCP connection after close 1000";

  // The remaining members still talk to each other; B is gone from the next welcome.
  ASSERT_TRUE(a->send_text(R"({"type":"select","ids":["x"]})"));
  IT_ASSERT_JSON(s, c->recv_json());
  EXPECT_EQ(s.type(), "select") << s.text;
  JsonResult wd;
  Member d = Join("r", "ud", std::nullopt, &wd);
  ASSERT_TRUE(d.ws);
  ASSERT_TRUE((*wd)["peers"].IsArray());
  EXPECT_EQ((*wd)["peers"].Size(), 2u) << wd.text;
  for (auto& p : (*wd)["peers"].GetArray()) EXPECT_NE(sget(p, "session"), b.session) << wd.text;
}

TEST_F(PresenceTest, CloseHandshakeFromClientSendsPresenceLeave) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  ASSERT_TRUE(b->send_close(1000, "bye"));
  CloseResult cr = b->wait_close();
  EXPECT_TRUE(cr.got_close_frame) << "server must answer a close frame: " << cr.describe();
  EXPECT_EQ(cr.code, 1000) << cr.describe();
  IT_ASSERT_JSON(p, a->recv_json());
  EXPECT_EQ(p.type(), "presence") << p.text;
  EXPECT_EQ(sget(*p, "event"), "leave") << p.text;
  EXPECT_EQ(sget(*p, "session"), b.session) << p.text;
}

// v1 departure semantics: resume is off (1.1 holds dropped sessions; see resume_test.cpp).
TEST_F(PresenceTest, AbruptTcpCloseWithoutCloseFrameSendsPresenceLeave) {
  StartServer({"--resume-grace", "0"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  b->close_tcp();
  IT_ASSERT_JSON(p, a->recv_json());
  EXPECT_EQ(p.type(), "presence") << p.text;
  EXPECT_EQ(sget(*p, "event"), "leave") << p.text;
  EXPECT_EQ(sget(*p, "session"), b.session) << p.text;
  EXPECT_TRUE(a->expect_no_message());
}

// v1 departure semantics: resume is off (1.1 holds dropped sessions; see resume_test.cpp).
TEST_F(PresenceTest, TcpResetWithSoLingerZeroSendsPresenceLeave) {
  StartServer({"--resume-grace", "0"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  b->reset_tcp();
  IT_ASSERT_JSON(p, a->recv_json());
  EXPECT_EQ(p.type(), "presence") << p.text;
  EXPECT_EQ(sget(*p, "event"), "leave") << p.text;
  EXPECT_EQ(sget(*p, "session"), b.session) << p.text;
  // The server survives and keeps serving the room.
  Member c = Join("r", "uc");
  ASSERT_TRUE(c.ws);
  ExpectPresenceJoin({&a}, c);
}

TEST_F(PresenceTest, DisconnectBeforeJoinSendsNoPresence) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  auto raw = Connect("r");
  ASSERT_TRUE(raw);
  raw->close_tcp();
  auto raw2 = Connect("r");
  ASSERT_TRUE(raw2);
  raw2->reset_tcp();
  EXPECT_TRUE(a->expect_no_message(std::chrono::milliseconds(500)));
}

// v1 departure semantics: resume is off (1.1 holds dropped sessions; see resume_test.cpp).
TEST_F(PresenceTest, ManyClientsInOneRoomAllSeeEveryJoinAndLeave) {
  StartServer({"--resume-grace", "0"});
  constexpr int kN = 8;
  std::vector<Member> m;
  for (int i = 0; i < kN; ++i) {
    m.push_back(Join("big", "u" + std::to_string(i)));
    ASSERT_TRUE(m.back().ws);
    for (int j = 0; j < i; ++j) {
      IT_ASSERT_JSON(p, m[j]->recv_json());
      EXPECT_EQ(sget(*p, "event"), "join") << p.text;
      EXPECT_EQ(sget(*p, "session"), m[i].session) << p.text;
    }
  }
  m[3]->close_tcp();
  for (int j = 0; j < kN; ++j) {
    if (j == 3) continue;
    IT_ASSERT_JSON(p, m[j]->recv_json());
    EXPECT_EQ(sget(*p, "event"), "leave") << p.text;
    EXPECT_EQ(sget(*p, "session"), m[3].session) << p.text;
  }
}

}  // namespace
}  // namespace it
