// Unit tests for core/room/room_service.h: the protocol's semantics with fake members and no
// sockets. A member here is a SendQueue and a Member; what it "receives" is read back
// from its queue as the very bytes a socket would have been given.
#include "core/room/room_service.h"

#include <gtest/gtest.h>
#include <sys/uio.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "tests/core/room/fake_client.h"
#include "tests/proto/jwt_sign.h"

namespace roomcast {
namespace {

using testing_support::FakeClient;

std::string str(const rapidjson::Value& v, const char* key) {
  return v.HasMember(key) && v[key].IsString() ? v[key].GetString() : "<missing>";
}

class RoomServiceTest : public ::testing::Test {
 protected:
  RoomServiceTest() { config_.history = 5; }

  FakeClient& client(const std::string& room = "r") {
    clients_.push_back(std::make_unique<FakeClient>(&dirty_, uint32_t(clients_.size()), room, &service_));
    return *clients_.back();
  }
  // Sends `json` from `c`, as the worker does: decode once, then handle or refuse.
  Verdict send(FakeClient& c, const std::string& json) {
    text_ = json;
    DecodeError error;
    if (!decoder_.decode(text_, msg_, error)) {
      return service_.refuse(c.member, error);
    }
    return service_.handle(c.member, msg_, now_ns_);
  }
  // Joins and drains the welcome; returns the session id.
  std::string join(FakeClient& c, const std::string& user, const std::string& extra = "") {
    send(c, R"({"type":"join","user":{"id":")" + user + R"("})" + extra + "}");
    rapidjson::Document w = c.next();
    EXPECT_EQ(str(w, "type"), "welcome");
    return str(w, "session");
  }

