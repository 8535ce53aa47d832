// core/redis_link.cpp: one thread, poll() over two non-blocking sockets and an eventfd;
// hiredis only formats commands and parses replies.
//
// Invariants (all on the link's thread unless said otherwise):
//   - the command FIFO holds one entry per command written (or about to be written) on
//     the command connection, in write order; each reply answers the front. Anything that
//     breaks that pairing (an unexpected reply, a protocol error, EOF, a deadline passed)
//     closes both connections and fails every entry: we cannot know what Redis did;
//   - `accepting` (under in_mu) is true exactly while the command connection is open and
//     its scripts are loaded (stats.up == 1): submit() enqueues then, fails at once
//     otherwise, so nothing waits on a dead connection;
//   - `queued` counts user calls accepted by submit() and not yet answered or failed;
//   - events for a worker are staged in outbox[w] during one loop iteration and handed
//     over with one lock and one eventfd write per worker (publish()).
// Ordering: per worker, calls are written in submission order on one connection. A
// script call answered NOSCRIPT (the script cache was flushed under us) is sent again as
// EVAL at the back of the pipeline, so its reply may come after replies to calls that
// were submitted later.
#include "core/redis_link.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace roomcast {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kBackoffMinMs = 100;
constexpr int kBackoffMaxMs = 2000;
constexpr size_t kSubscribeBatch = 256;  // channels per SUBSCRIBE after a reconnect
constexpr const char* kInstancesKey = "rc:instances";

// The lease round, run with KEYS[1] = rc:instances, ARGV = {instance_id, lease_ms}.
// Redis's clock, not ours: every instance judges leases by the same clock. Entries are
// kept 24 h after their last renewal so a lapsed instance is reported as dead (its
// sessions can then be cleaned up) rather than silently forgotten.
constexpr const char* kLeaseScript = R"lua(local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - 86400000))
local alive = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - lease), '+inf', 'WITHSCORES')
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - lease, 'WITHSCORES')
return {now, alive, dead}
)lua";

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

bool is_text(const RedisValue& v) {
  return v.kind == RedisValue::Kind::String || v.kind == RedisValue::Kind::Status;
}

// Lua numbers come back as integers, ZRANGE scores as decimal text.
bool to_ms(const RedisValue& v, int64_t* out) {
  if (v.kind == RedisValue::Kind::Integer) {
    *out = v.integer;
    return true;
  }
  if (!is_text(v) || v.str.empty()) return false;
  char* end = nullptr;
  double d = std::strtod(v.str.c_str(), &end);
  if (end != v.str.c_str() + v.str.size()) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

bool to_leases(const RedisValue& v, std::vector<InstanceLease>* out) {
  if (v.kind != RedisValue::Kind::Array || v.elements.size() % 2 != 0) return false;
  for (size_t i = 0; i < v.elements.size(); i += 2) {
    InstanceLease l;
    if (!is_text(v.elements[i]) || !to_ms(v.elements[i + 1], &l.last_renewal_ms)) return false;
    l.id = v.elements[i].str;
    out->push_back(std::move(l));
  }
  return true;
}

bool valid_host(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  bool dotted_digits = true;
  for (char c : h) {
    bool digit = c >= '0' && c <= '9';
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!digit && !alpha && c != '-' && c != '.') return false;
    if (!digit && c != '.') dotted_digits = false;
  }
  if (h.front() == '.' || h.front() == '-' || h.back() == '-') return false;
  if (dotted_digits) {  // then it must be a real IPv4 literal, not a name
    in_addr a{};
    return ::inet_pton(AF_INET, std::string(h).c_str(), &a) == 1;
  }
  return true;
}

bool parse_uint(std::string_view s, size_t max_digits, unsigned long max, unsigned long* out) {
  if (s.empty() || s.size() > max_digits) return false;
  unsigned long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned long>(c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

}  // namespace

bool RedisLink::parse_url(std::string_view url, RedisOptions* out, std::string* error) {
  auto fail = [&](const std::string& why) {
    if (error) *error = "redis URL \"" + std::string(url) + "\": " + why;
    return false;
  };
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return fail("expected redis://HOST[:PORT][/DB]");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find('@') != std::string_view::npos) return fail("credentials (user:pass@) are not supported");
  unsigned long db = 0;
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    if (!parse_uint(rest.substr(slash + 1), 2, 15, &db)) return fail("DB must be a number 0-15");
    rest = rest.substr(0, slash);
  }
  unsigned long port = 6379;
  size_t colon = rest.find(':');
  if (colon != std::string_view::npos) {
    if (!parse_uint(rest.substr(colon + 1), 5, 65535, &port) || port == 0) return fail("PORT must be 1-65535");
    rest = rest.substr(0, colon);
  }
  if (!valid_host(rest)) return fail("HOST must be a host name or an IPv4 address");
  out->host = std::string(rest);
  out->port = static_cast<uint16_t>(port);
  out->db = static_cast<int>(db);
  return true;
}

