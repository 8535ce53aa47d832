// tests/integration/api_test.cpp: the HTTP API on the WebSocket port (README "HTTP on the
// same port", docs/protocol.md "Publish"): GET /api/rooms/{room}/presence and
// POST /api/rooms/{room}/publish with its error answers.
#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;

const std::string kApiKey = "api-key-for-integration-tests-42";

std::string PostRequest(const std::string& path, const std::string& headers, const std::string& body,
                        bool with_length = true) {
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "Content-Type: application/json\r\n";
  if (with_length) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return req + "\r\n" + body;
}

std::string Bearer(const std::string& key) { return "Authorization: Bearer " + key + "\r\n"; }

// The body of an API error: a JSON object with a string "error".
::testing::AssertionResult IsJsonError(const HttpResponse& r) {
  rapidjson::Document d;
  d.Parse(r.body.c_str(), r.body.size());
  if (d.HasParseError() || !d.IsObject()) return ::testing::AssertionFailure() << "body is not a JSON object: " << r.body;
  if (!d.HasMember("error") || !d["error"].IsString() || d["error"].GetStringLength() == 0)
    return ::testing::AssertionFailure() << "no \"error\" string: " << r.body;
  return ::testing::AssertionSuccess();
}

class ApiTest : public RoomcastTest {
 protected:
  void StartWithKey(std::vector<std::string> extra = {}) {
    key_file_ = std::make_unique<TempFile>(kApiKey);
    extra.insert(extra.begin(), {"--api-key-file", key_file_->path});
    ASSERT_NO_FATAL_FAILURE(StartServer(extra));
  }
  HttpResponse Publish(const std::string& room, const std::string& body, const std::string& auth = "") {
    return http_raw(port(), PostRequest("/api/rooms/" + room + "/publish", auth.empty() ? Bearer(kApiKey) : auth, body));
  }
  // 200 {"seq":N}: returns N (or -1 with a failure recorded).
  long long PublishOk(const std::string& room, const std::string& body) {
    HttpResponse r = Publish(room, body);
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 200) << r.raw;
    rapidjson::Document d;
    d.Parse(r.body.c_str(), r.body.size());
    if (d.HasParseError() || !d.IsObject()) {
      ADD_FAILURE() << "publish answer is not a JSON object: " << r.body;
      return -1;
    }
    EXPECT_EQ(d.MemberCount(), 1u) << "answer must be exactly {\"seq\":N}: " << r.body;
    return iget(d, "seq");
  }
  rapidjson::Document Presence(const std::string& room) {
    HttpResponse r = http_get(port(), "/api/rooms/" + room + "/presence");
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_NE(r.headers["content-type"].find("application/json"), std::string::npos)
        << "Content-Type: " << r.headers["content-type"];
    rapidjson::Document d;
    d.Parse(r.body.c_str(), r.body.size());
    EXPECT_FALSE(d.HasParseError()) << r.body;
    EXPECT_TRUE(d.IsArray()) << r.body;
    return d;
  }
  std::unique_ptr<TempFile> key_file_;
};

// ------------------------------------------------------------------ presence

const rapidjson::Value* FindSession(const rapidjson::Document& arr, const std::string& session) {
  if (!arr.IsArray()) return nullptr;
  for (auto& v : arr.GetArray())
    if (sget(v, "session", "") == session) return &v;
  return nullptr;
}

