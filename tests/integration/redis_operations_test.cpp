// tests/integration/redis_operations_test.cpp: the real binary against Redis as operators
// run it (issue 27, README "Several instances"):
//   - a password (requirepass) or an ACL user: the right credentials serve rooms across
//     instances, wrong ones keep the server up with roomcast_redis_up 0 and joins
//     answered 1013, and the password never shows in what the server prints;
//   - a replica and --redis-min-replicas: an edit is acked only once the replica holds
//     it, `unavailable` while it is gone;
//   - Sentinel: 1 master, 2 replicas, 3 sentinels, 2 instances with editors on both and
//     --redis-min-replicas 1; the master SIGKILLed mid-edits: every acked edit is in the
//     history exactly once, in one seq order, on both instances;
//   - a TLS-only Redis (rediss://) with a CA the test makes with the openssl command line:
//     served with the right CA (and a client certificate), refused with a clear line for a
//     wrong CA, a name the certificate does not hold, or a Redis that speaks plain text.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "redis_process.h"
#include "server_process.h"
#include "test_util.h"
#include "ws_client.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t CountOf(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

class RedisOperationsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    instances_.clear();  // SIGTERM + reap
    redis_.reset();
  }

  void StartRedis(const RedisProcessOptions& o) {
    std::string err;
    redis_ = RedisProcess::start(&err, o);
    ASSERT_TRUE(redis_) << "could not start redis-server: " << err;
  }

  // One instance with `redis_args` (--redis ... and friends); its stderr goes to a file
  // read by Logged(i). `env`: NAME=VALUE for the child.
  ServerProcess* Start(const std::vector<std::string>& redis_args, const std::vector<std::string>& env = {}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--threads", "1"};
    args.insert(args.end(), redis_args.begin(), redis_args.end());
    if (const char* more = std::getenv("IT_ROOMCAST_ARGS")) {
      std::istringstream in(more);
      for (std::string a; in >> a;) args.push_back(a);
    }
    logs_.push_back(std::make_unique<TempFile>(""));
    ProcessOptions po;
    po.stderr_path = logs_.back()->path;
    po.env = env;
    std::string err;
    auto p = ServerProcess::start(args, &err, std::chrono::seconds(10), po);
    if (!p) {
      ADD_FAILURE() << "instance did not start: " << err << "\nits stderr:\n" << ReadAll(po.stderr_path);
      return nullptr;
    }
    instances_.push_back(std::move(p));
    return instances_.back().get();
  }
  std::string Logged(size_t i) const { return ReadAll(logs_.at(i)->path); }

  std::string Url(const std::string& userinfo) const {
    return "redis://" + userinfo + "127.0.0.1:" + std::to_string(redis_->port());
  }

  std::unique_ptr<RedisProcess> redis_;
  std::vector<std::unique_ptr<TempFile>> logs_;
  std::vector<std::unique_ptr<ServerProcess>> instances_;
};

// Joins room `room` on `port`: the welcome, or the close code (-1: neither within 6 s).
struct JoinOutcome {
  std::unique_ptr<WsClient> ws;
  bool welcomed = false;
  int close_code = -1;
  std::string text;
};
JoinOutcome Join(uint16_t port, const std::string& room, const std::string& user) {
  JoinOutcome out;
  ConnectOptions o;
  o.path = "/ws/" + room;
  std::string err;
  out.ws = WsClient::connect(port, o, &err);
  if (!out.ws) {
    out.text = "connect: " + err;
    return out;
  }
  out.ws->send_text(join_msg(user));
  JsonResult w = out.ws->recv_json(milliseconds(6000));
  out.welcomed = w.ok && w.type() == "welcome";
  out.close_code = w.close_code;
  out.text = w.ok ? w.text : w.error;
  return out;
}

// The first ack or error answering an edit, within `timeout`.
JsonResult EditAnswer(WsClient& ws, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return JsonResult{};
    JsonResult m = ws.recv_json(left);
    if (!m.ok || m.type() == "ack" || m.type() == "error") return m;
  }
}