struct RedisLink::State {
  // One entry of the command FIFO.
  struct Pending {
    enum class Kind : uint8_t { Call, Select, Load, Lease, Unlease, Invalid };
    Kind kind = Kind::Call;
    bool retried = false;  // already sent again as EVAL after NOSCRIPT
    unsigned worker = 0;
    int script = -1;       // Call/Lease: script index; Load: the script being loaded
    unsigned keys = 0;
    uint64_t cookie = 0;
    std::vector<std::string> argv;  // kept for script calls only (the EVAL fallback)
    Clock::time_point submitted{};
    Clock::time_point deadline{};
  };

  struct Conn {
    enum class Phase : uint8_t { Closed, Connecting, Open };
    Phase phase = Phase::Closed;
    int fd = -1;
    std::string out;
    size_t out_sent = 0;
    redisReader* reader = nullptr;
    Clock::time_point connect_deadline{};
    Clock::time_point retry_at{};
    int backoff_ms = kBackoffMinMs;

    bool open() const { return phase == Phase::Open; }
    bool unsent() const { return out_sent < out.size(); }
    void close(Clock::time_point now) {
      if (fd >= 0) ::close(fd);  // a socket we own; nothing to learn from its close
      fd = -1;
      phase = Phase::Closed;
      out.clear();
      out_sent = 0;
      if (reader) redisReaderFree(reader);
      reader = nullptr;
      retry_at = now + milliseconds(backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, kBackoffMaxMs);
    }
  };

  struct Box {  // one worker's queue
    std::mutex mu;
    std::vector<RedisEvent> events;
    int notify_fd = -1;
  };

  struct SubOp {
    unsigned worker;
    bool add;
    std::string channel;
  };

  struct Channel {
    std::set<unsigned> workers;
    bool confirmed = false;  // a SUBSCRIBE confirmation arrived on the current connection
  };

  State(RedisOptions o, unsigned n, RedisStats& s) : opt(std::move(o)), workers(n), stats(s) {
    for (unsigned i = 0; i < n; ++i) boxes.push_back(std::make_unique<Box>());
    outbox.resize(n);
    attached.assign(n, false);
    scripts = opt.scripts;
    scripts.emplace_back(kLeaseScript);
    shas.resize(scripts.size());
    // Without the eventfd the loop still works, waking every 10 ms (see poll_timeout).
    wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }
  ~State() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void wake() {
    if (wake_fd < 0) return;
    uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: the thread wakes anyway.
    ssize_t ignored = ::write(wake_fd, &one, sizeof one);
    (void)ignored;
  }

  // Hands staged events to `w` (any thread): one lock, one eventfd write.
  void deliver(unsigned w, std::vector<RedisEvent>& events) {
    if (events.empty() || w >= workers) return;
    Box& b = *boxes[w];
    int fd;
    {
      std::lock_guard<std::mutex> lock(b.mu);
      if (b.events.empty()) b.events.swap(events);
      else std::move(events.begin(), events.end(), std::back_inserter(b.events));
      fd = b.notify_fd;
    }
    events.clear();
    if (fd >= 0) {
      uint64_t one = 1;
      // EAGAIN: the counter is already non-zero, the worker wakes anyway.
      ssize_t ignored = ::write(fd, &one, sizeof one);
      (void)ignored;
    }
  }
  void publish() {
    for (unsigned w = 0; w < workers; ++w) deliver(w, outbox[w]);
  }

  void post_reply(unsigned w, uint64_t cookie, bool ok, RedisValue v = {}) {
    if (cookie == 0 || w >= workers) return;
    RedisEvent e;
    e.kind = RedisEvent::Kind::Reply;
    e.cookie = cookie;
    e.ok = ok;
    e.value = std::move(v);
    outbox[w].push_back(std::move(e));
  }

  // ---- shared with the calling threads (in_mu) ----
  RedisOptions opt;
  unsigned workers;
  RedisStats& stats;
  std::vector<std::unique_ptr<Box>> boxes;
  std::vector<bool> attached;  // written before start() only
  std::mutex in_mu;
  bool accepting = false;
  std::vector<Pending> inbound;
  std::vector<SubOp> sub_ops;
  std::atomic<size_t> queued{0};
  std::atomic<bool> stop_requested{false};
  int wake_fd = -1;
  std::thread thread;
  bool running = false;

