// Unit tests for the protocol 1.2 rules of the room domain (docs/protocol.md 7):
// rights from the token's `edit` claim, presenting, and camera rate by attention
// (core/room/attention.h), with FakeClients and no sockets.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "core/room/room_service.h"
#include "tests/core/room/fake_client.h"
#include "tests/proto/jwt_sign.h"

namespace roomcast {
namespace {

using testing_support::FakeClient;

std::string str(const rapidjson::Value& v, const char* key) {
  return v.HasMember(key) && v[key].IsString() ? v[key].GetString() : "<missing>";
}

class Protocol12Test : public ::testing::Test {
 protected:
  Protocol12Test() {
    config_.history = 50;
    service_.unix_now = [this] { return unix_; };
  }

  FakeClient& client(const std::string& room = "r") {
    clients_.push_back(std::make_unique<FakeClient>(&dirty_, uint32_t(clients_.size()), room, &service_));
    return *clients_.back();
  }
  Verdict send(FakeClient& c, const std::string& json) {
    text_ = json;
    DecodeError error;
    if (!decoder_.decode(text_, msg_, error)) return service_.refuse(c.member, error);
    return service_.handle(c.member, msg_, now_ns_);
  }
  // Joins; returns the welcome.
  rapidjson::Document join_welcome(FakeClient& c, const std::string& user, const std::string& extra = "") {
    send(c, R"({"type":"join","user":{"id":")" + user + R"("})" + extra + "}");
    return c.next();
  }
  std::string join(FakeClient& c, const std::string& user, const std::string& extra = "") {
    rapidjson::Document w = join_welcome(c, user, extra);
    EXPECT_EQ(str(w, "type"), "welcome");
    return str(w, "session");
  }
  std::string token(const std::string& sub, const std::string& claims = "") {
    return jwt_sign::sign(R"({"alg":"HS256","typ":"JWT"})",
                          R"({"sub":")" + sub + R"(","exp":)" + std::to_string(unix_ + 600) + claims + "}", "s3cret");
  }
  // A member joining in band with a token carrying `claims`.
  std::string join_with(FakeClient& c, const std::string& sub, const std::string& claims,
                        const std::string& extra = "") {
    c.member.awaiting_token = true;
    return join(c, sub, R"(,"token":")" + token(sub, claims) + "\"" + extra);
  }
  std::string cursor(double x) {
    return R"({"type":"cursor","position":[)" + std::to_string(x) + R"(,0,0],"target":[0,0,0]})";
  }
  // The x of each cursor in `payloads`, in order ("select" etc. as their type).
  static std::vector<std::string> kinds(const std::vector<std::string>& payloads) {
    std::vector<std::string> out;
    for (const std::string& p : payloads) {
      rapidjson::Document d;
      d.Parse(p.c_str(), p.size());
      if (str(d, "type") == "cursor")
        out.push_back("cursor:" + str(d, "session") + ":" + std::to_string(int(d["position"][0].GetDouble())));
      else
        out.push_back(str(d, "type"));
    }
    return out;
  }

