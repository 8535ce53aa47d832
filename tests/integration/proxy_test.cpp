// tests/integration/proxy_test.cpp: README "Behind a proxy", through the real nginx and
// HAProxy: per-address limits apply to each real client (sources 127.0.0.2-9 bound
// before connect), never to the proxy's own address, and a client cannot choose the
// address it is counted under. Skipped only when the proxy binary is not installed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "proxy_process.h"
#include "test_util.h"
#include "ws_client.h"

namespace it {
namespace {

constexpr int kPerAddress = 20;
constexpr int kSources = 8;  // 127.0.0.2 .. 127.0.0.9

std::string source(int i) { return "127.0.0." + std::to_string(2 + i); }

std::unique_ptr<WsClient> connect_from(uint16_t port, const std::string& from, std::string* error,
                                       std::vector<std::pair<std::string, std::string>> headers = {}) {
  ConnectOptions o;
  o.path = "/ws/office";
  o.bind_ip = from;
  o.extra_headers = std::move(headers);
  return WsClient::connect(port, o, error);
}

// Sends `bytes` from `from` and returns what came back before the server closed (bounded).
std::string exchange_from(const std::string& from, uint16_t port, const std::string& bytes) {
  std::string error, got;
  int fd = tcp_connect_from(from, port, Millis{2000}, 0, &error);
  if (fd < 0) return "connect failed: " + error;
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  for (int i = 0; i < 64; ++i) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, 3000) <= 0) {
      got += "(no close within 3 s)";
      break;
    }
    char buf[1024];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, size_t(n));
  }
  ::close(fd);
  return got;
}

// The README's nginx recipe, on `port`, in front of roomcast on `upstream`.
std::string nginx_config(uint16_t port, const std::string& dir, uint16_t upstream) {
  return "daemon off;\nmaster_process off;\nworker_processes 1;\npid " + dir + "/nginx.pid;\nerror_log " + dir +
         "/error.log warn;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n" +
         ProxyProcess::nginx_temp_paths(dir) +
         "  upstream roomcast { server 127.0.0.1:" + std::to_string(upstream) +
         "; }\n"
         "  server {\n    listen 127.0.0.1:" +
         std::to_string(port) +
         ";\n"
         "    location / {\n"
         "      proxy_pass http://roomcast;\n"
         "      proxy_http_version 1.1;\n"
         "      proxy_set_header Upgrade $http_upgrade;\n"
         "      proxy_set_header Connection \"upgrade\";\n"
         "      proxy_set_header Host $host;\n"
         "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
         "      proxy_set_header X-Real-IP $remote_addr;\n"
         "      proxy_read_timeout 120s;\n"
         "    }\n  }\n}\n";
}

// The README's HAProxy recipe (PROXY protocol v2, health checks), on `port`.
std::string haproxy_config(uint16_t port, const std::string& dir, uint16_t upstream) {
  return "global\n  maxconn 4096\n  pidfile " + dir +
         "/haproxy.pid\n"
         "defaults\n  mode http\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n"
         "  timeout tunnel 1h\n"
         "frontend viewers\n  bind 127.0.0.1:" +
         std::to_string(port) +
         "\n  default_backend roomcast\n"
         "backend roomcast\n  balance uri\n  option httpchk GET /healthz\n"
         "  server a 127.0.0.1:" +
         std::to_string(upstream) + " send-proxy-v2 check inter 1s\n";
}

class ProxyTest : public RoomcastTest {
 protected:
  void StartProxy(ProxyKind kind) {
    if (ProxyProcess::binary(kind).empty())
      GTEST_SKIP() << (kind == ProxyKind::Nginx ? "nginx" : "haproxy")
                   << " is not installed (make test installs nginx-light and haproxy)";
    std::string error;
    const uint16_t upstream = port();
    proxy_ = ProxyProcess::start(
        kind,
        [&](uint16_t p, const std::string& dir) {
          return kind == ProxyKind::Nginx ? nginx_config(p, dir, upstream) : haproxy_config(p, dir, upstream);
        },
        &error);
    ASSERT_TRUE(proxy_) << error;
  }