  // ---- the link's thread only ----
  std::vector<std::vector<RedisEvent>> outbox;
  std::vector<std::string> scripts;  // the user's, then the lease script
  std::vector<std::string> shas;     // "" = not loaded: send EVAL
  Conn cmd, sub;
  std::deque<Pending> fifo;
  std::vector<Pending> taken;  // take_requests()' swap partner for inbound
  std::multiset<Clock::time_point> retry_deadlines;  // of retried entries still in the fifo
  size_t handshake_left = 0;
  bool ever_up = false;
  bool lease_in_flight = false;
  Clock::time_point next_lease{};
  std::map<std::string, Channel> channels;
  std::vector<const char*> arg_ptrs;
  std::vector<size_t> arg_lens;

  int lease_script() const { return static_cast<int>(scripts.size()) - 1; }
  bool leasing() const { return !opt.instance_id.empty() && opt.renew_ms > 0; }
  milliseconds call_timeout() const { return milliseconds(std::max(opt.call_timeout_ms, 1)); }

  // Formats head + tail into c.out. False only if hiredis could not allocate.
  bool append(Conn& c, std::initializer_list<std::string_view> head, const std::vector<std::string>& tail,
              size_t tail_from = 0) {
    arg_ptrs.clear();
    arg_lens.clear();
    for (std::string_view h : head) {
      arg_ptrs.push_back(h.data());
      arg_lens.push_back(h.size());
    }
    for (size_t i = tail_from; i < tail.size(); ++i) {
      arg_ptrs.push_back(tail[i].data());
      arg_lens.push_back(tail[i].size());
    }
    char* cmdbuf = nullptr;
    int len = redisFormatCommandArgv(&cmdbuf, static_cast<int>(arg_ptrs.size()), arg_ptrs.data(), arg_lens.data());
    if (len < 0 || !cmdbuf) return false;
    c.out.append(cmdbuf, static_cast<size_t>(len));
    redisFreeCommand(cmdbuf);
    return true;
  }

  // Writes a script call: EVALSHA when the sha is known (and this is not the NOSCRIPT
  // retry), EVAL with the source otherwise.
  bool append_script(const Pending& p) {
    std::string nkeys = std::to_string(p.keys);
    const std::string& sha = shas[static_cast<size_t>(p.script)];
    if (!sha.empty() && !p.retried) return append(cmd, {"EVALSHA", sha, nkeys}, p.argv);
    return append(cmd, {"EVAL", scripts[static_cast<size_t>(p.script)], nkeys}, p.argv);
  }