  Config config_;
  Metrics metrics_;
  RoomService service_{config_, 0, metrics_};
  MessageDecoder decoder_;
  ClientMessage msg_;
  std::string text_;
  DirtyList dirty_;
  std::vector<std::unique_ptr<FakeClient>> clients_;
  int64_t now_ns_ = 1'000'000'000;
  int64_t unix_ = 1'800'000'000;
};

class Protocol12AuthTest : public Protocol12Test {
 protected:
  Protocol12AuthTest() { config_.jwt_secret = "s3cret"; }
};

// ---- rights ------------------------------------------------------------------------

TEST_F(Protocol12Test, WithoutAuthenticationEveryoneIsAnEditorAndWelcomeSaysProtocol12) {
  FakeClient& a = client();
  FakeClient& b = client();
  const std::string sa = join(a, "ua");
  rapidjson::Document w = join_welcome(b, "ub");
  EXPECT_EQ(str(w, "protocol"), "1.2");
  EXPECT_EQ(str(w, "role"), "editor");
  ASSERT_TRUE(w.HasMember("presenter"));
  EXPECT_TRUE(w["presenter"].IsNull());
  EXPECT_FALSE(w.HasMember("camera_rate")) << "no camera_rate in the join: none echoed";
  ASSERT_EQ(w["peers"].Size(), 1u);
  EXPECT_EQ(str(w["peers"][0], "role"), "editor");
  rapidjson::Document p = a.next();
  EXPECT_EQ(str(p, "event"), "join");
  EXPECT_EQ(str(p, "role"), "editor");
  EXPECT_NE(service_.presence_json("r").find(R"("role":"editor")"), std::string::npos);
}

TEST_F(Protocol12AuthTest, AnEmptyEditClaimMakesAViewerWhoseEditIsForbiddenAndConsumesNoSeq) {
  FakeClient& editor = client();
  FakeClient& viewer = client();
  join_with(editor, "ed", "");  // no `edit`: the same rooms as `rooms`, every room
  rapidjson::Document w;
  viewer.member.awaiting_token = true;
  send(viewer, R"({"type":"join","user":{"id":"v"},"token":")" + token("v", R"(,"edit":[])") + R"("})");
  w = viewer.next();
  EXPECT_EQ(str(w, "role"), "viewer");
  rapidjson::Document joined = editor.next();
  EXPECT_EQ(str(joined, "role"), "viewer") << "the others see the viewer's role in presence join";

  Verdict v = send(viewer, R"({"type":"edit","id":"e1","building":"b","op":"move","data":{"x":1}})");
  EXPECT_FALSE(v.closes()) << "the connection stays open";
  rapidjson::Document err = viewer.next();
  EXPECT_EQ(str(err, "type"), "error");
  EXPECT_EQ(str(err, "code"), "forbidden");
  EXPECT_EQ(str(err, "id"), "e1");
  EXPECT_TRUE(editor.nothing_queued()) << "nothing relayed";
  EXPECT_EQ(service_.find_room("r")->seq(), 0u) << "no seq consumed";

  send(editor, R"({"type":"edit","id":"e2","building":"b","op":"move"})");
  rapidjson::Document ack = editor.next();
  EXPECT_EQ(str(ack, "type"), "ack");
  EXPECT_EQ(ack["seq"].GetUint64(), 1u) << "the next edit gets seq 1";
  EXPECT_EQ(str(viewer.next(), "type"), "edit") << "a viewer still receives edits";

  // Cameras, selections and follows of viewers flow like editors'.
  send(viewer, cursor(3));
  send(viewer, R"({"type":"select","ids":["x"]})");
  EXPECT_EQ(kinds(editor.all()), (std::vector<std::string>{"cursor:" + str(w, "session") + ":3", "select"}));
  EXPECT_EQ(metrics_.edits_forbidden.get(), 1u);
}

TEST_F(Protocol12AuthTest, TheEditClaimUsesTheRoomPatternsAndNeverWidensRooms) {
  FakeClient& a = client("site-1");
  FakeClient& b = client("review");
  rapidjson::Document wa, wb;
  a.member.awaiting_token = true;
  send(a, R"({"type":"join","user":{"id":"a"},"token":")" + token("a", R"(,"rooms":["*"],"edit":["site-*"])") + R"("})");
  wa = a.next();
  EXPECT_EQ(str(wa, "role"), "editor");
  b.member.awaiting_token = true;
  send(b, R"({"type":"join","user":{"id":"b"},"token":")" + token("b", R"(,"rooms":["*"],"edit":["site-*"])") + R"("})");
  wb = b.next();
  EXPECT_EQ(str(wb, "role"), "viewer");
  FakeClient& c = client("locked");
  c.member.awaiting_token = true;
  EXPECT_EQ(send(c, R"({"type":"join","user":{"id":"c"},"token":")" +
                        token("c", R"(,"rooms":["open"],"edit":["locked"])") + R"("})")
                .close_code,
            4003)
      << "a room in `edit` but outside `rooms` is still not joinable";
}

