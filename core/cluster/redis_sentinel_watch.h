// core/cluster/redis_sentinel_watch.h: listens to the sentinels for `+switch-master`, so a
// failover is followed as the sentinels announce it, not only at the next reconnect.
//
// Owns: one plain TCP connection (a RedisConnection without TLS: sentinels are reached in
// plain text, as RedisSentinel::ask does) to one sentinel at a time, which it asks for
// [AUTH password] and SUBSCRIBE +switch-master; which sentinel is next (each lost or
// refused connection moves on to the next one, after the connection's backoff).
// Called by: the Redis link's thread only (core/cluster/redis_link.cpp), which polls
// conn(), calls dial() when it is closed and its retry time has come, service() when
// its socket is ready, and acts on what service() reports.
// Promises:
//   - service() reports Switched, with the new address, for each `+switch-master` about
//     opt.master_name (announcements about other masters are ignored);
//   - a connection that fails, is refused (a wrong sentinel password) or answers
//     nonsense is closed and reported Lost with the reason (never a secret in it); the
//     next dial goes to the next sentinel;
//   - while it is down nothing else is affected: the link still asks the sentinels
//     before each dial of its command connection, and ROLE finds a demoted master.
#pragma once

#include <cstdint>
#include <string>

#include "core/cluster/redis_connection.h"
#include "core/cluster/redis_link.h"

namespace roomcast {

class RedisSentinelWatch {
 public:
  struct Event {
    enum class Kind : uint8_t { None, Switched, Lost };
    Kind kind = Kind::None;
    std::string host;  // Switched: the new master
    uint16_t port = 0;
    std::string why;   // Lost: what went wrong, and with which sentinel
  };

  explicit RedisSentinelWatch(const RedisOptions& opt) : opt_(opt) {}

  bool enabled() const { return !opt_.sentinels.empty() && !opt_.master_name.empty(); }
  RedisConnection& conn() { return conn_; }
  const RedisConnection& conn() const { return conn_; }

  // Closed: dials the next sentinel (a connect bounded by RedisSentinel::kPerSentinelMs).
  Event dial(RedisClock::time_point now);
  // The socket polled ready (`revents`): connecting, then reading what the sentinel says.
  Event service(short revents, RedisClock::time_point now);
  // Past the connect deadline while connecting: closed, Lost.
  Event check_deadline(RedisClock::time_point now);
  void close(RedisClock::time_point now) { conn_.close(now); }

 private:
  Event opened(RedisClock::time_point now);
  Event lost(RedisClock::time_point now, std::string why);
  bool on_reply(RedisValue&& v, Event* event);  // false: the connection must go

  const RedisOptions& opt_;
  RedisConnection conn_;
  size_t next_ = 0;     // the sentinel the next dial goes to
  size_t current_ = 0;  // the one dialed last
  bool subscribed_ = false;  // the SUBSCRIBE confirmation came
};

}  // namespace roomcast