  // A user call into the pipeline (or answered at once when it cannot be sent).
  void send_call(Pending&& p) {
    bool valid = !p.argv.empty() && p.script < static_cast<int>(opt.scripts.size()) &&
                 (p.script < 0 || p.keys <= p.argv.size());
    if (!valid) {
      p.kind = Pending::Kind::Invalid;  // answered in order when it reaches the front
      fifo.push_back(std::move(p));
      return;
    }
    bool written = p.script >= 0 ? append_script(p) : append(cmd, {}, p.argv);
    if (!written) {
      stats.errors_unavailable.fetch_add(1, std::memory_order_relaxed);
      post_reply(p.worker, p.cookie, false);
      queued.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    if (p.script < 0) p.argv = {};  // only a script call may be sent again
    fifo.push_back(std::move(p));
  }

  void send_internal(Pending::Kind kind, std::initializer_list<std::string_view> argv, Clock::time_point deadline,
                     int script = -1) {
    if (!append(cmd, argv, {})) return;  // allocation failed: the deadline logic cannot help either
    Pending p;
    p.kind = kind;
    p.script = script;
    p.deadline = deadline;
    fifo.push_back(std::move(p));
  }

  void send_lease(Clock::time_point now) {
    Pending p;
    p.kind = Pending::Kind::Lease;
    p.script = lease_script();
    p.keys = 1;
    p.argv = {kInstancesKey, opt.instance_id, std::to_string(opt.lease_ms)};
    p.submitted = now;
    p.deadline = now + call_timeout();
    if (!append_script(p)) return;
    fifo.push_back(std::move(p));
    lease_in_flight = true;
    next_lease = now + milliseconds(opt.renew_ms);
  }

  void set_up(bool up, Clock::time_point now) {
    std::vector<Pending> refused;
    {
      std::lock_guard<std::mutex> lock(in_mu);
      accepting = up && !stop_requested.load();
      if (!up) refused.swap(inbound);
    }
    stats.up.store(up ? 1 : 0, std::memory_order_relaxed);
    for (Pending& p : refused) fail(p, false);
    if (up) {
      if (ever_up) stats.reconnects.fetch_add(1, std::memory_order_relaxed);
      ever_up = true;
      cmd.backoff_ms = kBackoffMinMs;
      next_lease = now;
    }
  }

  // A call that will get no answer from Redis.
  void fail(Pending& p, bool timed_out) {
    if (p.kind == Pending::Kind::Invalid) {
      answer_invalid(p);
      return;
    }
    if (p.kind != Pending::Kind::Call) return;
    (timed_out ? stats.errors_timeout : stats.errors_unavailable).fetch_add(1, std::memory_order_relaxed);
    post_reply(p.worker, p.cookie, false);
    queued.fetch_sub(1, std::memory_order_relaxed);
  }

  void answer_invalid(Pending& p) {
    RedisValue v;
    v.kind = RedisValue::Kind::Error;
    v.str = p.argv.empty() ? "ERR empty command" : "ERR no such script or more keys than arguments";
    stats.errors_reply.fetch_add(1, std::memory_order_relaxed);
    post_reply(p.worker, p.cookie, true, std::move(v));
    queued.fetch_sub(1, std::memory_order_relaxed);
  }

  // The command connection is gone (or can no longer be trusted): fail everything in
  // flight, close both connections (a Redis that stopped answering commands is not
  // trusted with subscriptions either) and retry after the backoff.
  void lose_command(Clock::time_point now) {
    for (Pending& p : fifo) fail(p, now >= p.deadline);
    fifo.clear();
    retry_deadlines.clear();
    handshake_left = 0;
    lease_in_flight = false;
    cmd.close(now);
    lose_subscriber(now);
    set_up(false, now);
  }

  void lose_subscriber(Clock::time_point now) {
    if (sub.phase == Conn::Phase::Closed) return;
    sub.close(now);
    for (auto& [name, ch] : channels) ch.confirmed = false;
  }

  // ---- connecting ----

  // Starts a non-blocking connect (getaddrinfo may block this thread: that is acceptable,
  // no loop thread waits on it).
  void begin_connect(Conn& c, Clock::time_point now) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string port = std::to_string(opt.port);
    if (::getaddrinfo(opt.host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
      c.close(now);
      return;
    }
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = fd >= 0 ? ::connect(fd, res->ai_addr, res->ai_addrlen) : -1;
    int err = errno;
    ::freeaddrinfo(res);
    c.fd = fd;
    if (fd < 0 || (rc != 0 && err != EINPROGRESS)) {
      c.close(now);
      return;
    }
    c.phase = Conn::Phase::Connecting;
    c.connect_deadline = now + call_timeout();
    if (rc == 0) connected(c, now);
  }

  void connected(Conn& c, Clock::time_point now) {
    int one = 1;
    // Small commands and replies: Nagle would only add latency. Failure changes nothing else.
    (void)::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.reader = redisReaderCreate();
    if (!c.reader) {
      if (&c == &cmd) lose_command(now);
      else lose_subscriber(now);
      return;
    }
    c.phase = Conn::Phase::Open;
    std::string db = std::to_string(opt.db);
    Clock::time_point deadline = now + call_timeout();
    if (&c == &cmd) {
      if (opt.db != 0) send_internal(Pending::Kind::Select, {"SELECT", db}, deadline);
      for (size_t i = 0; i < scripts.size(); ++i)
        send_internal(Pending::Kind::Load, {"SCRIPT", "LOAD", scripts[i]}, deadline, static_cast<int>(i));
      handshake_left = fifo.size();
      return;
    }
    sub.backoff_ms = kBackoffMinMs;
    if (opt.db != 0) append(sub, {"SELECT", db}, {});
    std::vector<std::string> batch;
    for (auto& [name, ch] : channels) {
      ch.confirmed = false;
      batch.push_back(name);
      if (batch.size() == kSubscribeBatch) {
        append(sub, {"SUBSCRIBE"}, batch);
        batch.clear();
      }
    }
    if (!batch.empty()) append(sub, {"SUBSCRIBE"}, batch);
  }

  void finish_connect(Conn& c, Clock::time_point now) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      if (&c == &cmd) lose_command(now);
      else lose_subscriber(now);
      return;
    }
    connected(c, now);
  }

  // ---- replies ----

  void on_command_reply(RedisValue&& v, Clock::time_point now) {
    Pending p = std::move(fifo.front());
    fifo.pop_front();
    if (p.retried) {
      auto it = retry_deadlines.find(p.deadline);
      if (it != retry_deadlines.end()) retry_deadlines.erase(it);
    }
    bool noscript = v.is_error() && v.str.compare(0, 8, "NOSCRIPT") == 0;
    if (noscript && p.script >= 0 && !p.retried && (p.kind == Pending::Kind::Call || p.kind == Pending::Kind::Lease)) {
      // The script cache was flushed under us: the same call again as EVAL (which also
      // puts the script back in the cache, so the sha stays good for later calls).
      p.retried = true;
      if (append_script(p)) {
        retry_deadlines.insert(p.deadline);
        fifo.push_back(std::move(p));
        return;
      }
      p.retried = false;
    }
    switch (p.kind) {
      case Pending::Kind::Call: {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - p.submitted).count();
        uint64_t u = us > 0 ? static_cast<uint64_t>(us) : 0;
        stats.calls.fetch_add(1, std::memory_order_relaxed);
        stats.latency_us_sum.fetch_add(u, std::memory_order_relaxed);
        if (u <= 1000) stats.latency_le_1ms.fetch_add(1, std::memory_order_relaxed);
        if (u <= 5000) stats.latency_le_5ms.fetch_add(1, std::memory_order_relaxed);
        if (u <= 25000) stats.latency_le_25ms.fetch_add(1, std::memory_order_relaxed);
        if (u <= 100000) stats.latency_le_100ms.fetch_add(1, std::memory_order_relaxed);
        if (v.is_error()) stats.errors_reply.fetch_add(1, std::memory_order_relaxed);
        post_reply(p.worker, p.cookie, true, std::move(v));
        queued.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
      case Pending::Kind::Select:
        if (v.is_error()) return lose_command(now);  // a wrong DB: retried with backoff
        break;
      case Pending::Kind::Load:
        // A script Redis refuses keeps no sha: its calls go as EVAL and get Redis's error.
        shas[static_cast<size_t>(p.script)] = v.kind == RedisValue::Kind::String ? v.str : std::string();
        break;
      case Pending::Kind::Lease:
        lease_in_flight = false;
        on_lease(v);
        break;
      case Pending::Kind::Unlease:
      case Pending::Kind::Invalid:
        break;
    }
    if (handshake_left > 0 && --handshake_left == 0) set_up(true, now);
  }

  void on_lease(const RedisValue& v) {
    if (v.kind != RedisValue::Kind::Array || v.elements.size() != 3) return;
    RedisEvent e;
    e.kind = RedisEvent::Kind::Instances;
    if (!to_ms(v.elements[0], &e.redis_now_ms) || !to_leases(v.elements[1], &e.alive) ||
        !to_leases(v.elements[2], &e.dead))
      return;
    for (unsigned w = 0; w < workers; ++w)
      if (attached[w]) outbox[w].push_back(e);
  }

  // Answers Invalid entries that reached the front (they were never sent).
  void settle_front() {
    while (!fifo.empty() && fifo.front().kind == Pending::Kind::Invalid) {
      answer_invalid(fifo.front());
      fifo.pop_front();
    }
  }

  // False: the subscriber connection broke the protocol.
  bool on_subscriber_reply(RedisValue&& v) {
    if (v.kind == RedisValue::Kind::Status) return true;  // +OK to SELECT
    if (v.kind != RedisValue::Kind::Array || v.elements.size() < 3 || !is_text(v.elements[0])) return false;
    const std::string& what = v.elements[0].str;
    if (!is_text(v.elements[1])) return false;
    auto it = channels.find(v.elements[1].str);
    if (what == "message") {
      stats.messages.fetch_add(1, std::memory_order_relaxed);
      if (it == channels.end() || !is_text(v.elements[2])) return true;  // unsubscribed meanwhile
      size_t left = it->second.workers.size();
      for (unsigned w : it->second.workers) {
        RedisEvent e;
        e.kind = RedisEvent::Kind::Message;
        e.channel = it->first;
        // Each worker owns its copy; the last one takes the parsed bytes.
        e.payload = --left == 0 ? std::move(v.elements[2].str) : v.elements[2].str;
        outbox[w].push_back(std::move(e));
      }
    } else if (what == "subscribe") {
      if (it == channels.end()) return true;
      it->second.confirmed = true;
      for (unsigned w : it->second.workers) post_subscribed(w, it->first);
    } else if (what == "unsubscribe") {
      // The channel was given up and asked for again before this arrived: active again
      // only with the next subscribe confirmation.
      if (it != channels.end()) it->second.confirmed = false;
    }
    return true;
  }

  void post_subscribed(unsigned w, const std::string& channel) {
    RedisEvent e;
    e.kind = RedisEvent::Kind::Subscribed;
    e.channel = channel;
    outbox[w].push_back(std::move(e));
  }

  // Reads what is there, parses every complete reply. False: EOF, error or bad protocol.
  bool read_replies(Conn& c, Clock::time_point now) {
    bool alive = true;
    char buf[65536];
    for (int round = 0; round < 16; ++round) {  // bounded: the other socket gets its turn
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        if (redisReaderFeed(c.reader, buf, static_cast<size_t>(n)) != REDIS_OK) return false;
        if (static_cast<size_t>(n) < sizeof buf) break;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      alive = false;  // EOF (CLIENT KILL, Redis gone) or a socket error; replies read so far still count
      break;
    }
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(c.reader, &raw) != REDIS_OK) return false;
      if (!raw) break;
      RedisValue v = convert(static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      if (&c == &cmd) {
        settle_front();
        if (fifo.empty()) return false;  // a reply nobody asked for: the pairing is lost
        on_command_reply(std::move(v), now);
        if (!cmd.open()) return true;  // lose_command already ran (a failed SELECT)
        settle_front();
      } else if (!on_subscriber_reply(std::move(v))) {
        return false;
      }
    }
    return alive;
  }

  // False: the socket failed.
  bool write_out(Conn& c) {
    while (c.unsent()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return false;
    }
    if (!c.unsent()) {
      c.out.clear();
      c.out_sent = 0;
    } else if (c.out_sent > (1u << 20)) {
      c.out.erase(0, c.out_sent);
      c.out_sent = 0;
    }
    return true;
  }

  // ---- requests from the workers ----

  void take_requests() {
    std::vector<SubOp> ops;
    {
      std::lock_guard<std::mutex> lock(in_mu);
      taken.swap(inbound);  // `taken` is empty with capacity: inbound keeps an allocation
      ops.swap(sub_ops);
    }
    bool can_send = cmd.open() && stats.up.load(std::memory_order_relaxed) != 0;
    for (Pending& p : taken) {
      if (can_send) send_call(std::move(p));
      else fail(p, false);
    }
    taken.clear();
    settle_front();  // an invalid call behind nothing is answered now
    for (SubOp& op : ops) {
      if (op.add) {
        Channel& ch = channels[op.channel];
        bool fresh = ch.workers.empty();
        ch.workers.insert(op.worker);
        if (fresh && sub.open()) append(sub, {"SUBSCRIBE", op.channel}, {});
        else if (!fresh && ch.confirmed) post_subscribed(op.worker, op.channel);
      } else {
        auto it = channels.find(op.channel);
        if (it == channels.end()) continue;
        it->second.workers.erase(op.worker);
        if (!it->second.workers.empty()) continue;
        channels.erase(it);
        if (sub.open()) append(sub, {"UNSUBSCRIBE", op.channel}, {});
      }
    }
  }

  // ---- the loop ----

  void run();
  void check_deadlines(Clock::time_point now);
  int poll_timeout(Clock::time_point now, bool draining, Clock::time_point drain_deadline) const;
  void service(Conn& c, short revents, Clock::time_point now);
};