  // From each source in turn: kPerAddress WebSockets pass, the next one is refused with
  // 429 (while the earlier sources are already full, so the limit is per client).
  void ExpectPerClientLimits(std::vector<std::pair<std::string, std::string>> spoof = {}) {
    std::vector<std::unique_ptr<WsClient>> open;
    for (int s = 0; s < kSources; ++s) {
      for (int i = 0; i < kPerAddress; ++i) {
        std::string error;
        auto ws = connect_from(proxy_->port(), source(s), &error, spoof);
        ASSERT_TRUE(ws) << "client " << i << " from " << source(s) << ": " << error << "\n" << proxy_->log_tail();
        open.push_back(std::move(ws));
      }
      std::string error;
      EXPECT_FALSE(connect_from(proxy_->port(), source(s), &error, spoof)) << "21st from " << source(s);
      EXPECT_NE(error.find("429"), std::string::npos) << error;
    }
    EXPECT_EQ(open.size(), size_t(kSources * kPerAddress));
    // Every one of them is a live WebSocket through the proxy.
    for (auto& ws : open) ASSERT_TRUE(ws->send_ping("p"));
    for (auto& ws : open) {
      RecvResult r = ws->recv_frame(Millis{5000});
      ASSERT_TRUE(r.ok()) << to_string(r.status);
      EXPECT_EQ(r.frame.opcode, kOpPong);
    }
  }

  std::unique_ptr<ProxyProcess> proxy_;
};

TEST_F(ProxyTest, BehindNginxEachClientAddressHasItsOwnLimitAndTheProxyNone) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--threads", "2", "--resume-grace", "0", "--trusted-proxy", "127.0.0.1",
                                       "--max-connections-per-ip", std::to_string(kPerAddress)}));
  ASSERT_NO_FATAL_FAILURE(StartProxy(ProxyKind::Nginx));
  if (IsSkipped()) return;
  ExpectPerClientLimits();
}

TEST_F(ProxyTest, BehindNginxASpoofedXForwardedForChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--resume-grace", "0", "--trusted-proxy", "127.0.0.1",
                                       "--max-connections-per-ip", std::to_string(kPerAddress)}));
  ASSERT_NO_FATAL_FAILURE(StartProxy(ProxyKind::Nginx));
  if (IsSkipped()) return;
  // nginx appends the real address: the rightmost untrusted entry is the client's.
  ExpectPerClientLimits({{"X-Forwarded-For", "203.0.113.77"}, {"X-Real-IP", "203.0.113.78"}});
}

TEST_F(ProxyTest, AnUntrustedPeersForwardingHeadersAreIgnored) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--resume-grace", "0", "--trusted-proxy", "127.0.0.1",
                                       "--max-connections-per-ip", "5"}));
  std::vector<std::unique_ptr<WsClient>> open;
  for (int i = 0; i < 5; ++i) {
    std::string error;
    const std::string lie = "203.0.113." + std::to_string(i + 1);
    auto ws = connect_from(port(), "127.0.0.2", &error,
                           {{"X-Forwarded-For", lie}, {"X-Real-IP", lie}, {"Forwarded", "for=" + lie}});
    ASSERT_TRUE(ws) << error;
    open.push_back(std::move(ws));
  }
  std::string error;
  EXPECT_FALSE(connect_from(port(), "127.0.0.2", &error, {{"X-Forwarded-For", "198.51.100.1"}}));
  EXPECT_NE(error.find("429"), std::string::npos) << error;
  EXPECT_TRUE(connect_from(port(), "127.0.0.3", &error)) << error;
}