TEST_F(RedisOperationsTest, APasswordFromTheUrlOrAFileServesRoomsAcrossInstancesAndIsNeverLogged) {
  const std::string pw = "it-Secret-7f3a";
  RedisProcessOptions ro;
  ro.extra_args = {"--requirepass", pw};
  ro.password = pw;
  ASSERT_NO_FATAL_FAILURE(StartRedis(ro));
  TempFile pwfile(pw + "\n");
  ServerProcess* i1 = Start({"--redis", Url(":" + pw + "@")});
  ServerProcess* i2 = Start({"--redis", Url(""), "--redis-password-file", pwfile.path});
  ASSERT_TRUE(i1 && i2);
  JoinOutcome a = Join(i1->port(), "r", "alice");
  JoinOutcome b = Join(i2->port(), "r", "bob");
  ASSERT_TRUE(a.welcomed) << a.text;
  ASSERT_TRUE(b.welcomed) << b.text;
  ASSERT_TRUE(a.ws->send_text(edit_msg("b", "move", "", "e-1")));
  JsonResult ack = EditAnswer(*a.ws, milliseconds(5000));
  ASSERT_TRUE(ack.ok) << ack.error;
  EXPECT_EQ(ack.type(), "ack") << ack.text;
  JsonResult relayed = b.ws->recv_until_type("edit", milliseconds(5000));
  EXPECT_TRUE(relayed.ok) << "the edit did not reach the other instance: " << relayed.error;
  HttpResponse m = http_get(i1->port(), "/metrics");
  EXPECT_NE(m.body.find("roomcast_redis_up 1\n"), std::string::npos) << m.body;
  EXPECT_EQ(m.body.find(pw), std::string::npos) << "the password is in /metrics";
  instances_.clear();  // flush and close the logs
  for (size_t i = 0; i < 2; ++i) {
    std::string log = Logged(i);
    EXPECT_EQ(log.find(pw), std::string::npos) << "instance " << i << " logged the password:\n" << log;
  }
  EXPECT_NE(Logged(0).find("redis://:***@127.0.0.1:"), std::string::npos) << Logged(0);
}

TEST_F(RedisOperationsTest, AnAclUserFromRoomcastRedisWithAPasswordFileThatOverridesTheUrlsServesRooms) {
  RedisProcessOptions ro;
  ro.extra_args = {"--user", "default", "off", "--user", "roomcast", "on", ">acl-pw-91", "~rc:*", "&rc:*", "+@all"};
  ro.user = "roomcast";
  ro.password = "acl-pw-91";
  ASSERT_NO_FATAL_FAILURE(StartRedis(ro));
  TempFile pwfile("acl-pw-91");
  // The URL's password is stale; the file's wins.
  ServerProcess* i1 = Start({"--redis-password-file", pwfile.path}, {"ROOMCAST_REDIS=" + Url("roomcast:stale-pw@")});
  ASSERT_TRUE(i1);
  JoinOutcome a = Join(i1->port(), "r", "alice");
  ASSERT_TRUE(a.welcomed) << a.text;
  ASSERT_TRUE(a.ws->send_text(edit_msg("b", "move", "", "e-1")));
  JsonResult ack = EditAnswer(*a.ws, milliseconds(5000));
  EXPECT_EQ(ack.type(), "ack") << ack.text << ack.error;
  EXPECT_EQ(redis_->command({"EXISTS", "rc:{r}:meta"}), "1");
  instances_.clear();
  std::string log = Logged(0);
  EXPECT_EQ(log.find("acl-pw-91"), std::string::npos) << log;
  EXPECT_EQ(log.find("stale-pw"), std::string::npos) << log;
  EXPECT_NE(log.find("redis://roomcast:***@127.0.0.1:"), std::string::npos) << log;
}

TEST_F(RedisOperationsTest, AWrongOrMissingPasswordKeepsTheServerUpWithRedisDownAndJoinsClosed1013) {
  const std::string pw = "right-pw-55";
  RedisProcessOptions ro;
  ro.extra_args = {"--requirepass", pw};
  ro.password = pw;
  ASSERT_NO_FATAL_FAILURE(StartRedis(ro));
  auto t0 = Clock::now();
  ServerProcess* wrong = Start({"--redis", Url(":wrong-pw-66@")});
  ServerProcess* none = Start({"--redis", Url("")});
  ASSERT_TRUE(wrong && none);
  for (ServerProcess* p : {wrong, none}) {
    auto j0 = Clock::now();
    JoinOutcome j = Join(p->port(), "r", "alice");
    double took = std::chrono::duration<double>(Clock::now() - j0).count();
    std::fprintf(stderr, "[redis-auth] join with a refused password answered after %.2f s: close %d\n", took,
                 j.close_code);
    EXPECT_FALSE(j.welcomed) << j.text;
    EXPECT_EQ(j.close_code, 1013) << "a join must be answered, not left hanging: " << j.text;
    EXPECT_LT(took, 6.0);
    HttpResponse m = http_get(p->port(), "/metrics");
    EXPECT_NE(m.body.find("roomcast_redis_up 0\n"), std::string::npos) << m.body;
    EXPECT_TRUE(p->running());
  }
  std::this_thread::sleep_for(milliseconds(3000) - (Clock::now() - t0));
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  instances_.clear();
  for (size_t i = 0; i < 2; ++i) {
    std::string log = Logged(i);
    size_t lines = CountOf(log, "redis_refused");
    std::fprintf(stderr, "[redis-auth] instance %zu: %zu redis_refused lines in %.1f s\n", i, lines, seconds);
    // Backoff 100, 200, 400, 800, 1600 ms, then every 2 s: 6 attempts in the first
    // 3.1 s, one per 2 s after.
    EXPECT_GE(lines, 3u) << log;
    EXPECT_LE(double(lines), 7 + seconds / 2) << "more than one line per backoff step:\n" << log;
    EXPECT_EQ(log.find("wrong-pw-66"), std::string::npos) << log;
    EXPECT_EQ(log.find(pw), std::string::npos) << log;
  }
  EXPECT_NE(Logged(0).find("WRONGPASS"), std::string::npos) << Logged(0);
  EXPECT_NE(Logged(1).find("NOAUTH"), std::string::npos) << Logged(1);
}