void RedisLink::State::check_deadlines(Clock::time_point now) {
  for (Conn* c : {&cmd, &sub}) {
    if (c->phase != Conn::Phase::Connecting || now < c->connect_deadline) continue;
    if (c == &cmd) lose_command(now);
    else lose_subscriber(now);
  }
  if (fifo.empty()) return;
  Clock::time_point earliest = fifo.front().deadline;
  if (!retry_deadlines.empty()) earliest = std::min(earliest, *retry_deadlines.begin());
  // Redis did not answer in time: what it did with the calls in flight is unknown, and
  // the replies still to come would answer the wrong calls if we kept waiting selectively.
  if (now >= earliest) lose_command(now);
}

int RedisLink::State::poll_timeout(Clock::time_point now, bool draining, Clock::time_point drain_deadline) const {
  Clock::time_point soonest = now + milliseconds(wake_fd >= 0 ? 1000 : 10);
  auto consider = [&](Clock::time_point t) { soonest = std::min(soonest, t); };
  for (const Conn* c : {&cmd, &sub}) {
    if (c->phase == Conn::Phase::Connecting) consider(c->connect_deadline);
  }
  // A closed subscriber waits for the command connection (see run()), not for its time.
  if (!draining && cmd.phase == Conn::Phase::Closed) consider(cmd.retry_at);
  if (!draining && sub.phase == Conn::Phase::Closed && cmd.open()) consider(sub.retry_at);
  if (!fifo.empty()) consider(fifo.front().deadline);
  if (!retry_deadlines.empty()) consider(*retry_deadlines.begin());
  if (leasing() && !draining && stats.up.load(std::memory_order_relaxed) && !lease_in_flight)
    consider(next_lease);
  if (draining) consider(drain_deadline);
  if (soonest <= now) return 0;
  // Rounded up: waking a hair early would only spin.
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(soonest - now).count();
  return static_cast<int>((us + 999) / 1000);
}