TEST_F(Protocol12AuthTest, ARefreshThatChangesTheRoleTellsTheOthersAndStopsAPresenter) {
  FakeClient& a = client();
  FakeClient& b = client();
  const std::string sa = join_with(a, "alice", "");
  join_with(b, "bob", "");
  a.drain();
  send(a, R"({"type":"present"})");
  EXPECT_EQ(str(a.next(), "type"), "presenting");
  EXPECT_EQ(str(b.next(), "type"), "presenting");

  send(a, R"({"type":"refresh","token":")" + token("alice", "") + R"("})");
  rapidjson::Document same = a.next();
  EXPECT_EQ(str(same, "role"), "editor");
  EXPECT_TRUE(b.nothing_queued()) << "no role event when the role did not change";

  send(a, R"({"type":"refresh","token":")" + token("alice", R"(,"edit":[])") + R"("})");
  rapidjson::Document refreshed = a.next();
  EXPECT_EQ(str(refreshed, "type"), "refreshed");
  EXPECT_EQ(str(refreshed, "role"), "viewer");
  rapidjson::Document role = b.next();
  EXPECT_EQ(str(role, "type"), "presence");
  EXPECT_EQ(str(role, "event"), "role");
  EXPECT_EQ(str(role, "session"), sa);
  EXPECT_EQ(str(role, "role"), "viewer");
  rapidjson::Document stop = b.next();
  EXPECT_EQ(str(stop, "type"), "presenting");
  EXPECT_TRUE(stop["session"].IsNull()) << "a presenter demoted to viewer stops presenting";
  rapidjson::Document stop_a = a.next();
  EXPECT_TRUE(stop_a["session"].IsNull());
  EXPECT_TRUE(service_.find_room("r")->presenter().empty());

  send(a, R"({"type":"edit","building":"b","op":"x"})");
  EXPECT_EQ(str(a.next(), "code"), "forbidden");
  // And back: the role event again, editing allowed again.
  send(a, R"({"type":"refresh","token":")" + token("alice", "") + R"("})");
  EXPECT_EQ(str(a.next(), "role"), "editor");
  EXPECT_EQ(str(b.next(), "role"), "editor");
  send(a, R"({"type":"edit","building":"b","op":"x"})");
  EXPECT_EQ(str(a.next(), "type"), "ack");
}

TEST_F(Protocol12AuthTest, AResumeTakesTheRoleOfItsTokenAndAnnouncesAChange) {
  config_.resume_grace_s = 10;
  FakeClient& a = client();
  FakeClient& b = client();
  a.member.awaiting_token = true;
  send(a, R"({"type":"join","user":{"id":"alice"},"token":")" + token("alice", "") + R"("})");
  rapidjson::Document w = a.next();
  const std::string resume = str(w, "resume");
  const std::string sa = str(w, "session");
  join_with(b, "bob", "");
  a.drain();
  send(a, R"({"type":"present"})");
  b.drain();
  service_.leave(a.member, now_ns_, Departure::Dropped);
  EXPECT_EQ(service_.find_room("r")->presenter(), sa) << "a held presenter still presents";
  FakeClient& again = client();
  again.member.awaiting_token = true;
  send(again, R"({"type":"join","user":{"id":"alice"},"resume":")" + resume + R"(","token":")" +
                  token("alice", R"(,"edit":[])") + R"("})");
  rapidjson::Document w2 = again.next();
  EXPECT_TRUE(w2["resumed"].GetBool());
  EXPECT_EQ(str(w2, "role"), "viewer");
  EXPECT_TRUE(w2["presenter"].IsNull());
  rapidjson::Document role = b.next();
  EXPECT_EQ(str(role, "event"), "role");
  EXPECT_EQ(str(role, "role"), "viewer");
  rapidjson::Document stop = b.next();
  EXPECT_EQ(str(stop, "type"), "presenting");
  EXPECT_TRUE(stop["session"].IsNull());
}

