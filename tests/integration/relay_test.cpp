// tests/integration/relay_test.cpp: cursor/select/follow relay, no echo, late-joiner
// snapshot, per-sender order, room isolation, rooms across loop threads.
#include <map>
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;

class RelayTest : public RoomcastTest {};

// Checks that `arr` is a JSON array of 3 numbers equal to x,y,z.
::testing::AssertionResult Vec3Is(const rapidjson::Value& obj, const char* key, double x, double y, double z) {
  if (!has(obj, key)) return ::testing::AssertionFailure() << "missing " << key;
  const auto& a = obj[key];
  if (!a.IsArray() || a.Size() != 3 || !a[0].IsNumber() || !a[1].IsNumber() || !a[2].IsNumber())
    return ::testing::AssertionFailure() << key << " is not [n,n,n]: " << to_json(a);
  if (a[0].GetDouble() != x || a[1].GetDouble() != y || a[2].GetDouble() != z)
    return ::testing::AssertionFailure() << key << " = " << to_json(a) << ", want [" << x << "," << y << "," << z << "]";
  return ::testing::AssertionSuccess();
}

TEST_F(RelayTest, CursorIsRelayedToEveryOtherSessionWithSenderAndNumbersButNotEchoed) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  Member c = Join("r", "uc");
  ASSERT_TRUE(c.ws);
  ExpectPresenceJoin({&a}, b);
  ExpectPresenceJoin({&a, &b}, c);

  ASSERT_TRUE(a->send_text(
      R"({"type":"cursor","position":[1.5,-2,3e2],"target":[0,0.25,-7],"up":[0,1,0],"fov":47.5})"));
  for (Member* o : {&b, &c}) {
    IT_ASSERT_JSON(m, o->ws->recv_json());
    EXPECT_EQ(m.type(), "cursor") << m.text;
    EXPECT_EQ(sget(*m, "session"), a.session) << m.text;
    EXPECT_TRUE(Vec3Is(*m, "position", 1.5, -2, 300)) << m.text;
    EXPECT_TRUE(Vec3Is(*m, "target", 0, 0.25, -7)) << m.text;
    EXPECT_TRUE(Vec3Is(*m, "up", 0, 1, 0)) << m.text;
    EXPECT_EQ(nget(*m, "fov"), 47.5) << m.text;
  }
  EXPECT_TRUE(a->expect_no_message()) << "cursor echoed to its sender";

  // Optional fields omitted: still relayed with position and target.
  ASSERT_TRUE(b->send_text(R"({"type":"cursor","position":[1,2,3],"target":[4,5,6]})"));
  for (Member* o : {&a, &c}) {
    IT_ASSERT_JSON(m, o->ws->recv_json());
    EXPECT_EQ(m.type(), "cursor") << m.text;
    EXPECT_EQ(sget(*m, "session"), b.session) << m.text;
    EXPECT_TRUE(Vec3Is(*m, "position", 1, 2, 3)) << m.text;
    EXPECT_TRUE(Vec3Is(*m, "target", 4, 5, 6)) << m.text;
  }
  EXPECT_TRUE(b->expect_no_message()) << "cursor echoed to its sender";
}

TEST_F(RelayTest, SelectIsRelayedWithSessionAndIdsButNotEchoed) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  ASSERT_TRUE(b->send_text(R"({"type":"select","ids":["bldg-1","bldg-2"]})"));
  IT_ASSERT_JSON(m, a->recv_json());
  EXPECT_EQ(m.type(), "select") << m.text;
  EXPECT_EQ(sget(*m, "session"), b.session) << m.text;
  ASSERT_TRUE(has(*m, "ids")) << m.text;
  EXPECT_TRUE(json_equal((*m)["ids"], parse(R"(["bldg-1","bldg-2"])"))) << m.text;
  EXPECT_TRUE(b->expect_no_message()) << "select echoed to its sender";

  // An empty selection clears it and is relayed too.
  ASSERT_TRUE(b->send_text(R"({"type":"select","ids":[]})"));
  IT_ASSERT_JSON(m2, a->recv_json());
  EXPECT_EQ(m2.type(), "select") << m2.text;
  ASSERT_TRUE(has(*m2, "ids") && (*m2)["ids"].IsArray()) << m2.text;
  EXPECT_EQ((*m2)["ids"].Size(), 0u) << m2.text;
}