TEST_F(ApiTest, PresenceListsEachSessionWithUserCameraSelectionAndFollowing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Member a = Join("pres", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("pres", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  // A: a camera, a selection, following B. B: nothing.
  ASSERT_TRUE(a->send_text(cursor_msg(1, 2, 3, 4, 5, 6, 50)));
  ASSERT_TRUE(a->send_text(R"({"type":"select","ids":["b-1","b-2"]})"));
  ASSERT_TRUE(a->send_text(R"({"type":"follow","session":)" + jstr(b.session) + "}"));
  for (const char* type : {"cursor", "select", "follow"}) {
    IT_ASSERT_JSON(m, b->recv_json());
    ASSERT_EQ(m.type(), type) << m.text;
  }
  rapidjson::Document d = Presence("pres");
  ASSERT_TRUE(d.IsArray());
  ASSERT_EQ(d.Size(), 2u) << to_json(d);
  for (auto& v : d.GetArray()) {
    ASSERT_TRUE(v.IsObject()) << to_json(d);
    for (const char* key : {"session", "user", "camera", "selection", "following"})
      EXPECT_TRUE(has(v, key)) << "presence entry without \"" << key << "\": " << to_json(v);
    EXPECT_TRUE(v["session"].IsString()) << to_json(v);
    EXPECT_TRUE(v["user"].IsObject()) << to_json(v);
    EXPECT_TRUE(v["camera"].IsNull() || v["camera"].IsObject()) << to_json(v);
    EXPECT_TRUE(v["selection"].IsArray()) << to_json(v);
    EXPECT_TRUE(v["following"].IsNull() || v["following"].IsString()) << to_json(v);
  }
  const rapidjson::Value* pa = FindSession(d, a.session);
  const rapidjson::Value* pb = FindSession(d, b.session);
  ASSERT_TRUE(pa && pb) << to_json(d);
  EXPECT_TRUE(json_equal((*pa)["user"], parse(R"({"id":"ua","name":"Name ua","color":"#00ff00"})"))) << to_json(*pa);
  ASSERT_TRUE((*pa)["camera"].IsObject()) << to_json(*pa);
  EXPECT_TRUE(json_equal((*pa)["camera"]["position"], parse("[1,2,3]"))) << to_json(*pa);
  EXPECT_TRUE(json_equal((*pa)["camera"]["target"], parse("[4,5,6]"))) << to_json(*pa);
  EXPECT_TRUE(json_equal((*pa)["selection"], parse(R"(["b-1","b-2"])"))) << to_json(*pa);
  EXPECT_EQ(sget(*pa, "following"), b.session) << to_json(*pa);
  EXPECT_TRUE((*pb)["camera"].IsNull()) << to_json(*pb);
  EXPECT_EQ((*pb)["selection"].Size(), 0u) << to_json(*pb);
  EXPECT_TRUE((*pb)["following"].IsNull()) << to_json(*pb);

  // After B leaves it is gone from the list, and A's following is null again.
  ASSERT_TRUE(b->send_text(R"({"type":"leave"})"));
  EXPECT_EQ(b->wait_close().code, 1000);
  IT_ASSERT_JSON(left, a->recv_json());
  EXPECT_EQ(sget(*left, "event"), "leave") << left.text;
  rapidjson::Document after = Presence("pres");
  ASSERT_TRUE(after.IsArray());
  ASSERT_EQ(after.Size(), 1u) << to_json(after);
  EXPECT_EQ(sget(after[0], "session"), a.session);
  EXPECT_TRUE(after[0]["following"].IsNull()) << "following a session that left: " << to_json(after);
}

TEST_F(ApiTest, PresenceOfUnknownRoomIsEmptyArray) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  rapidjson::Document d = Presence("never-used-room");
  ASSERT_TRUE(d.IsArray());
  EXPECT_EQ(d.Size(), 0u);
}

TEST_F(ApiTest, PresenceWithBadRoomNameIs404) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  for (const std::string& room : {std::string("bad!name"), std::string(129, 'a'), std::string("a%20b")}) {
    HttpResponse r = http_get(port(), "/api/rooms/" + room + "/presence");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 404) << room.substr(0, 20) << ": " << r.raw;
  }
  HttpResponse empty = http_get(port(), "/api/rooms//presence");
  EXPECT_EQ(empty.status, 404) << empty.raw;
}

TEST_F(ApiTest, PostToPresenceIs405) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  HttpResponse r = http_raw(port(), PostRequest("/api/rooms/r/presence", "", "{}"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 405) << r.raw;
}

// ------------------------------------------------------------------ publish

TEST_F(ApiTest, PublishInterleavedWithClientEditsContinuesTheRoomSeqAndIsReplayedToLateJoiners) {
  ASSERT_NO_FATAL_FAILURE(StartWithKey());
  Member a = Join("pub", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("pub", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);

  // seq 1 from A, 2 from the API, 3 from B, 4 from the API.
  ASSERT_TRUE(a->send_text(edit_msg("b1", "move", R"({"dx":1})")));
  IT_ASSERT_JSON(ack1, a->recv_json());
  EXPECT_EQ(iget(*ack1, "seq"), 1) << ack1.text;
  IT_ASSERT_JSON(e1, b->recv_json());
  EXPECT_EQ(iget(*e1, "seq"), 1) << e1.text;

  EXPECT_EQ(PublishOk("pub", R"({"building":"b2","op":"replace","data":{"h":31.5}})"), 2);
  for (Member* m : {&a, &b}) {
    IT_ASSERT_JSON(e, (*m)->recv_json());
    EXPECT_EQ(e.type(), "edit") << e.text;
    EXPECT_EQ(sget(*e, "session"), "server") << e.text;
    EXPECT_EQ(iget(*e, "seq"), 2) << e.text;
    EXPECT_EQ(sget(*e, "building"), "b2") << e.text;
    EXPECT_EQ(sget(*e, "op"), "replace") << e.text;
    ASSERT_TRUE(has(*e, "data")) << e.text;
    EXPECT_TRUE(json_equal((*e)["data"], parse(R"({"h":31.5})"))) << e.text;
  }

  ASSERT_TRUE(b->send_text(edit_msg("b3", "delete")));
  IT_ASSERT_JSON(ack3, b->recv_json());
  EXPECT_EQ(iget(*ack3, "seq"), 3) << ack3.text;
  IT_ASSERT_JSON(e3, a->recv_json());
  EXPECT_EQ(iget(*e3, "seq"), 3) << e3.text;

  // No data: relayed without data.
  EXPECT_EQ(PublishOk("pub", R"({"building":"b4","op":"delete"})"), 4);
  for (Member* m : {&a, &b}) {
    IT_ASSERT_JSON(e, (*m)->recv_json());
    EXPECT_EQ(iget(*e, "seq"), 4) << e.text;
    EXPECT_EQ(sget(*e, "session"), "server") << e.text;
    EXPECT_FALSE(has(*e, "data")) << e.text;
  }
  EXPECT_TRUE(a->expect_no_message(milliseconds(200)));

  // A late joiner with since 1 gets 2..4, the published ones from "server".
  JsonResult w;
  Member late = Join("pub", "late", 1, &w);
  ASSERT_TRUE(late.ws);
  EXPECT_EQ(iget(*w, "seq"), 4) << w.text;
  const char* sessions[] = {"server", b.session.c_str(), "server"};
  for (int seq = 2; seq <= 4; ++seq) {
    IT_ASSERT_JSON(e, late->recv_json());
    EXPECT_EQ(e.type(), "edit") << e.text;
    EXPECT_EQ(iget(*e, "seq"), seq) << e.text;
    EXPECT_EQ(sget(*e, "session"), sessions[seq - 2]) << e.text;
  }
}

TEST_F(ApiTest, PublishToRoomWithoutMembersCreatesItAndKeepsTheEditForSinceReplay) {
  ASSERT_NO_FATAL_FAILURE(StartWithKey());
  EXPECT_EQ(PublishOk("empty-room", R"({"building":"x","op":"create","data":[1,2]})"), 1);
  EXPECT_EQ(PublishOk("empty-room", R"({"building":"y","op":"create"})"), 2);
  JsonResult w;
  Member a = Join("empty-room", "ua", 0, &w);
  ASSERT_TRUE(a.ws);
  EXPECT_EQ(iget(*w, "seq"), 2) << w.text;
  for (int seq = 1; seq <= 2; ++seq) {
    IT_ASSERT_JSON(e, a->recv_json());
    EXPECT_EQ(e.type(), "edit") << e.text;
    EXPECT_EQ(iget(*e, "seq"), seq) << e.text;
    EXPECT_EQ(sget(*e, "session"), "server") << e.text;
  }
}

TEST_F(ApiTest, PublishWithoutOrWithWrongKeyIs401AndPublishesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartWithKey());
  Member a = Join("pub", "ua");
  ASSERT_TRUE(a.ws);
  const std::string body = R"({"building":"b","op":"x"})";
  for (const std::string& auth : {std::string("X-None: 1\r\n"), Bearer("wrong-key"), Bearer(kApiKey + "x"),
                                  Bearer(kApiKey.substr(0, kApiKey.size() - 1)), std::string("Authorization: Basic " + kApiKey + "\r\n"),
                                  std::string("Authorization: Bearer\r\n")}) {
    SCOPED_TRACE(auth);
    HttpResponse r = Publish("pub", body, auth);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 401) << r.raw;
    EXPECT_TRUE(IsJsonError(r));
  }
  EXPECT_TRUE(a->expect_no_message(milliseconds(200)));
  // The room's seq did not move.
  EXPECT_EQ(PublishOk("pub", body), 1);
}

TEST_F(ApiTest, PublishWhenServerHasNoApiKeyIs403) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  HttpResponse r = Publish("pub", R"({"building":"b","op":"x"})", Bearer("anything"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 403) << r.raw;
  EXPECT_TRUE(IsJsonError(r));
  HttpResponse none = Publish("pub", R"({"building":"b","op":"x"})", "X-None: 1\r\n");
  EXPECT_EQ(none.status, 403) << none.raw;
}

TEST_F(ApiTest, PublishWithBadBodyIs400WithJsonErrorAndPublishesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartWithKey());
  Member a = Join("pub", "ua");
  ASSERT_TRUE(a.ws);
  for (const std::string& body :
       {std::string("not json"), std::string(""), std::string("[]"), std::string(R"("building")"),
        std::string(R"({"building":"b"})"), std::string(R"({"op":"x"})"), std::string(R"({"building":5,"op":"x"})"),
        std::string(R"({"building":"b","op":null})"), std::string(R"({"building":"b","op":"x"} trailing)")}) {
    SCOPED_TRACE("body: " + body);
    HttpResponse r = Publish("pub", body);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 400) << r.raw;
    EXPECT_TRUE(IsJsonError(r));
  }
  EXPECT_TRUE(a->expect_no_message(milliseconds(200)));
  EXPECT_EQ(PublishOk("pub", R"({"building":"b","op":"x"})"), 1) << "a refused publish must not spend a seq";
}