// ---- presenting ------------------------------------------------------------------------

TEST_F(Protocol12Test, PresentTellsEveryoneLateJoinersSeeItAnotherEditorTakesOverAndOnlyThePresenterStops) {
  FakeClient& a = client();
  FakeClient& b = client();
  const std::string sa = join(a, "ua");
  const std::string sb = join(b, "ub");
  a.drain();
  send(a, R"({"type":"present"})");
  for (FakeClient* c : {&a, &b}) {
    rapidjson::Document p = c->next();
    EXPECT_EQ(str(p, "type"), "presenting");
    EXPECT_EQ(str(p, "session"), sa);
    EXPECT_EQ(str(p["user"], "id"), "ua");
  }
  FakeClient& late = client();
  rapidjson::Document w = join_welcome(late, "late");
  EXPECT_EQ(str(w, "presenter"), sa);
  a.drain();
  b.drain();

  send(b, R"({"type":"present","stop":true})");
  EXPECT_TRUE(a.nothing_queued()) << "stop from someone else is ignored";
  send(b, R"({"type":"present"})");
  for (FakeClient* c : {&a, &b, &late}) EXPECT_EQ(str(c->next(), "session"), sb) << "takeover";
  send(b, R"({"type":"present","stop":true})");
  for (FakeClient* c : {&a, &b, &late}) {
    rapidjson::Document p = c->next();
    EXPECT_EQ(str(p, "type"), "presenting");
    EXPECT_TRUE(p["session"].IsNull());
  }
  EXPECT_TRUE(service_.find_room("r")->presenter().empty());
}

