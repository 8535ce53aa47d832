// core/cluster/redis_connection.cpp: a plain non-blocking socket with hiredis as formatter and
// reply parser (see core/cluster/redis_connection.h).
#include "core/cluster/redis_connection.h"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace roomcast {

namespace {

RedisValue convert(const redisReply* r) {
  RedisValue v;
  switch (r->type) {
    case REDIS_REPLY_STRING: v.kind = RedisValue::Kind::String; break;
    case REDIS_REPLY_STATUS: v.kind = RedisValue::Kind::Status; break;
    case REDIS_REPLY_ERROR: v.kind = RedisValue::Kind::Error; break;
    case REDIS_REPLY_INTEGER: v.kind = RedisValue::Kind::Integer; v.integer = r->integer; return v;
    case REDIS_REPLY_ARRAY:
      v.kind = RedisValue::Kind::Array;
      v.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(convert(r->element[i]));
      return v;
    default: return v;  // NIL
  }
  v.str.assign(r->str, r->len);
  return v;
}

}  // namespace

RedisConnection::~RedisConnection() {
  if (ssl_) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
  if (reader_) redisReaderFree(reader_);
}

RedisConnection::Dial RedisConnection::dial(const std::string& host, uint16_t port, std::chrono::milliseconds timeout,
                                            RedisClock::time_point now) {
  host_ = host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port_text = std::to_string(port);
  if (::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res) != 0 || !res) {
    close(now);
    return Dial::Failed;
  }
  // A name may resolve to several addresses, some unreachable (::1 first while Redis
  // listens on 127.0.0.1): each dial tries the next one.
  size_t count = 0;
  for (addrinfo* a = res; a; a = a->ai_next) ++count;
  addrinfo* pick = res;
  for (size_t i = dials_++ % count; i > 0; --i) pick = pick->ai_next;
  int fd = ::socket(pick->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int rc = fd >= 0 ? ::connect(fd, pick->ai_addr, pick->ai_addrlen) : -1;
  int err = errno;
  ::freeaddrinfo(res);
  fd_ = fd;
  if (fd < 0 || (rc != 0 && err != EINPROGRESS)) {
    close(now);
    return Dial::Failed;
  }
  phase_ = Phase::Connecting;
  connect_deadline_ = now + timeout;
  return rc == 0 ? Dial::Connected : Dial::InProgress;
}

bool RedisConnection::connect_succeeded() const {
  int err = 0;
  socklen_t len = sizeof err;
  return ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

bool RedisConnection::establish() {
  int one = 1;
  // Small commands and replies: Nagle would only add latency. Failure changes nothing else.
  (void)::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  reader_ = redisReaderCreate();
  if (!reader_) return false;
  if (tls_) {
    ssl_ = tls_->start(fd_, host_);
    if (!ssl_) return false;
    phase_ = Phase::Handshaking;
    want_write_ = true;  // the ClientHello goes first
    return true;
  }
  phase_ = Phase::Open;
  return true;
}

RedisConnection::Handshake RedisConnection::handshake(std::string* why) {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    phase_ = Phase::Open;
    return Handshake::Done;
  }
  int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    want_write_ = err == SSL_ERROR_WANT_WRITE;
    return Handshake::Again;
  }
  if (why) *why = RedisTls::last_error(ssl_);
  return Handshake::Failed;
}

bool RedisConnection::append(std::initializer_list<std::string_view> head, const std::vector<std::string>& tail) {
  arg_ptrs_.clear();
  arg_lens_.clear();
  for (std::string_view h : head) {
    arg_ptrs_.push_back(h.data());
    arg_lens_.push_back(h.size());
  }
  for (const std::string& t : tail) {
    arg_ptrs_.push_back(t.data());
    arg_lens_.push_back(t.size());
  }
  char* cmdbuf = nullptr;
  int len = redisFormatCommandArgv(&cmdbuf, static_cast<int>(arg_ptrs_.size()), arg_ptrs_.data(), arg_lens_.data());
  if (len < 0 || !cmdbuf) return false;
  out_.append(cmdbuf, static_cast<size_t>(len));
  redisFreeCommand(cmdbuf);
  return true;
}

bool RedisConnection::write_out() {
  while (unsent()) {
    if (ssl_) {
      ERR_clear_error();
      int n = SSL_write(ssl_, out_.data() + out_sent_, static_cast<int>(std::min<size_t>(out_.size() - out_sent_, 1 << 20)));
      if (n > 0) {
        out_sent_ += static_cast<size_t>(n);
        continue;
      }
      int err = SSL_get_error(ssl_, n);
      // WANT_READ: a TLS 1.3 post-handshake message to read first; POLLIN is polled anyway.
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) break;
      return false;
    }
    ssize_t n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return false;
  }
  if (!unsent()) {
    out_.clear();
    out_sent_ = 0;
  } else if (out_sent_ > (1u << 20)) {  // a slow reader: drop the sent prefix now and then
    out_.erase(0, out_sent_);
    out_sent_ = 0;
  }
  return true;
}

RedisConnection::Input RedisConnection::receive() {
  char buf[65536];
  if (ssl_) {
    // SSL_read yields at most one record (16 KiB) per call: up to 1 MiB per turn like
    // the plain socket, then whatever OpenSSL already decrypted, so no byte is left
    // where poll() cannot see it.
    for (int round = 0; round < 64 || SSL_pending(ssl_) > 0; ++round) {
      ERR_clear_error();
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) {
        if (redisReaderFeed(reader_, buf, static_cast<size_t>(n)) != REDIS_OK) return Input::Broken;
        continue;
      }
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
      return Input::Gone;  // close_notify, EOF or a TLS error
    }
    return Input::Alive;
  }
  for (int round = 0; round < 16; ++round) {  // bounded: the other socket gets its turn
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      if (redisReaderFeed(reader_, buf, static_cast<size_t>(n)) != REDIS_OK) return Input::Broken;
      if (static_cast<size_t>(n) < sizeof buf) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return Input::Gone;  // EOF (CLIENT KILL, Redis gone) or a socket error
  }
  return Input::Alive;
}

RedisConnection::Parsed RedisConnection::next(RedisValue* out) {
  if (!reader_) return Parsed::None;  // closed while its replies were being handled
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) return Parsed::Broken;
  if (!raw) return Parsed::None;
  *out = convert(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return Parsed::Reply;
}

void RedisConnection::close(RedisClock::time_point now) {
  // No close_notify: the connection is dropped, not ended politely (Redis does not care).
  if (ssl_) SSL_free(ssl_);
  ssl_ = nullptr;
  want_write_ = false;
  if (fd_ >= 0) ::close(fd_);  // a socket we own; nothing to learn from its close
  fd_ = -1;
  phase_ = Phase::Closed;
  out_.clear();
  out_sent_ = 0;
  if (reader_) redisReaderFree(reader_);
  reader_ = nullptr;
  retry_at_ = now + std::chrono::milliseconds(backoff_ms_);
  backoff_ms_ = std::min(backoff_ms_ * 2, kBackoffMaxMs);
}

}  // namespace roomcast