TEST_F(RelayTest, SelectWithExactly1000IdsIsAccepted) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  std::string ids;
  for (int i = 0; i < 1000; ++i) ids += (i ? ",\"b" : "\"b") + std::to_string(i) + "\"";
  ASSERT_TRUE(b->send_text(R"({"type":"select","ids":[)" + ids + "]}"));
  IT_ASSERT_JSON(m, a->recv_json());
  EXPECT_EQ(m.type(), "select") << m.text.substr(0, 200);
  ASSERT_TRUE(has(*m, "ids") && (*m)["ids"].IsArray());
  EXPECT_EQ((*m)["ids"].Size(), 1000u);
}

TEST_F(RelayTest, SelectLargerThan64KiBIsRelayedAndInLateJoinerWelcome) {
  // 1000 ids of 100 characters: the relayed frame and the welcome need a 64-bit length.
  StartServer({"--max-message", "262144"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  std::string ids;
  for (int i = 0; i < 1000; ++i) {
    std::string id = "building-" + std::to_string(i) + "-";
    id.resize(100, 'x');
    ids += (i ? "," : "") + jstr(id);
  }
  std::string msg = R"({"type":"select","ids":[)" + ids + "]}";
  ASSERT_GT(msg.size(), 65536u);
  ASSERT_TRUE(b->send_text(msg));
  IT_ASSERT_JSON(m, a->recv_json());
  EXPECT_EQ(m.type(), "select");
  ASSERT_TRUE(has(*m, "ids") && (*m)["ids"].IsArray());
  ASSERT_EQ((*m)["ids"].Size(), 1000u);
  EXPECT_EQ(std::string((*m)["ids"][999].GetString()).substr(0, 13), "building-999-");
  EXPECT_GT(m.text.size(), 65535u);

  JsonResult w;
  Member c = Join("r", "uc", std::nullopt, &w);
  ASSERT_TRUE(c.ws);
  bool found = false;
  for (auto& p : (*w)["peers"].GetArray()) {
    if (sget(p, "session") != b.session) continue;
    found = true;
    ASSERT_TRUE(has(p, "selection") && p["selection"].IsArray()) << w.text.substr(0, 300);
    EXPECT_EQ(p["selection"].Size(), 1000u);
  }
  EXPECT_TRUE(found);
}

TEST_F(RelayTest, FollowIsRelayedToLeaderAndOthersAndNullStopsFollowing) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  Member c = Join("r", "uc");
  ASSERT_TRUE(c.ws);
  ExpectPresenceJoin({&a}, b);
  ExpectPresenceJoin({&a, &b}, c);

  ASSERT_TRUE(b->send_text(R"({"type":"follow","session":)" + jstr(a.session) + "}"));
  for (Member* o : {&a, &c}) {
    IT_ASSERT_JSON(m, o->ws->recv_json());
    EXPECT_EQ(m.type(), "follow") << m.text;
    EXPECT_EQ(sget(*m, "session"), b.session) << m.text;
    EXPECT_EQ(sget(*m, "target"), a.session) << m.text;
  }
  EXPECT_TRUE(b->expect_no_message()) << "follow echoed to its sender";

  ASSERT_TRUE(b->send_text(R"({"type":"follow","session":null})"));
  for (Member* o : {&a, &c}) {
    IT_ASSERT_JSON(m, o->ws->recv_json());
    EXPECT_EQ(m.type(), "follow") << m.text;
    EXPECT_EQ(sget(*m, "session"), b.session) << m.text;
    ASSERT_TRUE(has(*m, "target")) << "follow relay must carry target (null): " << m.text;
    EXPECT_TRUE((*m)["target"].IsNull()) << m.text;
  }
  EXPECT_TRUE(b->expect_no_message());
}

TEST_F(RelayTest, LateJoinerWelcomeHasCameraSelectionAndFollowingOfEarlierPeers) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  Member idle = Join("r", "uidle");
  ASSERT_TRUE(idle.ws);
  ExpectPresenceJoin({&a}, b);
  ExpectPresenceJoin({&a, &b}, idle);

  // A: two cameras (only the newest counts) and a selection. B: follows A.
  ASSERT_TRUE(a->send_text(cursor_msg(1, 2, 3, 4, 5, 6, 30)));
  ASSERT_TRUE(a->send_text(R"({"type":"cursor","position":[10,20,30],"target":[-1,-2,-3.5],"up":[0,0,1],"fov":60})"));
  ASSERT_TRUE(a->send_text(R"({"type":"select","ids":["s1","s2","s3"]})"));
  ASSERT_TRUE(b->send_text(R"({"type":"follow","session":)" + jstr(a.session) + "}"));
  // Once the idle member has seen A's select (sent after A's cameras) and B's follow, the
  // room has processed all four. (The first camera may be superseded by the second.)
  bool saw_select = false, saw_follow = false;
  for (int k = 0; k < 4 && !(saw_select && saw_follow); ++k) {
    IT_ASSERT_JSON(m, idle->recv_json());
    if (m.type() == "select") saw_select = true;
    else if (m.type() == "follow") saw_follow = true;
    else EXPECT_EQ(m.type(), "cursor") << m.text;
  }
  ASSERT_TRUE(saw_select && saw_follow);

  JsonResult w;
  Member late = Join("r", "ulate", std::nullopt, &w);
  ASSERT_TRUE(late.ws);
  ASSERT_TRUE(has(*w, "peers") && (*w)["peers"].IsArray()) << w.text;
  ASSERT_EQ((*w)["peers"].Size(), 3u) << w.text;
  std::map<std::string, const rapidjson::Value*> by_session;
  for (auto& p : (*w)["peers"].GetArray()) by_session[sget(p, "session")] = &p;
  ASSERT_TRUE(by_session.count(a.session) && by_session.count(b.session) && by_session.count(idle.session)) << w.text;

  const rapidjson::Value& pa = *by_session[a.session];
  EXPECT_EQ(sget(pa["user"], "id"), "ua") << w.text;
  ASSERT_TRUE(has(pa, "camera") && pa["camera"].IsObject()) << "A's camera missing: " << w.text;
  EXPECT_TRUE(Vec3Is(pa["camera"], "position", 10, 20, 30)) << w.text;
  EXPECT_TRUE(Vec3Is(pa["camera"], "target", -1, -2, -3.5)) << w.text;
  EXPECT_TRUE(Vec3Is(pa["camera"], "up", 0, 0, 1)) << w.text;
  EXPECT_EQ(nget(pa["camera"], "fov"), 60) << w.text;
  ASSERT_TRUE(has(pa, "selection")) << w.text;
  EXPECT_TRUE(json_equal(pa["selection"], parse(R"(["s1","s2","s3"])"))) << w.text;
  ASSERT_TRUE(has(pa, "following")) << w.text;
  EXPECT_TRUE(pa["following"].IsNull()) << w.text;

  const rapidjson::Value& pb = *by_session[b.session];
  ASSERT_TRUE(has(pb, "camera")) << w.text;
  EXPECT_TRUE(pb["camera"].IsNull()) << w.text;
  ASSERT_TRUE(has(pb, "selection") && pb["selection"].IsArray()) << w.text;
  EXPECT_EQ(pb["selection"].Size(), 0u) << w.text;
  EXPECT_EQ(sget(pb, "following"), a.session) << w.text;

  const rapidjson::Value& pi = *by_session[idle.session];
  EXPECT_TRUE(has(pi, "camera") && pi["camera"].IsNull()) << w.text;
  EXPECT_TRUE(has(pi, "following") && pi["following"].IsNull()) << w.text;

  // After B stops following, the next late joiner sees following null.
  ASSERT_TRUE(b->send_text(R"({"type":"follow","session":null})"));
  IT_ASSERT_JSON(m, idle->recv_until_type("follow"));
  JsonResult w2;
  Member late2 = Join("r", "ulate2", std::nullopt, &w2);
  ASSERT_TRUE(late2.ws);
  bool found = false;
  for (auto& p : (*w2)["peers"].GetArray()) {
    if (sget(p, "session") == b.session) {
      found = true;
      EXPECT_TRUE(has(p, "following") && p["following"].IsNull()) << w2.text;
    }
  }
  EXPECT_TRUE(found) << w2.text;
}

