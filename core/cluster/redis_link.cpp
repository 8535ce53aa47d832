// core/cluster/redis_link.cpp: the link's thread (poll() over the two connections and an
// eventfd), the calls and subscriptions coming in from the workers, connecting, losing
// and reconnecting, the lease round's schedule, start and the graceful stop.
//
// The pieces it drives, each with its contract in its header:
//   core/cluster/redis_connection.h  one non-blocking RESP connection (socket, hiredis codec, backoff)
//   core/cluster/redis_pipeline.h    the command FIFO with deadlines, the scripts, the handshake
//   core/cluster/redis_subscriber.h  channels -> workers on the subscriber connection
//   core/cluster/redis_outbox.h      what each worker is owed, and its eventfd
//   core/cluster/redis_lease.h       the lease round's script and reply
//   core/cluster/redis_tls.h         rediss://: the OpenSSL context both connections use
//   core/cluster/redis_sentinel.h    which Redis is the master, asked before each command dial
//   core/cluster/redis_sentinel_watch.h  `+switch-master` from the sentinels: redial at once
// RedisLink::parse_url and RedisLink::render_metrics live in core/cluster/redis_url.cpp and
// core/cluster/redis_metrics.cpp.
//
// Invariants (all on the link's thread unless said otherwise):
//   - anything that breaks the pairing of replies with commands on the command connection
//     (an unexpected reply, a protocol error, EOF, a deadline passed) closes both
//     connections and fails every call in flight (lose_command): we cannot know what
//     Redis did with them;
//   - the subscriber connection is dialed only while the command connection is open, and
//     lost with it: no point subscribing to a Redis we cannot reach for commands;
//   - `accepting` (under in_mu) is true exactly while the command connection is open and
//     its handshake is over (stats.up == 1): submit() enqueues then, fails at once
//     otherwise, so nothing waits on a dead connection;
//   - `queued` counts user calls accepted by submit() and not yet answered or failed;
//   - events for a worker are staged in the outbox during one loop iteration and handed
//     over at its end (outbox.flush()).
// Ordering: per worker, calls go into the pipeline in submission order, on one connection
// (a NOSCRIPT retry is the one exception, see core/cluster/redis_pipeline.h).
#include "core/cluster/redis_link.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

#include "core/cluster/redis_connection.h"
#include "core/cluster/redis_outbox.h"
#include "core/cluster/redis_pipeline.h"
#include "core/cluster/redis_sentinel.h"
#include "core/cluster/redis_sentinel_watch.h"
#include "core/cluster/redis_subscriber.h"
#include "core/cluster/redis_tls.h"

namespace roomcast {

namespace {

using Clock = RedisClock;
using std::chrono::milliseconds;
using Phase = RedisConnection::Phase;

}  // namespace

struct RedisLink::State {
  struct SubOp { unsigned worker; bool add; std::string channel; };  // a (un)subscribe request

  State(RedisOptions o, unsigned n, RedisStats& s)
      : opt(std::move(o)),
        workers(n),
        stats(s),
        outbox(n),
        pipeline(opt, cmd, outbox, stats, queued),
        subscriber(sub, outbox, stats),
        watch(opt) {
    // Without the eventfd the loop still works, waking every 10 ms (see poll_timeout).
    wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (opt.tls) {
      // Checked once at start (core/server/config_flags.cpp), so this fails only if a file changed
      // since: then nothing is dialed at all (never plain text), and run() says so.
      tls = RedisTls::make(opt, &tls_error);
      cmd.use_tls(tls.get());
      sub.use_tls(tls.get());
    }
  }
  ~State() { if (wake_fd >= 0) ::close(wake_fd); }

  void wake() {
    if (wake_fd < 0) return;
    uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: the thread wakes anyway.
    ssize_t ignored = ::write(wake_fd, &one, sizeof one);
    (void)ignored;
  }

  void request(unsigned worker, bool add, std::string channel) {
    if (worker >= workers) return;
    {
      std::lock_guard<std::mutex> lock(in_mu);
      sub_ops.push_back(SubOp{worker, add, std::move(channel)});
    }
    wake();
  }