void RedisLink::State::service(Conn& c, short revents, Clock::time_point now) {
  if (c.fd < 0 || revents == 0) return;
  bool is_cmd = &c == &cmd;
  if (c.phase == Conn::Phase::Connecting) {
    finish_connect(c, now);
    return;
  }
  if (c.phase != Conn::Phase::Open) return;
  bool ok = true;
  if (revents & (POLLIN | POLLHUP | POLLERR)) ok = read_replies(c, now);
  if (ok && c.open() && (revents & POLLOUT)) ok = write_out(c);
  if (ok || !c.open()) return;
  if (is_cmd) lose_command(now);
  else lose_subscriber(now);
}

void RedisLink::State::run() {
  Clock::time_point now = Clock::now();
  cmd.retry_at = sub.retry_at = now;
  cmd.backoff_ms = sub.backoff_ms = kBackoffMinMs;
  bool draining = false;
  Clock::time_point drain_deadline{};
  for (;;) {
    now = Clock::now();
    if (!draining && stop_requested.load()) {
      // Stop: no new calls; what was submitted goes out, then the lease is withdrawn.
      draining = true;
      drain_deadline = now + call_timeout();
      {
        std::lock_guard<std::mutex> lock(in_mu);
        accepting = false;
      }
      take_requests();
      if (leasing() && stats.up.load(std::memory_order_relaxed) && cmd.open())
        send_internal(Pending::Kind::Unlease, {"ZREM", kInstancesKey, opt.instance_id}, drain_deadline);
    }
    if (draining && (!cmd.open() || (fifo.empty() && !cmd.unsent()) || now >= drain_deadline)) break;
    if (!draining) {
      if (cmd.phase == Conn::Phase::Closed && now >= cmd.retry_at) begin_connect(cmd, now);
      // The subscriber follows the command connection: no point subscribing to a Redis we
      // cannot reach for commands.
      if (sub.phase == Conn::Phase::Closed && cmd.open() && now >= sub.retry_at) begin_connect(sub, now);
    }
    check_deadlines(now);
    if (!draining && leasing() && stats.up.load(std::memory_order_relaxed) && !lease_in_flight && now >= next_lease)
      send_lease(now);
    for (Conn* c : {&cmd, &sub})
      if (c->open() && c->unsent() && !write_out(*c)) {
        if (c == &cmd) lose_command(now);
        else lose_subscriber(now);
      }
    publish();

    pollfd pfds[3];
    nfds_t n = 0;
    int cmd_at = -1, sub_at = -1;
    if (wake_fd >= 0) pfds[n++] = pollfd{wake_fd, POLLIN, 0};
    for (Conn* c : {&cmd, &sub}) {
      if (c->fd < 0) continue;
      short ev = c->phase == Conn::Phase::Connecting ? POLLOUT : short(POLLIN | (c->unsent() ? POLLOUT : 0));
      (c == &cmd ? cmd_at : sub_at) = static_cast<int>(n);
      pfds[n++] = pollfd{c->fd, ev, 0};
    }
    int pr = ::poll(pfds, n, poll_timeout(now, draining, drain_deadline));
    if (pr < 0 && errno != EINTR) std::this_thread::sleep_for(milliseconds(10));  // cannot happen with valid fds
    now = Clock::now();
    if (pr > 0) {
      if (wake_fd >= 0 && (pfds[0].revents & POLLIN)) {
        uint64_t count;
        ssize_t ignored = ::read(wake_fd, &count, sizeof count);  // EAGAIN: another read got it
        (void)ignored;
      }
      if (cmd_at >= 0) service(cmd, pfds[cmd_at].revents, now);
      // The subscriber may have been closed (and its fd number reused) by lose_command.
      if (sub_at >= 0 && sub.fd == pfds[sub_at].fd) service(sub, pfds[sub_at].revents, now);
    }
    if (!draining) take_requests();
  }
  // Out of time (or connection) for the rest: fail it, close, and refuse from now on.
  now = Clock::now();
  for (Pending& p : fifo) fail(p, now >= p.deadline);
  fifo.clear();
  retry_deadlines.clear();
  lease_in_flight = false;
  handshake_left = 0;
  cmd.close(now);
  lose_subscriber(now);
  set_up(false, now);
  publish();
}

