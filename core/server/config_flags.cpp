// core/server/config_flags.cpp: the command line and ROOMCAST_* environment, parsed into a
// Config (core/base/config.h). Here, above every part, because checking a flag may need
// any part's parser (a --redis URL, a JWK set): the Config itself stays plain data.
#include "core/base/config.h"

#include "core/auth/jwks_slot.h"
#include "core/cluster/redis_link.h"
#include "core/cluster/redis_tls.h"
#include "proto/webhook_signature.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <cmath>
#include <cstring>
#include <functional>
#include <string_view>
#include <thread>
#include <vector>

namespace roomcast {
namespace {

// A flag's value as a comma-separated list (a repeatable flag given once through the
// environment): `each` is called for every element, empty ones included, and the value is
// refused as soon as it refuses one.
template <typename F>
bool each_listed(std::string_view v, F&& each) {
  for (size_t start = 0;;) {
    const size_t comma = v.find(',', start);
    if (!each(v.substr(start, comma == std::string_view::npos ? v.npos : comma - start))) return false;
    if (comma == std::string_view::npos) return true;
    start = comma + 1;
  }
}

template <typename T>
bool parse_unsigned(std::string_view s, T min, T max, T& out) {
  unsigned long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return false;
  if (v < min || v > max) return false;
  out = static_cast<T>(v);
  return true;
}

bool parse_positive_double(std::string_view s, double min, double& out) {
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (tmp.empty() || *end != '\0' || !std::isfinite(v) || v < min || v <= 0) return false;
  out = v;
  return true;
}

bool read_secret(std::string_view path, std::string& out) {
  std::ifstream in{std::string(path), std::ios::binary};
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string secret = buffer.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) return false;
  out = std::move(secret);
  return true;
}

bool read_file(std::string_view path, std::string& out) {
  std::ifstream in{std::string(path), std::ios::binary};
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  out = buffer.str();
  return !in.bad();
}

// --jwt-public-key-file and --jwt-jwks-file add to one set, parsed here once.
bool add_keys(Config& c, std::string_view path, bool jwks) {
  std::string text, error;
  if (!read_file(path, text)) return false;
  auto set = std::make_shared<JwkSet>();
  if (c.jwt_keys) set->keys = c.jwt_keys->keys;
  std::vector<std::string> skipped;
  if (!(jwks ? parse_jwk_set(text, *set, error, &skipped) : parse_public_key_pem(text, *set, error))) return false;
  for (std::string& s : skipped) c.jwt_key_notes.push_back(std::string(path) + ": " + s);
  c.jwt_keys = std::move(set);
  return true;
}

// A hook URL: http:// or https:// and something after it (libcurl checks the rest).
bool hook_url(std::string_view v, std::string& out) {
  const bool http = v.starts_with("http://") && v.size() > 7;
  const bool https = v.starts_with("https://") && v.size() > 8;
  if (!(http || https) || v.find_first_of(" \t\r\n") != v.npos) return false;
  out.assign(v);
  return true;
}

// A duration: a number with an optional unit (ms, s, m, h; none: seconds), within
// [min_ms, max_ms].
bool parse_duration_ms(std::string_view v, int64_t min_ms, int64_t max_ms, int64_t& out) {
  double scale = 1000;
  if (v.ends_with("ms")) scale = 1, v.remove_suffix(2);
  else if (v.ends_with("s")) scale = 1000, v.remove_suffix(1);
  else if (v.ends_with("m")) scale = 60'000, v.remove_suffix(1);
  else if (v.ends_with("h")) scale = 3'600'000, v.remove_suffix(1);
  double n = 0;
  if (!parse_positive_double(v, 0, n)) return false;
  const double ms = n * scale;
  if (ms < double(min_ms) || ms > double(max_ms)) return false;
  out = int64_t(ms);
  return true;
}

// The secret is read (file or ROOMCAST_HOOK_SECRET) and kept until the flags are all
// read, then decoded into Config::hook_key; never shown in a message.
std::string& pending_hook_secret() {
  static thread_local std::string secret;
  return secret;
}

bool claim_name(std::string_view v, std::string& out) {
  if (v.empty() || v.size() > 256) return false;
  out.assign(v);
  return true;
}

// One row per flag: the parser, --help and the environment all come from this table.
struct Flag {
  const char* name;     // without the leading "--"
  const char* arg;      // placeholder in --help
  const char* help;     // text, ending with the default
  const char* expects;  // what a bad value should have been
  std::function<bool(Config&, std::string_view)> set;
  bool takes_value = true;  // false: a switch (`--flag` alone means true; `--flag=false` off)
};

bool parse_switch(std::string_view v, bool& out) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") out = true;
  else if (v == "false" || v == "0" || v == "no" || v == "off") out = false;
  else return false;
  return true;
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"listen", "HOST:PORT", "address for WebSocket and HTTP; port 0 picks one (default 127.0.0.1:8080)",
       "HOST:PORT with a numeric address", [](Config& c, std::string_view v) { return parse_listen_address(v, c.listen); }},
      {"threads", "N", "loop threads; a room lives on exactly one (default: number of cores)", "an integer in 1..1024",
       [](Config& c, std::string_view v) { return parse_unsigned(v, 1u, 1024u, c.threads); }},
      {"backend", "auto|io_uring|epoll", "event loop; auto tries io_uring, then epoll (default auto)",
       "auto, io_uring or epoll",
       [](Config& c, std::string_view v) {
         if (v == "auto") c.backend = BackendChoice::Auto;
         else if (v == "io_uring") c.backend = BackendChoice::IoUring;
         else if (v == "epoll") c.backend = BackendChoice::Epoll;
         else return false;
         return true;
       }},
      {"history", "N", "edits kept per room for `since` replay (default 1000)", "an integer in 0..10000000",
       [](Config& c, std::string_view v) { return parse_unsigned(v, size_t(0), size_t(10'000'000), c.history); }},
      {"ping-interval", "SECONDS", "server ping period; silent for two periods -> close 1001 (default 25)",
       "seconds in 1..3600", [](Config& c, std::string_view v) { return parse_unsigned(v, 1u, 3600u, c.ping_interval_s); }},
      {"max-message", "BYTES", "largest inbound message; larger closes with 1009 (default 65536)",
       "bytes in 128..67108864",
       [](Config& c, std::string_view v) { return parse_unsigned(v, size_t(128), size_t(64) << 20, c.max_message); }},
      {"rate-limit", "N", "messages per second per connection, sustained (default 60)", "a positive number",
       [](Config& c, std::string_view v) { return parse_positive_double(v, 0, c.rate_limit); }},
      {"rate-burst", "N", "messages a connection may send at once (default 60)", "a number >= 1",
       [](Config& c, std::string_view v) { return parse_positive_double(v, 1, c.rate_burst); }},
      {"max-pending", "BYTES", "output a slow reader may have queued before close 1008 (default 8388608)",
       "bytes >= 4096",
       [](Config& c, std::string_view v) { return parse_unsigned(v, size_t(4096), size_t(1) << 34, c.max_pending); }},
      {"recv-buffers", "N",
       "io_uring receive buffers per loop thread, 2 KiB each, shared by its connections (default 2048)",
       "a power of two in 16..32768",
       [](Config& c, std::string_view v) {
         return parse_unsigned(v, 16u, 32768u, c.recv_buffers) && (c.recv_buffers & (c.recv_buffers - 1)) == 0;
       }},
      {"max-batch-delay", "MS",
       "a recipient's frames may wait this long so frames from many senders leave in one write; 0 sends at once "
       "(default 5)",
       "milliseconds in 0..1000",
       [](Config& c, std::string_view v) { return parse_unsigned(v, 0u, 1000u, c.max_batch_delay_ms); }},
      {"handshake-timeout", "SECONDS", "a connection must finish its upgrade within this (default 5)",
       "seconds in 1..3600",
       [](Config& c, std::string_view v) { return parse_unsigned(v, 1u, 3600u, c.handshake_timeout_s); }},
      {"max-header", "BYTES", "largest HTTP request head; larger gets 431 (default 8192)", "bytes in 512..1048576",
       [](Config& c, std::string_view v) { return parse_unsigned(v, size_t(512), size_t(1) << 20, c.max_header); }},
      {"room-ttl", "SECONDS", "how long an empty room keeps its edit history (default 600)", "seconds in 0..2592000",
       [](Config& c, std::string_view v) { return parse_unsigned(v, 0u, 86400u * 30, c.room_ttl_s); }},
      {"jwt-secret-file", "PATH",
       "file holding the HS256 secret; turns authentication on (or ROOMCAST_JWT_SECRET; default: off)",
       "a readable, non-empty file", [](Config& c, std::string_view v) { return read_secret(v, c.jwt_secret); }},
      {"jwt-public-key-file", "PATH",
       "PEM public key (RSA >= 2048 bits, EC P-256, Ed25519) that signs tokens, repeatable; turns authentication on "
       "(default: none)",
       "a readable PEM \"PUBLIC KEY\": RSA of 2048..8192 bits, EC P-256 or Ed25519",
       [](Config& c, std::string_view v) { return add_keys(c, v, false); }},
      {"jwt-jwks-file", "PATH",
       "JWK set (RFC 7517) whose RSA, EC P-256 and Ed25519 signature keys sign tokens, repeatable; turns "
       "authentication on (default: none)",
       "a readable JWK set with at least one usable signature key",
       [](Config& c, std::string_view v) { return add_keys(c, v, true); }},
      {"jwt-jwks-url", "URL",
       "https URL of the identity provider's JWK set, fetched off the loop at start, every --jwt-jwks-refresh "
       "and (at most every 10 s) on an unknown kid; a failed fetch keeps the last good set; turns "
       "authentication on (default: none)",
       "an http:// or https:// URL",
       [](Config& c, std::string_view v) {
         if (!(v.starts_with("https://") || v.starts_with("http://")) || v.find_first_of(" \r\n") != v.npos) return false;
         c.jwt_jwks_url.assign(v);
         if (!c.jwt_jwks) c.jwt_jwks = std::make_shared<JwksSlot>();
         return true;
       }},
      {"jwt-jwks-refresh", "SECONDS", "how often the --jwt-jwks-url set is fetched again (default 300)",
       "seconds in 1..86400",
       [](Config& c, std::string_view v) { return parse_unsigned(v, 1u, 86400u, c.jwt_jwks_refresh_s); }},
      {"jwt-issuer", "ISS", "a token's `iss` must equal this (default: not checked)", "a non-empty string",
       [](Config& c, std::string_view v) { return claim_name(v, c.jwt_rules.issuer); }},
      {"jwt-audience", "AUD", "a token's `aud` (string or array) must contain this (default: not checked)",
       "a non-empty string", [](Config& c, std::string_view v) { return claim_name(v, c.jwt_rules.audience); }},
      {"jwt-leeway", "SECONDS",
       "clock skew tolerated on exp, nbf and iat; a token stays usable until exp + leeway (default 0)",
       "seconds in 0..300",
       [](Config& c, std::string_view v) {
         unsigned s = 0;
         if (!parse_unsigned(v, 0u, 300u, s)) return false;
         c.jwt_rules.leeway_s = s;
         return true;
       }},
      {"jwt-user-claim", "CLAIM", "the claim that holds the user id (default sub)", "a claim name of 1..256 bytes",
       [](Config& c, std::string_view v) { return claim_name(v, c.jwt_rules.user_claim); }},
      {"jwt-name-claim", "CLAIM", "the claim that holds the display name, else preferred_username (default name)",
       "a claim name of 1..256 bytes", [](Config& c, std::string_view v) { return claim_name(v, c.jwt_rules.name_claim); }},
      {"api-key-file", "PATH", "file holding the API key for POST /api/rooms/{room}/publish (or ROOMCAST_API_KEY)",
       "a readable, non-empty file", [](Config& c, std::string_view v) { return read_secret(v, c.api_key); }},
      {"hook-secret-file", "PATH",
       "file holding the whsec_<base64> secret that signs every hook and webhook (or ROOMCAST_HOOK_SECRET; default: unsigned)",
       "a readable, non-empty file", [](Config&, std::string_view v) { return read_secret(v, pending_hook_secret()); }},
      {"auth-hook", "URL", "POSTed on each upgrade without a JWT: the backend says who it is (default: none)",
       "an http:// or https:// URL", [](Config& c, std::string_view v) { return hook_url(v, c.auth_hook_url); }},
      {"edit-hook", "URL", "POSTed before each edit is applied: the backend accepts, rewrites or rejects it (default: none)",
       "an http:// or https:// URL", [](Config& c, std::string_view v) { return hook_url(v, c.edit_hook_url); }},
      {"webhook", "URL", "receives every applied edit, join and leave, in order per room, at least once (default: none)",
       "an http:// or https:// URL", [](Config& c, std::string_view v) { return hook_url(v, c.webhook_url); }},
      {"hook-timeout", "DURATION", "the longest any hook request may take, e.g. 2s or 500ms (default 2s)",
       "a duration in 10ms..60s",
       [](Config& c, std::string_view v) {
         int64_t ms = 0;
         if (!parse_duration_ms(v, 10, 60'000, ms)) return false;
         c.hook_timeout_ms = unsigned(ms);
         return true;
       }},
      {"webhook-concurrency", "N", "rooms whose webhooks are delivered at once (default 16)", "an integer in 1..1024",
       [](Config& c, std::string_view v) { return parse_unsigned(v, size_t(1), size_t(1024), c.webhook_concurrency); }},
      {"webhook-max-age", "DURATION", "an event not delivered this long after it happened is dropped, e.g. 24h (default 24h)",
       "a duration in 1s..30 days",
       [](Config& c, std::string_view v) { return parse_duration_ms(v, 1000, 30LL * 86'400'000, c.webhook_max_age_ms); }},
      {"webhook-queue", "N", "webhook events held in memory; beyond, the oldest is dropped (with --data-dir: the rest wait on disk) (default 100000)",
       "an integer in 1..100000000",
       [](Config& c, std::string_view v) { return parse_unsigned(v, size_t(1), size_t(100'000'000), c.webhook_queue); }},
      {"allow-origin", "ORIGIN",
       "allowed Origin of a browser upgrade, repeatable (env: comma-separated); others get 403 (default: any)",
       "an origin such as https://viewer.example.com",
       [](Config& c, std::string_view v) {
         return each_listed(v, [&](std::string_view one) {
           if (one.empty() || one.find(' ') != one.npos) return false;
           c.allow_origins.emplace_back(one);
           return true;
         });
       }},
      {"max-connections", "N", "WebSocket connections per server; beyond, the upgrade gets 503 (default 100000)", "an integer >= 1",
       [](Config& c, std::string_view v) { return parse_unsigned(v, size_t(1), size_t(1) << 30, c.max_connections); }},
      {"max-connections-per-ip", "N", "WebSocket connections per client address; beyond, the upgrade gets 429 (default 4096)",
       "an integer >= 1",
       [](Config& c, std::string_view v) {
         return parse_unsigned(v, size_t(1), size_t(1) << 30, c.max_connections_per_ip);
       }},
      {"trusted-proxy", "CIDR",
       "a proxy whose X-Forwarded-For / X-Real-IP / Forwarded name the client (and, with --proxy-protocol, "
       "the only peers allowed to connect), repeatable (env: comma-separated); IPv4 or IPv6 (default: none)",
       "a CIDR range such as 10.0.0.0/8, fd00::/8 or 192.0.2.7 (no bits set past the prefix)",
       [](Config& c, std::string_view v) {
         return each_listed(v, [&](std::string_view one) {
           CidrRange range;
           if (!parse_cidr(one, range)) return false;
           c.trusted_proxies.push_back(range);
           return true;
         });
       }},
      {"proxy-protocol", "",
       "every connection starts with a PROXY protocol v1 or v2 header naming the client (HAProxy send-proxy, "
       "AWS NLB); without one within --handshake-timeout it is closed (default: off)",
       "true or false", [](Config& c, std::string_view v) { return parse_switch(v, c.proxy_protocol); }, false},
      {"static", "DIR",
       "serve the files of DIR at / (GET/HEAD; index.html for directories, never a listing; "
       "nothing outside DIR) (default: off)",
       "a directory",
       [](Config& c, std::string_view v) {
         if (v.empty()) return false;
         c.static_dir.assign(v);
         return true;
       }},
      {"data-dir", "DIR",
       "keep every room (epoch, seq, history, edit ids) in DIR, so a restart or a crash loses no acknowledged "
       "edit; an ack then means the edit is on disk (fdatasync); one process per DIR; not with --redis "
       "(default: off, rooms live in memory)",
       "a directory path",
       [](Config& c, std::string_view v) {
         if (v.empty()) return false;
         c.data_dir.assign(v);
         return true;
       }},
      {"redis", "URL",
       "redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]: serve rooms together with every instance on this Redis "
       "(docs/protocol.md 3.6; all instances need the same --history and --resume-grace); USER is an ACL "
       "user, PASSWORD percent-encoded, logged as *** (default: off, one process)",
       "redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]",
       [](Config& c, std::string_view v) {
         RedisOptions options;
         std::string error;
         if (!RedisLink::parse_url(v, &options, &error)) return false;
         c.redis_url.assign(v);
         return true;
       }},
      {"redis-password-file", "PATH",
       "file holding the Redis password (AUTH), used instead of the --redis URL's (default: the URL's, if any)",
       "a readable, non-empty file", [](Config& c, std::string_view v) { return read_secret(v, c.redis_password); }},
      {"redis-ca-file", "PATH",
       "with rediss://, the PEM CA certificate(s) Redis's certificate must chain to; its name must match the URL's "
       "host (default: the system's CA store)",
       "a path", [](Config& c, std::string_view v) { return !v.empty() && (c.redis_ca_file.assign(v), true); }},
      {"redis-cert-file", "PATH", "with rediss://, a PEM client certificate (chain) for Redis's tls-auth-clients "
       "(default: none)", "a path",
       [](Config& c, std::string_view v) { return !v.empty() && (c.redis_cert_file.assign(v), true); }},
      {"redis-key-file", "PATH", "the PEM private key of --redis-cert-file (default: none)", "a path",
       [](Config& c, std::string_view v) { return !v.empty() && (c.redis_key_file.assign(v), true); }},
      {"redis-sentinel", "HOST:PORT[,...]",
       "Redis Sentinels that name the master of --redis-master; asked before each connect to Redis (so after "
       "a failover or a READONLY reply); --redis still gives credentials, DB and TLS (default: none)",
       "HOST:PORT[,HOST:PORT...]",
       [](Config& c, std::string_view v) {
         return each_listed(v, [&](std::string_view one) {
           RedisOptions probe;
           std::string error;
           if (one.empty() || !RedisLink::parse_url("redis://" + std::string(one), &probe, &error)) return false;
           c.redis_sentinels.emplace_back(one);
           return true;
         });
       }},
      {"redis-master", "NAME", "the master name the --redis-sentinel sentinels monitor", "a name of 1..256 bytes",
       [](Config& c, std::string_view v) { return claim_name(v, c.redis_master); }},
      {"redis-sentinel-password-file", "PATH", "file holding the sentinels' password (AUTH) (default: none)",
       "a readable, non-empty file",
       [](Config& c, std::string_view v) { return read_secret(v, c.redis_sentinel_password); }},
      {"redis-min-replicas", "N",
       "an edit is acked only once WAIT says N Redis replicas hold it, else `unavailable` (the client resends); "
       "0 acks once the master has it, which a failover can lose (default 0)",
       "an integer in 0..16",
       [](Config& c, std::string_view v) { return parse_unsigned(v, 0u, 16u, c.redis_min_replicas); }},
      {"resume-grace", "S",
       "a session whose connection drops without leave is held this long for a resume, invisible to "
       "the others (default 10; 0: off)",
       "an integer in 0..3600",
       [](Config& c, std::string_view v) { return parse_unsigned(v, 0u, 3600u, c.resume_grace_s); }},
      {"max-handshakes", "N",
       "connections not yet upgraded (reading a request, answering HTTP), split over the threads; "
       "when full, the oldest makes room (default 16384)",
       "an integer >= 1",
       [](Config& c, std::string_view v) { return parse_unsigned(v, size_t(1), size_t(1) << 30, c.max_handshakes); }},
      {"max-handshakes-per-ip", "N",
       "connections not yet upgraded per client address, split over the threads; when full, that address's "
       "oldest makes room (default 1024)",
       "an integer >= 1",
       [](Config& c, std::string_view v) {
         return parse_unsigned(v, size_t(1), size_t(1) << 30, c.max_handshakes_per_ip);
       }},
      {"api-rate-limit", "N",
       "HTTP API requests (/api/...) per second per client address, twice that at once; beyond, 429 (default 20; "
       "0 = no limit)",
       "an integer in 0..1000000",
       [](Config& c, std::string_view v) { return parse_unsigned(v, 0u, 1000000u, c.api_rate_limit); }},
      {"max-room-members", "N", "sessions per room; beyond, join gets `room_full` (default 5000)", "an integer >= 1",
       [](Config& c, std::string_view v) { return parse_unsigned(v, size_t(1), size_t(1) << 30, c.max_room_members); }},
      {"log-format", "text|json", "one line per event on stderr (default text)", "text or json",
       [](Config& c, std::string_view v) {
         if (v == "text") c.log_format = LogFormat::Text;
         else if (v == "json") c.log_format = LogFormat::Json;
         else return false;
         return true;
       }},
      {"log-level", "debug|info|warn|error", "least severe event logged (default info)", "debug, info, warn or error",
       [](Config& c, std::string_view v) {
         if (v == "debug") c.log_level = LogLevel::Debug;
         else if (v == "info") c.log_level = LogLevel::Info;
         else if (v == "warn") c.log_level = LogLevel::Warn;
         else if (v == "error") c.log_level = LogLevel::Error;
         else return false;
         return true;
       }},
      {"drain-timeout", "SECONDS", "on SIGTERM/SIGINT, how long queues may take to flush after close 1001 (default 10)",
       "seconds in 0..3600", [](Config& c, std::string_view v) { return parse_unsigned(v, 0u, 3600u, c.drain_timeout_s); }},
  };
  return table;
}