TEST_F(RedisOperationsTest, ARefusedRedisUrlIsPrintedWithItsPasswordMasked) {
  for (bool by_env : {false, true}) {
    SCOPED_TRACE(by_env ? "ROOMCAST_REDIS" : "--redis");
    const std::string bad = "redis://app:hunter2-xyz@127.0.0.1:0/1";
    TempFile log("");
    ProcessOptions po;
    po.stderr_path = log.path;
    std::vector<std::string> args = {"--listen", "127.0.0.1:0"};
    if (by_env) po.env = {"ROOMCAST_REDIS=" + bad};
    else args.insert(args.end(), {"--redis", bad});
    std::string err;
    auto p = ServerProcess::start(args, &err, std::chrono::seconds(5), po);
    EXPECT_FALSE(p) << "a URL with port 0 was accepted";
    std::string printed = ReadAll(log.path) + err;
    EXPECT_EQ(printed.find("hunter2"), std::string::npos) << printed;
    EXPECT_NE(printed.find("redis://app:***@127.0.0.1:0/1"), std::string::npos) << printed;
  }
}

// ---- --redis-min-replicas ----

// INFO replication lists a replica online whose acknowledged offset is past 0.
bool ReplicaAcks(const std::string& info) {
  size_t at = info.find("state=online,offset=");
  return at != std::string::npos && info.compare(at + 20, 2, "0,") != 0;
}

