// tests/integration/identity_provider_test.cpp: docs/identity.md over real
// sockets: tokens signed by an identity provider's keys (RS256, PS256, ES256, EdDSA) from
// --jwt-jwks-file, --jwt-public-key-file and --jwt-jwks-url beside the HS256 secret;
// forged and confused tokens; iss/aud/leeway; rotation through a JWK set served by this
// test on 127.0.0.1, which is also made unreachable at start and later.
// Keys are generated per test by OpenSSL (tests/proto/jws_keys.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <sstream>
#include <thread>

#include "../proto/jws_keys.h"
#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using roomcast::jws_keys::KeyPair;
using Clock = std::chrono::steady_clock;

long long now_s() { return static_cast<long long>(std::time(nullptr)); }

std::string claims(const std::string& sub, long long exp, const std::string& more = "") {
  return R"({"sub":")" + sub + R"(","exp":)" + std::to_string(exp) + more + "}";
}

// A free loopback port: bound, read, closed (a later bind with SO_REUSEADDR takes it).
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// The identity provider's JWKS endpoint: one thread answering every request on
// 127.0.0.1:port with the current body (status 200, or `status` when set otherwise).
class JwksEndpoint {
 public:
  explicit JwksEndpoint(uint16_t port) : port_(port) {}
  ~JwksEndpoint() { stop(); }

  bool start() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) return false;
    stop_ = false;
    thread_ = std::thread([this] { serve(); });
    return true;
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void set(std::string body, int status = 200) {
    std::lock_guard lock(mutex_);
    body_ = std::move(body);
    status_ = status;
  }
  int requests() const { return requests_.load(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/realms/acme/certs"; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string head;
      char buf[2048];
      for (int i = 0; i < 50 && head.find("\r\n\r\n") == std::string::npos; ++i) {  // bounded
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 100) <= 0) continue;
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, size_t(n));
      }
      ++requests_;
      std::string body;
      int status;
      {
        std::lock_guard lock(mutex_);
        body = body_;
        status = status_;
      }
      std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      (void)::send(c, out.data(), out.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  uint16_t port_;
  int fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  std::string body_;
  int status_ = 200;
};

class IdentityProviderTest : public RoomcastTest {
 protected:
  // The status of an upgrade carrying `token` in the query (101 when accepted).
  HttpResponse Upgrade(const std::string& token, const std::string& room = "r") {
    std::string req = "GET /ws/" + room + "?token=" + token +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    HttpResponse r = http_raw(port(), req);
    EXPECT_TRUE(r.ok) << r.error;
    return r;
  }
  int UpgradeStatus(const std::string& token) { return Upgrade(token).status; }
  // Joins with the token in the query and returns the welcome's user.id ("" on failure).
  std::string WelcomedAs(const std::string& token, const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    ConnectOptions o;
    o.path = headers.empty() ? "/ws/r?token=" + token : "/ws/r";
    o.extra_headers = headers;
    std::string err;
    auto c = WsClient::connect(port(), o, &err);
    if (!c) {
      ADD_FAILURE() << err;
      return "";
    }
    EXPECT_TRUE(c->send_text(join_msg("claimed", "X")));
    JsonResult w = c->recv_until_type("welcome");
    if (!w.ok) {
      ADD_FAILURE() << w.error;
      return "";
    }
    return sget((*w)["user"], "id");
  }
  // Polls (bounded) until an upgrade with `token` gets `status`.
  bool EventuallyStatus(const std::string& token, int status, milliseconds within) {
    const auto until = Clock::now() + within;
    while (Clock::now() < until) {
      if (UpgradeStatus(token) == status) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
  }
};

TEST_F(IdentityProviderTest, EveryAlgorithmFromAJwksFileOpensARoomBesideTheHs256Secret) {
  KeyPair rs = KeyPair::generate("RS256", "rs"), ps = KeyPair::generate("PS256", "ps");
  KeyPair es = KeyPair::generate("ES256", "es"), ed = KeyPair::generate("EdDSA", "ed");
  TempFile jwks(roomcast::jws_keys::jwk_set({&rs, &ps, &es, &ed}));
  TempFile secret("hs256-secret-beside-the-keys");
  ASSERT_NO_FATAL_FAILURE(StartServer({"--jwt-jwks-file", jwks.path, "--jwt-secret-file", secret.path}));
  const long long exp = now_s() + 600;
  for (const KeyPair* k : {&rs, &ps, &es, &ed}) {
    SCOPED_TRACE(k->alg());
    EXPECT_EQ(WelcomedAs(k->token(claims("user-" + k->alg(), exp))), "user-" + k->alg());
  }
  EXPECT_EQ(WelcomedAs(roomcast::jwt_sign::sign(R"({"alg":"HS256"})", claims("hs-user", exp), "hs256-secret-beside-the-keys")),
            "hs-user");
  // Authorization: Bearer works the same.
  EXPECT_EQ(WelcomedAs("", {{"Authorization", "Bearer " + es.token(claims("bearer-user", exp))}}), "bearer-user");
  // A key not in the set, and a signature by another key under a listed kid.
  KeyPair stranger = KeyPair::generate("ES256", "es");
  EXPECT_EQ(UpgradeStatus(stranger.token(claims("x", exp))), 401);
  KeyPair unknown = KeyPair::generate("ES256", "nobody");
  HttpResponse r = Upgrade(unknown.token(claims("x", exp)));
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("unknown_key"), std::string::npos) << r.body;
}