  Config config_;
  Metrics metrics_;
  RoomService service_{config_, 3, metrics_};
  MessageDecoder decoder_;
  ClientMessage msg_;
  std::string text_;
  DirtyList dirty_;
  std::vector<std::unique_ptr<FakeClient>> clients_;
  int64_t now_ns_ = 1'000'000'000;
};

TEST_F(RoomServiceTest, JoinAnswersWelcomeWithPeersAndTellsTheOthers) {
  FakeClient& a = client();
  FakeClient& b = client();
  std::string sa = join(a, "ua");
  send(b, R"({"type":"join","user":{"id":"ub","name":"Bea"}})");
  rapidjson::Document w = b.next();
  EXPECT_EQ(str(w, "type"), "welcome");
  EXPECT_EQ(str(w, "room"), "r");
  EXPECT_EQ(w["seq"].GetUint64(), 0u);
  ASSERT_EQ(w["peers"].Size(), 1u);
  EXPECT_EQ(str(w["peers"][0], "session"), sa);
  rapidjson::Document p = a.next();
  EXPECT_EQ(str(p, "type"), "presence");
  EXPECT_EQ(str(p, "event"), "join");
  EXPECT_EQ(str(p, "session"), str(w, "session"));
  EXPECT_EQ(str(p["user"], "name"), "Bea");
  EXPECT_TRUE(b.nothing_queued()) << "the joiner gets welcome, not its own presence";
  // Random ids (docs/protocol.md): 12 base64url characters naming no thread or instance.
  for (const std::string& id : {sa, str(w, "session")}) {
    EXPECT_EQ(id.size(), 12u) << id;
    EXPECT_EQ(id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos)
        << id;
  }
  EXPECT_NE(sa, str(w, "session"));
}

TEST_F(RoomServiceTest, SessionIdsAreRandomSoAnotherServiceNeverRepeatsThem) {
  // A service made afresh (as after a restart) with the same thread index gives other ids.
  Config config;
  RoomService other(config, 3, metrics_);
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.insert(join(client(), "u" + std::to_string(i)));
  FakeClient again(&dirty_, 999, "r", &other);
  ClientMessage msg;
  DecodeError error;
  MessageDecoder decoder;
  ASSERT_TRUE(decoder.decode(R"({"type":"join","user":{"id":"u0"}})", msg, error));
  other.handle(again.member, msg, now_ns_);
  rapidjson::Document w = again.next();
  EXPECT_EQ(ids.count(str(w, "session")), 0u) << "the first joiner after a restart got an id of before";
  EXPECT_EQ(ids.size(), 50u);
}

TEST_F(RoomServiceTest, RelaysReachEveryOtherMemberAsOneSharedFrameAndNeverTheSender) {
  FakeClient& a = client();
  FakeClient& b = client();
  FakeClient& c = client();
  std::string sa = join(a, "ua");
  join(b, "ub");
  join(c, "uc");
  a.take();
  b.take();
  send(a, R"({"type":"select","ids":["b1","b2"]})");
  EXPECT_TRUE(a.nothing_queued());
  ASSERT_EQ(b.member.out.frames(), 1u);
  ASSERT_EQ(c.member.out.frames(), 1u);
  rapidjson::Document sb = b.next(), sc = c.next();
  EXPECT_EQ(str(sb, "session"), sa);
  EXPECT_EQ(sb["ids"].Size(), 2u);
  EXPECT_EQ(str(sc, "type"), "select");
  EXPECT_EQ(metrics_.messages_out[size_t(OutType::Select)].get(), 2u);
}

TEST_F(RoomServiceTest, RoomsAreSeparate) {
  FakeClient& a = client("one");
  FakeClient& b = client("two");
  join(a, "ua");
  join(b, "ub");
  send(a, R"({"type":"cursor","position":[1,2,3],"target":[0,0,0]})");
  EXPECT_TRUE(b.nothing_queued());
  EXPECT_EQ(service_.room_count(), 2u);
}

TEST_F(RoomServiceTest, ANewerCameraSupersedesTheOlderOneStillQueuedLatestWins) {
  FakeClient& a = client();
  FakeClient& b = client();
  join(a, "ua");
  join(b, "ub");
  a.take();
  for (int i = 1; i <= 5; ++i)
    send(a, R"({"type":"cursor","position":[)" + std::to_string(i) + R"(,0,0],"target":[0,0,0]})");
  // b read nothing meanwhile: only the newest camera is left to send.
  std::vector<std::string> got = b.take();
  ASSERT_EQ(got.size(), 1u);
  rapidjson::Document d;
  d.Parse(got[0].c_str());
  EXPECT_EQ(d["position"][0].GetDouble(), 5);
  // A reader that keeps up gets every camera.
  send(a, R"({"type":"cursor","position":[6,0,0],"target":[0,0,0]})");
  EXPECT_EQ(b.take().size(), 1u);
  send(a, R"({"type":"cursor","position":[7,0,0],"target":[0,0,0]})");
  EXPECT_EQ(b.take().size(), 1u);
}

TEST_F(RoomServiceTest, EditsGetRoomSeqsAnAckAndStayInHistory) {
  FakeClient& a = client();
  FakeClient& b = client();
  join(a, "ua");
  join(b, "ub");
  a.take();
  send(a, R"({"type":"edit","building":"b1","op":"set","data":{"h":3},"id":"m1"})");
  send(b, R"({"type":"edit","building":"b2","op":"del"})");
  rapidjson::Document ack1 = a.next();
  EXPECT_EQ(str(ack1, "type"), "ack");
  EXPECT_EQ(str(ack1, "id"), "m1");
  EXPECT_EQ(ack1["seq"].GetUint64(), 1u);
  rapidjson::Document e2 = a.next();
  EXPECT_EQ(str(e2, "type"), "edit");
  EXPECT_EQ(e2["seq"].GetUint64(), 2u);
  rapidjson::Document e1 = b.next();
  EXPECT_EQ(e1["seq"].GetUint64(), 1u);
  EXPECT_EQ(e1["data"]["h"].GetInt(), 3);
  rapidjson::Document ack2 = b.next();
  EXPECT_FALSE(ack2.HasMember("id"));
  EXPECT_EQ(service_.find_room("r")->seq(), 2u);
}

TEST_F(RoomServiceTest, JoinWithSinceReplaysMissedEditsBeforeLiveTraffic) {
  FakeClient& a = client();
  join(a, "ua");
  for (int i = 0; i < 4; ++i) send(a, R"({"type":"edit","building":"b","op":"o"})");
  FakeClient& late = client();
  send(late, R"({"type":"join","user":{"id":"late"},"since":2})");
  EXPECT_EQ(str(late.next(), "type"), "welcome");
  EXPECT_EQ(late.next()["seq"].GetUint64(), 3u);
  EXPECT_EQ(late.next()["seq"].GetUint64(), 4u);
  EXPECT_TRUE(late.nothing_queued());
  EXPECT_EQ(metrics_.history_replays.get(), 1u);
}

// docs/protocol.md "A since replay": a replay is queued about kReplayAhead bytes at a time,
// ahead of live traffic that came meanwhile, and only the live part counts as pending.
TEST_F(RoomServiceTest, AReplayIsQueuedAFewHundredKilobytesAtATimeAheadOfLiveTraffic) {
  config_.history = 300;  // room for the live edit too: no edit of the replay drops out
  FakeClient& a = client();
  join(a, "ua");
  const std::string edit = R"({"type":"edit","building":"b","op":"o","data":")" + std::string(10000, 'x') + R"("})";
  for (int i = 0; i < 200; ++i) send(a, edit);  // 2 MB of history
  a.drain();
  FakeClient& late = client();
  send(late, R"({"type":"join","user":{"id":"late"},"since":0})");
  ASSERT_TRUE(late.member.replaying);
  send(a, edit);  // live, before the late member's socket took anything
  EXPECT_LT(service_.replay_bytes(late.member), RoomService::kReplayAhead + 11000) << "the replay is paced";
  const size_t live = late.member.out.pending_bytes() - service_.replay_bytes(late.member);
  EXPECT_GT(live, 10000u) << "the live edit counts";
  EXPECT_LT(live, 10200u) << "nothing of the replay counts";
  const size_t may_take = service_.replay_pump(late.member);
  EXPECT_LT(service_.replay_bytes(late.member), RoomService::kReplayAhead + 11000) << "the replay is paced";
  EXPECT_EQ(late.member.out.pending_bytes() - service_.replay_bytes(late.member), live);
  EXPECT_LT(may_take, late.member.out.frames()) << "the live edit waits behind the replay";
  EXPECT_EQ(str(late.next(), "type"), "welcome");
  for (uint64_t seq = 1; seq <= 201; ++seq) {
    rapidjson::Document e = late.next();
    ASSERT_EQ(e["seq"].GetUint64(), seq);
  }
  EXPECT_TRUE(late.nothing_queued());
  EXPECT_FALSE(late.member.replaying);
}

// docs/protocol.md "A since replay": the replay is queued from the history as the socket
// drains; if the history drops its next edit first, it ends with resync at the welcome's
// seq, and the live edits queued behind continue from there.
TEST_F(RoomServiceTest, AReplayOvertakenByTheHistoryEndsWithResyncAtTheWelcomesSeq) {
  FakeClient& a = client();
  join(a, "ua");
  // 4 edits of 300 KB: the join queues the first two (kReplayAhead), not the others.
  const std::string big = R"({"type":"edit","building":"b","op":"o","data":")" + std::string(300000, 'x') + R"("})";
  for (int i = 0; i < 4; ++i) send(a, big);
  FakeClient& late = client();
  send(late, R"({"type":"join","user":{"id":"late"},"since":0})");
  EXPECT_TRUE(late.member.replaying);
  // Before the late member's socket takes anything, 5 edits push 1..4 out of history.
  for (int i = 0; i < 5; ++i) send(a, R"({"type":"edit","building":"b","op":"o"})");
  EXPECT_EQ(str(late.next(), "type"), "welcome");
  EXPECT_EQ(late.next()["seq"].GetUint64(), 1u);
  EXPECT_EQ(late.next()["seq"].GetUint64(), 2u);
  rapidjson::Document r = late.next();
  EXPECT_EQ(str(r, "type"), "resync");
  EXPECT_EQ(r["seq"].GetUint64(), 4u);
  for (uint64_t seq = 5; seq <= 9; ++seq) EXPECT_EQ(late.next()["seq"].GetUint64(), seq);
  EXPECT_TRUE(late.nothing_queued());
  EXPECT_FALSE(late.member.replaying) << "the replay is over once its last byte left";
}

TEST_F(RoomServiceTest, JoinWithSinceOlderThanTheHistoryGetsResync) {
  FakeClient& a = client();
  join(a, "ua");
  for (int i = 0; i < 8; ++i) send(a, R"({"type":"edit","building":"b","op":"o"})");  // history keeps 5
  FakeClient& late = client();
  send(late, R"({"type":"join","user":{"id":"late"},"since":1})");
  EXPECT_EQ(str(late.next(), "type"), "welcome");
  rapidjson::Document r = late.next();
  EXPECT_EQ(str(r, "type"), "resync");
  EXPECT_EQ(r["seq"].GetUint64(), 8u);
  EXPECT_EQ(metrics_.resyncs.get(), 1u);
}

TEST_F(RoomServiceTest, OverTheRateLimitCamerasAreDroppedSilentlyAndOthersAreTold) {
  FakeClient& a = client();
  FakeClient& b = client();
  join(a, "ua");
  join(b, "ub");
  a.take();
  a.member.rate = RateLimiter(1, 1, now_ns_);  // one token, refilled at 1/s
  send(a, R"({"type":"select","ids":[]})");      // spends it
  send(a, R"({"type":"cursor","position":[1,2,3],"target":[0,0,0]})");
  EXPECT_TRUE(a.nothing_queued()) << "a camera over the limit is dropped without a word";
  send(a, R"({"type":"edit","building":"b","op":"o"})");
  rapidjson::Document e = a.next();
  EXPECT_EQ(str(e, "code"), "rate_limited");
  EXPECT_EQ(b.take().size(), 1u) << "only the select was relayed";
  // A malformed message costs no token: it gets its decode error.
  send(a, "{nope");
  EXPECT_EQ(str(a.next(), "code"), "bad_json");
  now_ns_ += 1'000'000'000;
  send(a, R"({"type":"cursor","position":[1,2,3],"target":[0,0,0]})");
  EXPECT_EQ(b.take().size(), 1u) << "a second later the bucket has a token again";
}

TEST_F(RoomServiceTest, MessagesBeforeJoinAndASecondJoinGetErrorsAndChangeNothing) {
  FakeClient& a = client();
  send(a, R"({"type":"ping","t":1})");
  EXPECT_EQ(str(a.next(), "code"), "not_joined");
  join(a, "ua");
  send(a, R"({"type":"join","user":{"id":"again"}})");
  EXPECT_EQ(str(a.next(), "code"), "already_joined");
  EXPECT_EQ(service_.find_room("r")->members().size(), 1u);
}

TEST_F(RoomServiceTest, AFullRoomRefusesTheJoinWithRoomFull) {
  config_.max_room_members = 2;
  FakeClient& a = client();
  FakeClient& b = client();
  FakeClient& c = client();
  join(a, "ua");
  join(b, "ub");
  send(c, R"({"type":"join","user":{"id":"uc"}})");
  EXPECT_EQ(str(c.next(), "code"), "room_full");
  EXPECT_FALSE(c.member.joined());
}

TEST_F(RoomServiceTest, FollowNamesAnotherMemberAndLeavingClearsFollowers) {
  FakeClient& a = client();
  FakeClient& b = client();
  std::string sa = join(a, "ua");
  std::string sb = join(b, "ub");
  a.take();
  send(b, R"({"type":"follow","session":")" + sb + R"("})");
  EXPECT_EQ(str(b.next(), "code"), "bad_message");
  send(b, R"({"type":"follow","session":"nobody"})");
  EXPECT_EQ(str(b.next(), "code"), "bad_message");
  send(b, R"({"type":"follow","session":")" + sa + R"("})");
  rapidjson::Document f = a.next();
  EXPECT_EQ(str(f, "type"), "follow");
  EXPECT_EQ(str(f, "target"), sa);
  EXPECT_EQ(service_.find_room("r")->find(sb)->following(), sa);
  service_.leave(a.member, now_ns_, Departure::Final);
  rapidjson::Document left = b.next();
  EXPECT_EQ(str(left, "type"), "presence");
  EXPECT_EQ(str(left, "event"), "leave");
  EXPECT_EQ(str(left, "session"), sa);
  EXPECT_TRUE(service_.find_room("r")->find(sb)->following().empty()) << "no ghost leader for late joiners";
}

TEST_F(RoomServiceTest, LeaveAsksTheTransportToCloseAndLeavingTwiceIsHarmless) {
  FakeClient& a = client();
  FakeClient& b = client();
  join(a, "ua");
  join(b, "ub");
  a.take();
  EXPECT_EQ(send(b, R"({"type":"leave"})").close_code, 1000);
  service_.leave(b.member, now_ns_, Departure::Final);
  service_.leave(b.member, now_ns_, Departure::Final);
  EXPECT_EQ(str(a.next(), "event"), "leave");
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_FALSE(b.member.joined());
  EXPECT_EQ(metrics_.sessions.get(), 1u);
}

TEST_F(RoomServiceTest, PingIsAnsweredWithTheSameT) {
  FakeClient& a = client();
  join(a, "ua");
  send(a, R"({"type":"ping","t":{"k":[1,"x"]}})");
  rapidjson::Document p = a.next();
  EXPECT_EQ(str(p, "type"), "pong");
  EXPECT_EQ(p["t"]["k"][1].GetString(), std::string("x"));
}

TEST_F(RoomServiceTest, AVerifiedIdentityOverridesTheUserIdOfTheJoin) {
  FakeClient& a = client();
  a.member.identity = std::make_unique<Identity>();
  a.member.identity->verified = true;
  a.member.identity->user_id = "from-token";
  a.member.identity->has_name = true;
  a.member.identity->name = "Token Name";
  send(a, R"({"type":"join","user":{"id":"claimed"}})");
  rapidjson::Document w = a.next();
  EXPECT_EQ(str(w["user"], "id"), "from-token");
  EXPECT_EQ(str(w["user"], "name"), "Token Name");
}

TEST_F(RoomServiceTest, PublishIsAnEditFromServerAndPresenceListsTheMembers) {
  FakeClient& a = client();
  std::string sa = join(a, "ua");
  text_ = R"({"building":"b","op":"o","data":1})";
  DecodeError error;
  ASSERT_TRUE(decoder_.decode_publish(text_, msg_, error));
  EXPECT_EQ(service_.publish("r", msg_, now_ns_), 1u);
  rapidjson::Document e = a.next();
  EXPECT_EQ(str(e, "session"), "server");
  rapidjson::Document list;
  std::string json = service_.presence_json("r");
  list.Parse(json.c_str());
  ASSERT_TRUE(list.IsArray());
  ASSERT_EQ(list.Size(), 1u);
  EXPECT_EQ(str(list[0], "session"), sa);
  EXPECT_EQ(service_.presence_json("nowhere"), "[]");
}

TEST_F(RoomServiceTest, AnEmptyRoomKeepsItsHistoryForTheTtlThenStartsOver) {
  config_.room_ttl_s = 10;
  FakeClient& a = client();
  join(a, "ua");
  send(a, R"({"type":"edit","building":"b","op":"o"})");
  service_.leave(a.member, now_ns_, Departure::Final);
  service_.reap(now_ns_ + 9'000'000'000);
  ASSERT_NE(service_.find_room("r"), nullptr);
  EXPECT_EQ(service_.find_room("r")->seq(), 1u);
  service_.reap(now_ns_ + 10'000'000'000);
  EXPECT_EQ(service_.find_room("r"), nullptr);
}

TEST_F(RoomServiceTest, BadInputIsAnsweredAndNothingIsRelayed) {
  FakeClient& a = client();
  FakeClient& b = client();
  join(a, "ua");
  join(b, "ub");
  a.take();
  send(a, R"({"type":"cursor","position":[1,2],"target":[0,0,0]})");
  EXPECT_EQ(str(a.next(), "code"), "bad_message");
  send(a, R"({"type":"teleport"})");
  EXPECT_EQ(str(a.next(), "code"), "unknown_type");
  send(a, R"({"type":"edit","building":"\udc00","op":"o"})");
  EXPECT_EQ(str(a.next(), "code"), "bad_json");
  EXPECT_TRUE(b.nothing_queued());
}

// ---------------------------------------------------------------- protocol 1.1

TEST_F(RoomServiceTest, WelcomeSaysProtocolResumeTokenAndEpoch) {
  FakeClient& a = client();
  send(a, R"({"type":"join","user":{"id":"ua"}})");
  rapidjson::Document w = a.next();
  EXPECT_EQ(str(w, "protocol"), "1.2");
  EXPECT_GE(str(w, "resume").size(), 22u) << "at least 128 random bits in base64url";
  EXPECT_GE(str(w, "epoch").size(), 11u) << "at least 64 random bits";
  EXPECT_FALSE(w.HasMember("resumed")) << "only a join with resume says whether it was honoured";
  EXPECT_FALSE(w.HasMember("exp")) << "no token, no exp";
}

TEST_F(RoomServiceTest, ADroppedSessionIsHeldUnseenAndAResumeKeepsItsIdWithNobodySeeingAnything) {
  FakeClient& a = client();
  FakeClient& b = client();
  send(a, R"({"type":"join","user":{"id":"ua"}})");
  rapidjson::Document wa = a.next();
  const std::string sa = str(wa, "session"), token = str(wa, "resume");
  join(b, "ub");
  a.take();
  send(a, R"({"type":"select","ids":["b7"]})");
  b.take();
  EXPECT_FALSE(service_.leave(a.member, now_ns_, Departure::Dropped));
  EXPECT_TRUE(b.nothing_queued()) << "no presence event while held";
  EXPECT_TRUE(service_.holding());
  EXPECT_EQ(metrics_.held_sessions.get(), 1u);
  // Late joiners and the presence API still see it, not connected, selection kept.
  std::string json = service_.presence_json("r");
  EXPECT_NE(json.find("\"connected\":false"), std::string::npos) << json;
  EXPECT_NE(json.find("b7"), std::string::npos) << json;
  // The client comes back on a new connection within the grace.
  FakeClient& again = client();
  send(again, R"({"type":"join","user":{"id":"ua"},"resume":")" + token + R"(","since":0})");
  rapidjson::Document w = again.next();
  EXPECT_EQ(str(w, "session"), sa);
  EXPECT_TRUE(w["resumed"].GetBool());
  EXPECT_NE(str(w, "resume"), token) << "a new token replaces the old one";
  EXPECT_TRUE(b.nothing_queued()) << "the others see nothing of a resume";
  EXPECT_EQ(metrics_.resumes[size_t(ResumeResult::Ok)].get(), 1u);
  EXPECT_EQ(metrics_.held_sessions.get(), 0u);
  // It is a member again: relays reach it, and the old token no longer works.
  send(b, R"({"type":"cursor","position":[1,2,3],"target":[0,0,0]})");
  EXPECT_EQ(str(again.next(), "type"), "cursor");
  FakeClient& thief = client();
  send(thief, R"({"type":"join","user":{"id":"ua"},"resume":")" + token + R"("})");
  rapidjson::Document tw = thief.next();
  EXPECT_NE(str(tw, "session"), sa);
  EXPECT_FALSE(tw["resumed"].GetBool());
  EXPECT_EQ(metrics_.resumes[size_t(ResumeResult::Expired)].get(), 1u);
}

TEST_F(RoomServiceTest, AfterTheGraceTheOthersSeeLeaveAndALateResumeIsAFreshSession) {
  config_.resume_grace_s = 10;
  FakeClient& a = client();
  FakeClient& b = client();
  send(a, R"({"type":"join","user":{"id":"ua"}})");
  rapidjson::Document wa = a.next();
  join(b, "ub");
  a.take();
  service_.leave(a.member, now_ns_, Departure::Dropped);
  service_.expire_held(now_ns_ + 9'900'000'000);
  EXPECT_TRUE(b.nothing_queued());
  service_.expire_held(now_ns_ + 10'000'000'000);
  rapidjson::Document left = b.next();
  EXPECT_EQ(str(left, "event"), "leave");
  EXPECT_EQ(str(left, "session"), str(wa, "session"));
  EXPECT_FALSE(service_.holding());
  EXPECT_EQ(metrics_.holds_expired.get(), 1u);
  FakeClient& late = client();
  send(late, R"({"type":"join","user":{"id":"ua"},"resume":")" + str(wa, "resume") + R"("})");
  rapidjson::Document w = late.next();
  EXPECT_FALSE(w["resumed"].GetBool());
  EXPECT_NE(str(w, "session"), str(wa, "session"));
  EXPECT_EQ(str(b.next(), "event"), "join") << "a fresh session is announced as in v1";
}

TEST_F(RoomServiceTest, LeaveOrAFinalCloseEndsTheSessionAtOnceAndGraceZeroTurnsResumeOff) {
  FakeClient& a = client();
  FakeClient& b = client();
  join(a, "ua");
  join(b, "ub");
  a.take();
  service_.leave(b.member, now_ns_, Departure::Final);
  EXPECT_EQ(str(a.next(), "event"), "leave");
  EXPECT_FALSE(service_.holding());
  config_.resume_grace_s = 0;
  FakeClient& c = client();
  join(c, "uc");
  a.take();
  service_.leave(c.member, now_ns_, Departure::Dropped);
  EXPECT_EQ(str(a.next(), "event"), "leave") << "grace 0: a drop is a departure, as in v1";
}

TEST_F(RoomServiceTest, ResumingASessionStillAttachedClosesTheOldConnectionWith4008) {
  FakeClient& a = client();
  FakeClient& b = client();
  send(a, R"({"type":"join","user":{"id":"ua"}})");
  rapidjson::Document wa = a.next();
  join(b, "ub");
  FakeClient& again = client();
  send(again, R"({"type":"join","user":{"id":"ua"},"resume":")" + str(wa, "resume") + R"("})");
  rapidjson::Document w = again.next();
  EXPECT_EQ(str(w, "session"), str(wa, "session"));
  EXPECT_TRUE(w["resumed"].GetBool());
  EXPECT_EQ(a.closed_with, 4008);
  EXPECT_EQ(a.close_reason, "replaced");
  EXPECT_FALSE(a.member.joined());
  // The old connection ending now changes nothing for anyone.
  b.take();
  service_.leave(a.member, now_ns_, Departure::Dropped);
  EXPECT_TRUE(b.nothing_queued());
  EXPECT_EQ(service_.find_room("r")->members().size(), 2u);
  EXPECT_EQ(metrics_.resumes[size_t(ResumeResult::Replaced)].get(), 1u);
}

TEST_F(RoomServiceTest, ATokenResumesOnlyInItsOwnRoom) {
  FakeClient& a = client("one");
  send(a, R"({"type":"join","user":{"id":"ua"}})");
  rapidjson::Document wa = a.next();
  service_.leave(a.member, now_ns_, Departure::Dropped);
  FakeClient& other = client("two");
  send(other, R"({"type":"join","user":{"id":"ua"},"resume":")" + str(wa, "resume") + R"("})");
  EXPECT_FALSE(other.next()["resumed"].GetBool());
}

TEST_F(RoomServiceTest, HeldSessionsCountTowardTheRoomLimit) {
  config_.max_room_members = 2;
  FakeClient& a = client();
  FakeClient& b = client();
  join(a, "ua");
  join(b, "ub");
  service_.leave(a.member, now_ns_, Departure::Dropped);
  FakeClient& c = client();
  send(c, R"({"type":"join","user":{"id":"uc"}})");
  EXPECT_EQ(str(c.next(), "code"), "room_full");
}

TEST_F(RoomServiceTest, AnEditRepeatedWithTheSameIdIsAckedWithTheOriginalSeqAndNotAppliedAgain) {
  FakeClient& a = client();
  FakeClient& b = client();
  join(a, "ua");
  join(b, "ub");
  a.take();
  send(a, R"({"type":"edit","building":"b","op":"o","id":"e-1"})");
  EXPECT_EQ(a.next()["seq"].GetUint64(), 1u);
  EXPECT_EQ(b.take().size(), 1u);
  send(a, R"({"type":"edit","building":"b","op":"o","id":"e-1"})");
  rapidjson::Document dup = a.next();
  EXPECT_EQ(str(dup, "type"), "ack");
  EXPECT_EQ(dup["seq"].GetUint64(), 1u);
  EXPECT_TRUE(dup["duplicate"].GetBool());
  EXPECT_TRUE(b.nothing_queued()) << "a duplicate is not relayed";
  EXPECT_EQ(service_.find_room("r")->seq(), 1u) << "nor stored";
  // The same id from another user is another edit; no id applies every time.
  send(b, R"({"type":"edit","building":"b","op":"o","id":"e-1"})");
  EXPECT_EQ(b.next()["seq"].GetUint64(), 2u);
  send(a, R"({"type":"edit","building":"b","op":"o"})");
  send(a, R"({"type":"edit","building":"b","op":"o"})");
  EXPECT_EQ(service_.find_room("r")->seq(), 4u);
  EXPECT_EQ(metrics_.duplicate_edits.get(), 1u);
}

TEST_F(RoomServiceTest, AnIdIsRememberedOnlyWhileItsEditIsInHistory) {
  FakeClient& a = client();
  join(a, "ua");
  send(a, R"({"type":"edit","building":"b","op":"o","id":"old"})");
  for (int i = 0; i < 5; ++i) send(a, R"({"type":"edit","building":"b","op":"o"})");  // history keeps 5
  a.take();
  send(a, R"({"type":"edit","building":"b","op":"o","id":"old"})");
  rapidjson::Document ack = a.next();
  EXPECT_EQ(ack["seq"].GetUint64(), 7u) << "out of history: applied again";
  EXPECT_FALSE(ack.HasMember("duplicate"));
}

TEST_F(RoomServiceTest, IdsLongerThan64CharactersAreAppliedEveryTime) {
  FakeClient& a = client();
  join(a, "ua");
  const std::string id(65, 'i');
  send(a, R"({"type":"edit","building":"b","op":"o","id":")" + id + R"("})");
  send(a, R"({"type":"edit","building":"b","op":"o","id":")" + id + R"("})");
  EXPECT_EQ(service_.find_room("r")->seq(), 2u);
  std::string accented;
  for (int i = 0; i < 64; ++i) accented += "\xc3\xa9";  // 64 characters, 128 bytes
  send(a, R"({"type":"edit","building":"b","op":"o","id":")" + accented + R"("})");
  send(a, R"({"type":"edit","building":"b","op":"o","id":")" + accented + R"("})");
  EXPECT_EQ(service_.find_room("r")->seq(), 3u) << "64 characters are remembered, whatever their bytes";
}

TEST_F(RoomServiceTest, ASinceFromAnotherEpochGetsResyncEvenWhenTheSeqMatches) {
  FakeClient& a = client();
  send(a, R"({"type":"join","user":{"id":"ua"}})");
  rapidjson::Document w = a.next();
  const std::string epoch = str(w, "epoch");
  send(a, R"({"type":"edit","building":"b","op":"o"})");
  FakeClient& same = client();
  send(same, R"({"type":"join","user":{"id":"u2"},"since":1,"epoch":")" + epoch + R"("})");
  same.next();
  EXPECT_TRUE(same.nothing_queued()) << "same epoch, up to date: nothing to replay";
  FakeClient& foreign = client();
  send(foreign, R"({"type":"join","user":{"id":"u3"},"since":1,"epoch":"another-history"})");
  foreign.next();
  rapidjson::Document r = foreign.next();
  EXPECT_EQ(str(r, "type"), "resync");
  FakeClient& no_since = client();
  send(no_since, R"({"type":"join","user":{"id":"u4"},"epoch":"another-history"})");
  no_since.next();
  EXPECT_TRUE(no_since.nothing_queued()) << "an epoch without since does nothing";
}

TEST_F(RoomServiceTest, ARoomMadeAgainHasANewEpoch) {
  config_.room_ttl_s = 1;
  FakeClient& a = client();
  send(a, R"({"type":"join","user":{"id":"ua"}})");
  const std::string first = str(a.next(), "epoch");
  service_.leave(a.member, now_ns_, Departure::Final);
  service_.reap(now_ns_ + 2'000'000'000);
  FakeClient& b = client();
  send(b, R"({"type":"join","user":{"id":"ub"}})");
  EXPECT_NE(str(b.next(), "epoch"), first);
}

class RoomServiceAuthTest : public RoomServiceTest {
 protected:
  RoomServiceAuthTest() {
    config_.jwt_secret = "s3cret";
    service_.unix_now = [this] { return unix_; };
  }
  std::string token(const std::string& sub, int64_t exp, const std::string& rooms = "") {
    return jwt_sign::sign(R"({"alg":"HS256","typ":"JWT"})",
                          R"({"sub":")" + sub + R"(","exp":)" + std::to_string(exp) + rooms + "}", config_.jwt_secret);
  }
  int64_t unix_ = 1'800'000'000;
};

TEST_F(RoomServiceAuthTest, InBandTheFirstMessageMustBeAJoinWithAValidToken) {
  FakeClient& a = client();
  a.member.awaiting_token = true;
  Verdict v = send(a, R"({"type":"ping"})");
  EXPECT_EQ(v.close_code, 4001);
  FakeClient& b = client();
  b.member.awaiting_token = true;
  EXPECT_EQ(send(b, R"({"type":"join","user":{"id":"x"}})").close_code, 4001) << "no token";
  FakeClient& c = client();
  c.member.awaiting_token = true;
  EXPECT_EQ(send(c, R"({"type":"join","user":{"id":"x"},"token":")" + token("u", unix_ - 1) + R"("})").close_code,
            4001)
      << "expired";
  FakeClient& d = client();
  d.member.awaiting_token = true;
  EXPECT_EQ(send(d, R"({"type":"join","user":{"id":"x"},"token":")" + token("u", unix_ + 60, R"(,"rooms":["other"])") +
                        R"("})")
                .close_code,
            4003);
  FakeClient& e = client();
  e.member.awaiting_token = true;
  EXPECT_FALSE(send(e, R"({"type":"join","user":{"id":"x"},"token":")" + token("alice", unix_ + 60) + R"("})").closes());
  rapidjson::Document w = e.next();
  EXPECT_EQ(str(w["user"], "id"), "alice") << "the token's sub, whatever the join says";
  EXPECT_EQ(w["exp"].GetInt64(), unix_ + 60);
  EXPECT_FALSE(e.member.awaiting_token);
}

TEST_F(RoomServiceAuthTest, RefreshReplacesTheTokenOrSaysWhyNot) {
  FakeClient& a = client();
  a.member.awaiting_token = true;
  send(a, R"({"type":"join","user":{"id":"x"},"token":")" + token("alice", unix_ + 60) + R"("})");
  a.next();
  send(a, R"({"type":"refresh","token":")" + token("alice", unix_ + 600) + R"("})");
  rapidjson::Document ok = a.next();
  EXPECT_EQ(str(ok, "type"), "refreshed");
  EXPECT_EQ(ok["exp"].GetInt64(), unix_ + 600);
  EXPECT_EQ(a.member.identity->exp, unix_ + 600);
  send(a, R"({"type":"refresh","token":")" + token("mallory", unix_ + 600) + R"("})");
  EXPECT_EQ(str(a.next(), "code"), "bad_token");
  send(a, R"({"type":"refresh","token":"not.a.jwt"})");
  EXPECT_EQ(str(a.next(), "code"), "bad_token");
  send(a, R"({"type":"refresh","token":")" + token("alice", unix_ + 900, R"(,"rooms":["elsewhere"])") + R"("})");
  EXPECT_EQ(str(a.next(), "code"), "forbidden");
  EXPECT_EQ(a.member.identity->exp, unix_ + 600) << "a refused refresh keeps the old token";
  EXPECT_EQ(metrics_.refreshes.get(), 1u);
  EXPECT_EQ(metrics_.refreshes_refused.get(), 3u);
}

TEST_F(RoomServiceAuthTest, WithAuthenticationAResumeMustComeFromTheSameSub) {
  FakeClient& a = client();
  a.member.awaiting_token = true;
  send(a, R"({"type":"join","user":{"id":"x"},"token":")" + token("alice", unix_ + 60) + R"("})");
  rapidjson::Document wa = a.next();
  service_.leave(a.member, now_ns_, Departure::Dropped);
  FakeClient& m = client();
  m.member.awaiting_token = true;
  send(m, R"({"type":"join","user":{"id":"x"},"token":")" + token("mallory", unix_ + 60) + R"(","resume":")" +
              str(wa, "resume") + R"("})");
  rapidjson::Document wm = m.next();
  EXPECT_FALSE(wm["resumed"].GetBool());
  FakeClient& again = client();
  again.member.awaiting_token = true;
  send(again, R"({"type":"join","user":{"id":"x"},"token":")" + token("alice", unix_ + 60) + R"(","resume":")" +
                  str(wa, "resume") + R"("})");
  rapidjson::Document w = again.next();
  EXPECT_TRUE(w["resumed"].GetBool());
  EXPECT_EQ(str(w, "session"), str(wa, "session"));
}

TEST_F(RoomServiceAuthTest, InBandJoinOverTheConnectionLimitsIsClosed1013AndNotJoined) {
  FakeClient& a = client();
  a.member.awaiting_token = a.member.awaiting_place = true;
  a.admission = Admission::OverPerAddress;
  Verdict v = send(a, R"({"type":"join","user":{"id":"x"},"token":")" + token("alice", unix_ + 60) + R"("})");
  EXPECT_FALSE(v.closes()) << "the close comes through the member's link";
  EXPECT_EQ(a.closed_with, 1013);
  EXPECT_FALSE(a.member.joined());
  EXPECT_TRUE(a.nothing_queued()) << "no welcome, no error: the close says it";
}

TEST_F(RoomServiceAuthTest, InBandMemberTakesItsPlaceOnlyOnceItsTokenVerifies) {
  FakeClient& a = client();
  a.member.awaiting_token = a.member.awaiting_place = true;
  EXPECT_EQ(send(a, R"({"type":"join","user":{"id":"x"},"token":")" + token("u", unix_ - 1) + R"("})").close_code, 4001);
  EXPECT_EQ(a.admissions, 0) << "an expired token takes no place";
  FakeClient& b = client();
  b.member.awaiting_token = b.member.awaiting_place = true;
  EXPECT_FALSE(send(b, R"({"type":"join","user":{"id":"x"},"token":")" + token("bob", unix_ + 60) + R"("})").closes());
  EXPECT_EQ(b.admissions, 1);
  EXPECT_FALSE(b.member.awaiting_place);
  EXPECT_TRUE(b.member.joined());
}

TEST_F(RoomServiceTest, AMemberLetPastAFullAddressResumesItsHeldSessionButAFreshJoinIsClosed1013) {
  FakeClient& a = client();
  send(a, R"({"type":"join","user":{"id":"ua"}})");
  rapidjson::Document wa = a.next();
  service_.leave(a.member, now_ns_, Departure::Dropped);
  FakeClient& back = client();
  back.member.awaiting_place = true;
  back.admission = Admission::OverPerAddress;  // the held sessions fill the address
  send(back, R"({"type":"join","user":{"id":"ua"},"resume":")" + str(wa, "resume") + R"("})");
  rapidjson::Document w = back.next();
  EXPECT_TRUE(w["resumed"].GetBool()) << "a resume is never refused for its address's count";
  EXPECT_EQ(back.admissions, 1);
  EXPECT_EQ(back.closed_with, 0);
  FakeClient& fresh = client();
  fresh.member.awaiting_place = true;
  fresh.admission = Admission::OverPerAddress;
  send(fresh, R"({"type":"join","user":{"id":"uf"}})");
  EXPECT_EQ(fresh.closed_with, 1013);
  EXPECT_FALSE(fresh.member.joined());
}

TEST_F(RoomServiceAuthTest, BeforeItsTokenMalformedOrRateLimitedInputClosesWith4001AndGetsNoErrors) {
  FakeClient& a = client();
  a.member.awaiting_token = true;
  EXPECT_EQ(send(a, "{not json").close_code, 4001);
  EXPECT_EQ(send(a, R"({"type":"nonsense"})").close_code, 4001);
  FakeClient& b = client();
  b.member.awaiting_token = true;
  b.member.rate = RateLimiter(1, 1, now_ns_);
  EXPECT_EQ(send(b, R"({"type":"cursor","camera":{"position":[0,0,0],"target":[0,0,1]}})").close_code, 4001);
  EXPECT_EQ(send(b, R"({"type":"ping"})").close_code, 4001) << "not a rate_limited error";
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_TRUE(b.nothing_queued());
}

}  // namespace
}  // namespace roomcast
