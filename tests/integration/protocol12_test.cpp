// tests/integration/protocol12_test.cpp: protocol 1.2 on the real binary (docs/protocol.md
// 3.7, 3.8): viewers and editors from the token's `edit` claim, presenting, and camera
// rate by attention. Run on both backends (IT_ROOMCAST_ARGS="--backend epoll").
#include <chrono>
#include <ctime>
#include <thread>

#include "../proto/jwt_sign.h"
#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const std::string kSecret = "protocol-12-test-secret-0123456789";

std::string token(const std::string& sub, const std::string& claims = "") {
  return roomcast::jwt_sign::sign(R"({"alg":"HS256","typ":"JWT"})",
                                  R"({"sub":)" + jstr(sub) + R"(,"exp":)" +
                                      std::to_string(static_cast<long long>(std::time(nullptr)) + 3600) + claims + "}",
                                  kSecret);
}

class Protocol12Test : public RoomcastTest {
 protected:
  void StartWithAuth() {
    secret_ = std::make_unique<TempFile>(kSecret);
    ASSERT_NO_FATAL_FAILURE(StartServer({"--jwt-secret-file", secret_->path, "--rate-limit", "10000", "--rate-burst", "10000"}));
  }
  // Connects with `tok` on the upgrade, joins; returns the welcome in *welcome.
  std::unique_ptr<WsClient> JoinWith(const std::string& room, const std::string& user, const std::string& tok,
                                     JsonResult* welcome, const std::string& extra = "") {
    std::string err;
    ConnectOptions o;
    o.path = "/ws/" + room + (tok.empty() ? "" : "?token=" + tok);
    auto ws = WsClient::connect(port(), o, &err);
    if (!ws) {
      ADD_FAILURE() << err;
      return nullptr;
    }
    ws->send_text(R"({"type":"join","user":{"id":)" + jstr(user) + "}" + extra + "}");
    *welcome = ws->recv_json(milliseconds(5000));
    EXPECT_TRUE(welcome->ok) << welcome->error;
    EXPECT_EQ(welcome->type(), "welcome") << welcome->text;
    return ws;
  }
  std::unique_ptr<TempFile> secret_;
};

TEST_F(Protocol12Test, AViewerLooksAndMovesButItsEditsAreForbiddenAndConsumeNoSeq) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  JsonResult we, wv;
  auto editor = JoinWith("site", "ed", token("ed"), &we);
  ASSERT_TRUE(editor);
  EXPECT_EQ(sget(*we, "protocol"), "1.2");
  EXPECT_EQ(sget(*we, "role"), "editor") << "no `edit` claim: the same rooms as `rooms`";
  auto viewer = JoinWith("site", "vi", token("vi", R"(,"edit":[])"), &wv);
  ASSERT_TRUE(viewer);
  EXPECT_EQ(sget(*wv, "role"), "viewer");
  ASSERT_EQ((*wv)["peers"].Size(), 1u);
  EXPECT_EQ(sget((*wv)["peers"][0], "role"), "editor");
  IT_ASSERT_JSON(pj, editor->recv_until_type("presence", milliseconds(5000)));
  EXPECT_EQ(sget(*pj, "role"), "viewer") << pj.text;

  ASSERT_TRUE(viewer->send_text(edit_msg("b1", "move", R"({"x":1})", "e-1")));
  IT_ASSERT_JSON(err, viewer->recv_json(milliseconds(5000)));
  EXPECT_EQ(err.type(), "error") << err.text;
  EXPECT_EQ(sget(*err, "code"), "forbidden") << err.text;
  EXPECT_EQ(sget(*err, "id"), "e-1") << err.text;
  ASSERT_TRUE(viewer->send_text(R"({"type":"present"})"));
  IT_ASSERT_JSON(err2, viewer->recv_json(milliseconds(5000)));
  EXPECT_EQ(sget(*err2, "code"), "forbidden") << err2.text;

  // Still open, and its camera flows like anyone's.
  ASSERT_TRUE(viewer->send_text(cursor_msg(7, 0, 0, 0, 0, 0)));
  IT_ASSERT_JSON(cam, editor->recv_json(milliseconds(5000)));
  EXPECT_EQ(cam.type(), "cursor") << "the refused edit reached the editor first? " << cam.text;
  EXPECT_EQ(sget(*cam, "session"), sget(*wv, "session"));

  ASSERT_TRUE(editor->send_text(edit_msg("b1", "move", "", "e-2")));
  IT_ASSERT_JSON(ack, editor->recv_json(milliseconds(5000)));
  EXPECT_EQ(ack.type(), "ack") << ack.text;
  EXPECT_EQ(iget(*ack, "seq"), 1) << "the viewer's edit consumed no seq";
  IT_ASSERT_JSON(ed, viewer->recv_json(milliseconds(5000)));
  EXPECT_EQ(ed.type(), "edit") << ed.text;

  HttpResponse r = http_get(port(), "/api/rooms/site/presence", "Authorization: Bearer " + token("ed") + "\r\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("role":"viewer")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("role":"editor")"), std::string::npos) << r.body;
}

