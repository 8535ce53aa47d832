// tests/integration/hooks_test.cpp: the app's backend in the loop (docs/integration.md 1-4)
// with the real binary and a test HTTP server on 127.0.0.1 as the backend: the auth hook
// (allow, 401, 403, timeout and no backend -> 503 + Retry-After, expires_in -> 4001), the
// edit hook (accept, reject, rewrite, timeout -> unavailable; the sender's order kept,
// the others' cursors not delayed), webhooks (in order, retried after a 500, signed per
// Standard Webhooks, stable ids; the publish API's edits too), and a dead backend that
// never disconnects anyone.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <sstream>
#include <thread>

#include "../core/backend/test_http_server.h"  // header-only, no server code
#include "redis_process.h"
#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using roomcast::test::TestHttpServer;
using Request = TestHttpServer::Request;
using Response = TestHttpServer::Response;

// 32 key bytes 0x01..0x20, as a Standard Webhooks secret.
std::string key_bytes() {
  std::string k;
  for (int i = 1; i <= 32; ++i) k.push_back(char(i));
  return k;
}
std::string b64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
  out.resize(size_t(n));
  return out;
}
const std::string kSecret = "whsec_" + b64(key_bytes());

// The Standard Webhooks check a backend makes: v1,<base64 HMAC-SHA256(key, id.ts.body)>.
bool signature_ok(const Request& r) {
  auto h = [&](const char* name) {
    auto it = r.headers.find(name);
    return it == r.headers.end() ? std::string() : it->second;
  };
  const std::string signed_text = h("webhook-id") + "." + h("webhook-timestamp") + "." + r.body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  const std::string key = key_bytes();
  HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(signed_text.data()),
       signed_text.size(), mac, &len);
  const std::string expected = "v1," + b64(std::string(reinterpret_cast<char*>(mac), len));
  const long long ts = std::atoll(h("webhook-timestamp").c_str());
  return h("webhook-signature") == expected && std::llabs(ts - (long long)std::time(nullptr)) < 60;
}

// A port on 127.0.0.1 where nothing listens.
uint16_t dead_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t l = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  ::close(fd);
  return ntohs(a.sin_port);
}

class HooksTest : public RoomcastTest {
 protected:
  void StartWithHooks(std::vector<std::string> extra) {
    secret_ = std::make_unique<TempFile>(kSecret + "\n");
    extra.insert(extra.begin(), {"--hook-secret-file", secret_->path});
    ASSERT_NO_FATAL_FAILURE(StartServer(extra));
  }
  HttpResponse Upgrade(const std::string& path, const std::string& headers = "") {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                            headers + "\r\n";
    return http_raw(port(), req, milliseconds(5000));
  }
  std::unique_ptr<WsClient> ConnectWith(const std::string& room, const std::string& cookie) {
    ConnectOptions o;
    o.path = "/ws/" + room;
    if (!cookie.empty()) o.extra_headers.push_back({"Cookie", cookie});
    std::string err;
    auto c = WsClient::connect(port(), o, &err);
    EXPECT_TRUE(c) << err;
    return c;
  }
  // Waits (bounded) until `pred` holds for the server's requests.
  template <typename P>
  bool WaitFor(TestHttpServer& s, P pred, milliseconds limit = milliseconds(8000)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred(s.requests())) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return pred(s.requests());
  }
  std::unique_ptr<TempFile> secret_;
};

// ---- auth hook (section 2) ------------------------------------------------------------

Response auth_backend(const Request& r) {
  auto doc = parse(r.body);
  const std::string cookie = doc.HasMember("headers") && doc["headers"].HasMember("cookie")
                                 ? doc["headers"]["cookie"].GetString() : "";
  if (cookie == "session=alice") return {200, R"({"user":{"id":"alice","name":"Alice"},"rooms":["lobby"],"edit":[]})"};
  if (cookie == "session=brief") return {200, R"({"user":{"id":"brief"},"expires_in":1})"};
  if (cookie == "session=noid") return {200, R"({"user":{"name":"Nobody"}})"};
  if (cookie == "session=banned") return {403, "{}"};
  return {401, "{}"};
}