TEST_F(ApiTest, PublishWithBadRoomNameIs404) {
  ASSERT_NO_FATAL_FAILURE(StartWithKey());
  HttpResponse r = Publish("bad!room", R"({"building":"b","op":"x"})");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 404) << r.raw;
  EXPECT_TRUE(IsJsonError(r)) << "docs/protocol.md: publish errors are JSON {\"error\":...}";
}

TEST_F(ApiTest, PublishWithoutContentLengthIs411) {
  ASSERT_NO_FATAL_FAILURE(StartWithKey());
  Member a = Join("pub", "ua");
  ASSERT_TRUE(a.ws);
  HttpResponse r = http_raw(port(), PostRequest("/api/rooms/pub/publish", Bearer(kApiKey), "", /*with_length=*/false));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 411) << r.raw;
  EXPECT_TRUE(IsJsonError(r)) << "docs/protocol.md: publish errors (411 included) are JSON {\"error\":...}";
  // Chunked bodies are not read either.
  HttpResponse chunked = http_raw(port(), PostRequest("/api/rooms/pub/publish", Bearer(kApiKey) +
                                                          "Transfer-Encoding: chunked\r\n",
                                                      "19\r\n{\"building\":\"b\",\"op\":\"x\"}\r\n0\r\n\r\n", false));
  ASSERT_TRUE(chunked.ok) << chunked.error;
  EXPECT_NE(chunked.status, 200) << chunked.raw;
  EXPECT_TRUE(a->expect_no_message(milliseconds(200)));
}

