// core/cluster/redis_sentinel.h: which Redis is the master now, as the sentinels say
// (--redis-sentinel, --redis-master).
//
// Owns nothing between calls: each ask() opens a fresh plain TCP connection to one
// sentinel after the other, sends [AUTH password] SENTINEL get-master-addr-by-name NAME
// (hiredis as codec: redisFormatCommandArgv and the reader API) and closes it.
// Called by: the Redis link's thread, before it dials the command connection (the first
// time, after every lost connection, and after a READONLY reply: a demoted master), so a
// failover is followed by the next reconnect. It blocks that thread at most
// kPerSentinelMs per sentinel, like the getaddrinfo of a dial; no loop thread waits on it.
// Promises:
//   - true with the address the first sentinel that knows the master gave (sentinels
//     agree once a failover is over; one that has not heard yet may name the old master,
//     whose refused dial just leads to the next ask after the backoff);
//   - false with *why naming each sentinel's failure; never a secret in it.
#pragma once

#include <cstdint>
#include <string>

#include "core/cluster/redis_link.h"

namespace roomcast {

class RedisSentinel {
 public:
  static constexpr int kPerSentinelMs = 500;

  static bool ask(const RedisOptions& opt, std::string* host, uint16_t* port, std::string* why);
};

}  // namespace roomcast