TEST_F(IdentityProviderTest, InBandJoinAndRefreshUseTheSameVerifier) {
  KeyPair ed = KeyPair::generate("EdDSA", "ed"), rs = KeyPair::generate("RS256", "rs");
  TempFile jwks(roomcast::jws_keys::jwk_set({&ed, &rs}));
  ASSERT_NO_FATAL_FAILURE(StartServer({"--jwt-jwks-file", jwks.path}));
  auto c = Connect("r");
  ASSERT_TRUE(c);
  const long long exp = now_s() + 600;
  ASSERT_TRUE(c->send_text(R"({"type":"join","user":{"id":"x"},"token":")" + ed.token(claims("alice", exp)) + R"("})"));
  JsonResult w = c->recv_until_type("welcome");
  ASSERT_TRUE(w.ok) << w.error;
  EXPECT_EQ(sget((*w)["user"], "id"), "alice");
  EXPECT_EQ(iget(*w, "exp"), exp);
  // Refresh with an RS256 token of the same user.
  ASSERT_TRUE(c->send_text(R"({"type":"refresh","token":")" + rs.token(claims("alice", exp + 60)) + R"("})"));
  JsonResult ok = c->recv_until_type("refreshed");
  ASSERT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(iget(*ok, "exp"), exp + 60);
  // A refresh signed with the public key as HS256 secret is refused, the connection stays.
  ASSERT_TRUE(c->send_text(R"({"type":"refresh","token":")" +
                           roomcast::jwt_sign::sign(R"({"alg":"HS256"})", claims("alice", exp + 120), rs.pem()) + R"("})"));
  JsonResult bad = c->recv_until_type("error");
  ASSERT_TRUE(bad.ok) << bad.error;
  EXPECT_EQ(sget(*bad, "code"), "bad_token") << bad.text;
  // In band with a token of an unknown key: 4001.
  auto d = Connect("r");
  ASSERT_TRUE(d);
  KeyPair other = KeyPair::generate("EdDSA", "other");
  ASSERT_TRUE(d->send_text(R"({"type":"join","user":{"id":"x"},"token":")" + other.token(claims("eve", exp)) + R"("})"));
  CloseResult cr = d->wait_close(milliseconds(4000));
  EXPECT_EQ(cr.code, 4001) << cr.describe();
}

// An independent implementation: PyJWT and pyca/cryptography (Debian python3-jwt,
// python3-cryptography) generate the keys, publish them as a JWK set and sign the tokens.
constexpr const char* kPyJwtMinter = R"PY(
import json, sys
import jwt
from jwt.algorithms import RSAAlgorithm, ECAlgorithm, OKPAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519
jwks_path, sub, exp = sys.argv[1], sys.argv[2], int(sys.argv[3])
keys = {"RS256": rsa.generate_private_key(65537, 2048), "PS256": rsa.generate_private_key(65537, 2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()), "EdDSA": ed25519.Ed25519PrivateKey.generate()}
to_jwk = {"RS256": RSAAlgorithm.to_jwk, "PS256": RSAAlgorithm.to_jwk, "ES256": ECAlgorithm.to_jwk,
          "EdDSA": OKPAlgorithm.to_jwk}
jwks = []
for alg, k in keys.items():
    j = json.loads(to_jwk[alg](k.public_key()))
    j.update(kid="py-" + alg, use="sig", alg=alg)
    jwks.append(j)
with open(jwks_path, "w") as f:
    json.dump({"keys": jwks}, f)