TEST_F(ApiTest, PublishBodyLargerThanMaxMessageIs413AndOneAtTheLimitIsAccepted) {
  ASSERT_NO_FATAL_FAILURE(StartWithKey({"--max-message", "1024"}));
  std::string prefix = R"({"building":"b","op":"x","data":")";
  std::string fits = prefix + std::string(1024 - prefix.size() - 2, 'a') + "\"}";
  ASSERT_EQ(fits.size(), 1024u);
  EXPECT_EQ(PublishOk("pub", fits), 1);
  std::string big = prefix + std::string(4000, 'a') + "\"}";
  HttpResponse r = Publish("pub", big);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 413) << r.raw.substr(0, 300);
  EXPECT_TRUE(IsJsonError(r));
  EXPECT_EQ(PublishOk("pub", R"({"building":"b","op":"x"})"), 2);
}

TEST_F(ApiTest, PublishBodySplitAcrossSeveralTcpWritesIsAccepted) {
  ASSERT_NO_FATAL_FAILURE(StartWithKey());
  Member a = Join("pub", "ua");
  ASSERT_TRUE(a.ws);
  std::string body = R"({"building":"split","op":"paint","data":"#fff"})";
  std::string req = PostRequest("/api/rooms/pub/publish", Bearer(kApiKey), body);
  size_t head = req.size() - body.size();
  // The head in two pieces, then the body in three.
  std::vector<std::string> chunks = {req.substr(0, 20), req.substr(20, head - 20), body.substr(0, 5),
                                     body.substr(5, 20), body.substr(25)};
  HttpResponse r = http_raw_chunks(port(), chunks, milliseconds(100), milliseconds(5000));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body, R"({"seq":1})");
  IT_ASSERT_JSON(e, a->recv_json());
  EXPECT_EQ(sget(*e, "building"), "split") << e.text;
  EXPECT_EQ(sget(*e, "data"), "#fff") << e.text;
}

}  // namespace
}  // namespace it