TEST_F(HooksTest, AuthHookUpgradesWithTheIdentityTheBackendGives) {
  TestHttpServer backend(auth_backend);
  ASSERT_NO_FATAL_FAILURE(StartWithHooks({"--auth-hook", backend.url("/auth")}));
  auto c = ConnectWith("lobby", "session=alice");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(join_msg("mallory", "Mallory")));  // `join` cannot claim another user
  IT_ASSERT_JSON(w, c->recv_json());
  ASSERT_EQ(w.type(), "welcome") << w.text;
  EXPECT_EQ(sget((*w)["user"], "id"), "alice");
  // `"edit": []`: the backend made alice a viewer of this room (docs/protocol.md 7.1).
  EXPECT_EQ(sget(*w, "role"), "viewer") << w.text;
  ASSERT_TRUE(c->send_text(R"({"type":"edit","id":"e1","building":"b","op":"move"})"));
  IT_ASSERT_JSON(refused, c->recv_json());
  EXPECT_EQ(sget(*refused, "code"), "forbidden") << refused.text;
  const std::vector<Request> asked = backend.requests();
  ASSERT_EQ(asked.size(), 1u);
  const Request& r = asked[0];
  EXPECT_TRUE(signature_ok(r)) << "the auth hook request is signed per Standard Webhooks";
  auto body = parse(r.body);
  EXPECT_EQ(sget(body, "room"), "lobby");
  EXPECT_EQ(sget(body["headers"], "cookie"), "session=alice");
  EXPECT_EQ(sget(body, "remote_addr"), "127.0.0.1");
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.headers.at("user-agent").rfind("roomcast/", 0), 0u);
}

TEST_F(HooksTest, AuthHookRefusalsAre401And403AndABrokenAnswer503) {
  TestHttpServer backend(auth_backend);
  ASSERT_NO_FATAL_FAILURE(StartWithHooks({"--auth-hook", backend.url("/auth")}));
  EXPECT_EQ(Upgrade("/ws/lobby", "Cookie: session=stranger\r\n").status, 401);
  EXPECT_EQ(Upgrade("/ws/lobby", "Cookie: session=banned\r\n").status, 403);
  EXPECT_EQ(Upgrade("/ws/attic", "Cookie: session=alice\r\n").status, 403) << "`rooms` excludes the room";
  EXPECT_EQ(Upgrade("/ws/lobby", "Cookie: session=noid\r\n").status, 503) << "no user.id: never an anonymous upgrade";
  EXPECT_EQ(Upgrade("/ws/lobby", "Cookie: session=alice\r\n").status, 101);
}

TEST_F(HooksTest, AuthHookTimeoutOrNoBackendIs503WithRetryAfter) {
  TestHttpServer slow([](const Request&) { return Response{200, R"({"user":{"id":"late"}})", 2000}; });
  ASSERT_NO_FATAL_FAILURE(StartWithHooks({"--auth-hook", slow.url("/auth"), "--hook-timeout", "300ms"}));
  const auto t0 = std::chrono::steady_clock::now();
  HttpResponse r = Upgrade("/ws/lobby", "Cookie: session=alice\r\n");
  const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["retry-after"], "5");
  EXPECT_LT(took, 1500) << "bounded by --hook-timeout";

  server_.reset();
  ASSERT_NO_FATAL_FAILURE(
      StartWithHooks({"--auth-hook", "http://127.0.0.1:" + std::to_string(dead_port()) + "/auth"}));
  r = Upgrade("/ws/lobby", "Cookie: session=alice\r\n");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["retry-after"], "5");
}

