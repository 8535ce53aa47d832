// core/cluster/redis_connection.h: one non-blocking RESP connection to Redis.
//
// Owns: one TCP socket (non-blocking, TCP_NODELAY once connected), with rediss:// its
// OpenSSL session (SSL_read/SSL_write on that socket, the handshake driven by the link's
// poll loop), the commands formatted but not yet written, a hiredis 0.14 reader, and the
// reconnect backoff. hiredis is used as codec only (redisFormatCommandArgv, the reader
// API) and stays in this file pair: replies come out as owned RedisValues.
// Called by: the Redis link's thread only. core/cluster/redis_link.cpp dials, polls and closes
// both of its connections; core/cluster/redis_pipeline.cpp (commands) and core/cluster/redis_subscriber.cpp
// (subscriptions) write to and parse from theirs. Not thread-safe.
// Decides nothing: apart from a dial that fails outright, it never closes itself. It
// reports, and its owner decides what a loss means (failing calls, unconfirming channels)
// and calls close().
// Promises:
//   - phases go Closed -> Connecting -> Open (with TLS: Closed -> Connecting ->
//     Handshaking -> Open), and back to Closed only through close(); with TLS no byte
//     is ever written to the socket but through SSL_write, so a failed handshake can
//     only end in close(), never in plain text;
//   - close() drops the socket, the unsent bytes and the parser (a reply half read is
//     lost with it), and sets retry_at() to now + the backoff, which then doubles, from
//     100 ms up to 2 s; reset_backoff() after a success starts it at 100 ms again;
//   - append() only formats: nothing is sent before write_out(); write_out() sends what
//     the socket takes, in append order;
//   - receive() then next() until None yield every complete reply, in arrival order.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/cluster/redis_link.h"
#include "core/cluster/redis_tls.h"

struct redisReader;  // hiredis; only redis_connection.cpp sees its definition
typedef struct ssl_st SSL;  // OpenSSL

namespace roomcast {

using RedisClock = std::chrono::steady_clock;

class RedisConnection {
 public:
  enum class Phase : uint8_t { Closed, Connecting, Handshaking, Open };
  enum class Dial : uint8_t {
    Failed,      // no address, no socket or the connect was refused at once: closed (backoff applied)
    InProgress,  // wait for the socket to become writable, then connect_succeeded()
    Connected,   // connected already (rare; loopback may do it): establish() now
  };
  enum class Input : uint8_t {
    Alive,   // read what was there (maybe nothing); the connection goes on
    Gone,    // EOF or a socket error: the replies read before it still parse
    Broken,  // the parser refused the bytes: nothing more can be trusted
  };
  enum class Parsed : uint8_t { Reply, None, Broken };
  enum class Handshake : uint8_t { Done, Again, Failed };

  static constexpr int kBackoffMinMs = 100;
  static constexpr int kBackoffMaxMs = 2000;

  RedisConnection() = default;
  ~RedisConnection();  // releases the socket and the parser, if still held
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Before dial(): every later connection speaks TLS with `tls` (which outlives this).
  void use_tls(const RedisTls* tls) { tls_ = tls; }
  Phase phase() const { return phase_; }
  bool open() const { return phase_ == Phase::Open; }
  int fd() const { return fd_; }  // -1 while Closed
  bool unsent() const { return out_sent_ < out_.size(); }
  RedisClock::time_point connect_deadline() const { return connect_deadline_; }  // while Connecting/Handshaking
  // While Handshaking: what to poll for (OpenSSL wants to write, else to read).
  bool handshake_wants_write() const { return want_write_; }
  RedisClock::time_point retry_at() const { return retry_at_; }                  // while Closed

  // Closed -> Connecting (or Connected at once): resolves host (getaddrinfo may block the
  // calling thread; numeric hosts do not) and starts a non-blocking connect to the first
  // address, which must complete within `timeout` (connect_deadline()).
  Dial dial(const std::string& host, uint16_t port, std::chrono::milliseconds timeout, RedisClock::time_point now);
  // Connecting and the socket polled writable (or hung up): did the connect succeed?
  bool connect_succeeded() const;
  // Connected: TCP_NODELAY and a fresh parser, then Open, or with TLS Handshaking (the
  // owner drives handshake() whenever the socket is ready). False (out of memory): the
  // owner closes it.
  bool establish();
  // Handshaking: one step of the TLS handshake. Done: Open now. Failed: *why says why
  // (a certificate that does not verify, a name that does not match...); the owner closes.
  Handshake handshake(std::string* why);

  // Formats one command (head then tail) behind what is unsent. False only if hiredis
  // could not allocate (nothing appended).
  bool append(std::initializer_list<std::string_view> head, const std::vector<std::string>& tail = {});
  // Open: writes what the socket takes. False: the socket failed.
  bool write_out();
  // Open: reads what the socket has (at most 1 MiB, so the other socket gets its turn)
  // into the parser.
  Input receive();
  // The next complete reply into *out (Reply), or None, or Broken (a protocol error).
  Parsed next(RedisValue* out);
  // What a reader does with each reply read_replies() hands it.
  enum class Take : uint8_t {
    Next,      // go on with the next reply
    Stop,      // stop reading now; the connection is fine (its owner dealt with it)
    Refuse,    // the reply makes no sense here: the connection must be dropped
  };
  // receive(), then every complete reply to `take(RedisValue&&)`, in order. True while
  // the connection goes on (or the reader stopped it); false on EOF, a socket or protocol
  // error, or a refused reply. The one read loop of both Redis sockets.
  template <typename F>
  bool read_replies(F&& take) {
    const Input in = receive();
    if (in == Input::Broken) return false;
    RedisValue v;
    for (;;) {
      const Parsed p = next(&v);
      if (p == Parsed::Broken) return false;
      if (p == Parsed::None) break;
      switch (take(std::move(v))) {
        case Take::Next: break;
        case Take::Stop: return true;
        case Take::Refuse: return false;
      }
    }
    return in == Input::Alive;
  }

  void close(RedisClock::time_point now);
  void reset_backoff() { backoff_ms_ = kBackoffMinMs; }
  void set_retry_at(RedisClock::time_point t) { retry_at_ = t; }

 private:
  Phase phase_ = Phase::Closed;
  int fd_ = -1;
  const RedisTls* tls_ = nullptr;
  SSL* ssl_ = nullptr;
  bool want_write_ = false;
  std::string host_;  // the name dialed: what the certificate must match
  std::string out_;
  unsigned dials_ = 0;  // each dial takes the next resolved address (a name with several)
  size_t out_sent_ = 0;
  redisReader* reader_ = nullptr;
  RedisClock::time_point connect_deadline_{};
  RedisClock::time_point retry_at_{};
  int backoff_ms_ = kBackoffMinMs;
  std::vector<const char*> arg_ptrs_;  // append()'s scratch, kept for its capacity
  std::vector<size_t> arg_lens_;
};

}  // namespace roomcast