TEST_F(RedisOperationsTest, WithMinReplicasOneEditsAreAckedWhileTheReplicaLivesAndUnavailableWhileItIsGone) {
  RedisProcessOptions mo;
  mo.extra_args = {"--repl-diskless-sync-delay", "0"};
  ASSERT_NO_FATAL_FAILURE(StartRedis(mo));
  RedisProcessOptions ro;
  ro.extra_args = {"--replicaof", "127.0.0.1", std::to_string(redis_->port())};
  std::string err;
  auto replica = RedisProcess::start(&err, ro);
  ASSERT_TRUE(replica) << err;
  auto online = [&] {
    // Online, and acknowledging: a fresh replica's first ACK takes up to a second, and
    // until then WAIT counts it out.
    auto deadline = Clock::now() + milliseconds(10000);
    // A write each round: the offset a replica acknowledges moves only with writes made
    // after it attached.
    while (redis_->command({"INCR", "probe"}).empty() || !ReplicaAcks(redis_->command({"INFO", "replication"}))) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return true;
  };
  ASSERT_TRUE(online()) << redis_->command({"INFO", "replication"});
  ServerProcess* i1 = Start({"--redis", Url(""), "--redis-min-replicas", "1"});
  ServerProcess* i2 = Start({"--redis", Url(""), "--redis-min-replicas", "1"});
  ASSERT_TRUE(i1 && i2);
  JoinOutcome a = Join(i1->port(), "r", "alice");
  JoinOutcome b = Join(i2->port(), "r", "bob");
  ASSERT_TRUE(a.welcomed && b.welcomed) << a.text << " / " << b.text;

  auto edit = [&](const std::string& id, milliseconds timeout) {
    EXPECT_TRUE(a.ws->send_text(edit_msg("b", id, "", id)));
    return EditAnswer(*a.ws, timeout);
  };
  for (int k = 0; k < 10; ++k) {
    JsonResult ack = edit("up-" + std::to_string(k), milliseconds(3000));
    ASSERT_EQ(ack.type(), "ack") << ack.text << ack.error << "\nreplication: " << redis_->command({"INFO", "replication"});
  }
  EXPECT_EQ(replica->command({"XLEN", "rc:{r}:log"}), "10") << "an acked edit is not on the replica";

  replica->kill_hard();
  std::vector<double> answered_ms;
  for (int k = 0; k < 3; ++k) {
    auto t0 = Clock::now();
    JsonResult r = edit("down-" + std::to_string(k), milliseconds(3000));
    answered_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    ASSERT_TRUE(r.ok) << "an edit was not answered with the replica gone: " << r.error;
    EXPECT_EQ(r.type(), "error") << "acked without a replica: " << r.text;
    EXPECT_EQ(sget(*r, "code"), "unavailable") << r.text;
  }
  std::fprintf(stderr, "[redis-replicas] with the replica gone, edits answered unavailable after %.0f, %.0f, %.0f ms\n",
               answered_ms[0], answered_ms[1], answered_ms[2]);
  HttpResponse m = http_get(i1->port(), "/metrics");
  EXPECT_NE(m.body.find("roomcast_redis_up 1\n"), std::string::npos) << m.body;
  // The 3 edits, and the room's polls meanwhile (a poll waits for WAIT too).
  const std::string replicas_metric = "roomcast_redis_errors_total{kind=\"replicas\"} ";
  const size_t at = m.body.find(replicas_metric);
  ASSERT_NE(at, std::string::npos) << m.body;
  EXPECT_GE(std::atoll(m.body.c_str() + at + replicas_metric.size()), 3) << m.body;

  // The replica is back: the client's resend of the same id is acked once, as a duplicate
  // (the master had stored it), with the seq it was given.
  ASSERT_TRUE(replica->restart(&err)) << err;
  ASSERT_TRUE(online());
  auto t1 = Clock::now();
  JsonResult ack;
  for (int attempt = 0; attempt < 20; ++attempt) {
    ack = edit("down-0", milliseconds(3000));
    if (ack.type() == "ack") break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_EQ(ack.type(), "ack") << ack.text << ack.error;
  std::fprintf(stderr, "[redis-replicas] acked again %.0f ms after the replica was online\n",
               std::chrono::duration<double, std::milli>(Clock::now() - t1).count());
  EXPECT_TRUE(has(*ack, "duplicate")) << ack.text;
  EXPECT_EQ(iget(*ack, "seq"), 11) << ack.text;
  EXPECT_EQ(replica->command({"XLEN", "rc:{r}:log"}), "13");
}

// ---- TLS ----

// A CA, a server certificate for IP 127.0.0.1 only, a client certificate, and a second CA
// that signed none of them, made with the openssl command line in a temp dir.
struct TestPki {
  std::string dir;
  bool ok = false;
  std::string output;
  std::string path(const std::string& f) const { return dir + "/" + f; }

  TestPki() {
    char tmpl[] = "/tmp/roomcast-pki-XXXXXX";
    if (!::mkdtemp(tmpl)) return;
    dir = tmpl;
    const std::string script =
        "set -e; cd " + dir + "\n"
        "key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1; }\n"
        "key ca.key; openssl req -x509 -new -key ca.key -subj /CN=roomcast-test-ca -days 2 -out ca.crt\n"
        "key other-ca.key; openssl req -x509 -new -key other-ca.key -subj /CN=other-ca -days 2 -out other-ca.crt\n"
        "key server.key; openssl req -new -key server.key -subj /CN=redis-test -out server.csr\n"
        "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext\n"
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext "
        "-out server.crt\n"
        "key client.key; openssl req -new -key client.key -subj /CN=roomcast -out client.csr\n"
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n"
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext "
        "-out client.crt\n";
    std::ofstream(dir + "/make.sh") << script;
    FILE* pipe = ::popen(("sh " + dir + "/make.sh 2>&1").c_str(), "r");
    if (!pipe) return;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) output.append(buf, n);
    ok = ::pclose(pipe) == 0;
  }
  ~TestPki() {
    if (!dir.empty()) std::system(("rm -rf " + dir).c_str());
  }
};

class RedisTlsTest : public RedisOperationsTest {
 protected:
  // redis-server with TLS only on a free port; client certificates optional (verified
  // against the CA when given).
  void StartTlsRedis(const TestPki& pki) {
    RedisProcessOptions ro;
    ro.tls_only = true;
    ro.extra_args = {"--port", "0", "--tls-port", "{port}", "--tls-cert-file", pki.path("server.crt"),
                     "--tls-key-file", pki.path("server.key"), "--tls-ca-cert-file", pki.path("ca.crt"),
                     "--tls-auth-clients", "optional", "--user", "default", "off", "--user", "app", "on", ">tls-pw-3",
                     "~*", "&*", "+@all"};
    ASSERT_NO_FATAL_FAILURE(StartRedis(ro));
  }
  std::string TlsUrl(const std::string& host = "127.0.0.1") const {
    return "rediss://app:tls-pw-3@" + host + ":" + std::to_string(redis_->port());
  }
};

