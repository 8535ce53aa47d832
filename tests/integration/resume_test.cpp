// tests/integration/resume_test.cpp: docs/protocol.md 3.1-3.3 over real sockets: a
// dropped connection is not a departure (resume), edits are applied exactly once, and a
// `since` never replays another history (epochs).
#include <chrono>
#include <thread>

#include "redis_process.h"
#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A joined client that remembers what its welcome said.
struct Joined {
  std::unique_ptr<WsClient> ws;
  std::string session, resume, epoch;
  long long seq = 0;
  bool resumed = false, has_resumed = false;
  WsClient* operator->() { return ws.get(); }
};

class ResumeTest : public RoomcastTest {
 protected:
  // Connects to `room` and sends `join` (with `extra` fields appended to the object).
  Joined JoinWith(const std::string& room, const std::string& user, const std::string& extra = "") {
    Joined j;
    j.ws = Connect(room);
    if (!j.ws) return j;
    EXPECT_TRUE(j.ws->send_text(R"({"type":"join","user":{"id":")" + user + R"("})" + extra + "}"));
    JsonResult w = j.ws->recv_until_type("welcome");
    EXPECT_TRUE(w.ok) << w.error;
    if (!w.ok) return j;
    j.session = sget(*w, "session");
    j.resume = sget(*w, "resume");
    j.epoch = sget(*w, "epoch");
    j.seq = iget(*w, "seq");
    j.has_resumed = has(*w, "resumed");
    j.resumed = j.has_resumed && (*w)["resumed"].IsBool() && (*w)["resumed"].GetBool();
    EXPECT_EQ(sget(*w, "protocol"), "1.2") << w.text;
    return j;
  }
  std::string ResumeFields(const Joined& j, long long since) {
    return R"(,"resume":")" + j.resume + R"(","since":)" + std::to_string(since);
  }
  // The presence API entry of `session`, or null.
  std::string PresenceOf(const std::string& room, const std::string& session) {
    HttpResponse r = http_get(port(), "/api/rooms/" + room + "/presence");
    EXPECT_EQ(r.status, 200) << r.raw;
    rapidjson::Document d = parse(r.body);
    if (!d.IsArray()) return "";
    for (const auto& e : d.GetArray())
      if (sget(e, "session") == session) return to_json(e);
    return "";
  }
  double MetricValue(const std::string& sample) {
    HttpResponse m = http_get(port(), "/metrics");
    size_t at = m.body.find("\n" + sample + " ");
    return at == std::string::npos ? -1 : std::strtod(m.body.c_str() + at + sample.size() + 2, nullptr);
  }
};

TEST_F(ResumeTest, AnAbortedSocketIsHeldAndResumedWithoutObserversSeeingAnyPresenceEvent) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Joined observer = JoinWith("r", "obs");
  Joined a = JoinWith("r", "alice");
  ASSERT_TRUE(observer.ws && a.ws);
  ASSERT_TRUE(observer->recv_until_type("presence").ok);
  ASSERT_TRUE(a->send_text(R"({"type":"select","ids":["b-7"]})"));
  ASSERT_TRUE(observer->recv_until_type("select").ok);

  a->reset_tcp();  // no close frame, no FIN: a Wi-Fi drop
  EXPECT_TRUE(observer->expect_no_message(milliseconds(700))) << "a dropped session was announced";
  std::string entry = PresenceOf("r", a.session);
  EXPECT_NE(entry.find("\"connected\":false"), std::string::npos) << entry;
  EXPECT_NE(entry.find("b-7"), std::string::npos) << "selection kept while held: " << entry;
  EXPECT_EQ(MetricValue("roomcast_held_sessions"), 1);

  Joined again = JoinWith("r", "alice", ResumeFields(a, 0));
  ASSERT_TRUE(again.ws);
  EXPECT_EQ(again.session, a.session);
  EXPECT_TRUE(again.resumed);
  EXPECT_NE(again.resume, a.resume) << "each welcome issues a new token";
  EXPECT_TRUE(observer->expect_no_message(milliseconds(500))) << "a resume was announced";
  ASSERT_TRUE(again->send_text(cursor_msg(1, 2, 3, 0, 0, 0, 50)));
  IT_ASSERT_JSON(c, observer->recv_until_type("cursor"));
  EXPECT_EQ(sget(*c, "session"), a.session);
  EXPECT_NE(PresenceOf("r", a.session).find("\"connected\":true"), std::string::npos);
  EXPECT_EQ(MetricValue("roomcast_resumes_total{result=\"ok\"}"), 1);
}