for alg, k in keys.items():
    claims = {"sub": sub + "-" + alg, "exp": exp, "preferred_username": "py " + alg}
    print(alg, jwt.encode(claims, k, algorithm=alg, headers={"kid": "py-" + alg}))
)PY";

TEST_F(IdentityProviderTest, AKeySetAndTokensMintedByPyJwtOpenRoomsWithEveryAlgorithm) {
  TempFile script(kPyJwtMinter);
  TempFile jwks("");
  // Debian's interpreter, whose dist-packages hold python3-jwt (a pyenv python3 may not).
  const char* python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
  const std::string cmd = std::string(python) + " " + script.path + " " + jwks.path + " py " +
                          std::to_string(now_s() + 600) + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_TRUE(pipe);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  if (pclose(pipe) != 0) GTEST_SKIP() << "needs python3 with jwt and cryptography (make test installs them): " << out;
  ASSERT_NO_FATAL_FAILURE(StartServer({"--jwt-jwks-file", jwks.path}));
  size_t tokens = 0;
  std::istringstream lines(out);
  for (std::string alg, token; lines >> alg >> token; ++tokens) {
    SCOPED_TRACE(alg);
    EXPECT_EQ(WelcomedAs(token), "py-" + alg);
  }
  EXPECT_EQ(tokens, 4u) << out;
}

TEST_F(IdentityProviderTest, APemPublicKeyVerifiesTokensWhateverTheirKid) {
  KeyPair es = KeyPair::generate("ES256", "idp-2024-01");
  TempFile pem(es.pem());
  ASSERT_NO_FATAL_FAILURE(StartServer({"--jwt-public-key-file", pem.path}));
  EXPECT_EQ(WelcomedAs(es.token(claims("pem-user", now_s() + 600))), "pem-user");
  EXPECT_EQ(UpgradeStatus(KeyPair::generate("ES256", "").token(claims("x", now_s() + 600))), 401);
}

