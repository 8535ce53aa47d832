// tests/core/backend/test_http_server.h: a small HTTP/1.1 server on 127.0.0.1 for the hook
// client's tests: keep-alive, Content-Length bodies, a per-request answer chosen by the
// test (status, body, delay, close), and a record of what it received on which connection.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace roomcast::test {

class TestHttpServer {
 public:
  struct Request {
    std::string method, path, body;
    std::map<std::string, std::string> headers;  // names lower-cased
    int connection = 0;                          // 1 for the first accepted connection
  };
  struct Response {
    int status = 200;
    std::string body;
    int delay_ms = 0;
    bool close = false;
  };
  using Handler = std::function<Response(const Request&)>;

  explicit TestHttpServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 64);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TestHttpServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : connections_) t.join();
    ::close(fd_);
  }

  uint16_t port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int connections() const { return accepted_.load(); }
  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  bool wait_readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }

  void accept_loop() {
    while (wait_readable(fd_)) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      int one = 1;
      ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const int id = ++accepted_;
      connections_.emplace_back([this, c, id] { serve(c, id); });
    }
  }

  void serve(int c, int id) {
    std::string in;
    char buf[16384];
    for (;;) {
      size_t head_end;
      while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
        if (!wait_readable(c)) return finish(c);
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return finish(c);
        in.append(buf, size_t(n));
      }
      Request r;
      r.connection = id;
      const std::string head = in.substr(0, head_end);
      size_t line_end = head.find("\r\n");
      const std::string first = head.substr(0, line_end);
      r.method = first.substr(0, first.find(' '));
      r.path = first.substr(first.find(' ') + 1, first.rfind(' ') - first.find(' ') - 1);
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        const std::string line = head.substr(pos, e - pos);
        const size_t colon = line.find(':');
        if (colon != std::string::npos) {
          std::string name = line.substr(0, colon);
          std::transform(name.begin(), name.end(), name.begin(), ::tolower);
          size_t v = colon + 1;
          while (v < line.size() && line[v] == ' ') ++v;
          r.headers[name] = line.substr(v);
        }
        pos = e + 2;
      }
      const size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
      in.erase(0, head_end + 4);
      while (in.size() < length) {
        if (!wait_readable(c)) return finish(c);
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return finish(c);
        in.append(buf, size_t(n));
      }
      r.body = in.substr(0, length);
      in.erase(0, length);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(r);
      }
      const Response answer = handler_(r);
      for (int waited = 0; waited < answer.delay_ms && !stop_; waited += 10)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::string out = "HTTP/1.1 " + std::to_string(answer.status) + " X\r\nContent-Type: application/json\r\n" +
                        "Content-Length: " + std::to_string(answer.body.size()) + "\r\n" +
                        (answer.close ? "Connection: close\r\n" : "") + "\r\n" + answer.body;
      // MSG_NOSIGNAL: the client may have given up and closed (a timeout test).
      if (::send(c, out.data(), out.size(), MSG_NOSIGNAL) < 0 || answer.close) return finish(c);
    }
  }

  void finish(int c) { ::close(c); }

  Handler handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::vector<std::thread> connections_;  // touched by the acceptor only, joined after it
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
};

}  // namespace roomcast::test