TEST_F(HooksTest, AuthHookExpiresInClosesWith4001) {
  TestHttpServer backend(auth_backend);
  ASSERT_NO_FATAL_FAILURE(StartWithHooks({"--auth-hook", backend.url("/auth")}));
  auto c = ConnectWith("lobby", "session=brief");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(join_msg("brief")));
  IT_ASSERT_JSON(w, c->recv_json());
  ASSERT_EQ(w.type(), "welcome");
  CloseResult closed = c->wait_close(milliseconds(5000));
  EXPECT_EQ(closed.code, 4001);
}

// ---- edit hook (section 3) ------------------------------------------------------------

Response edit_backend(const Request& r) {
  auto doc = parse(r.body);
  const std::string op = sget(doc, "op");
  if (op == "veto") return {403, R"({"reason":"building B1 is locked"})"};
  if (op == "tidy") return {200, R"({"data":{"name":"Tidy name"}})"};
  if (op == "slow") return {200, "{}", 1500};
  if (op == "down") return {502, "{}"};
  return {200, ""};
}

TEST_F(HooksTest, EditHookAcceptsRejectsAndRewrites) {
  TestHttpServer backend(edit_backend);
  ASSERT_NO_FATAL_FAILURE(StartWithHooks({"--edit-hook", backend.url("/edit")}));
  Member a = Join("r", "alice");
  Member b = Join("r", "bob");
  ASSERT_TRUE(a.ws && b.ws);
  ASSERT_TRUE(a->recv_until_type("presence").ok);

  ASSERT_TRUE(a->send_text(edit_msg("B1", "veto", R"({"x":1})", "e1")));
  IT_ASSERT_JSON(rej, a->recv_json());
  EXPECT_EQ(rej.type(), "error") << rej.text;
  EXPECT_EQ(sget(*rej, "code"), "rejected");
  EXPECT_EQ(sget(*rej, "id"), "e1");
  EXPECT_EQ(sget(*rej, "reason"), "building B1 is locked");

  ASSERT_TRUE(a->send_text(edit_msg("B1", "tidy", R"({"name":"  tidy  "})", "e2")));
  IT_ASSERT_JSON(mine, a->recv_json());
  EXPECT_EQ(mine.type(), "edit") << "the sender receives the stored version: " << mine.text;
  EXPECT_EQ(sget((*mine)["data"], "name"), "Tidy name");
  IT_ASSERT_JSON(ack, a->recv_json());
  EXPECT_EQ(ack.type(), "ack") << ack.text;
  EXPECT_EQ(iget(*ack, "seq"), 1) << "the veto consumed no seq";
  EXPECT_TRUE(has(*ack, "rewritten") && (*ack)["rewritten"].GetBool()) << ack.text;

  ASSERT_TRUE(a->send_text(edit_msg("B1", "move", R"({"x":2})", "e3")));
  IT_ASSERT_JSON(ack2, a->recv_json());
  EXPECT_EQ(ack2.type(), "ack") << ack2.text;
  EXPECT_EQ(iget(*ack2, "seq"), 2);
  EXPECT_FALSE(has(*ack2, "rewritten"));

  // Bob saw the rewritten edit and the accepted one, never the vetoed one.
  IT_ASSERT_JSON(e1, b->recv_json());
  EXPECT_EQ(sget((*e1)["data"], "name"), "Tidy name") << e1.text;
  IT_ASSERT_JSON(e2, b->recv_json());
  EXPECT_EQ(sget(*e2, "op"), "move") << e2.text;

  // The hook was asked with the edit as sent, signed, webhook-id edit-hook:<room>:<session>:<id>.
  std::vector<Request> asked = backend.requests();
  ASSERT_EQ(asked.size(), 3u);
  EXPECT_EQ(asked[1].headers["webhook-id"], "edit-hook:r:" + a.session + ":e2");
  EXPECT_TRUE(signature_ok(asked[1]));
  auto sent = parse(asked[1].body);
  EXPECT_EQ(sget(sent["data"], "name"), "  tidy  ");
  EXPECT_EQ(sget(sent["user"], "id"), "alice");

  // A duplicate is answered without asking the hook.
  ASSERT_TRUE(a->send_text(edit_msg("B1", "move", R"({"x":2})", "e3")));
  IT_ASSERT_JSON(dup, a->recv_json());
  EXPECT_TRUE(has(*dup, "duplicate")) << dup.text;
  EXPECT_EQ(backend.requests().size(), 3u);
}