TEST_F(ResumeTest, LateJoinersSeeAHeldSessionAsNotConnected) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Joined a = JoinWith("r", "alice");
  ASSERT_TRUE(a.ws);
  a->close_tcp();
  std::this_thread::sleep_for(milliseconds(200));
  auto late = Connect("r");
  ASSERT_TRUE(late);
  ASSERT_TRUE(late->send_text(join_msg("late")));
  IT_ASSERT_JSON(w, late->recv_json());
  ASSERT_EQ((*w)["peers"].Size(), 1u) << w.text;
  EXPECT_EQ(sget((*w)["peers"][0], "session"), a.session);
  EXPECT_FALSE((*w)["peers"][0]["connected"].GetBool()) << w.text;
}

TEST_F(ResumeTest, AfterTheGraceObserversGetLeaveAndALateResumeIsAFreshSession) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--resume-grace", "1"}));
  Joined observer = JoinWith("r", "obs");
  Joined a = JoinWith("r", "alice");
  ASSERT_TRUE(observer->recv_until_type("presence").ok);
  auto t0 = Clock::now();
  a->reset_tcp();
  IT_ASSERT_JSON(left, observer->recv_until_type("presence", milliseconds(3000)));
  double after = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(sget(*left, "event"), "leave");
  EXPECT_EQ(sget(*left, "session"), a.session);
  EXPECT_GE(after, 0.9) << "left before the grace";
  EXPECT_LE(after, 2.5) << "held far longer than the 1 s grace";
  Joined late = JoinWith("r", "alice", ResumeFields(a, 0));
  EXPECT_TRUE(late.has_resumed);
  EXPECT_FALSE(late.resumed);
  EXPECT_NE(late.session, a.session);
  IT_ASSERT_JSON(joined, observer->recv_until_type("presence"));
  EXPECT_EQ(sget(*joined, "event"), "join") << "a fresh session is announced";
  EXPECT_EQ(MetricValue("roomcast_resumes_total{result=\"expired\"}"), 1);
  EXPECT_EQ(MetricValue("roomcast_holds_expired_total"), 1);
}

TEST_F(ResumeTest, LeaveAndTheClientsCloseWith1000OrNoCodeEndTheSessionAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--resume-grace", "30"}));
  Joined observer = JoinWith("r", "obs");
  for (const std::string how : {"leave", "close1000", "close-no-code"}) {
    SCOPED_TRACE(how);
    Joined a = JoinWith("r", "u-" + how);
    ASSERT_TRUE(observer->recv_until_type("presence").ok);
    auto t0 = Clock::now();
    bool sent = how == "leave"       ? a->send_text(R"({"type":"leave"})")
                : how == "close1000" ? a->send_close(1000)
                                     : a->send_frame(kOpClose, "");
    ASSERT_TRUE(sent);
    IT_ASSERT_JSON(left, observer->recv_until_type("presence", milliseconds(2000)));
    EXPECT_EQ(sget(*left, "event"), "leave");
    EXPECT_LT(Clock::now() - t0, milliseconds(1000)) << "not held";
    // And the token is dead.
    Joined back = JoinWith("r", "u-" + how, ResumeFields(a, 0));
    EXPECT_FALSE(back.resumed);
    ASSERT_TRUE(observer->recv_until_type("presence").ok);
  }
}

TEST_F(ResumeTest, TheClientsCloseWith1001HoldsTheSession) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Joined observer = JoinWith("r", "obs");
  Joined a = JoinWith("r", "alice");
  ASSERT_TRUE(observer->recv_until_type("presence").ok);
  ASSERT_TRUE(a->send_close(1001, "tab hidden"));
  EXPECT_TRUE(observer->expect_no_message(milliseconds(600)));
  Joined again = JoinWith("r", "alice", ResumeFields(a, 0));
  EXPECT_TRUE(again.resumed);
  EXPECT_EQ(again.session, a.session);
}

TEST_F(ResumeTest, ResumingWhileTheOldConnectionIsStillAttachedClosesItWith4008) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Joined observer = JoinWith("r", "obs");
  Joined a = JoinWith("r", "alice");
  ASSERT_TRUE(observer->recv_until_type("presence").ok);
  Joined again = JoinWith("r", "alice", ResumeFields(a, 0));
  EXPECT_TRUE(again.resumed);
  EXPECT_EQ(again.session, a.session);
  CloseResult old = a->wait_close();
  EXPECT_TRUE(old.got_close_frame) << old.describe();
  EXPECT_EQ(old.code, 4008) << old.describe();
  EXPECT_EQ(old.reason, "replaced");
  EXPECT_TRUE(observer->expect_no_message(milliseconds(500)));
  EXPECT_EQ(MetricValue("roomcast_resumes_total{result=\"replaced\"}"), 1);
  EXPECT_EQ(MetricValue("roomcast_close_codes_sent_total{code=\"4008\"}"), 1);
}