TEST_F(RedisTlsTest, ATlsOnlyRedisWithAnAclUserServesRoomsAcrossInstancesWithOrWithoutAClientCertificate) {
  TestPki pki;
  ASSERT_TRUE(pki.ok) << "openssl could not make the test CA:\n" << pki.output;
  ASSERT_NO_FATAL_FAILURE(StartTlsRedis(pki));
  ServerProcess* i1 = Start({"--redis", TlsUrl(), "--redis-ca-file", pki.path("ca.crt")});
  ServerProcess* i2 = Start({"--redis", TlsUrl(), "--redis-ca-file", pki.path("ca.crt"), "--redis-cert-file",
                             pki.path("client.crt"), "--redis-key-file", pki.path("client.key")});
  ASSERT_TRUE(i1 && i2);
  JoinOutcome a = Join(i1->port(), "r", "alice");
  JoinOutcome b = Join(i2->port(), "r", "bob");
  ASSERT_TRUE(a.welcomed) << a.text << "\n" << Logged(0);
  ASSERT_TRUE(b.welcomed) << b.text << "\n" << Logged(1);
  auto t0 = Clock::now();
  for (int k = 0; k < 50; ++k) {
    ASSERT_TRUE(a.ws->send_text(edit_msg("b", "e" + std::to_string(k), "", "e-" + std::to_string(k))));
    JsonResult ack = EditAnswer(*a.ws, milliseconds(3000));
    ASSERT_EQ(ack.type(), "ack") << ack.text << ack.error;
  }
  std::fprintf(stderr, "[redis-tls] 50 edits acked one after another over TLS in %.1f ms\n",
               std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  for (int k = 0; k < 50; ++k) {
    JsonResult e = b.ws->recv_until_type("edit", milliseconds(3000));
    ASSERT_TRUE(e.ok) << "edit " << k << " did not reach the other instance: " << e.error;
    EXPECT_EQ(sget(*e, "op"), "e" + std::to_string(k));
  }
  for (ServerProcess* p : {i1, i2}) {
    HttpResponse m = http_get(p->port(), "/metrics");
    EXPECT_NE(m.body.find("roomcast_redis_up 1\n"), std::string::npos) << m.body;
  }
  instances_.clear();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(Logged(i).find("tls-pw-3"), std::string::npos) << Logged(i);
    EXPECT_NE(Logged(i).find("rediss://app:***@127.0.0.1:"), std::string::npos) << Logged(i);
  }
}

TEST_F(RedisTlsTest, AWrongCaANameNotInTheCertificateOrAPlainTextRedisAreRefusedWithAClearLineAndTheServerStaysUp) {
  TestPki pki;
  ASSERT_TRUE(pki.ok) << "openssl could not make the test CA:\n" << pki.output;
  ASSERT_NO_FATAL_FAILURE(StartTlsRedis(pki));
  // 0: signed by another CA; 1: the certificate names 127.0.0.1, not localhost.
  ServerProcess* wrong_ca = Start({"--redis", TlsUrl(), "--redis-ca-file", pki.path("other-ca.crt")});
  ServerProcess* wrong_name = Start({"--redis", TlsUrl("localhost"), "--redis-ca-file", pki.path("ca.crt")});
  // 2: a Redis that speaks plain text on that port: the handshake fails, nothing is sent in clear.
  std::string err;
  auto plain = RedisProcess::start(&err);
  ASSERT_TRUE(plain) << err;
  ServerProcess* to_plain = Start({"--redis", "rediss://app:tls-pw-3@127.0.0.1:" + std::to_string(plain->port()),
                                   "--redis-ca-file", pki.path("ca.crt")});
  ASSERT_TRUE(wrong_ca && wrong_name && to_plain);
  for (ServerProcess* p : {wrong_ca, wrong_name, to_plain}) {
    auto j0 = Clock::now();
    JoinOutcome j = Join(p->port(), "r", "alice");
    EXPECT_EQ(j.close_code, 1013) << j.text;
    EXPECT_LT(Clock::now() - j0, milliseconds(6000));
    HttpResponse m = http_get(p->port(), "/metrics");
    EXPECT_NE(m.body.find("roomcast_redis_up 0\n"), std::string::npos) << m.body;
    EXPECT_TRUE(p->running());
  }
  // Nothing reached the plain-text Redis as a command (its AUTH would have been one).
  std::string stats = plain->command({"INFO", "commandstats"});
  EXPECT_EQ(stats.find("cmdstat_auth"), std::string::npos) << stats;
  EXPECT_EQ(stats.find("cmdstat_script"), std::string::npos) << stats;
  instances_.clear();
  std::string l0 = Logged(0), l1 = Logged(1), l2 = Logged(2);
  std::fprintf(stderr, "[redis-tls] wrong CA logs: %s", l0.substr(l0.find("redis_tls_refused")).substr(0, 300).c_str());
  EXPECT_NE(l0.find("redis_tls_refused"), std::string::npos) << l0;
  EXPECT_NE(l0.find("certificate verify failed"), std::string::npos) << l0;
  EXPECT_NE(l1.find("redis_tls_refused"), std::string::npos) << l1;
  EXPECT_NE(l1.find("certificate verify failed: hostname mismatch"), std::string::npos) << l1;
  EXPECT_NE(l2.find("redis_tls_refused"), std::string::npos) << l2;
  for (const std::string* l : {&l0, &l1, &l2}) EXPECT_EQ(l->find("tls-pw-3"), std::string::npos) << *l;
}