RedisLink::RedisLink(RedisOptions options, unsigned workers)
    : state_(std::make_unique<State>(std::move(options), workers, stats_)) {}

RedisLink::~RedisLink() { stop(); }

void RedisLink::attach(unsigned worker, int notify_fd) {
  if (worker >= state_->workers) return;
  std::lock_guard<std::mutex> lock(state_->boxes[worker]->mu);
  state_->boxes[worker]->notify_fd = notify_fd;
  state_->attached[worker] = true;
}

void RedisLink::start() {
  State& s = *state_;
  if (s.running) return;
  s.stop_requested.store(false);
  s.running = true;
  s.thread = std::thread([&s] { s.run(); });
}

void RedisLink::stop() {
  State& s = *state_;
  if (!s.running) return;
  s.stop_requested.store(true);
  s.wake();
  s.thread.join();
  s.running = false;
  std::lock_guard<std::mutex> lock(s.in_mu);
  s.sub_ops.clear();
}

void RedisLink::submit(unsigned worker, std::vector<RedisCall>& calls) {
  State& s = *state_;
  if (calls.empty()) return;
  if (worker >= s.workers) {  // a caller bug; nothing to answer to
    s.stats.errors_unavailable.fetch_add(calls.size(), std::memory_order_relaxed);
    calls.clear();
    return;
  }
  Clock::time_point now = Clock::now();
  std::vector<RedisEvent> refused;
  bool was_empty = false;
  size_t accepted = 0;
  {
    std::lock_guard<std::mutex> lock(s.in_mu);
    was_empty = s.inbound.empty();
    for (RedisCall& c : calls) {
      if (s.accepting && s.queued.load(std::memory_order_relaxed) < s.opt.max_pending) {
        State::Pending p;
        p.worker = worker;
        p.cookie = c.cookie;
        p.script = c.script;
        p.keys = c.keys;
        p.argv = std::move(c.argv);
        p.submitted = now;
        p.deadline = now + s.call_timeout();
        s.inbound.push_back(std::move(p));
        s.queued.fetch_add(1, std::memory_order_relaxed);
        ++accepted;
        continue;
      }
      s.stats.errors_unavailable.fetch_add(1, std::memory_order_relaxed);
      if (c.cookie == 0) continue;
      RedisEvent e;
      e.kind = RedisEvent::Kind::Reply;
      e.cookie = c.cookie;
      e.ok = false;
      refused.push_back(std::move(e));
    }
  }
  calls.clear();
  if (accepted > 0 && was_empty) s.wake();
  s.deliver(worker, refused);
}

