// core/cluster/redis_link.h: this instance's connection to Redis, on a thread of its own.
//
// Owns: one thread and two Redis connections (commands; subscriptions), hiredis 0.14 used
// as codec only (redisFormatCommandArgv, the reader API) over non-blocking sockets (TLS
// through OpenSSL with rediss://) and poll(); the Lua scripts the cluster logic registered, loaded on every (re)connect;
// this instance's lease in the sorted set `rc:instances` (renewed every renew_ms).
// Called by: the loop threads (submit, subscribe, unsubscribe, take), each with its own
// worker index; by the server at start and stop. Everything it answers goes to the
// worker that asked, through that worker's queue and eventfd (attach), so a loop thread
// never blocks on Redis and never touches a hiredis object.
// Promises:
//   - per worker, calls reach Redis in submission order on one connection (so what one
//     instance publishes arrives everywhere in that order);
//   - every call with a cookie gets exactly one Reply: ok=true with Redis's value (which
//     may be an error reply), or ok=false within call_timeout_ms when Redis cannot answer
//     (not connected, deadline passed, connection lost: the outcome of that call is then
//     unknown). Nothing waits on a dead connection: while disconnected, calls fail at once;
//     pending calls are bounded by max_pending (beyond it they fail at once);
//   - reconnects with backoff (100 ms doubling to 2 s); after each connect the scripts are
//     loaded (EVALSHA falls back to EVAL on NOSCRIPT) and every channel resubscribed, and
//     each subscribing worker gets Subscribed again: what was published meanwhile may
//     have been missed, the worker must catch up from storage;
//   - with tls, both connections verify Redis's certificate (chain and name) before any
//     command; one that does not verify is logged (once per attempt) and dropped, never
//     used in plain text;
//   - with sentinels, the master is asked for before each dial of the command connection
//     (so after every lost connection, and after a READONLY reply, which also drops it):
//     a failover is followed by the next reconnect; a third connection listens to one
//     sentinel at a time for `+switch-master` (core/cluster/redis_sentinel_watch.h): an
//     announced new master drops the connections to the old one at once and is dialed
//     right away; and with sentinels, ROLE after each lease round drops a connection
//     to a server that is no longer the master;
//   - AUTH (when a password is set) is the first command on both connections; a refused
//     handshake (WRONGPASS, NOAUTH, NOPERM, a wrong DB) keeps the link down (up() false,
//     calls fail at once) and is logged once per attempt, so once per backoff step;
//   - with min_replicas N > 0, calls of durable_scripts are answered only once WAIT says
//     N replicas hold them, ok=false otherwise (core/cluster/redis_pipeline.h);
//   - every renew_ms each worker gets an Instances event: Redis's clock, the instances
//     whose lease is alive and those whose lease lapsed (with their last renewal);
//   - stop() withdraws this instance's lease (a graceful stop), flushes what was
//     submitted (bounded by call_timeout_ms) and joins the thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/log.h"

namespace roomcast {

struct Config;

// One RESP value, owned: nothing of hiredis crosses threads.
struct RedisValue {
  enum class Kind : uint8_t { Nil, Integer, String, Status, Error, Array };
  Kind kind = Kind::Nil;
  long long integer = 0;
  std::string str;                   // String, Status, Error
  std::vector<RedisValue> elements;  // Array