TEST_F(RedisTlsTest, AnUnreadableCaFileOrTlsFilesWithoutRedissStopTheStartWithAReason) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--redis", "rediss://127.0.0.1:1", "--redis-ca-file", "/nonexistent/ca.crt"},
        std::vector<std::string>{"--redis", "redis://127.0.0.1:1", "--redis-ca-file", "/etc/hostname"}}) {
    TempFile log("");
    ProcessOptions po;
    po.stderr_path = log.path;
    std::vector<std::string> all = {"--listen", "127.0.0.1:0"};
    all.insert(all.end(), args.begin(), args.end());
    std::string err;
    auto p = ServerProcess::start(all, &err, std::chrono::seconds(5), po);
    EXPECT_FALSE(p);
    std::string printed = ReadAll(log.path);
    EXPECT_NE(printed.find("ca-file"), std::string::npos) << printed;
  }
}

// ---- Sentinel ----

// One editor: `total` edits with ids "<prefix>-<k>", each resent with the same id after
// `unavailable` (as the JS client does) until acked; on its own thread, no assertions.
struct Editor {
  WsClient* ws = nullptr;
  std::string prefix;
  int total = 0;
  std::map<std::string, long long> acked;  // id -> seq
  std::vector<std::string> problems;
  std::atomic<int64_t> first_ack_after_ns{0};  // steady clock, set by the test
  std::atomic<int64_t> kill_ns{0};
  int unavailable = 0;
  bool refused_after_kill = false;

  void run() {
    auto deadline = Clock::now() + std::chrono::seconds(40);
    for (int k = 0; k < total && Clock::now() < deadline;) {
      std::string id = prefix + "-" + std::to_string(k);
      if (!ws->send_text(edit_msg("b", id, "", id))) {
        problems.push_back("send failed at " + id);
        return;
      }
      JsonResult r;
      auto until = Clock::now() + milliseconds(5000);
      while (Clock::now() < until) {  // the answer; a resync on the way means the data did not continue
        r = ws->recv_json(std::chrono::duration_cast<milliseconds>(until - Clock::now()));
        if (!r.ok || r.type() == "ack" || r.type() == "error") break;
        if (r.type() == "resync") problems.push_back("resync during the failover: " + r.text);
      }
      if (!r.ok) {
        problems.push_back("no answer to " + id + ": " + r.error);
        return;
      }
      if (r.type() == "error") {
        ++unavailable;
        if (kill_ns.load() != 0) refused_after_kill = true;
        if (sget(*r, "code") != "unavailable") problems.push_back(id + ": " + r.text);
        std::this_thread::sleep_for(milliseconds(100));
        continue;  // the same id again
      }
      long long seq = iget(*r, "seq");
      if (acked.count(id)) problems.push_back(id + " acked twice");
      acked[id] = seq;
      int64_t now = Clock::now().time_since_epoch().count();
      int64_t killed = kill_ns.load();
      int64_t zero = 0;
      // The first ack once this editor was refused after the kill (an edit already
      // confirmed before the kill may still be acked just after it).
      if (killed != 0 && refused_after_kill) first_ack_after_ns.compare_exchange_strong(zero, now);
      ++k;
      std::this_thread::sleep_for(milliseconds(15));
    }
  }
};