TEST_F(ResumeTest, ResumeReplaysEditsAfterSinceBeforeLiveTraffic) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Joined a = JoinWith("r", "alice");
  Joined b = JoinWith("r", "bob");
  ASSERT_TRUE(a->recv_until_type("presence").ok);
  ASSERT_TRUE(a->send_text(edit_msg("b1", "set")));
  IT_ASSERT_JSON(e1, b->recv_until_type("edit"));
  a->reset_tcp();
  for (int i = 2; i <= 3; ++i) ASSERT_TRUE(b->send_text(edit_msg("b" + std::to_string(i), "set")));
  ASSERT_TRUE(b->recv_until_type("ack").ok);
  ASSERT_TRUE(b->recv_until_type("ack").ok);
  Joined again = JoinWith("r", "alice", ResumeFields(a, iget(*e1, "seq")));
  ASSERT_TRUE(again.resumed);
  IT_ASSERT_JSON(r2, again->recv_json());
  EXPECT_EQ(iget(*r2, "seq"), 2) << r2.text;
  IT_ASSERT_JSON(r3, again->recv_json());
  EXPECT_EQ(iget(*r3, "seq"), 3) << r3.text;
}

TEST_F(ResumeTest, GraceZeroTurnsResumeOff) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--resume-grace", "0"}));
  Joined observer = JoinWith("r", "obs");
  Joined a = JoinWith("r", "alice");
  ASSERT_TRUE(observer->recv_until_type("presence").ok);
  a->reset_tcp();
  IT_ASSERT_JSON(left, observer->recv_until_type("presence", milliseconds(2000)));
  EXPECT_EQ(sget(*left, "event"), "leave");
}

// Section 2: the ack was lost with the connection; the retry with the same id is safe.
TEST_F(ResumeTest, AnEditRetriedAfterALostAckIsAppliedExactlyOnce) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Joined observer = JoinWith("r", "obs");
  Joined a = JoinWith("r", "alice");
  ASSERT_TRUE(observer->recv_until_type("presence").ok);
  ASSERT_TRUE(a->send_text(edit_msg("tower", "raise", R"({"h":3})", "edit-1")));
  IT_ASSERT_JSON(relayed, observer->recv_until_type("edit"));  // applied...
  a->reset_tcp();                                                // ...but the ack is never read
  Joined again = JoinWith("r", "alice", ResumeFields(a, 0));
  ASSERT_TRUE(again.resumed);
  IT_ASSERT_JSON(replayed, again->recv_until_type("edit"));
  ASSERT_TRUE(again->send_text(edit_msg("tower", "raise", R"({"h":3})", "edit-1")));
  IT_ASSERT_JSON(ack, again->recv_until_type("ack"));
  EXPECT_EQ(iget(*ack, "seq"), iget(*relayed, "seq")) << ack.text;
  EXPECT_TRUE(has(*ack, "duplicate") && (*ack)["duplicate"].GetBool()) << ack.text;
  EXPECT_TRUE(observer->expect_no_message(milliseconds(500))) << "the retry was applied twice";
  // Another user's edit with the same id is its own edit.
  ASSERT_TRUE(observer->send_text(edit_msg("tower", "raise", "", "edit-1")));
  IT_ASSERT_JSON(ack2, observer->recv_until_type("ack"));
  EXPECT_EQ(iget(*ack2, "seq"), iget(*relayed, "seq") + 1);
  EXPECT_FALSE(has(*ack2, "duplicate"));
}