  // ---- shared with the calling threads ----
  RedisOptions opt;
  Logger log{opt.log_format, opt.log_level};  // the link's thread only; never given a secret
  unsigned workers;
  RedisStats& stats;
  RedisOutbox outbox;  // its own locking (see core/cluster/redis_outbox.h)
  std::mutex in_mu;
  bool accepting = false;                     // in_mu
  std::vector<RedisPipeline::Entry> inbound;  // in_mu
  std::vector<SubOp> sub_ops;                 // in_mu
  std::atomic<size_t> queued{0};
  std::atomic<bool> stop_requested{false};
  int wake_fd = -1;
  std::thread thread;
  bool running = false;  // start() and stop() only

  // ---- the link's thread only ----
  std::unique_ptr<RedisTls> tls;  // rediss:// only; before the connections, which point at it
  std::string tls_error;          // why tls could not be made
  RedisConnection cmd, sub;
  std::string master_host = opt.host;  // what both connections dial (the sentinels' answer)
  uint16_t master_port = opt.port;
  RedisPipeline pipeline;      // on cmd
  RedisSubscriber subscriber;  // on sub
  RedisSentinelWatch watch;    // its own connection, to one sentinel (with sentinels only)
  bool use_announced = false;  // the next command dial goes to what +switch-master named
  std::vector<RedisPipeline::Entry> taken;  // take_requests()' swap partner for inbound
  bool ever_up = false;
  Clock::time_point next_lease{};

  bool leasing() const { return !opt.instance_id.empty() && opt.renew_ms > 0; }
  bool is_up() const { return stats.up.load(std::memory_order_relaxed) != 0; }
  milliseconds call_timeout() const { return milliseconds(std::max(opt.call_timeout_ms, 1)); }

  void set_up(bool up, Clock::time_point now);
  void log_refusal(Clock::time_point now) const;
  void lose_command(Clock::time_point now);
  void lose(RedisConnection& c, Clock::time_point now) {
    if (&c == &cmd) lose_command(now);
    else subscriber.lose(now);
  }
  void begin_connect(RedisConnection& c, Clock::time_point now);
  bool ask_sentinels();
  void finish_connect(RedisConnection& c, Clock::time_point now);
  void connected(RedisConnection& c, Clock::time_point now);
  void drive_handshake(RedisConnection& c, Clock::time_point now);
  void ready(RedisConnection& c, Clock::time_point now);
  bool read_commands(Clock::time_point now);
  void take_requests();
  void on_watch(RedisSentinelWatch::Event event, Clock::time_point now);

