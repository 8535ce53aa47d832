// core/cluster/redis_subscriber.h: the subscriber connection's side of the link: which workers
// listen to which channel, and what Redis says on that connection.
//
// Owns: the channels, each with the workers subscribed to it and whether Redis confirmed
// it on the current connection.
// Called by: the Redis link's thread only (core/cluster/redis_link.cpp), which owns the
// subscriber connection, dials and polls it, hands over the workers' subscribe and
// unsubscribe requests and calls lose() when the connection fails (read() false, or the
// command connection was lost: a Redis that stopped answering commands is not trusted
// with subscriptions either).
// Promises:
//   - Redis holds one subscription per channel whatever the number of workers on it:
//     SUBSCRIBE with the first worker, UNSUBSCRIBE after the last;
//   - a worker gets Subscribed for a channel each time Redis confirms it (the first
//     time, and after every reconnect: what was published meanwhile may have been
//     missed) and, joining a channel Redis already confirmed, at once;
//   - on open() every channel is subscribed again (in batches of 256 per SUBSCRIBE);
//   - every message goes to each worker on its channel, each with its own copy of the
//     payload; one for a channel given up meanwhile is counted and dropped.
#pragma once

#include <map>
#include <set>
#include <string>

#include "core/cluster/redis_connection.h"
#include "core/cluster/redis_link.h"
#include "core/cluster/redis_outbox.h"

namespace roomcast {

class RedisSubscriber {
 public:
  // All references outlive the subscriber.
  RedisSubscriber(RedisConnection& conn, RedisOutbox& outbox, RedisStats& stats);

  void add(unsigned worker, const std::string& channel);
  void remove(unsigned worker, const std::string& channel);

  // The connection just opened: AUTH when opt has a password (first, before anything
  // else), SELECT opt.db (when not 0), every channel again. A refused AUTH comes back as
  // an error reply, which read() refuses: the connection is dropped and retried.
  void open(const RedisOptions& opt);
  // Closes the connection (if not closed yet); no channel is confirmed any more.
  void lose(RedisClock::time_point now);
  // The connection is readable: every complete reply handled. False: EOF, a socket
  // error or a protocol error; the caller then calls lose().
  bool read();

 private:
  struct Channel {
    std::set<unsigned> workers;
    bool confirmed = false;  // a SUBSCRIBE confirmation arrived on the current connection
  };

  bool on_reply(RedisValue&& v);  // false: the protocol was broken
  void post_subscribed(unsigned w, const std::string& channel);

  RedisConnection& conn_;
  RedisOutbox& outbox_;
  RedisStats& stats_;
  std::map<std::string, Channel> channels_;
};

}  // namespace roomcast