TEST_F(HooksTest, EditHookTimeoutIsUnavailableSenderOrderKeptOthersNotDelayed) {
  TestHttpServer backend(edit_backend);
  ASSERT_NO_FATAL_FAILURE(StartWithHooks({"--edit-hook", backend.url("/edit"), "--hook-timeout", "400ms"}));
  Member a = Join("r", "alice");
  Member b = Join("r", "bob");
  ASSERT_TRUE(a.ws && b.ws);
  ASSERT_TRUE(a->recv_until_type("presence").ok);

  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(a->send_text(edit_msg("B1", "slow", "", "s1")));
  ASSERT_TRUE(a->send_text(edit_msg("B1", "move", "", "s2")));  // waits behind s1's answer
  // Bob's camera reaches Alice at once, while her edit waits for the hook.
  ASSERT_TRUE(b->send_text(cursor_msg(1, 2, 3, 0, 0, 0)));
  IT_ASSERT_JSON(cam, a->recv_json(milliseconds(2000)));
  EXPECT_EQ(cam.type(), "cursor") << cam.text;
  EXPECT_LT(std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count(), 300)
      << "others' cameras never wait for a hook";

  IT_ASSERT_JSON(first, a->recv_json(milliseconds(3000)));
  EXPECT_EQ(first.type(), "error") << first.text;
  EXPECT_EQ(sget(*first, "code"), "unavailable");
  IT_ASSERT_JSON(second, a->recv_json(milliseconds(3000)));
  EXPECT_EQ(second.type(), "ack") << second.text;
  EXPECT_EQ(sget(*second, "id"), "s2");
  EXPECT_EQ(iget(*second, "seq"), 1) << "the unavailable edit consumed no seq";

  ASSERT_TRUE(a->send_text(edit_msg("B1", "down", "", "s3")));
  IT_ASSERT_JSON(down, a->recv_json(milliseconds(3000)));
  EXPECT_EQ(sget(*down, "code"), "unavailable") << "a 5xx is unavailable: " << down.text;
}

// ---- webhooks (section 4) -------------------------------------------------------------