TEST_F(RelayTest, TwoHundredCursorsFromEachOfTwoSendersAtReaderPaceArriveAllAndInPerSenderOrder) {
  StartServer({"--rate-limit", "100000", "--rate-burst", "100000"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  Member obs = Join("r", "uobs");
  ASSERT_TRUE(obs.ws);
  ExpectPresenceJoin({&a}, b);
  ExpectPresenceJoin({&a, &b}, obs);

  constexpr int kN = 200;
  // Each round, both senders send one camera (fov carries the per-sender counter) and the
  // observer reads both before the next round: no sender ever has two cameras waiting, so
  // there is no backpressure and none may be dropped (cameras are only lossy under
  // backpressure). Order across the two senders within a round is free.
  std::map<std::string, std::vector<int>> got;
  for (int i = 1; i <= kN; ++i) {
    ASSERT_TRUE(a->send_text(cursor_msg(i, 0, 0, 0, 0, 0, i)));
    ASSERT_TRUE(b->send_text(cursor_msg(0, i, 0, 0, 0, 0, 1000 + i)));
    for (int k = 0; k < 2; ++k) {
      IT_ASSERT_JSON(m, obs->recv_json(milliseconds(5000)));
      ASSERT_EQ(m.type(), "cursor") << m.text;
      got[sget(*m, "session")].push_back(static_cast<int>(nget(*m, "fov")));
    }
  }
  ASSERT_EQ(got[a.session].size(), size_t(kN));
  ASSERT_EQ(got[b.session].size(), size_t(kN));
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(got[a.session][i], i + 1) << "A's cursors out of order or missing at index " << i;
    ASSERT_EQ(got[b.session][i], 1001 + i) << "B's cursors out of order or missing at index " << i;
  }
  EXPECT_TRUE(obs->expect_no_message());
  // Each sender got the other's cameras in order, never its own (it did not read during
  // the rounds, so here older ones may have been superseded; the newest must be there).
  for (auto [me, other, base] : {std::tuple{&a, &b, 1000}, std::tuple{&b, &a, 0}}) {
    double last = 0;
    for (int i = 1; i <= kN && last < base + kN; ++i) {
      IT_ASSERT_JSON(m, (*me)->recv_json(milliseconds(5000)));
      ASSERT_EQ(m.type(), "cursor") << m.text;
      ASSERT_EQ(sget(*m, "session"), other->session) << "echo to sender: " << m.text;
      EXPECT_GT(nget(*m, "fov"), last) << m.text;
      last = nget(*m, "fov");
    }
    EXPECT_EQ(last, base + kN);
    EXPECT_TRUE((*me)->expect_no_message(milliseconds(100)));
  }
}

TEST_F(RelayTest, BurstOfCursorsMayBeCoalescedButKeepsOrderAndDeliversTheNewest) {
  StartServer({"--rate-limit", "100000", "--rate-burst", "100000"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  // 300 cameras back to back: the server may drop superseded ones (latest wins).
  for (int i = 1; i <= 300; ++i) ASSERT_TRUE(a->send_text(cursor_msg(i, 0, 0, 0, 0, 0, i)));
  ASSERT_TRUE(a->send_text(edit_msg("marker", "after-cursors")));
  double last = 0;
  int got = 0;
  bool saw_marker = false;
  for (int k = 0; k < 302 && !saw_marker; ++k) {
    IT_ASSERT_JSON(m, b->recv_json());
    if (m.type() == "edit") {
      saw_marker = true;
      break;
    }
    ASSERT_EQ(m.type(), "cursor") << m.text;
    EXPECT_GT(nget(*m, "fov"), last) << "cameras reordered or duplicated";
    last = nget(*m, "fov");
    ++got;
  }
  EXPECT_TRUE(saw_marker);
  EXPECT_GE(got, 1);
  EXPECT_EQ(last, 300) << "the newest camera must be delivered before later traffic";
}

// v1 departure semantics: resume is off (1.1 holds dropped sessions; see resume_test.cpp).
TEST_F(RelayTest, RoomsAreIsolatedForPresenceRelayAndSeq) {
  StartServer({"--resume-grace", "0"});
  Member a1 = Join("room-a", "a1");
  ASSERT_TRUE(a1.ws);
  Member b1 = Join("room-b", "b1");
  ASSERT_TRUE(b1.ws);
  Member a2 = Join("room-a", "a2");
  ASSERT_TRUE(a2.ws);
  JsonResult wb2;
  Member b2 = Join("room-b", "b2", std::nullopt, &wb2);
  ASSERT_TRUE(b2.ws);
  // b2's welcome lists only b1.
  ASSERT_EQ((*wb2)["peers"].Size(), 1u) << wb2.text;
  EXPECT_EQ(sget((*wb2)["peers"][0], "session"), b1.session);
  ExpectPresenceJoin({&a1}, a2);
  ExpectPresenceJoin({&b1}, b2);

  ASSERT_TRUE(a1->send_text(cursor_msg(1, 1, 1, 0, 0, 0, 5)));
  ASSERT_TRUE(a1->send_text(R"({"type":"select","ids":["a-only"]})"));
  ASSERT_TRUE(a1->send_text(edit_msg("ba", "move", R"({"x":1})", "ea1")));
  IT_ASSERT_JSON(ack, a1->recv_json());
  EXPECT_EQ(ack.type(), "ack") << ack.text;
  EXPECT_EQ(iget(*ack, "seq"), 1) << ack.text;
  for (const char* t : {"cursor", "select", "edit"}) {
    IT_ASSERT_JSON(m, a2->recv_json());
    EXPECT_EQ(m.type(), t) << m.text;
  }
  // Room B's seq is independent: its first edit is seq 1 too.
  ASSERT_TRUE(b1->send_text(edit_msg("bb", "move", "", "eb1")));
  IT_ASSERT_JSON(ackb, b1->recv_json());
  EXPECT_EQ(ackb.type(), "ack") << ackb.text;
  EXPECT_EQ(iget(*ackb, "seq"), 1) << ackb.text;
  IT_ASSERT_JSON(eb, b2->recv_json());
  EXPECT_EQ(eb.type(), "edit") << eb.text;
  EXPECT_EQ(sget(*eb, "building"), "bb") << eb.text;
  EXPECT_EQ(iget(*eb, "seq"), 1) << eb.text;

  EXPECT_TRUE(b1->expect_no_message()) << "room B saw room A traffic";
  EXPECT_TRUE(b2->expect_no_message()) << "room B saw room A traffic";
  EXPECT_TRUE(a1->expect_no_message(milliseconds(100))) << "room A saw room B traffic";
  EXPECT_TRUE(a2->expect_no_message(milliseconds(100))) << "room A saw room B traffic";

  // Leaving room A is not announced in room B.
  a2->close_tcp();
  IT_ASSERT_JSON(lv, a1->recv_json());
  EXPECT_EQ(sget(*lv, "event"), "leave") << lv.text;
  EXPECT_TRUE(b1->expect_no_message(milliseconds(200)));
}

TEST_F(RelayTest, RoomNamesAreCaseSensitiveAndAllowedPunctuationWorks) {
  StartServer();
  Member a = Join("Proj_1.v-2", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("proj_1.v-2", "ub");
  ASSERT_TRUE(b.ws);
  JsonResult w;
  Member c = Join("Proj_1.v-2", "uc", std::nullopt, &w);
  ASSERT_TRUE(c.ws);
  EXPECT_EQ(sget(*w, "room"), "Proj_1.v-2") << w.text;
  EXPECT_EQ((*w)["peers"].Size(), 1u) << w.text;
  ExpectPresenceJoin({&a}, c);
  EXPECT_TRUE(b->expect_no_message());
}

TEST_F(RelayTest, ManyRoomsOnTwoLoopThreadsEachRelayAndSequenceIndependently) {
  StartServer({"--threads", "2", "--rate-limit", "100000", "--rate-burst", "100000"});
  constexpr int kRooms = 16;
  constexpr int kEdits = 10;
  std::vector<Member> first, second;
  for (int r = 0; r < kRooms; ++r) {
    std::string room = "mt-" + std::to_string(r);
    first.push_back(Join(room, "f" + std::to_string(r)));
    ASSERT_TRUE(first.back().ws);
    second.push_back(Join(room, "s" + std::to_string(r)));
    ASSERT_TRUE(second.back().ws);
    ExpectPresenceJoin({&first.back()}, second.back());
  }
  // All rooms send at the same time, interleaved.
  for (int i = 1; i <= kEdits; ++i) {
    for (int r = 0; r < kRooms; ++r) {
      ASSERT_TRUE(first[r]->send_text(edit_msg("room" + std::to_string(r), "op", std::to_string(i))));
      ASSERT_TRUE(second[r]->send_text(cursor_msg(r, i, 0, 0, 0, 0, i)));
    }
  }
  for (int r = 0; r < kRooms; ++r) {
    // second[r] sees its room's edits with seq 1..kEdits and nothing from other rooms.
    for (int i = 1; i <= kEdits; ++i) {
      IT_ASSERT_JSON(m, second[r]->recv_json(milliseconds(5000)));
      ASSERT_EQ(m.type(), "edit") << m.text;
      EXPECT_EQ(sget(*m, "building"), "room" + std::to_string(r)) << m.text;
      EXPECT_EQ(iget(*m, "seq"), i) << m.text;
      EXPECT_EQ(sget(*m, "session"), first[r].session) << m.text;
    }
    EXPECT_TRUE(second[r]->expect_no_message(milliseconds(50)));
    // first[r] sees acks 1..kEdits and the peer's cameras in order (sent in a burst, so
    // older ones may be superseded, but the newest one must arrive).
    int acks = 0;
    double last_y = 0;
    for (int k = 0; k < 2 * kEdits && (acks < kEdits || last_y < kEdits); ++k) {
      IT_ASSERT_JSON(m, first[r]->recv_json(milliseconds(5000)));
      if (m.type() == "ack") {
        EXPECT_EQ(iget(*m, "seq"), ++acks) << m.text;
      } else {
        ASSERT_EQ(m.type(), "cursor") << m.text;
        EXPECT_EQ(sget(*m, "session"), second[r].session) << m.text;
        ASSERT_TRUE(has(*m, "position") && (*m)["position"].IsArray() && (*m)["position"].Size() == 3) << m.text;
        EXPECT_EQ((*m)["position"][0].GetDouble(), r) << "cursor from another room: " << m.text;
        double y = (*m)["position"][1].GetDouble();
        EXPECT_GT(y, last_y) << "cursor order broken: " << m.text;
        last_y = y;
      }
    }
    EXPECT_EQ(acks, kEdits);
    EXPECT_EQ(last_y, kEdits) << "the newest camera was not delivered";
    EXPECT_TRUE(first[r]->expect_no_message(milliseconds(50)));
  }
}

}  // namespace
}  // namespace it