// Every edit (seq, op) a fresh member gets replayed from seq 0 of `epoch` on `port`.
std::vector<std::pair<long long, std::string>> History(uint16_t port, const std::string& epoch, std::string* error) {
  std::vector<std::pair<long long, std::string>> out;
  ConnectOptions o;
  o.path = "/ws/r";
  std::string err;
  auto ws = WsClient::connect(port, o, &err);
  if (!ws) {
    *error = "connect: " + err;
    return out;
  }
  ws->send_text(R"({"type":"join","user":{"id":"observer","name":"O"},"since":0,"epoch":)" + jstr(epoch) + "}");
  JsonResult w = ws->recv_json(milliseconds(6000));
  if (!w.ok || w.type() != "welcome") {
    *error = "no welcome: " + w.text + w.error;
    return out;
  }
  long long last = iget(*w, "seq");
  while (out.empty() || out.back().first < last) {
    JsonResult m = ws->recv_json(milliseconds(5000));
    if (!m.ok) {
      *error = "replay stopped at " + std::to_string(out.empty() ? 0 : out.back().first) + " of " +
               std::to_string(last) + ": " + m.error;
      return out;
    }
    if (m.type() == "resync") {
      *error = "resync instead of a replay: " + m.text;
      return out;
    }
    if (m.type() == "edit") out.emplace_back(iget(*m, "seq"), sget(*m, "op"));
  }
  return out;
}