const Flag* find_flag(std::string_view name) {
  for (const Flag& f : flags())
    if (name == f.name) return &f;
  return nullptr;
}

// A refused value as it may appear in a message: a --redis URL may carry a password.
std::string shown(const Flag& f, std::string_view value) {
  if (std::string_view(f.name) == "redis") return RedisLink::mask_url(value);
  return std::string(value);
}

std::string env_name(const char* flag) {
  std::string out = "ROOMCAST_";
  for (const char* p = flag; *p; ++p) out.push_back(*p == '-' ? '_' : char(std::toupper(static_cast<unsigned char>(*p))));
  return out;
}

}  // namespace

std::string usage_text() {
  std::string out = "usage: roomcast [flags]\n\nEvery flag can also be set with an environment variable ROOMCAST_<FLAG>\n"
                    "(e.g. ROOMCAST_MAX_MESSAGE); the command line wins.\n\n";
  for (const Flag& f : flags()) {
    std::string left = std::string("  --") + f.name + " " + f.arg;
    if (left.size() < 30) left.resize(30, ' ');
    out += left + " " + f.help + "\n";
  }
  out += "  --help                       this text\n";
  return out;
}

ConfigOutcome parse_config(int argc, const char* const* argv, Config& c, std::string& message,
                           const char* const* environment) {
  pending_hook_secret().clear();
  if (environment) {
    for (const char* const* e = environment; *e; ++e) {
      std::string_view entry = *e;
      if (entry.starts_with("ROOMCAST_JWT_SECRET=")) c.jwt_secret = entry.substr(20);
      if (entry.starts_with("ROOMCAST_API_KEY=")) c.api_key = entry.substr(17);
      if (entry.starts_with("ROOMCAST_HOOK_SECRET=")) pending_hook_secret() = entry.substr(21);
    }
    for (const Flag& f : flags()) {
      std::string var = env_name(f.name);
      for (const char* const* e = environment; *e; ++e) {
        std::string_view entry = *e;
        if (entry.size() > var.size() && entry.substr(0, var.size()) == var && entry[var.size()] == '=') {
          std::string_view value = entry.substr(var.size() + 1);
          if (!f.set(c, value)) {
            message = var + ": '" + shown(f, value) + "' is not " + f.expects;
            return ConfigOutcome::Error;
          }
        }
      }
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      message = usage_text();
      return ConfigOutcome::Help;
    }
    if (arg.substr(0, 2) != "--") {
      message = "unexpected argument '" + std::string(arg) + "' (see --help)";
      return ConfigOutcome::Error;
    }
    std::string_view name = arg.substr(2), value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const Flag* flag = find_flag(name);
    if (!flag) {
      message = "unknown flag '--" + std::string(name) + "' (see --help)";
      return ConfigOutcome::Error;
    }
    if (!has_value && !flag->takes_value) {
      value = "true";
      has_value = true;
    }
    if (!has_value && i + 1 < argc) {
      value = argv[++i];
      has_value = true;
    }
    if (!has_value) {
      message = "--" + std::string(name) + ": needs a value (" + flag->expects + ")";
      return ConfigOutcome::Error;
    }
    if (!flag->set(c, value)) {
      message = "--" + std::string(name) + ": '" + shown(*flag, value) + "' is not " + flag->expects;
      return ConfigOutcome::Error;
    }
  }
  if (!c.data_dir.empty() && !c.redis_url.empty()) {
    message = "--data-dir and --redis cannot be used together: with --redis, Redis is the rooms' store (make it "
              "durable with its AOF, docs/durability.md); --data-dir is for one process on its own";
    return ConfigOutcome::Error;
  }
  if (!c.redis_sentinels.empty() && (c.redis_master.empty() || c.redis_url.empty())) {
    message = "--redis-sentinel needs --redis-master NAME and a --redis URL (for credentials, DB and TLS)";
    return ConfigOutcome::Error;
  }
  if (!c.redis_url.empty()) {
    RedisOptions redis;
    std::string error;
    RedisLink::parse_url(c.redis_url, &redis, &error);  // checked by the flag
    if (!redis.user.empty() && redis.password.empty() && c.redis_password.empty()) {
      message = "--redis: '" + RedisLink::mask_url(c.redis_url) + "' names a USER without a password (give one in the URL "
                "or with --redis-password-file)";
      return ConfigOutcome::Error;
    }
    const bool tls_files = !c.redis_ca_file.empty() || !c.redis_cert_file.empty() || !c.redis_key_file.empty();
    if (tls_files && !redis.tls) {
      message = "--redis-ca-file, --redis-cert-file and --redis-key-file need a rediss:// URL (TLS); --redis is '" +
                RedisLink::mask_url(c.redis_url) + "'";
      return ConfigOutcome::Error;
    }
    if (c.redis_cert_file.empty() != c.redis_key_file.empty()) {
      message = "--redis-cert-file and --redis-key-file go together";
      return ConfigOutcome::Error;
    }
    if (redis.tls) {  // the files are read now, so a bad one stops the start with a reason
      redis.ca_file = c.redis_ca_file;
      redis.cert_file = c.redis_cert_file;
      redis.key_file = c.redis_key_file;
      if (!RedisTls::make(redis, &error)) {
        message = "--redis " + RedisLink::mask_url(c.redis_url) + ": TLS: " + error;
        return ConfigOutcome::Error;
      }
    }
  }
  if (!pending_hook_secret().empty()) {
    std::string error;
    const bool ok = parse_webhook_secret(pending_hook_secret(), c.hook_key, error);
    pending_hook_secret().clear();
    if (!ok) {
      message = "--hook-secret-file / ROOMCAST_HOOK_SECRET: " + error;
      return ConfigOutcome::Error;
    }
  }
  if (c.threads == 0) {
    unsigned n = std::thread::hardware_concurrency();
    c.threads = n ? n : 1;
  }
  return ConfigOutcome::Run;
}

}  // namespace roomcast