TEST_F(Protocol12Test, ARefreshToViewOnlyTellsTheOthersAndEndsPresenting) {
  ASSERT_NO_FATAL_FAILURE(StartWithAuth());
  JsonResult wa, wb;
  auto a = JoinWith("r", "alice", token("alice"), &wa);
  auto b = JoinWith("r", "bob", token("bob"), &wb);
  ASSERT_TRUE(a && b);
  IT_ASSERT_JSON(pj, a->recv_until_type("presence", milliseconds(5000)));
  ASSERT_TRUE(a->send_text(R"({"type":"present"})"));
  IT_ASSERT_JSON(p1, b->recv_json(milliseconds(5000)));
  EXPECT_EQ(p1.type(), "presenting") << p1.text;
  EXPECT_EQ(sget(*p1, "session"), sget(*wa, "session"));
  IT_ASSERT_JSON(p1a, a->recv_json(milliseconds(5000)));
  EXPECT_EQ(p1a.type(), "presenting") << "the sender hears it too: " << p1a.text;

  ASSERT_TRUE(a->send_text(R"({"type":"refresh","token":)" + jstr(token("alice", R"(,"edit":[])")) + "}"));
  IT_ASSERT_JSON(refreshed, a->recv_until_type("refreshed", milliseconds(5000)));
  EXPECT_EQ(sget(*refreshed, "role"), "viewer") << refreshed.text;
  IT_ASSERT_JSON(role, b->recv_json(milliseconds(5000)));
  EXPECT_EQ(sget(*role, "event"), "role") << role.text;
  EXPECT_EQ(sget(*role, "role"), "viewer") << role.text;
  IT_ASSERT_JSON(stop, b->recv_json(milliseconds(5000)));
  EXPECT_EQ(stop.type(), "presenting") << stop.text;
  EXPECT_TRUE((*stop)["session"].IsNull()) << stop.text;
}