void RedisLink::subscribe(unsigned worker, std::string channel) {
  State& s = *state_;
  if (worker >= s.workers) return;
  {
    std::lock_guard<std::mutex> lock(s.in_mu);
    s.sub_ops.push_back(State::SubOp{worker, true, std::move(channel)});
  }
  s.wake();
}

void RedisLink::unsubscribe(unsigned worker, std::string channel) {
  State& s = *state_;
  if (worker >= s.workers) return;
  {
    std::lock_guard<std::mutex> lock(s.in_mu);
    s.sub_ops.push_back(State::SubOp{worker, false, std::move(channel)});
  }
  s.wake();
}

void RedisLink::take(unsigned worker, std::vector<RedisEvent>* out) {
  State& s = *state_;
  if (worker >= s.workers) return;
  State::Box& b = *s.boxes[worker];
  std::lock_guard<std::mutex> lock(b.mu);
  if (out->empty()) out->swap(b.events);
  else {
    std::move(b.events.begin(), b.events.end(), std::back_inserter(*out));
    b.events.clear();
  }
}

void RedisLink::render_metrics(std::string* out) const {
  const RedisStats& s = stats_;
  auto get = [](const std::atomic<uint64_t>& a) { return static_cast<unsigned long long>(a.load(std::memory_order_relaxed)); };
  char buf[256];
  auto line = [&](const char* name, const char* labels, unsigned long long v) {
    std::snprintf(buf, sizeof buf, "%s%s %llu\n", name, labels, v);
    *out += buf;
  };
  auto header = [&](const char* name, const char* type, const char* help) {
    *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  header("roomcast_redis_up", "gauge", "1 while the Redis command connection is connected and its scripts loaded.");
  line("roomcast_redis_up", "", get(s.up));
  header("roomcast_redis_reconnects_total", "counter", "Successful connects to Redis after the first.");
  line("roomcast_redis_reconnects_total", "", get(s.reconnects));
  header("roomcast_redis_errors_total", "counter",
         "Redis calls failed, by kind (timeout: deadline passed; unavailable: not connected, connection lost or "
         "queue full; reply: Redis answered with an error).");
  line("roomcast_redis_errors_total", "{kind=\"timeout\"}", get(s.errors_timeout));
  line("roomcast_redis_errors_total", "{kind=\"unavailable\"}", get(s.errors_unavailable));
  line("roomcast_redis_errors_total", "{kind=\"reply\"}", get(s.errors_reply));
  header("roomcast_redis_calls_total", "counter", "Redis calls answered by Redis.");
  unsigned long long calls = get(s.calls);
  line("roomcast_redis_calls_total", "", calls);
  header("roomcast_redis_latency_seconds", "histogram", "Redis calls, submission to reply.");
  line("roomcast_redis_latency_seconds_bucket", "{le=\"0.001\"}", get(s.latency_le_1ms));
  line("roomcast_redis_latency_seconds_bucket", "{le=\"0.005\"}", get(s.latency_le_5ms));
  line("roomcast_redis_latency_seconds_bucket", "{le=\"0.025\"}", get(s.latency_le_25ms));
  line("roomcast_redis_latency_seconds_bucket", "{le=\"0.1\"}", get(s.latency_le_100ms));
  line("roomcast_redis_latency_seconds_bucket", "{le=\"+Inf\"}", calls);
  std::snprintf(buf, sizeof buf, "roomcast_redis_latency_seconds_sum %.6f\n", double(get(s.latency_us_sum)) / 1e6);
  *out += buf;
  line("roomcast_redis_latency_seconds_count", "", calls);
  header("roomcast_redis_messages_total", "counter", "Pub/sub messages received from Redis.");
  line("roomcast_redis_messages_total", "", get(s.messages));
}

}  // namespace roomcast