  void run();
  void check_deadlines(Clock::time_point now);
  int poll_timeout(Clock::time_point now, bool draining, Clock::time_point drain_deadline) const;
  void service(RedisConnection& c, short revents, Clock::time_point now);
};

void RedisLink::State::set_up(bool up, Clock::time_point now) {
  std::vector<RedisPipeline::Entry> refused;
  {
    std::lock_guard<std::mutex> lock(in_mu);
    accepting = up && !stop_requested.load();
    if (!up) refused.swap(inbound);
  }
  stats.up.store(up ? 1 : 0, std::memory_order_relaxed);
  for (RedisPipeline::Entry& e : refused) pipeline.fail(e, false);
  if (up) {
    if (ever_up) stats.reconnects.fetch_add(1, std::memory_order_relaxed);
    ever_up = true;
    cmd.reset_backoff();
    next_lease = now;
  }
}

// The command connection is gone (or can no longer be trusted): fail everything in
// flight, close both connections (a Redis that stopped answering commands is not trusted
// with subscriptions either) and retry after the backoff.
void RedisLink::State::lose_command(Clock::time_point now) {
  pipeline.fail_all(now);
  cmd.close(now);
  subscriber.lose(now);
  set_up(false, now);
}

// Redis refused the handshake (a wrong password, NOAUTH, NOPERM, a wrong DB): one line
// per attempt, so once per backoff step (at most every 2 s). Redis's own words never
// echo the password.
void RedisLink::State::log_refusal(Clock::time_point now) const {
  const std::string& why = pipeline.refusal();
  if (why.empty()) return;
  auto retry_ms = std::chrono::duration_cast<milliseconds>(cmd.retry_at() - now).count();
  log.log(LogLevel::Error, "redis_refused",
          {{"host", master_host}, {"port", unsigned(master_port)}, {"user", opt.user.empty() ? "default" : opt.user},
           {"reply", why}, {"retry_ms", int64_t(retry_ms)}});
}

// ---- connecting ----

// Which Redis is the master now. False: no sentinel could say; the command connection
// waits for its backoff (close() applies it) and asks again. Logged when the answer
// changes and on each failure (so once per backoff step).
bool RedisLink::State::ask_sentinels() {
  std::string host, why;
  uint16_t port = 0;
  if (!RedisSentinel::ask(opt, &host, &port, &why)) {
    cmd.close(Clock::now());
    log.log(LogLevel::Error, "redis_sentinel_unavailable", {{"master", opt.master_name}, {"reason", why}});
    return false;
  }
  if (host != master_host || port != master_port)
    log.log(LogLevel::Info, "redis_master", {{"master", opt.master_name}, {"host", host}, {"port", unsigned(port)}});
  master_host = std::move(host);
  master_port = port;
  return true;
}

// getaddrinfo may block this thread: acceptable, no loop thread waits on it.
void RedisLink::State::begin_connect(RedisConnection& c, Clock::time_point now) {
  if (opt.tls && !tls) {  // never dial in plain text what was configured as rediss://
    c.set_retry_at(now + milliseconds(RedisConnection::kBackoffMaxMs));
    log.log(LogLevel::Error, "redis_tls_refused", {{"host", opt.host}, {"reason", tls_error}});
    return;
  }
  // Announced by a sentinel just now: asking them again could reach one that has not
  // heard yet and names the old master.
  if (&c == &cmd && !opt.sentinels.empty() && !use_announced && !ask_sentinels()) return;
  if (&c == &cmd) use_announced = false;
  if (c.dial(master_host, master_port, call_timeout(), now) == RedisConnection::Dial::Connected) connected(c, now);
}

void RedisLink::State::finish_connect(RedisConnection& c, Clock::time_point now) {
  if (!c.connect_succeeded()) return lose(c, now);
  connected(c, now);
}

void RedisLink::State::connected(RedisConnection& c, Clock::time_point now) {
  if (!c.establish()) return lose(c, now);
  if (c.phase() == Phase::Handshaking) return drive_handshake(c, now);
  ready(c, now);
}

// One step of the TLS handshake, whenever the socket is ready for what OpenSSL wants.
// A refusal is logged once per attempt (so once per backoff step, at most every 2 s for
// each connection) and the connection dropped: there is no plain-text fallback.
void RedisLink::State::drive_handshake(RedisConnection& c, Clock::time_point now) {
  std::string why;
  switch (c.handshake(&why)) {
    case RedisConnection::Handshake::Again: return;
    case RedisConnection::Handshake::Done: return ready(c, now);
    case RedisConnection::Handshake::Failed: break;
  }
  lose(c, now);
  log.log(LogLevel::Error, "redis_tls_refused",
          {{"host", master_host}, {"port", unsigned(master_port)}, {"connection", &c == &cmd ? "commands" : "subscriber"},
           {"reason", why}, {"retry_ms", int64_t(std::chrono::duration_cast<milliseconds>(c.retry_at() - now).count())}});
}

void RedisLink::State::ready(RedisConnection& c, Clock::time_point now) {
  if (&c == &cmd) {
    pipeline.open(now + call_timeout());  // up once its last reply is in (set_up)
    return;
  }
  sub.reset_backoff();
  subscriber.open(opt);
}

// ---- traffic ----

// Every complete reply on the command connection. False: EOF, error or bad protocol.
bool RedisLink::State::read_commands(Clock::time_point now) {
  using Take = RedisConnection::Take;
  return cmd.read_replies([&](RedisValue&& v) {
    switch (pipeline.answer(std::move(v), now)) {
      case RedisPipeline::Answer::Unpaired: return Take::Refuse;
      case RedisPipeline::Answer::Lost:
        lose_command(now);
        log_refusal(now);
        return Take::Stop;  // nothing left to read
      case RedisPipeline::Answer::Ready: set_up(true, now); return Take::Next;
      case RedisPipeline::Answer::Answered: return Take::Next;
    }
    return Take::Next;
  });
}

void RedisLink::State::take_requests() {
  std::vector<SubOp> ops;
  {
    std::lock_guard<std::mutex> lock(in_mu);
    taken.swap(inbound);  // `taken` is empty with capacity: inbound keeps an allocation
    ops.swap(sub_ops);
  }
  bool can_send = cmd.open() && is_up();
  for (RedisPipeline::Entry& e : taken) {
    if (can_send) pipeline.send(std::move(e));
    else pipeline.fail(e, false);
  }
  taken.clear();
  pipeline.settle_front();  // an invalid call behind nothing is answered now
  for (SubOp& op : ops) {
    if (op.add) subscriber.add(op.worker, op.channel);
    else subscriber.remove(op.worker, op.channel);
  }
}

// The sentinels announced a new master: the connections (if any) to the old one go now,
// failing what is in flight (its outcome is unknown, as after any loss), and the
// command connection is dialed again at once, not after its backoff.
void RedisLink::State::on_watch(RedisSentinelWatch::Event event, Clock::time_point now) {
  switch (event.kind) {
    case RedisSentinelWatch::Event::Kind::None:
      return;
    case RedisSentinelWatch::Event::Kind::Lost:
      // Once per attempt, so once per backoff step (100 ms doubling to 2 s).
      log.log(LogLevel::Warn, "redis_sentinel_watch_lost", {{"master", opt.master_name}, {"reason", event.why}});
      return;
    case RedisSentinelWatch::Event::Kind::Switched:
      break;
  }
  if (event.host == master_host && event.port == master_port) return;  // already there
  log.log(LogLevel::Info, "redis_master_switched",
          {{"master", opt.master_name}, {"host", event.host}, {"port", unsigned(event.port)}});
  master_host = std::move(event.host);
  master_port = event.port;
  use_announced = true;
  if (cmd.phase() != Phase::Closed) lose_command(now);
  cmd.reset_backoff();
  cmd.set_retry_at(now);
}

// ---- the loop ----

void RedisLink::State::check_deadlines(Clock::time_point now) {
  for (RedisConnection* c : {&cmd, &sub}) {
    if ((c->phase() != Phase::Connecting && c->phase() != Phase::Handshaking) || now < c->connect_deadline()) continue;
    const bool handshaking = c->phase() == Phase::Handshaking;
    lose(*c, now);
    // A server that never answers the ClientHello (one speaking plain text waits for a
    // newline that never comes) is as much a refusal as a bad certificate.
    if (handshaking)
      log.log(LogLevel::Error, "redis_tls_refused",
              {{"host", master_host}, {"port", unsigned(master_port)}, {"connection", c == &cmd ? "commands" : "subscriber"},
               {"reason", "no TLS handshake within the deadline (is this port TLS?)"},
               {"retry_ms", int64_t(std::chrono::duration_cast<milliseconds>(c->retry_at() - now).count())}});
  }
  // Redis did not answer in time: what it did with the calls in flight is unknown, and
  // the replies still to come would answer the wrong calls if we kept waiting selectively.
  std::optional<Clock::time_point> due = pipeline.next_deadline();
  if (due && now >= *due) lose_command(now);
  on_watch(watch.check_deadline(now), now);
}

int RedisLink::State::poll_timeout(Clock::time_point now, bool draining, Clock::time_point drain_deadline) const {
  Clock::time_point soonest = now + milliseconds(wake_fd >= 0 ? 1000 : 10);
  auto consider = [&](Clock::time_point t) { soonest = std::min(soonest, t); };
  for (const RedisConnection* c : {&cmd, &sub})
    if (c->phase() == Phase::Connecting || c->phase() == Phase::Handshaking) consider(c->connect_deadline());
  // A closed subscriber waits for the command connection (see run()), not for its time.
  if (!draining && cmd.phase() == Phase::Closed) consider(cmd.retry_at());
  if (!draining && sub.phase() == Phase::Closed && cmd.open()) consider(sub.retry_at());
  if (std::optional<Clock::time_point> due = pipeline.next_deadline()) consider(*due);
  if (leasing() && !draining && is_up() && !pipeline.lease_in_flight()) consider(next_lease);
  if (draining) consider(drain_deadline);
  if (watch.enabled() && watch.conn().phase() == Phase::Connecting) consider(watch.conn().connect_deadline());
  if (watch.enabled() && !draining && watch.conn().phase() == Phase::Closed) consider(watch.conn().retry_at());
  if (soonest <= now) return 0;
  // Rounded up: waking a hair early would only spin.
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(soonest - now).count();
  return static_cast<int>((us + 999) / 1000);
}

void RedisLink::State::service(RedisConnection& c, short revents, Clock::time_point now) {
  if (c.fd() < 0 || revents == 0) return;
  if (c.phase() == Phase::Connecting) return finish_connect(c, now);
  if (c.phase() == Phase::Handshaking) return drive_handshake(c, now);
  if (!c.open()) return;
  bool ok = true;
  if (revents & (POLLIN | POLLHUP | POLLERR)) ok = &c == &cmd ? read_commands(now) : subscriber.read();
  if (ok && c.open() && (revents & POLLOUT)) ok = c.write_out();
  if (ok || !c.open()) return;
  lose(c, now);
}

void RedisLink::State::run() {
  Clock::time_point now = Clock::now();
  for (RedisConnection* c : {&cmd, &sub}) {
    c->set_retry_at(now);
    c->reset_backoff();
  }
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
      if (leasing() && is_up() && cmd.open()) pipeline.withdraw_lease(drain_deadline);
    }
    if (draining && (!cmd.open() || (pipeline.empty() && !cmd.unsent()) || now >= drain_deadline)) break;
    if (!draining) {
      if (cmd.phase() == Phase::Closed && now >= cmd.retry_at()) begin_connect(cmd, now);
      if (sub.phase() == Phase::Closed && cmd.open() && now >= sub.retry_at()) begin_connect(sub, now);
      if (watch.enabled() && watch.conn().phase() == Phase::Closed && now >= watch.conn().retry_at())
        on_watch(watch.dial(now), now);
    }
    check_deadlines(now);
    if (!draining && leasing() && is_up() && !pipeline.lease_in_flight() && now >= next_lease &&
        pipeline.send_lease(now, now + call_timeout()))
      next_lease = now + milliseconds(opt.renew_ms);
    if (cmd.open() && is_up()) pipeline.flush_wait(now + call_timeout());
    for (RedisConnection* c : {&cmd, &sub})
      if (c->open() && c->unsent() && !c->write_out()) lose(*c, now);
    outbox.flush();

