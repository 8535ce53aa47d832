// Unit tests for core/room_service.h: the protocol's semantics with fake members and no
// sockets. A member here is a SendQueue and a Member; what it "receives" is read back
// from its queue as the very bytes a socket would have been given.
#include "core/room_service.h"

#include <gtest/gtest.h>
#include <sys/uio.h>

#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>

namespace roomcast {
namespace {

// One client: its queue and the Member the service knows it as.
struct FakeClient {
  FakeClient(DirtyList* dirty, uint32_t slot, std::string room) : out(dirty, slot), member(&out) {
    member.room = std::move(room);
    member.rate = RateLimiter(1e9, 1e9, 0);  // no limit unless a test sets one
  }

  // The text payloads queued since the last call, in order, as a socket would get them.
  std::vector<std::string> take() {
    std::vector<std::string> payloads;
    out.drop_superseded();
    while (!out.empty()) {
      iovec iov[64];
      size_t n = out.gather(iov, 64, 1 << 20);
      std::string bytes;
      for (size_t i = 0; i < n; ++i) bytes.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
      out.complete(bytes.size());
      size_t at = 0;
      while (at + 2 <= bytes.size()) {
        const auto b = reinterpret_cast<const uint8_t*>(bytes.data()) + at;
        size_t len = b[1] & 0x7F, head = 2;
        if (len == 126) {
          len = (size_t(b[2]) << 8) | b[3];
          head = 4;
        } else if (len == 127) {
          len = 0;
          for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
          head = 10;
        }
        EXPECT_EQ(b[0], 0x81) << "the service sends only final text frames";
        payloads.emplace_back(bytes.data() + at + head, len);
        at += head + len;
      }
    }
    return payloads;
  }

  // The next payload's JSON (a failure if nothing is queued).
  rapidjson::Document next() {
    if (pending_.empty()) pending_ = take();
    rapidjson::Document d;
    if (pending_.empty()) {
      ADD_FAILURE() << "nothing queued";
      d.SetObject();
      return d;
    }
    d.Parse(pending_.front().c_str(), pending_.front().size());
    pending_.erase(pending_.begin());
    EXPECT_FALSE(d.HasParseError());
    return d;
  }
  bool nothing_queued() {
    if (!pending_.empty()) return false;
    pending_ = take();
    return pending_.empty();
  }

  SendQueue out;
  Member member;
  std::vector<std::string> pending_;
};

std::string str(const rapidjson::Value& v, const char* key) {
  return v.HasMember(key) && v[key].IsString() ? v[key].GetString() : "<missing>";
}

class RoomServiceTest : public ::testing::Test {
 protected:
  RoomServiceTest() { config_.history = 5; }

  FakeClient& client(const std::string& room = "r") {
    clients_.push_back(std::make_unique<FakeClient>(&dirty_, uint32_t(clients_.size()), room));
    return *clients_.back();
  }
  // Sends `json` from `c`, as the worker does: decode once, then handle or refuse.
  Verdict send(FakeClient& c, const std::string& json) {
    text_ = json;
    DecodeError error;
    if (!decoder_.decode(text_, msg_, error)) {
      service_.refuse(c.member, error);
      return Verdict::Continue;
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
  EXPECT_EQ(str(w, "session").rfind("3-", 0), 0u) << "session ids carry the instance";
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
  ASSERT_EQ(b.out.frames(), 1u);
  ASSERT_EQ(c.out.frames(), 1u);
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
  EXPECT_EQ(service_.find_room("r")->find(sb)->following, sa);
  service_.leave(a.member, now_ns_);
  rapidjson::Document left = b.next();
  EXPECT_EQ(str(left, "type"), "presence");
  EXPECT_EQ(str(left, "event"), "leave");
  EXPECT_EQ(str(left, "session"), sa);
  EXPECT_TRUE(service_.find_room("r")->find(sb)->following.empty()) << "no ghost leader for late joiners";
}

TEST_F(RoomServiceTest, LeaveAsksTheTransportToCloseAndLeavingTwiceIsHarmless) {
  FakeClient& a = client();
  FakeClient& b = client();
  join(a, "ua");
  join(b, "ub");
  a.take();
  EXPECT_EQ(send(b, R"({"type":"leave"})"), Verdict::CloseNormal);
  service_.leave(b.member, now_ns_);
  service_.leave(b.member, now_ns_);
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
  service_.leave(a.member, now_ns_);
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

}  // namespace
}  // namespace roomcast