// Section 3: a `since` counted in another history gets resync, never a replay.
TEST_F(ResumeTest, ASinceFromAnotherEpochGetsResyncAndANewRoomHasANewEpoch) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--room-ttl", "1"}));
  Joined a = JoinWith("r", "alice");
  ASSERT_FALSE(a.epoch.empty());
  ASSERT_TRUE(a->send_text(edit_msg("b", "o")));
  ASSERT_TRUE(a->recv_until_type("ack").ok);
  Joined same = JoinWith("r", "u2", R"(,"since":1,"epoch":")" + a.epoch + R"(")");
  EXPECT_TRUE(same->expect_no_message(milliseconds(300))) << "same epoch and up to date: nothing";
  Joined other = JoinWith("r", "u3", R"(,"since":1,"epoch":"someone-elses")");
  IT_ASSERT_JSON(r, other->recv_json());
  EXPECT_EQ(r.type(), "resync") << r.text;
  // Everybody leaves; the room is forgotten after --room-ttl and starts a new history.
  for (Joined* j : {&a, &same, &other}) ASSERT_TRUE((*j)->send_text(R"({"type":"leave"})"));
  for (Joined* j : {&a, &same, &other}) (*j)->wait_close();
  std::this_thread::sleep_for(milliseconds(2500));
  Joined back = JoinWith("r", "alice", R"(,"since":1,"epoch":")" + a.epoch + R"(")");
  EXPECT_NE(back.epoch, a.epoch);
  IT_ASSERT_JSON(r2, back->recv_json());
  EXPECT_EQ(r2.type(), "resync") << r2.text;
}

// Issue: an office behind one NAT address, at its connection limit, lost its network: every
// resume was refused 429 and everyone's presence flapped.
class NatResumeTest : public ResumeTest {
 protected:
  void RunOfficeAtItsLimit(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--max-connections-per-ip", "20", "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_NO_FATAL_FAILURE(StartServer(args));
    ConnectOptions o;
    o.path = "/ws/site";
    o.bind_ip = "127.0.0.2";  // someone elsewhere, watching
    std::string err;
    auto observer = WsClient::connect(port(), o, &err);
    ASSERT_TRUE(observer) << err;
    ASSERT_TRUE(observer->send_text(join_msg("watcher")));
    ASSERT_TRUE(observer->recv_until_type("welcome").ok);
    std::vector<Joined> office;
    for (int i = 0; i < 20; ++i) {
      office.push_back(JoinWith("site", "tablet-" + std::to_string(i)));
      ASSERT_TRUE(office.back().ws);
    }
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(observer->recv_until_type("presence").ok);
    HttpResponse full = http_get(port(), "/ws/site", kUpgradeHeadersForTest);
    ASSERT_EQ(full.status, 429) << "the address is at its limit";
    for (Joined& j : office) j->reset_tcp();  // the Wi-Fi drops for everyone
    ASSERT_TRUE(Eventually([&] { return MetricValue("roomcast_held_sessions") == 20; }));
    auto resume = [&](Joined& j) {
      Joined back = JoinWith("site", "x", ResumeFields(j, j.seq));
      ASSERT_TRUE(back.ws) << "a resume is never refused for its address's count";
      EXPECT_TRUE(back.resumed);
      EXPECT_EQ(back.session, j.session);
      j.ws = std::move(back.ws);
    };
    for (int i = 0; i < 19; ++i) ASSERT_NO_FATAL_FAILURE(resume(office[size_t(i)]));
    // While a held session still fills the address, a fresh join is upgraded (it might have
    // been a resume) and told 1013 at its join.
    auto fresh = Connect("site");
    ASSERT_TRUE(fresh);
    ASSERT_TRUE(fresh->send_text(join_msg("newcomer")));
    EXPECT_EQ(fresh->wait_close(milliseconds(4000)).code, 1013);
    ASSERT_NO_FATAL_FAILURE(resume(office[19]));
    EXPECT_TRUE(observer->expect_no_message(milliseconds(500))) << "nobody left, nobody joined";
    // Nothing is held any more: the server can tell, and refuses before the upgrade.
    EXPECT_EQ(http_get(port(), "/ws/site", kUpgradeHeadersForTest).status, 429);
    ASSERT_TRUE(office[3]->send_text(R"({"type":"select","ids":["b-1"]})"));
    EXPECT_TRUE(observer->recv_until_type("select").ok);
  }
  template <typename F>
  bool Eventually(F&& probe) {
    for (int i = 0; i < 50; ++i) {
      if (probe()) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
  }
  const std::string kUpgradeHeadersForTest =
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n";
};

TEST_F(NatResumeTest, AWholeOfficeBehindOneAddressResumesAtItsConnectionLimitWithoutPresenceEvents) {
  RunOfficeAtItsLimit({});
}

TEST_F(NatResumeTest, WithRedisAWholeOfficeBehindOneAddressResumesAtItsConnectionLimit) {
  std::string err;
  auto redis = RedisProcess::start(&err);
  if (!redis) GTEST_SKIP() << "redis-server: " << err;
  RunOfficeAtItsLimit({"--redis", redis->url()});
}

}  // namespace
}  // namespace it