    pollfd pfds[4];
    nfds_t n = 0;
    int cmd_at = -1, sub_at = -1, watch_at = -1;
    if (wake_fd >= 0) pfds[n++] = pollfd{wake_fd, POLLIN, 0};
    for (RedisConnection* c : {&cmd, &sub}) {
      if (c->fd() < 0) continue;
      short ev = c->phase() == Phase::Connecting    ? POLLOUT
                 : c->phase() == Phase::Handshaking ? (c->handshake_wants_write() ? POLLOUT : POLLIN)
                                                    : short(POLLIN | (c->unsent() ? POLLOUT : 0));
      (c == &cmd ? cmd_at : sub_at) = static_cast<int>(n);
      pfds[n++] = pollfd{c->fd(), ev, 0};
    }
    if (watch.conn().fd() >= 0) {
      watch_at = static_cast<int>(n);
      const bool connecting = watch.conn().phase() == Phase::Connecting;
      pfds[n++] = pollfd{watch.conn().fd(), short(connecting ? POLLOUT : (POLLIN | (watch.conn().unsent() ? POLLOUT : 0))), 0};
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
      if (sub_at >= 0 && sub.fd() == pfds[sub_at].fd) service(sub, pfds[sub_at].revents, now);
      if (watch_at >= 0 && watch.conn().fd() == pfds[watch_at].fd)
        on_watch(watch.service(pfds[watch_at].revents, now), now);
    }
    if (!draining) take_requests();
  }
  // Out of time (or connection) for the rest: fail it, close, and refuse from now on.
  lose_command(Clock::now());
  watch.close(Clock::now());
  outbox.flush();
}

// ---- the public side (any thread) ----

RedisLink::RedisLink(RedisOptions options, unsigned workers)
    : state_(std::make_unique<State>(std::move(options), workers, stats_)) {}

RedisLink::~RedisLink() { stop(); }

void RedisLink::attach(unsigned worker, int notify_fd) {
  state_->outbox.attach(worker, notify_fd);
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
        RedisPipeline::Entry e;
        e.worker = worker;
        e.cookie = c.cookie;
        e.script = c.script;
        e.keys = c.keys;
        e.argv = std::move(c.argv);
        e.submitted = now;
        e.deadline = now + s.call_timeout();
        s.inbound.push_back(std::move(e));
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
  // A non-empty inbound has had its wake-up already: the thread takes it all at once.
  if (accepted > 0 && was_empty) s.wake();
  s.outbox.deliver(worker, refused);
}

void RedisLink::subscribe(unsigned worker, std::string channel) { state_->request(worker, true, std::move(channel)); }
void RedisLink::unsubscribe(unsigned worker, std::string channel) {
  state_->request(worker, false, std::move(channel));
}

void RedisLink::take(unsigned worker, std::vector<RedisEvent>* out) { state_->outbox.take(worker, out); }

}  // namespace roomcast