TEST_F(Protocol12Test, ThePresenterLeavingEndsItAndSoDoesItsGraceEnding) {
  config_.resume_grace_s = 10;
  FakeClient& a = client();
  FakeClient& b = client();
  const std::string sa = join(a, "ua");
  join(b, "ub");
  a.drain();
  send(a, R"({"type":"present"})");
  b.drain();
  service_.leave(a.member, now_ns_, Departure::Final);
  rapidjson::Document leave = b.next();
  EXPECT_EQ(str(leave, "event"), "leave");
  rapidjson::Document stop = b.next();
  EXPECT_EQ(str(stop, "type"), "presenting");
  EXPECT_TRUE(stop["session"].IsNull());

  send(b, R"({"type":"present"})");
  FakeClient& c = client();
  join(c, "uc");
  b.drain();
  service_.leave(b.member, now_ns_, Departure::Dropped);
  EXPECT_TRUE(c.nothing_queued()) << "a held presenter still presents";
  rapidjson::Document w = join_welcome(client(), "ud");
  EXPECT_FALSE(w["presenter"].IsNull());
  c.drain();
  service_.expire_held(now_ns_ + 10'000'000'000);
  EXPECT_EQ(str(c.next(), "event"), "leave");
  rapidjson::Document ended = c.next();
  EXPECT_EQ(str(ended, "type"), "presenting");
  EXPECT_TRUE(ended["session"].IsNull());
}

TEST_F(Protocol12AuthTest, AViewersPresentIsForbidden) {
  FakeClient& v = client();
  FakeClient& e = client();
  join_with(v, "v", R"(,"edit":[])");
  join_with(e, "e", "");
  v.drain();
  EXPECT_FALSE(send(v, R"({"type":"present"})").closes());
  EXPECT_EQ(str(v.next(), "code"), "forbidden");
  EXPECT_TRUE(e.nothing_queued());
  EXPECT_TRUE(service_.find_room("r")->presenter().empty());
}

// ---- camera rate -----------------------------------------------------------------------

TEST_F(Protocol12Test, CameraRateOutOfRangeIsABadMessageAndInRangeIsEchoed) {
  FakeClient& a = client();
  send(a, R"({"type":"join","user":{"id":"a"},"camera_rate":11})");
  EXPECT_EQ(str(a.next(), "code"), "bad_message");
  send(a, R"({"type":"join","user":{"id":"a"},"camera_rate":"2"})");
  EXPECT_EQ(str(a.next(), "code"), "bad_message");
  send(a, R"({"type":"join","user":{"id":"a"},"camera_rate":0.4})");
  EXPECT_EQ(str(a.next(), "code"), "bad_message");
  EXPECT_FALSE(a.member.joined());
  rapidjson::Document w = join_welcome(a, "a", R"(,"camera_rate":2.5)");
  EXPECT_EQ(str(w, "type"), "welcome");
  EXPECT_DOUBLE_EQ(w["camera_rate"].GetDouble(), 2.5);
}

TEST_F(Protocol12Test, AReducedMemberGetsTheNewestCursorOfEachSenderTogetherAtMostRTimesASecond) {
  FakeClient& slow = client();
  FakeClient& full = client();
  FakeClient& b = client();
  FakeClient& c = client();
  join(slow, "slow", R"(,"camera_rate":2)");
  join(full, "full");
  const std::string sb = join(b, "ub");
  const std::string sc = join(c, "uc");
  for (FakeClient* x : {&slow, &full, &b, &c}) x->drain();

  size_t at_full = 0;
  for (int i = 1; i <= 5; ++i) {
    send(b, cursor(i));
    send(c, cursor(10 + i));
    at_full += full.all().size();  // drained at once: nothing superseded
  }
  EXPECT_TRUE(slow.nothing_queued()) << "held back until the tick";
  EXPECT_EQ(at_full, 10u) << "without camera_rate: every cursor";
  ASSERT_NE(service_.cameras_due_ns(), 0);
  ASSERT_LE(service_.cameras_due_ns(), now_ns_) << "the first tick is due at once";
  service_.camera_tick(now_ns_);
  const int64_t first_tick = now_ns_;
  EXPECT_EQ(kinds(slow.all()), (std::vector<std::string>{"cursor:" + sb + ":5", "cursor:" + sc + ":15"}))
      << "the newest of each sender, nothing older";

  send(b, cursor(6));
  const int64_t due = service_.cameras_due_ns();
  EXPECT_GE(due, first_tick + 500'000'000) << "at most 2 a second";
  service_.camera_tick(due - 1);
  EXPECT_TRUE(slow.nothing_queued());
  service_.camera_tick(due);
  EXPECT_EQ(kinds(slow.all()), (std::vector<std::string>{"cursor:" + sb + ":6"}));
  EXPECT_EQ(service_.cameras_due_ns(), 0) << "nothing held back: no tick wanted";
  for (const std::string& k : kinds(b.all())) EXPECT_EQ(k.find(sb), std::string::npos) << "its own cursor came back";
}

TEST_F(Protocol12Test, TheFollowedSessionAndThePresenterArriveAtFullRate) {
  FakeClient& slow = client();
  FakeClient& leader = client();
  FakeClient& other = client();
  join(slow, "slow", R"(,"camera_rate":1)");
  const std::string sl = join(leader, "leader");
  const std::string so = join(other, "other");
  send(slow, R"({"type":"follow","session":")" + sl + R"("})");
  for (FakeClient* x : {&slow, &leader, &other}) x->drain();

  send(leader, cursor(1));
  std::vector<std::string> got = kinds(slow.all());
  send(leader, cursor(2));
  for (const std::string& k : kinds(slow.all())) got.push_back(k);
  send(other, cursor(7));
  EXPECT_EQ(got, (std::vector<std::string>{"cursor:" + sl + ":1", "cursor:" + sl + ":2"}));
  service_.camera_tick(now_ns_);
  EXPECT_EQ(kinds(slow.all()), (std::vector<std::string>{"cursor:" + so + ":7"}))
      << "the tick skips the followed leader (already had it)";

  send(slow, R"({"type":"follow","session":null})");
  send(other, R"({"type":"present"})");
  for (FakeClient* x : {&slow, &leader, &other}) x->drain();
  send(other, cursor(8));
  got = kinds(slow.all());
  send(other, cursor(9));
  for (const std::string& k : kinds(slow.all())) got.push_back(k);
  send(leader, cursor(3));
  EXPECT_EQ(got, (std::vector<std::string>{"cursor:" + so + ":8", "cursor:" + so + ":9"}))
      << "the presenter at full rate";
  EXPECT_TRUE(slow.nothing_queued()) << "the leader no longer followed is held back";
  service_.camera_tick(now_ns_ + 1'000'000'000);
  EXPECT_EQ(kinds(slow.all()), (std::vector<std::string>{"cursor:" + sl + ":3"}));
}

TEST_F(Protocol12Test, AHeldBackCursorGoesBeforeItsSendersNextMessageAndBeforeItsLeave) {
  FakeClient& slow = client();
  FakeClient& b = client();
  join(slow, "slow", R"(,"camera_rate":0.5)");
  const std::string sb = join(b, "ub");
  slow.drain();
  send(b, cursor(1));
  send(b, cursor(2));
  send(b, R"({"type":"select","ids":["w"]})");
  EXPECT_EQ(kinds(slow.all()), (std::vector<std::string>{"cursor:" + sb + ":2", "select"}));
  send(b, cursor(3));
  service_.leave(b.member, now_ns_, Departure::Final);
  EXPECT_EQ(kinds(slow.all()), (std::vector<std::string>{"cursor:" + sb + ":3", "presence"}));
  EXPECT_EQ(service_.cameras_due_ns(), 0) << "no pointer to the departed sender is kept";
}

TEST_F(Protocol12Test, StartingToFollowDeliversTheLeadersNewestAtOnce) {
  FakeClient& slow = client();
  FakeClient& leader = client();
  join(slow, "slow", R"(,"camera_rate":0.5)");
  const std::string sl = join(leader, "leader");
  slow.drain();
  send(leader, cursor(4));
  EXPECT_TRUE(slow.nothing_queued());
  send(slow, R"({"type":"follow","session":")" + sl + R"("})");
  EXPECT_EQ(kinds(slow.all()), (std::vector<std::string>{"cursor:" + sl + ":4"}));
}

TEST_F(Protocol12Test, AMemberLeavingTheReducedGroupIsNeverPushedToAgain) {
  FakeClient& slow = client();
  FakeClient& slow2 = client();
  FakeClient& b = client();
  join(slow, "slow", R"(,"camera_rate":2)");
  join(slow2, "slow2", R"(,"camera_rate":5)");
  const std::string sb = join(b, "ub");
  slow.drain();
  slow2.drain();
  send(b, cursor(1));
  service_.leave(slow.member, now_ns_, Departure::Final);
  slow.drain();
  slow2.drain();  // slow's leave
  service_.camera_tick(now_ns_);
  EXPECT_TRUE(slow.nothing_queued());
  EXPECT_EQ(kinds(slow2.all()), (std::vector<std::string>{"cursor:" + sb + ":1"}));
  service_.leave(slow2.member, now_ns_, Departure::Final);
  send(b, cursor(2));
  EXPECT_EQ(service_.cameras_due_ns(), 0) << "no reduced member left: nothing held back";
}

TEST(AttentionClasses, AnIntervalIsRoundedUpSoTheRateIsNeverExceeded) {
  EXPECT_EQ(Attention::interval_of(Attention::class_of(10)), 100'000'000);
  EXPECT_EQ(Attention::interval_of(Attention::class_of(2)), 500'000'000);
  EXPECT_EQ(Attention::interval_of(Attention::class_of(0.5)), 2'000'000'000);
  EXPECT_EQ(Attention::interval_of(Attention::class_of(3)), 350'000'000);  // 333 ms -> 350
  EXPECT_LT(Attention::class_of(10), Attention::kClasses);
  EXPECT_LE(Attention::kClasses, 64u) << "a sender's held-back classes are one 64-bit mask";
}

}  // namespace
}  // namespace roomcast