  bool is_error() const { return kind == Kind::Error; }
};

// An instance as the lease round saw it.
struct InstanceLease {
  std::string id;
  int64_t last_renewal_ms = 0;  // Redis clock
};

struct RedisEvent {
  enum class Kind : uint8_t {
    Reply,       // answer to a submitted call with a non-zero cookie
    Message,     // published on a channel this worker subscribed to
    Subscribed,  // the subscription to `channel` is active (first time, or after a reconnect)
    Instances,   // the lease round
  };
  Kind kind = Kind::Reply;
  uint64_t cookie = 0;  // Reply
  bool ok = false;      // Reply: false = unavailable (see Promises)
  RedisValue value;     // Reply
  std::string channel;  // Message, Subscribed
  std::string payload;  // Message
  int64_t redis_now_ms = 0;          // Instances
  std::vector<InstanceLease> alive;  // Instances
  std::vector<InstanceLease> dead;   // Instances: lease lapsed (kept 24 h after the last renewal)
};

// One command. `script` >= 0 runs that registered script: argv then holds KEYS followed
// by ARGV and `keys` says how many are KEYS. cookie 0: the reply is not wanted (a failure
// is only counted).
struct RedisCall {
  uint64_t cookie = 0;
  int script = -1;
  unsigned keys = 0;
  std::vector<std::string> argv;
};

struct RedisOptions {
  std::string host = "127.0.0.1";  // numeric, or a name resolved on the link's thread
  uint16_t port = 6379;
  int db = 0;
  // Credentials, sent first on both connections (AUTH [user] password) when password is
  // not empty. Secrets: never logged, never in an error text (see mask_url).
  std::string user;
  std::string password;
  // rediss://: TLS on both connections (core/cluster/redis_tls.h). The CA that signs Redis's
  // certificate (empty: the system's store) and, if Redis asks for one, ours.
  bool tls = false;
  std::string ca_file, cert_file, key_file;
  // Sentinel (core/cluster/redis_sentinel.h): when not empty, host and port above are only the
  // first guess; before each dial of the command connection the sentinels name the master.
  std::vector<std::pair<std::string, uint16_t>> sentinels;
  std::string master_name;
  std::string sentinel_password;      // a secret, like password
  int min_replicas = 0;               // > 0: calls of durable_scripts are answered after WAIT
  std::vector<int> durable_scripts;   // script indexes whose replies wait for min_replicas
  LogFormat log_format = LogFormat::Text;  // the link's own lines (refusals by Redis)
  LogLevel log_level = LogLevel::Info;
  std::string instance_id;         // this instance's lease name
  int call_timeout_ms = 2000;
  int lease_ms = 3000;             // a lease not renewed for this long has lapsed
  int renew_ms = 1000;
  size_t max_pending = 65536;      // calls in flight or queued, all workers together
  std::vector<std::string> scripts;  // Lua sources; RedisCall::script indexes this
};

// Counters for /metrics (written by the link's thread, read by a scrape).
struct RedisStats {
  std::atomic<uint64_t> up{0};              // 1 while the command connection is ready
  std::atomic<uint64_t> reconnects{0};      // successful connects after the first
  std::atomic<uint64_t> errors_timeout{0};  // calls failed: deadline passed
  std::atomic<uint64_t> errors_unavailable{0};  // calls failed: not connected, connection lost, queue full
  std::atomic<uint64_t> errors_reply{0};    // Redis answered with an error reply
  std::atomic<uint64_t> errors_replicas{0}; // durable calls stored but not confirmed by --redis-min-replicas replicas
  std::atomic<uint64_t> calls{0};           // calls answered by Redis
  std::atomic<uint64_t> latency_us_sum{0};  // submission to reply, calls answered by Redis
  std::atomic<uint64_t> latency_le_1ms{0};  // histogram buckets (cumulative like Prometheus)
  std::atomic<uint64_t> latency_le_5ms{0};
  std::atomic<uint64_t> latency_le_25ms{0};
  std::atomic<uint64_t> latency_le_100ms{0};
  std::atomic<uint64_t> messages{0};        // pub/sub messages received
};

class RedisLink {
 public:
  // redis[s]://[USER[:PASSWORD]@]HOST[:PORT][/DB] (PORT defaults to 6379; USER and
  // PASSWORD percent-decoded; rediss sets tls); false with *error set otherwise. *error never holds the
  // password: the URL in it is masked.
  static bool parse_url(std::string_view url, RedisOptions* out, std::string* error);
  // The URL as it may be shown: a password in it replaced by ***
  // (redis://user:***@host:port/db). Also for URLs parse_url refuses.
  static std::string mask_url(std::string_view url);
  // The options of --redis and the --redis-* flags (credentials, TLS files, sentinels,
  // min replicas, the log format), as parse_config checked them (core/cluster/redis_url.cpp).
  static RedisOptions options_from(const Config& config);

  RedisLink(RedisOptions options, unsigned workers);
  ~RedisLink();  // stop() if still running
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Before start(): worker `w`'s eventfd, written once whenever events were queued for it
  // (the worker's loop wakes for its completion like for any other).
  void attach(unsigned worker, int notify_fd);
  void start();
  void stop();

  // Thread-safe, never blocks on Redis (a short mutex hold).
  void submit(unsigned worker, std::vector<RedisCall>& calls);  // moves the calls out
  void subscribe(unsigned worker, std::string channel);
  void unsubscribe(unsigned worker, std::string channel);
  // Moves every event queued for `worker` into *out (appending).
  void take(unsigned worker, std::vector<RedisEvent>* out);

  bool up() const { return stats_.up.load(std::memory_order_relaxed) != 0; }
  const RedisStats& stats() const { return stats_; }
  // Appends the roomcast_redis_* metrics in Prometheus text format.
  void render_metrics(std::string* out) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  RedisStats stats_;
};

}  // namespace roomcast