TEST_F(Protocol12Test, PresentingReachesEveryoneLateJoinersSeeItAndThePresenterLeavingEndsIt) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  JsonResult wa, wb, wc;
  auto a = JoinWith("r", "alice", "", &wa);
  auto b = JoinWith("r", "bob", "", &wb);
  ASSERT_TRUE(a && b);
  IT_ASSERT_JSON(pj, a->recv_until_type("presence", milliseconds(5000)));
  EXPECT_TRUE((*wa)["presenter"].IsNull()) << wa.text;
  ASSERT_TRUE(a->send_text(R"({"type":"present"})"));
  for (WsClient* c : {a.get(), b.get()}) {
    IT_ASSERT_JSON(p, c->recv_json(milliseconds(5000)));
    EXPECT_EQ(p.type(), "presenting") << p.text;
    EXPECT_EQ(sget(*p, "session"), sget(*wa, "session")) << p.text;
    EXPECT_EQ(sget((*p)["user"], "id"), "alice") << p.text;
  }
  auto c = JoinWith("r", "carol", "", &wc);
  ASSERT_TRUE(c);
  EXPECT_EQ(sget(*wc, "presenter"), sget(*wa, "session")) << wc.text;
  // Takeover.
  ASSERT_TRUE(b->send_text(R"({"type":"present"})"));
  IT_ASSERT_JSON(t, c->recv_until_type("presenting", milliseconds(5000)));
  EXPECT_EQ(sget(*t, "session"), sget(*wb, "session")) << t.text;
  // The presenter leaves.
  ASSERT_TRUE(b->send_text(R"({"type":"leave"})"));
  IT_ASSERT_JSON(end, c->recv_until_type("presenting", milliseconds(5000)));
  EXPECT_TRUE((*end)["session"].IsNull()) << end.text;
}

// A reduced member (camera_rate 2) gets the newest cursor of a sender about twice a
// second, in about as many writes; a full-rate member gets them all; a follower of the
// sender gets them all though it has a camera_rate.
TEST_F(Protocol12Test, CameraRateLimitsWhatAReducedMemberGetsButNeverTheNewest) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--rate-limit", "10000", "--rate-burst", "10000"}));
  JsonResult ws, wslow, wfull, wfol;
  auto sender = JoinWith("r", "sender", "", &ws);
  auto slow = JoinWith("r", "slow", "", &wslow, R"(,"camera_rate":2)");
  auto full = JoinWith("r", "full", "", &wfull);
  auto follower = JoinWith("r", "follower", "", &wfol, R"(,"camera_rate":2)");
  ASSERT_TRUE(sender && slow && full && follower);
  EXPECT_EQ(nget(*wslow, "camera_rate"), 2) << wslow.text;
  ASSERT_TRUE(follower->send_text(R"({"type":"follow","session":)" + jstr(sget(*ws, "session")) + "}"));
  // Let the presence events and the follow settle, then drain them.
  std::this_thread::sleep_for(milliseconds(300));
  for (WsClient* c : {sender.get(), slow.get(), full.get(), follower.get()}) (void)c->expect_no_message(milliseconds(50));

  // 40 cursors over 2 s (20 a second).
  const auto start = Clock::now();
  for (int i = 1; i <= 40; ++i) {
    ASSERT_TRUE(sender->send_text(cursor_msg(i, 0, 0, 0, 0, 0)));
    std::this_thread::sleep_until(start + milliseconds(50 * i));
  }
  auto count = [](WsClient& c, Millis quiet, double* last) {
    int n = 0;
    for (int guard = 0; guard < 200; ++guard) {
      JsonResult m = c.recv_json(quiet);
      if (!m.ok) break;
      if (m.type() != "cursor") continue;
      ++n;
      if ((*m)["position"].IsArray() && (*m)["position"][0].IsNumber()) *last = (*m)["position"][0].GetDouble();
    }
    return n;
  };
  double last_slow = 0, last_full = 0, last_fol = 0;
  const int got_slow = count(*slow, milliseconds(1000), &last_slow);
  const int got_full = count(*full, milliseconds(300), &last_full);
  const int got_fol = count(*follower, milliseconds(300), &last_fol);
  EXPECT_GE(got_full, 38) << "without camera_rate nearly every cursor arrives (latest wins may skip a few)";
  EXPECT_GE(got_fol, 38) << "the followed sender arrives at full rate";
  EXPECT_LE(got_slow, 6) << "2 a second for 2 s (plus one at the start and one at the end)";
  EXPECT_GE(got_slow, 3);
  EXPECT_EQ(last_slow, 40) << "the newest cursor is never lost";
  EXPECT_EQ(last_full, 40);
  EXPECT_EQ(last_fol, 40);
}

}  // namespace
}  // namespace it