// Was a defect (1 run in 12 lost 27 of 300 acked edits): the edit script published an
// edit before WAIT confirmed it, and WAIT N below the number of replicas left it to
// chance whether the promoted replica held it, so a failover could lose an edit both
// instances had applied and give its seq to the next one, which they then skipped. Now
// nothing unconfirmed is applied anywhere and WAIT asks every online replica.
TEST_F(RedisOperationsTest, ASentinelFailoverMidEditsLosesNoAckedEditAndRepeatsNoneOnEitherInstance) {
  RedisProcessOptions mo;
  mo.extra_args = {"--repl-diskless-sync-delay", "0"};
  ASSERT_NO_FATAL_FAILURE(StartRedis(mo));
  const std::string mport = std::to_string(redis_->port());
  std::vector<std::unique_ptr<RedisProcess>> replicas, sentinels;
  std::string err;
  for (int i = 0; i < 2; ++i) {
    RedisProcessOptions ro;
    ro.extra_args = {"--replicaof", "127.0.0.1", mport, "--repl-diskless-sync-delay", "0"};
    replicas.push_back(RedisProcess::start(&err, ro));
    ASSERT_TRUE(replicas.back()) << err;
  }
  auto deadline = Clock::now() + std::chrono::seconds(15);
  while (redis_->command({"INCR", "probe"}).empty() ||
         CountOf(redis_->command({"INFO", "replication"}), "state=online,offset=0,") > 0 ||
         CountOf(redis_->command({"INFO", "replication"}), "state=online") < 2) {
    ASSERT_LT(Clock::now(), deadline) << redis_->command({"INFO", "replication"});
    std::this_thread::sleep_for(milliseconds(50));
  }
  for (int i = 0; i < 3; ++i) {
    RedisProcessOptions so;
    so.sentinel = true;
    so.password = "sentinel-pw-7";  // --redis-sentinel-password-file; each sentinel AUTHs to the others too
    so.conf = "requirepass sentinel-pw-7\nsentinel sentinel-pass sentinel-pw-7\n"
              "sentinel monitor mm 127.0.0.1 " + mport + " 2\nsentinel down-after-milliseconds mm 1000\n"
              "sentinel failover-timeout mm 5000\nsentinel parallel-syncs mm 2\n";
    sentinels.push_back(RedisProcess::start(&err, so));
    ASSERT_TRUE(sentinels.back()) << err;
  }
  // Every sentinel knows the other two and both replicas (hello messages every 2 s).
  deadline = Clock::now() + std::chrono::seconds(20);
  for (auto& s : sentinels) {
    while (s->command({"SENTINEL", "CKQUORUM", "mm"}).find("OK 3 usable") == std::string::npos ||
           CountOf(s->command({"SENTINEL", "REPLICAS", "mm"}), "\nslave\n") < 2) {
      ASSERT_LT(Clock::now(), deadline) << s->command({"SENTINEL", "CKQUORUM", "mm"});
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  std::string sentinel_list;
  for (auto& s : sentinels) sentinel_list += (sentinel_list.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(s->port());
  TempFile sentinel_pw("sentinel-pw-7\n");
  std::vector<std::string> args = {"--redis", Url(""), "--redis-sentinel", sentinel_list, "--redis-master", "mm",
                                   "--redis-min-replicas", "1", "--redis-sentinel-password-file", sentinel_pw.path};
  ServerProcess* i1 = Start(args);
  ServerProcess* i2 = Start(args);
  ASSERT_TRUE(i1 && i2);
  JoinOutcome a = Join(i1->port(), "r", "alice");
  JoinOutcome b = Join(i2->port(), "r", "bob");
  ASSERT_TRUE(a.welcomed && b.welcomed) << a.text << " / " << b.text;
  const std::string epoch = sget(parse(a.text), "epoch");

  Editor ea, eb;
  ea.ws = a.ws.get();
  ea.prefix = "a";
  eb.ws = b.ws.get();
  eb.prefix = "b";
  ea.total = eb.total = 150;
  std::thread ta([&] { ea.run(); }), tb([&] { eb.run(); });
  std::this_thread::sleep_for(milliseconds(1000));
  auto killed = Clock::now();
  ea.kill_ns = eb.kill_ns = killed.time_since_epoch().count();
  redis_->kill_hard();
  // When the sentinels name the promoted replica: the end of their failover.
  const std::string old_addr = "127.0.0.1\n" + mport;
  Clock::time_point switched{};
  for (auto until = Clock::now() + std::chrono::seconds(15); Clock::now() < until;) {
    std::string now_addr = sentinels[0]->command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mm"});
    if (!now_addr.empty() && now_addr.find("ERR") == std::string::npos && now_addr != old_addr) {
      switched = Clock::now();
      break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  ta.join();
  tb.join();
  for (Editor* e : {&ea, &eb}) {
    EXPECT_TRUE(e->problems.empty()) << e->prefix << ": " << e->problems.front();
    EXPECT_EQ(e->acked.size(), 150u) << e->prefix << " got " << e->acked.size() << " acks";
  }
  int64_t first = 0;
  for (Editor* e : {&ea, &eb}) {
    int64_t f = e->first_ack_after_ns.load();
    if (f && (!first || f < first)) first = f;
  }
  ASSERT_NE(first, 0) << "no ack after the master was killed";
  ASSERT_NE(switched, Clock::time_point{}) << "the sentinels never named another master";
  double to_first_ack = std::chrono::duration<double>(Clock::duration(first - killed.time_since_epoch().count())).count();
  double to_switch = std::chrono::duration<double>(switched - killed).count();
  std::string new_master = sentinels[0]->command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mm"});
  std::fprintf(stderr,
               "[redis-sentinel] master SIGKILLed: sentinels named the new master %.2f s after the kill, first ack "
               "after the edits were refused %.2f s after the kill (down-after 1 s); "
               "unavailable answers %d + %d; master now %s\n",
               to_switch, to_first_ack, ea.unavailable, eb.unavailable, new_master.c_str());
  EXPECT_LT(to_first_ack, to_switch + 2.0) << "acked again within the sentinels' failover time + 2 s";
  for (size_t i = 0; i < 2; ++i) {
    std::string l = Logged(i);
    // Reported, not asserted: in 3 of 15 runs no instance logged the announcement and
    // the reconnect schedule found the new master instead (3.13 s); see the README.
    std::fprintf(stderr, "[redis-sentinel] instance %zu followed +switch-master: %s\n", i,
                 l.find("redis_master_switched") != std::string::npos ? "yes" : "no");
    EXPECT_EQ(l.find("sentinel-pw-7"), std::string::npos) << l;
  }

  // What the promoted master holds, to tell a loss in Redis from a mirror gone astray.
  std::string addr = sentinels[0]->command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mm"});
  for (auto& r : replicas)
    if (addr.find("\n" + std::to_string(r->port())) != std::string::npos)
      std::fprintf(stderr, "[redis-sentinel] promoted master: seq %s, stream length %s\n",
                   r->command({"HGET", "rc:{r}:meta", "seq"}).c_str(), r->command({"XLEN", "rc:{r}:log"}).c_str());
  // One history, seen the same from both instances: every acked edit once, at its seq.
  std::map<long long, std::string> expected;
  for (Editor* e : {&ea, &eb})
    for (auto& [id, seq] : e->acked) expected[seq] = id;
  for (ServerProcess* p : {i1, i2}) {
    std::string herr;
    auto h = History(p->port(), epoch, &herr);
    ASSERT_TRUE(herr.empty()) << "instance on port " << p->port() << ": " << herr;
    std::fprintf(stderr, "[redis-sentinel] instance %u replays %zu edits, last seq %lld\n", unsigned(p->port()),
                 h.size(), h.empty() ? 0 : h.back().first);
    std::map<std::string, int> times;
    long long prev = 0;
    for (auto& [seq, op] : h) {
      EXPECT_EQ(seq, prev + 1) << "seq order broken on port " << p->port();
      prev = seq;
      ++times[op];
    }
    for (auto& [seq, id] : expected) {
      EXPECT_EQ(times[id], 1) << id << " (acked at seq " << seq << ") appears " << times[id] << " times on port "
                              << p->port();
      auto it = std::find_if(h.begin(), h.end(), [&](auto& x) { return x.first == seq; });
      EXPECT_TRUE(it != h.end() && it->second == id) << id << " is not at its acked seq " << seq;
    }
  }
}

}  // namespace
}  // namespace it