TEST_F(HooksTest, WebhooksArriveInOrderSignedAndAreRetriedAfterA500) {
  std::atomic<int> seq2_attempts{0};
  TestHttpServer receiver([&](const Request& r) {
    if (r.headers.count("webhook-id") && r.headers.at("webhook-id").find(":2") != std::string::npos &&
        r.headers.at("webhook-id").rfind("edit:", 0) == 0 && seq2_attempts++ == 0)
      return Response{500, "{}"};
    return Response{200, ""};
  });
  std::string key_file_body = "test-api-key-0123456789";
  TempFile api_key(key_file_body);
  ASSERT_NO_FATAL_FAILURE(StartWithHooks({"--webhook", receiver.url("/events"), "--api-key-file", api_key.path}));
  Member a = Join("w", "alice");
  ASSERT_TRUE(a.ws);
  for (int i = 1; i <= 4; ++i) {
    ASSERT_TRUE(a->send_text(edit_msg("B1", "op" + std::to_string(i), R"({"n":)" + std::to_string(i) + "}", "w" + std::to_string(i))));
    IT_ASSERT_JSON(ack, a->recv_json());
    ASSERT_EQ(ack.type(), "ack") << ack.text;
  }
  const std::string pub_body = R"({"building":"B9","op":"pub","data":1})";
  HttpResponse pub = http_raw(port(), "POST /api/rooms/w/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                          key_file_body + "\r\nContent-Type: application/json\r\nContent-Length: " +
                                          std::to_string(pub_body.size()) + "\r\n\r\n" + pub_body);
  ASSERT_EQ(pub.status, 200) << pub.raw;
  a->send_close(1000);
  a.ws.reset();

  auto delivered = [](const std::vector<Request>& rs) {
    std::vector<std::string> ids;
    for (const Request& r : rs) ids.push_back(r.headers.count("webhook-id") ? r.headers.at("webhook-id") : "?");
    return ids;
  };
  ASSERT_TRUE(WaitFor(receiver, [&](const std::vector<Request>& rs) {
    auto ids = delivered(rs);
    return !ids.empty() && ids.back().rfind("leave:", 0) == 0;
  })) << "join, 5 edits and the leave within 8 s";
  std::vector<Request> got = receiver.requests();
  std::vector<std::string> ids = delivered(got);
  // A 500 for edit 2: it is sent again (same webhook-id) before edit 3 goes out.
  std::vector<std::string> want = {"join:w:" + a.session};
  std::string epoch;
  for (const Request& r : got)
    if (r.headers.at("webhook-id").rfind("edit:", 0) == 0) epoch = sget(parse(r.body), "epoch");
  for (int s : {1, 2, 2, 3, 4, 5}) want.push_back("edit:w:" + epoch + ":" + std::to_string(s));
  want.push_back("leave:w:" + a.session);
  EXPECT_EQ(ids, want);
  for (const Request& r : got) EXPECT_TRUE(signature_ok(r)) << r.headers.at("webhook-id");

  auto e1 = parse(got[1].body);
  EXPECT_EQ(sget(e1, "type"), "edit");
  EXPECT_EQ(sget(e1, "room"), "w");
  EXPECT_EQ(iget(e1, "seq"), 1);
  EXPECT_EQ(sget(e1, "id"), "w1");
  EXPECT_EQ(sget(e1, "session"), a.session);
  EXPECT_EQ(sget(e1["user"], "id"), "alice");
  EXPECT_EQ(sget(e1, "op"), "op1");
  EXPECT_EQ(iget(e1["data"], "n"), 1);
  EXPECT_GT(iget(e1, "ts"), 1'600'000'000'000LL);
  auto published = parse(got[6].body);
  EXPECT_EQ(sget(published, "op"), "pub") << got[6].body;
  EXPECT_TRUE(published["session"].IsNull() && published["user"].IsNull()) << got[6].body;
  auto join = parse(got[0].body);
  EXPECT_EQ(sget(join, "type"), "join");
  EXPECT_EQ(sget(join["user"], "id"), "alice");

  HttpResponse m = http_get(port(), "/metrics");
  EXPECT_NE(m.body.find("roomcast_hook_requests_total{hook=\"webhook\",result=\"5xx\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("roomcast_webhook_queue_events 0"), std::string::npos);
  EXPECT_NE(m.body.find("roomcast_webhook_oldest_seconds"), std::string::npos);
  EXPECT_NE(m.body.find("roomcast_hook_latency_seconds_bucket"), std::string::npos);
}

TEST_F(HooksTest, ADeadBackendNeverDisconnectsAnyone) {
  const std::string dead = "http://127.0.0.1:" + std::to_string(dead_port());
  ASSERT_NO_FATAL_FAILURE(StartWithHooks({"--edit-hook", dead + "/edit", "--webhook", dead + "/events",
                                          "--hook-timeout", "300ms"}));
  Member a = Join("d", "alice");
  Member b = Join("d", "bob");
  ASSERT_TRUE(a.ws && b.ws);
  ASSERT_TRUE(a->recv_until_type("presence").ok);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(a->send_text(edit_msg("B1", "move", "", "d" + std::to_string(i))));
    IT_ASSERT_JSON(e, a->recv_json(milliseconds(3000)));
    EXPECT_EQ(sget(*e, "code"), "unavailable") << e.text;
    ASSERT_TRUE(b->send_text(cursor_msg(i, 0, 0, 0, 0, 0)));
    IT_ASSERT_JSON(cam, a->recv_json(milliseconds(2000)));
    EXPECT_EQ(cam.type(), "cursor");
  }
  EXPECT_TRUE(b->expect_no_message(milliseconds(1500)));  // no edit, no close
  ASSERT_TRUE(a->send_text(R"({"type":"ping","t":1})"));
  IT_ASSERT_JSON(pong, a->recv_json());
  EXPECT_EQ(pong.type(), "pong");
  HttpResponse m = http_get(port(), "/metrics");
  EXPECT_NE(m.body.find("roomcast_hook_requests_total{hook=\"edit\",result=\"unreachable\"} 5"), std::string::npos)
      << m.body;
}

// ---- several instances (--redis): each applied edit is reported once -------------------

TEST_F(HooksTest, WithRedisEachEditIsReportedOnceByTheInstanceThatStoredIt) {
  std::string err;
  auto redis = RedisProcess::start(&err);
  ASSERT_TRUE(redis) << err;
  TestHttpServer receiver([](const Request&) { return Response{200, ""}; });
  TempFile secret(kSecret);
  auto start = [&]() {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--threads", "1", "--redis", redis->url(),
                                     "--webhook", receiver.url("/events"), "--hook-secret-file", secret.path};
    if (const char* more = std::getenv("IT_ROOMCAST_ARGS")) {
      std::istringstream in(more);
      for (std::string a; in >> a;) args.push_back(a);
    }
    std::string e;
    auto p = ServerProcess::start(args, &e, std::chrono::seconds(10));
    EXPECT_TRUE(p) << e;
    return p;
  };
  auto i1 = start();
  auto i2 = start();
  ASSERT_TRUE(i1 && i2);
  auto join_on = [](uint16_t port, const std::string& user) {
    ConnectOptions o;
    o.path = "/ws/shared";
    std::string e;
    auto ws = WsClient::connect(port, o, &e);
    EXPECT_TRUE(ws) << e;
    if (!ws) return ws;
    EXPECT_TRUE(ws->send_text(join_msg(user)));
    EXPECT_EQ(ws->recv_until_type("welcome").type(), "welcome");
    return ws;
  };
  auto a = join_on(i1->port(), "alice");
  auto b = join_on(i2->port(), "bob");
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a->send_text(edit_msg("B1", "a" + std::to_string(i), "", "a" + std::to_string(i))));
    ASSERT_EQ(a->recv_until_type("ack").type(), "ack");
    ASSERT_TRUE(b->send_text(edit_msg("B1", "b" + std::to_string(i), "", "b" + std::to_string(i))));
    ASSERT_EQ(b->recv_until_type("ack").type(), "ack");
  }
  auto edit_ids = [](const std::vector<Request>& rs) {
    std::multiset<std::string> ids;
    for (const Request& r : rs)
      if (r.headers.count("webhook-id") && r.headers.at("webhook-id").rfind("edit:", 0) == 0) ids.insert(r.headers.at("webhook-id"));
    return ids;
  };
  ASSERT_TRUE(WaitFor(receiver, [&](const std::vector<Request>& rs) { return edit_ids(rs).size() >= 6; }));
  std::this_thread::sleep_for(milliseconds(500));  // anything duplicated would have come by now
  std::multiset<std::string> ids = edit_ids(receiver.requests());
  EXPECT_EQ(ids.size(), 6u) << "every instance applies every edit; only the one that stored it reports it";
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 6u);
  for (const Request& r : receiver.requests()) {
    if (r.headers.at("webhook-id").rfind("edit:", 0) != 0) continue;
    auto e = parse(r.body);
    const std::string op = sget(e, "op");
    EXPECT_EQ(sget(e["user"], "id"), op[0] == 'a' ? "alice" : "bob") << r.body;
  }
}

}  // namespace
}  // namespace it