TEST_F(ProxyTest, ABurstThroughNginxIsNotEvictedAsOneAddress) {
  // 400 viewers at once through one proxy (issue 21): with a per-address handshake budget
  // of 8, counting the proxy's address would close most of them before their upgrade.
  ASSERT_NO_FATAL_FAILURE(StartServer({"--threads", "2", "--resume-grace", "0", "--trusted-proxy", "127.0.0.1",
                                       "--max-handshakes-per-ip", "8", "--max-connections-per-ip", "100"}));
  ASSERT_NO_FATAL_FAILURE(StartProxy(ProxyKind::Nginx));
  if (IsSkipped()) return;
  constexpr int kClients = 400;
  std::vector<int> fds;
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string request = "GET /ws/burst HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  for (int i = 0; i < kClients; ++i) {
    std::string error;
    int fd = tcp_connect_from(source(i % kSources), proxy_->port(), Millis{5000}, 0, &error);
    ASSERT_GE(fd, 0) << error;
    fds.push_back(fd);
  }
  for (int fd : fds) ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
  int upgraded = 0;
  std::string first_failure;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int fd : fds) {
    std::string got;
    while (got.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd pf{fd, POLLIN, 0};
      if (::poll(&pf, 1, 1000) <= 0) break;
      char buf[512];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, size_t(n));
    }
    if (got.starts_with("HTTP/1.1 101")) ++upgraded;
    else if (first_failure.empty()) first_failure = got.empty() ? "(nothing)" : got;
    ::close(fd);
  }
  EXPECT_EQ(upgraded, kClients) << first_failure.substr(0, 300);
}

TEST_F(ProxyTest, BehindHaproxyWithProxyProtocolV2EachClientAddressHasItsOwnLimit) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--threads", "2", "--resume-grace", "0", "--proxy-protocol",
                                       "--trusted-proxy", "127.0.0.1", "--max-connections-per-ip",
                                       std::to_string(kPerAddress)}));
  ASSERT_NO_FATAL_FAILURE(StartProxy(ProxyKind::Haproxy));
  if (IsSkipped()) return;
  ExpectPerClientLimits({{"X-Forwarded-For", "203.0.113.77"}});
}

TEST_F(ProxyTest, WithProxyProtocolAndTrustedProxyOthersAreClosedWithoutAnAnswer) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--proxy-protocol", "--trusted-proxy", "127.0.0.1"}));
  // An untrusted peer is closed at once, whatever it sends.
  EXPECT_EQ(exchange_from("127.0.0.2", port(), "PROXY TCP4 203.0.113.1 127.0.0.1 4711 80\r\nGET /healthz HTTP/1.1\r\n\r\n"),
            "");
  // A trusted peer without a header, or with a broken one, is closed without an answer.
  EXPECT_EQ(exchange_from("127.0.0.1", port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  EXPECT_EQ(exchange_from("127.0.0.1", port(), "PROXY TCP4 203.0.113.1 127.0.0.1 99999 80\r\nGET /healthz HTTP/1.1\r\n\r\n"),
            "");
  HttpResponse r;
  // v1 and v2 (LOCAL: the socket's own address) are understood.
  r = http_raw(port(), "PROXY TCP4 203.0.113.1 127.0.0.1 4711 80\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200) << r.raw;
  const std::string local("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16);
  r = http_raw(port(), local + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200) << r.raw;
}

TEST_F(ProxyTest, WithProxyProtocolAHeaderThatNeverCompletesIsClosedAtTheHandshakeTimeout) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--proxy-protocol", "--handshake-timeout", "1"}));
  std::string error;
  int fd = tcp_connect(port(), Millis{2000}, 0, &error);
  ASSERT_GE(fd, 0) << error;
  const std::string partial = "PROXY TCP4 203.0.113.1";
  ASSERT_EQ(::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL), ssize_t(partial.size()));
  char buf[64];
  const auto started = std::chrono::steady_clock::now();
  pollfd pf{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&pf, 1, 4000), 1) << "still open after 4 s";
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_LE(n, 0);
  EXPECT_GE(waited, std::chrono::milliseconds(500));
  EXPECT_LT(waited, std::chrono::milliseconds(3500));
  ::close(fd);
}

}  // namespace
}  // namespace it
