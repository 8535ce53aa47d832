// The hook client against a real HTTP server on 127.0.0.1: signed POSTs, answers of every
// class, timeouts, refused connections, kept-alive connections, the queue bound, and
// results handed back through the submitter's eventfd.
#include "core/backend/hook_client.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "proto/webhook_signature.h"
#include "tests/core/backend/test_http_server.h"

namespace roomcast {
namespace {

using namespace std::chrono_literals;
using test::TestHttpServer;

constexpr std::string_view kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Submitter {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ~Submitter() { ::close(fd); }

  // Waits (at most `limit`) for `n` results, reading the eventfd the way a loop thread does.
  std::vector<HookResult> wait(HookClient& client, size_t n, std::chrono::milliseconds limit = 5000ms) {
    std::vector<HookResult> got;
    const auto end = std::chrono::steady_clock::now() + limit;
    while (got.size() < n && std::chrono::steady_clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      uint64_t v;
      EXPECT_EQ(::read(fd, &v, sizeof v), ssize_t(sizeof v));
      client.take(0, &got);
    }
    return got;
  }
};

HookClientOptions options(std::chrono::milliseconds timeout = 2000ms) {
  HookClientOptions o;
  o.timeout = timeout;
  std::string error;
  EXPECT_TRUE(parse_webhook_secret(kSecret, o.key, error));
  o.user_agent = "roomcast/test";
  return o;
}

HookRequest request(const TestHttpServer& server, std::string path, uint64_t cookie = 1,
                    HookKind kind = HookKind::Webhook) {
  return HookRequest{cookie, kind, server.url(path), "edit:r1:e:" + std::to_string(cookie),
                     R"({"type":"edit","seq":)" + std::to_string(cookie) + "}"};
}

TEST(HookClient, PostsTheBodySignedPerStandardWebhooksAndHandsTheAnswerBackThroughTheEventfd) {
  TestHttpServer server([](const TestHttpServer::Request&) { return TestHttpServer::Response{200, R"({"ok":true})"}; });
  HookClient client(options(), 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  ASSERT_TRUE(client.submit(0, request(server, "/hooks/webhook", 7)));
  auto results = s.wait(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].cookie, 7u);
  EXPECT_EQ(results[0].outcome, HookOutcome::Answered);
  EXPECT_EQ(results[0].status, 200);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[0].body, R"({"ok":true})");

  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  const auto& r = seen[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/hooks/webhook");
  EXPECT_EQ(r.body, R"({"type":"edit","seq":7})");
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.headers.at("user-agent"), "roomcast/test");
  EXPECT_EQ(r.headers.at("webhook-id"), "edit:r1:e:7");
  EXPECT_EQ(r.headers.count("expect"), 0u);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  std::string key, error;
  ASSERT_TRUE(parse_webhook_secret(kSecret, key, error));
  EXPECT_TRUE(verify_webhook_signature(key, r.headers.at("webhook-id"), r.headers.at("webhook-timestamp"), r.body,
                                       r.headers.at("webhook-signature"), now, 5));
}

TEST(HookClient, WithoutAKeyRequestsGoUnsigned) {
  TestHttpServer server([](const TestHttpServer::Request&) { return TestHttpServer::Response{204, ""}; });
  HookClientOptions o = options();
  o.key.clear();
  HookClient client(o, 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  ASSERT_TRUE(client.submit(0, request(server, "/")));
  auto results = s.wait(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(server.requests().at(0).headers.count("webhook-signature"), 0u);
  EXPECT_EQ(server.requests().at(0).headers.count("webhook-id"), 1u);
}

TEST(HookClient, FourAndFiveHundredsAreAnswersWithTheirBodiesAndCountedByClass) {
  TestHttpServer server([](const TestHttpServer::Request& r) {
    if (r.path == "/reject") return TestHttpServer::Response{403, R"({"reason":"element 4 is locked"})"};
    return TestHttpServer::Response{503, "down"};
  });
  HookClient client(options(), 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  ASSERT_TRUE(client.submit(0, request(server, "/reject", 1, HookKind::Edit)));
  ASSERT_TRUE(client.submit(0, request(server, "/down", 2, HookKind::Edit)));
  auto results = s.wait(client, 2);
  ASSERT_EQ(results.size(), 2u);
  std::sort(results.begin(), results.end(), [](auto& a, auto& b) { return a.cookie < b.cookie; });
  EXPECT_EQ(results[0].status, 403);
  EXPECT_EQ(results[0].body, R"({"reason":"element 4 is locked"})");
  EXPECT_FALSE(results[0].ok());
  EXPECT_EQ(results[1].status, 503);
  EXPECT_FALSE(results[1].ok());
  std::string metrics;
  client.render_metrics(&metrics);
  EXPECT_NE(metrics.find("roomcast_hook_requests_total{hook=\"edit\",result=\"4xx\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("roomcast_hook_requests_total{hook=\"edit\",result=\"5xx\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("roomcast_hook_latency_seconds_count{hook=\"edit\"} 2\n"), std::string::npos) << metrics;
}

TEST(HookClient, ASlowBackendIsATimeoutWithinTheHookTimeout) {
  TestHttpServer server([](const TestHttpServer::Request&) { return TestHttpServer::Response{200, "{}", 3000}; });
  HookClient client(options(300ms), 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.submit(0, request(server, "/slow")));
  auto results = s.wait(client, 1);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, HookOutcome::Timeout) << results[0].error;
  EXPECT_GE(took, 280ms);
  EXPECT_LT(took, 1500ms);
}

TEST(HookClient, ARequestWaitingForASlotStillEndsWithinTheHookTimeout) {
  TestHttpServer server([](const TestHttpServer::Request&) { return TestHttpServer::Response{200, "{}", 3000}; });
  HookClientOptions o = options(400ms);
  o.max_in_flight = 1;
  HookClient client(o, 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.submit(0, request(server, "/slow", 1)));
  ASSERT_TRUE(client.submit(0, request(server, "/slow", 2)));
  auto results = s.wait(client, 2);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  for (const auto& r : results) EXPECT_EQ(r.outcome, HookOutcome::Timeout) << r.cookie;
  EXPECT_EQ(server.requests().size(), 1u) << "the second never got a slot";
}

TEST(HookClient, NoListenerIsUnreachableAtOnce) {
  // A port that was just free: nothing listens on it.
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(probe);
  HookClient client(options(), 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.submit(0, HookRequest{1, HookKind::Auth, "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/",
                                           "auth:1", "{}"}));
  auto results = s.wait(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, HookOutcome::Unreachable) << results[0].error;
  EXPECT_FALSE(results[0].error.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1000ms);
}

TEST(HookClient, SequentialRequestsReuseOneKeptAliveConnection) {
  TestHttpServer server([](const TestHttpServer::Request&) { return TestHttpServer::Response{200, "{}"}; });
  HookClient client(options(), 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  for (uint64_t i = 1; i <= 5; ++i) {
    ASSERT_TRUE(client.submit(0, request(server, "/", i)));
    auto results = s.wait(client, 1);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_TRUE(results[0].ok());
    EXPECT_EQ(results[0].reused_connection, i > 1) << i;
  }
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(client.stats().connections_made.load(), 1u);
}

TEST(HookClient, BeyondTheQueueBoundSubmitRefusesAtOnce) {
  TestHttpServer server([](const TestHttpServer::Request&) { return TestHttpServer::Response{200, "{}", 300}; });
  HookClientOptions o = options();
  o.max_queued = 2;
  HookClient client(o, 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  EXPECT_TRUE(client.submit(0, request(server, "/", 1)));
  EXPECT_TRUE(client.submit(0, request(server, "/", 2)));
  EXPECT_FALSE(client.submit(0, request(server, "/", 3)));
  EXPECT_EQ(client.stats().requests[size_t(HookKind::Webhook)][9].load(), 1u);  // queue_full
  auto results = s.wait(client, 2);
  EXPECT_EQ(results.size(), 2u);
  EXPECT_TRUE(client.submit(0, request(server, "/", 4))) << "room again once answered";
  EXPECT_EQ(s.wait(client, 1).size(), 1u);
}

TEST(HookClient, AnAnswerLongerThanTheBoundIsRefusedNotKept) {
  TestHttpServer server([](const TestHttpServer::Request&) { return TestHttpServer::Response{200, std::string(5000, 'x')}; });
  HookClientOptions o = options();
  o.max_response_bytes = 1000;
  HookClient client(o, 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  ASSERT_TRUE(client.submit(0, request(server, "/")));
  auto results = s.wait(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, HookOutcome::TooLarge);
  EXPECT_TRUE(results[0].body.empty());
}

TEST(HookClient, StopEndsATransferInFlightWithAStoppedResult) {
  TestHttpServer server([](const TestHttpServer::Request&) { return TestHttpServer::Response{200, "{}", 5000}; });
  HookClient client(options(10000ms), 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  ASSERT_TRUE(client.submit(0, request(server, "/")));
  for (int i = 0; i < 100 && server.requests().empty(); ++i) std::this_thread::sleep_for(10ms);
  const auto t0 = std::chrono::steady_clock::now();
  client.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1000ms);
  std::vector<HookResult> results;
  client.take(0, &results);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, HookOutcome::Stopped);
  EXPECT_FALSE(client.submit(0, request(server, "/"))) << "nothing is accepted after stop";
}

TEST(HookClient, HttpsToACertificateTheSystemDoesNotTrustIsATransportError) {
  // A plain-HTTP listener spoken to in TLS: the handshake fails, nothing is sent in clear.
  TestHttpServer server([](const TestHttpServer::Request&) { return TestHttpServer::Response{200, "{}"}; });
  HookClient client(options(1000ms), 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  ASSERT_TRUE(client.submit(0, HookRequest{1, HookKind::Webhook, "https://127.0.0.1:" + std::to_string(server.port()) + "/",
                                           "w:1", "{}"}));
  auto results = s.wait(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_NE(results[0].outcome, HookOutcome::Answered);
  EXPECT_TRUE(server.requests().empty());
}

// A self-signed certificate for 127.0.0.1 and an HTTPS server presenting it.
class HttpsServer {
 public:
  HttpsServer() {
    char dir_template[] = "/tmp/roomcast-hook-tls-XXXXXX";
    dir_ = ::mkdtemp(dir_template);
    const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1"
                            " -addext subjectAltName=IP:127.0.0.1 -keyout " + dir_ + "/key.pem -out " + dir_ +
                            "/cert.pem 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) return;
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return;
    const std::string script = (std::filesystem::path(__FILE__).parent_path() / "https_test_server.py").string();
    const std::string cert = dir_ + "/cert.pem", key = dir_ + "/key.pem";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::execl("/usr/bin/python3", "python3", script.c_str(), cert.c_str(), key.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    stdin_ = to_child[1];
    char buf[16] = {};
    pollfd p{from_child[0], POLLIN, 0};
    if (::poll(&p, 1, 10000) > 0 && ::read(from_child[0], buf, sizeof buf - 1) > 0) port_ = std::atoi(buf);
    ::close(from_child[0]);
  }
  ~HttpsServer() {
    if (stdin_ >= 0) ::close(stdin_);  // the server ends when its stdin closes
    if (pid_ > 0) {
      for (int i = 0; i < 100 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i) std::this_thread::sleep_for(20ms);
      if (::kill(pid_, 0) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    std::filesystem::remove_all(dir_);
  }
  int port() const { return port_; }
  std::string cert() const { return dir_ + "/cert.pem"; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/hook"; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  int port_ = 0;
};

TEST(HookClient, HttpsIsVerifiedAgainstTheTrustedCertificatesThenKeptAlive) {
  HttpsServer server;
  ASSERT_GT(server.port(), 0) << "openssl or python3 missing";
  {
    // The system's CA store does not know this self-signed certificate.
    HookClient client(options(), 1);
    Submitter s;
    client.attach(0, s.fd);
    client.start();
    ASSERT_TRUE(client.submit(0, HookRequest{1, HookKind::Auth, server.url(), "auth:1", "{}"}));
    auto results = s.wait(client, 1);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].outcome, HookOutcome::Transport) << results[0].error;
  }
  HookClientOptions o = options();
  o.ca_file = server.cert();
  HookClient client(o, 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  for (uint64_t i = 1; i <= 3; ++i) {
    ASSERT_TRUE(client.submit(0, HookRequest{i, HookKind::Auth, server.url(), "auth:" + std::to_string(i), "{}"}));
    auto results = s.wait(client, 1);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_TRUE(results[0].ok()) << results[0].error;
    EXPECT_EQ(results[0].body, R"({"tls":true})");
    EXPECT_EQ(results[0].reused_connection, i > 1) << i;
  }
  // The same server under a name its certificate does not carry: refused.
  ASSERT_TRUE(client.submit(0, HookRequest{9, HookKind::Auth, "https://localhost:" + std::to_string(server.port()) + "/hook",
                                           "auth:9", "{}"}));
  auto results = s.wait(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, HookOutcome::Transport) << results[0].error;
  EXPECT_NE(results[0].error.find("localhost"), std::string::npos) << results[0].error;
}

TEST(HookClient, RoundTripLatencyToALocalBackendIsWellUnderTheBenchmarkGoal) {
  TestHttpServer server([](const TestHttpServer::Request&) { return TestHttpServer::Response{200, "{}"}; });
  HookClient client(options(), 1);
  Submitter s;
  client.attach(0, s.fd);
  client.start();
  std::vector<int64_t> us;
  for (uint64_t i = 1; i <= 300; ++i) {
    ASSERT_TRUE(client.submit(0, request(server, "/", i)));
    auto results = s.wait(client, 1);
    ASSERT_EQ(results.size(), 1u);
    ASSERT_TRUE(results[0].ok());
    us.push_back(results[0].latency.count());
  }
  std::sort(us.begin(), us.end());
  const int64_t p50 = us[us.size() / 2], p99 = us[us.size() * 99 / 100];
  std::cout << "hook round trip on 127.0.0.1, kept-alive, submit to result: p50 " << p50 << " us, p99 " << p99
            << " us, max " << us.back() << " us\n";
  EXPECT_LT(p50, 50'000);
}

}  // namespace
}  // namespace roomcast