TEST_F(IdentityProviderTest, ForgedAndConfusedTokensAreRefusedWithTheirReason) {
  KeyPair rs = KeyPair::generate("RS256", "rs");
  TempFile pem(rs.pem());
  ASSERT_NO_FATAL_FAILURE(StartServer({"--jwt-public-key-file", pem.path, "--jwt-issuer", "https://idp.example/realms/acme",
                                       "--jwt-audience", "roomcast", "--jwt-leeway", "30"}));
  const long long now = now_s();
  const std::string good = R"(,"iss":"https://idp.example/realms/acme","aud":["account","roomcast"])";
  // The PEM key has no kid: a header naming one no set holds is unknown_key, so the
  // confusion cases below carry none.
  EXPECT_EQ(UpgradeStatus(rs.token(claims("ok", now + 600, good))), 101);
  struct Case {
    std::string token, reason;
  } cases[] = {
      {roomcast::jwt_sign::sign(R"({"alg":"HS256","kid":"rs"})", claims("x", now + 600, good), rs.pem()), "unsupported_algorithm"},
      {roomcast::jwt_sign::b64url(R"({"alg":"none"})") + "." + roomcast::jwt_sign::b64url(claims("x", now + 600, good)) + ".",
       "unsupported_algorithm"},
      {rs.token(claims("x", now + 600, good), R"({"alg":"ES256"})", "RS256"), "unsupported_algorithm"},
      {rs.token(claims("x", now + 600, good), R"({"alg":"PS256"})", "RS256"), "bad_signature"},
      {rs.token(claims("x", now + 600, R"(,"iss":"https://evil.example","aud":"roomcast")")), "wrong_issuer"},
      {rs.token(claims("x", now + 600, R"(,"iss":"https://idp.example/realms/acme","aud":"account")")), "wrong_audience"},
      {rs.token(claims("x", now - 31, good)), "expired"},
      {rs.token(claims("x", now + 600, good + R"(,"nbf":)" + std::to_string(now + 60))), "expired"},
  };
  for (const Case& c : cases) {
    HttpResponse r = Upgrade(c.token);
    EXPECT_EQ(r.status, 401) << c.reason;
    EXPECT_NE(r.body.find(c.reason), std::string::npos) << r.body;
  }
  // Within the leeway: accepted, and the welcome's exp is exp + leeway.
  ConnectOptions o;
  const long long exp = now - 5;
  o.path = "/ws/r?token=" + rs.token(claims("late", exp, good));
  std::string err;
  auto c = WsClient::connect(port(), o, &err);
  ASSERT_TRUE(c) << err;
  ASSERT_TRUE(c->send_text(join_msg("late")));
  JsonResult w = c->recv_until_type("welcome");
  ASSERT_TRUE(w.ok) << w.error;
  EXPECT_EQ(iget(*w, "exp"), exp + 30);
}

TEST_F(IdentityProviderTest, RsaKeysUnder2048BitsStopTheServerAtStart) {
  KeyPair short_key = KeyPair::generate("RS256", "short", 1024);
  TempFile pem(short_key.pem());
  TempFile jwks(roomcast::jws_keys::jwk_set({&short_key}));
  for (const std::vector<std::string>& flags : {std::vector<std::string>{"--jwt-public-key-file", pem.path},
                                                std::vector<std::string>{"--jwt-jwks-file", jwks.path}}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--threads", "1"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::string err;
    auto server = ServerProcess::start(args, &err, std::chrono::seconds(5));
    EXPECT_FALSE(server) << flags[0] << " with a 1024-bit key must not start";
  }
}

TEST_F(IdentityProviderTest, AKeyRotatedAtTheJwksUrlIsPickedUpWithoutARestart) {
  KeyPair a = KeyPair::generate("RS256", "2024"), b = KeyPair::generate("ES256", "2025");
  JwksEndpoint idp(free_port());
  idp.set(roomcast::jws_keys::jwk_set({&a}));
  ASSERT_TRUE(idp.start());
  ASSERT_NO_FATAL_FAILURE(StartServer({"--jwt-jwks-url", idp.url()}));
  const long long exp = now_s() + 600;
  // The first fetch ended before the server listened.
  EXPECT_EQ(WelcomedAs(a.token(claims("alice", exp))), "alice");
  const int fetched_at_start = idp.requests();
  EXPECT_GE(fetched_at_start, 1);
  // Rotation: the provider publishes b. A token naming b makes the server fetch again.
  idp.set(roomcast::jws_keys::jwk_set({&a, &b}));
  EXPECT_TRUE(EventuallyStatus(b.token(claims("bob", exp)), 101, milliseconds(5000)));
  EXPECT_EQ(idp.requests(), fetched_at_start + 1) << "one refetch for the unknown kid";
  EXPECT_EQ(WelcomedAs(b.token(claims("bob", exp))), "bob");
  // Another unknown kid within 10 s: refused, and no fetch (at most one per 10 s).
  KeyPair c = KeyPair::generate("EdDSA", "2026");
  idp.set(roomcast::jws_keys::jwk_set({&b, &c}));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(UpgradeStatus(c.token(claims("carol", exp))), 401);
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(idp.requests(), fetched_at_start + 1) << "unknown kids do not fetch more than once per 10 s";
}

TEST_F(IdentityProviderTest, AnUnreachableJwksUrlAtStartIsRetriedAndLaterFailuresKeepTheLastGoodSet) {
  KeyPair a = KeyPair::generate("EdDSA", "a");
  const uint16_t idp_port = free_port();
  JwksEndpoint idp(idp_port);
  idp.set(roomcast::jws_keys::jwk_set({&a}));
  // Nothing listens on the port yet: the server starts anyway, tokens are refused.
  ASSERT_NO_FATAL_FAILURE(StartServer({"--jwt-jwks-url", idp.url(), "--jwt-jwks-refresh", "1"}));
  const long long exp = now_s() + 600;
  const std::string token = a.token(claims("alice", exp));
  EXPECT_EQ(UpgradeStatus(token), 401);
  // The provider comes up: the retry finds it.
  ASSERT_TRUE(idp.start());
  EXPECT_TRUE(EventuallyStatus(token, 101, milliseconds(8000)));
  // Later failures: an error status, then not JSON, then no server at all. The last good
  // set stays through every one of them.
  idp.set("oops", 500);
  int before = idp.requests();
  for (int i = 0; i < 40 && idp.requests() < before + 2; ++i) std::this_thread::sleep_for(milliseconds(100));
  EXPECT_GE(idp.requests(), before + 2) << "refreshed every second";
  EXPECT_EQ(UpgradeStatus(token), 101);
  idp.set("{not json");
  before = idp.requests();
  for (int i = 0; i < 40 && idp.requests() < before + 2; ++i) std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(UpgradeStatus(token), 101);
  idp.set(R"({"keys":[]})");
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(UpgradeStatus(token), 101);
  idp.stop();
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_EQ(UpgradeStatus(token), 101);
  EXPECT_EQ(WelcomedAs(token), "alice");
}

}  // namespace
}  // namespace it
