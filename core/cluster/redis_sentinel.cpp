// core/cluster/redis_sentinel.cpp: one blocking, bounded question to the sentinels (see
// core/cluster/redis_sentinel.h).
#include "core/cluster/redis_sentinel.h"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <vector>

namespace roomcast {

namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms > 0 ? static_cast<int>(ms) : 0;
}

bool format(std::string* out, const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  int len = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), ptrs.data(), lens.data());
  if (len < 0 || !cmd) return false;
  out->append(cmd, static_cast<size_t>(len));
  redisFreeCommand(cmd);
  return true;
}

// One sentinel: true with the master's address; false with *why.
bool ask_one(const std::string& s_host, uint16_t s_port, const RedisOptions& opt, std::string* host, uint16_t* port,
             std::string* why) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(RedisSentinel::kPerSentinelMs);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(s_host.c_str(), std::to_string(s_port).c_str(), &hints, &res) != 0 || !res) {
    *why = "cannot resolve";
    return false;
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int rc = fd >= 0 ? ::connect(fd, res->ai_addr, res->ai_addrlen) : -1;
  int err = errno;
  ::freeaddrinfo(res);
  struct Closer {
    int fd;
    ~Closer() { if (fd >= 0) ::close(fd); }
  } closer{fd};
  if (fd < 0 || (rc != 0 && err != EINPROGRESS)) {
    *why = "connect refused";
    return false;
  }
  std::string out;
  size_t replies = 1;
  if (!opt.sentinel_password.empty()) {
    format(&out, {"AUTH", opt.sentinel_password});
    replies = 2;
  }
  if (!format(&out, {"SENTINEL", "get-master-addr-by-name", opt.master_name})) {
    *why = "out of memory";
    return false;
  }
  size_t sent = 0;
  redisReader* reader = redisReaderCreate();
  if (!reader) {
    *why = "out of memory";
    return false;
  }
  struct ReaderFree {
    redisReader* r;
    ~ReaderFree() { redisReaderFree(r); }
  } reader_free{reader};
  for (;;) {
    pollfd pf{fd, short(sent < out.size() ? POLLOUT : POLLIN), 0};
    int left = ms_left(deadline);
    if (left == 0 || ::poll(&pf, 1, left) <= 0) {
      *why = "no answer within " + std::to_string(RedisSentinel::kPerSentinelMs) + " ms";
      return false;
    }
    if (sent == 0) {  // the connect's outcome first, so a refusal says so
      int so_error = 0;
      socklen_t len = sizeof so_error;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0) {
        *why = so_error == ECONNREFUSED ? "connect refused" : "connect failed";
        return false;
      }
    }
    if (sent < out.size()) {
      ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        *why = "connection failed";
        return false;
      }
      if (n > 0) sent += static_cast<size_t>(n);
      continue;
    }
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0 || redisReaderFeed(reader, buf, static_cast<size_t>(n)) != REDIS_OK) {
      *why = "connection closed";
      return false;
    }
    for (void* raw = nullptr;;) {
      if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
        *why = "bad reply";
        return false;
      }
      if (!raw) break;
      const redisReply* r = static_cast<const redisReply*>(raw);
      bool last = --replies == 0;
      bool good = false;
      if (r->type == REDIS_REPLY_ERROR) {
        *why = std::string("refused: ") + std::string(r->str, r->len);
      } else if (last && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                 r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING) {
        *host = std::string(r->element[0]->str, r->element[0]->len);
        unsigned long p = std::strtoul(r->element[1]->str, nullptr, 10);
        good = p > 0 && p < 65536;
        *port = static_cast<uint16_t>(p);
        if (!good) *why = "a bad port";
      } else if (last) {
        *why = "does not know master " + opt.master_name;
      } else {
        good = true;  // +OK to AUTH
      }
      freeReplyObject(raw);
      raw = nullptr;
      if (!good) return false;
      if (last) return true;
    }
  }
}

}  // namespace

bool RedisSentinel::ask(const RedisOptions& opt, std::string* host, uint16_t* port, std::string* why) {
  why->clear();
  for (const auto& [s_host, s_port] : opt.sentinels) {
    std::string one;
    if (ask_one(s_host, s_port, opt, host, port, &one)) return true;
    if (!why->empty()) *why += "; ";
    *why += s_host + ":" + std::to_string(s_port) + ": " + one;
  }
  return false;
}

}  // namespace roomcast
