// core/base/config.h: every setting of the daemon, with its default, and the flag parser.
//
// Owns: plain values. Built once by main() before any thread starts, then shared
// read-only by every loop thread (never written again, so no synchronisation).
// Promises: parse_config() reads every flag from the environment first
// (ROOMCAST_<FLAG>, e.g. ROOMCAST_MAX_MESSAGE for --max-message), then from the command
// line (`--flag value` or `--flag=value`), which wins; it rejects unknown flags and bad
// values with a message that names the flag (or variable), and `--help` prints every
// flag with its default.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/base/log.h"

#include "proto/ip_address.h"
#include "proto/jwk.h"
#include "proto/jwt.h"

#include "net/event_loop.h"
#include "net/listener.h"

namespace roomcast {

class JwksSlot;

struct Config {
  ListenAddress listen{"127.0.0.1", 8080};
  unsigned threads = 0;                  // 0: one per core
  size_t history = 1000;                 // edits kept per room for `since` replay
  unsigned ping_interval_s = 25;         // server ping period; silent for 2x -> close
  size_t max_message = 64 * 1024;        // inbound message limit (close 1009)
  double rate_limit = 60;                // messages/s sustained per connection
  double rate_burst = 60;                // bucket size
  size_t max_pending = 8 * 1024 * 1024;  // slow-reader hard limit (close 1008)
  unsigned handshake_timeout_s = 5;      // upgrade must finish within this
  size_t max_header = 8 * 1024;          // request head limit (431)
  unsigned room_ttl_s = 600;             // an empty room keeps its history this long
  unsigned resume_grace_s = 10;          // 1.1: a dropped session is held this long; 0 = no resume
  unsigned recv_buffers = 2048;          // io_uring provided receive buffers per loop thread
  std::string static_dir;                // --static: files served at `/`; empty: none
  unsigned max_batch_delay_ms = 5;       // frames may wait this long to leave in one write
  BackendChoice backend = BackendChoice::Auto;
  std::string redis_url;                 // --redis: several instances share rooms; empty: one process
  std::string data_dir;                  // --data-dir: rooms kept on this disk (docs/durability.md); empty: memory
  std::string redis_password;            // --redis-password-file: wins over the URL's; a secret
  unsigned redis_min_replicas = 0;       // an edit is acked once this many replicas hold it (WAIT)
  std::string redis_ca_file;             // rediss://: the CA of Redis's certificate (empty: the system's)
  std::string redis_cert_file;           // rediss://: our client certificate, if Redis asks for one
  std::string redis_key_file;            //   and its key
  std::vector<std::string> redis_sentinels;  // --redis-sentinel HOST:PORT,...: they name the master
  std::string redis_master;              // --redis-master: the name the sentinels monitor
  std::string redis_sentinel_password;   // --redis-sentinel-password-file; a secret

  // Security and limits.
  std::string jwt_secret;                 // empty: authentication off
  std::string api_key;                    // empty: publish API refuses every request
  std::vector<std::string> allow_origins; // empty: any Origin
  size_t max_connections = 100000;        // upgraded connections; beyond: 503
  size_t max_connections_per_ip = 4096;   // upgraded connections per address; beyond: 429 (README "Limits")
  size_t max_handshakes = 16384;          // pre-upgrade connections (split per thread); full: oldest evicted
  size_t max_handshakes_per_ip = 1024;    // the same per address
  size_t max_room_members = 5000;         // beyond: `room_full` on join
  unsigned api_rate_limit = 20;           // /api/... requests per second per address (burst 2x); 0: off

  // Identity providers (docs/identity.md), beside jwt_secret.
  std::shared_ptr<const JwkSet> jwt_keys;  // --jwt-public-key-file and --jwt-jwks-file, parsed here once
  std::vector<std::string> jwt_key_notes;  // keys of those files left out, and why (logged at start)
  std::string jwt_jwks_url;                // empty: no key set fetched
  unsigned jwt_jwks_refresh_s = 300;
  // Made with the URL: the fetcher (core/auth/jwks_fetcher.h) leaves each good set there and
  // the verifiers read it; the one member shared between threads that is not read-only
  // (core/auth/jwks_slot.h says how it is synchronised).
  std::shared_ptr<JwksSlot> jwt_jwks;
  JwtRules jwt_rules;                      // --jwt-issuer, --jwt-audience, --jwt-leeway, claims

  // Behind a proxy (core/http/proxy_front.h).
  std::vector<CidrRange> trusted_proxies; // peers whose forwarding headers name the client
  bool proxy_protocol = false;            // every connection starts with a PROXY protocol header

  // The app's backend (docs/integration.md): hooks and webhooks, each off unless its URL is set.
  std::string hook_key;                   // HMAC key of --hook-secret-file / ROOMCAST_HOOK_SECRET; a secret (empty: unsigned)
  std::string auth_hook_url;              // --auth-hook: who a tokenless upgrade is
  std::string edit_hook_url;              // --edit-hook: veto or rewrite an edit before its seq
  std::string webhook_url;                // --webhook: applied edits, joins and leaves
  unsigned hook_timeout_ms = 2000;        // every hook request, queue wait included
  size_t webhook_concurrency = 16;        // rooms delivered at once
  int64_t webhook_max_age_ms = 24LL * 3600 * 1000;  // then an undelivered event is dropped
  size_t webhook_queue = 100000;          // events held in memory; beyond, the oldest is dropped

  // Operations.
  LogFormat log_format = LogFormat::Text;
  LogLevel log_level = LogLevel::Info;
  unsigned drain_timeout_s = 10;          // SIGTERM: time for queues to flush
};

enum class ConfigOutcome { Run, Help, Error };

// On Help, `message` holds the usage text; on Error, a one-line reason naming the flag.
// `environment` is consulted for ROOMCAST_* variables (pass `environ`; null for none).
// Secrets never come from the command line: the JWT secret from --jwt-secret-file or
// ROOMCAST_JWT_SECRET, the API key from --api-key-file or ROOMCAST_API_KEY (files are read
// here; a trailing newline is dropped), the Redis password from the --redis URL or
// --redis-password-file, the hook secret from --hook-secret-file or ROOMCAST_HOOK_SECRET
// (kept only as its decoded key). A --redis URL is shown masked in messages (RedisLink::mask_url).
ConfigOutcome parse_config(int argc, const char* const* argv, Config& config, std::string& message,
                           const char* const* environment = nullptr);

std::string usage_text();

}  // namespace roomcast
