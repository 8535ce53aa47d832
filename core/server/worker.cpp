// core/server/worker.cpp: the loop, completions, bytes in, and the hand-off between threads.
#include "core/server/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>

#include "core/auth/tokens.h"
#include "core/base/heap.h"
#include "core/base/ws_frames.h"
#include "core/durable/disk_metrics.h"
#include "core/server/completion_tag.h"

namespace roomcast {

Worker::Worker(const Config& config, unsigned index, int listen_fd, ConnectionLimits* limits, ApiRateLimit* api_rate,
               const StaticFiles* files, RedisLink* redis, std::string instance_id, HookWiring hooks)
    : config_(config), index_(index), listen_fd_(listen_fd), limits_(limits), api_rate_(api_rate), files_(files),
      log_(config.log_format, config.log_level, int(index)), hooks_(hooks), redis_(redis),
      instance_id_(std::move(instance_id)) {
  // Made here, not in init(): another thread may hand a connection over before this
  // thread has finished setting up its loop.
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (redis_) redis_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (hooks_.client) hook_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (hooks_.acks) webhook_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Worker::~Worker() {
  // Components go before the loop they use (reverse of init()).
  http_.reset();
  housekeeping_.reset();
  output_.reset();
  table_.reset();
  cluster_.reset();
  durable_.reset();
  rooms_.reset();
  loop_.reset();
  // At exit every descriptor is released whatever close() reports.
  for (Handoff& h : inbox_) close(h.fd);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (redis_fd_ >= 0) close(redis_fd_);
  if (hook_fd_ >= 0) close(hook_fd_);
  if (webhook_fd_ >= 0) close(webhook_fd_);
  if (listen_fd_ >= 0) close(listen_fd_);
}

int Worker::init(std::string* description) {
  int error = 0;
  loop_ = EventLoop::create(config_.backend, config_.recv_buffers, description, &error);
  if (!loop_) return error ? error : -ENOSYS;
  if (wake_fd_ < 0) return -EMFILE;
  now_ns_ = monotonic_ns();
  rooms_.emplace(config_, index_, metrics_, limits_, &log_);
  if (hooks_.client && hook_fd_ < 0) return -EMFILE;
  // With the disk store, webhook events are kept by it (core/server/store_webhooks.h).
  WebhookOutbox* outbox = hooks_.outbox;
  if (hooks_.acks && hooks_.delivery && disk_client_) {
    if (webhook_fd_ < 0) return -EMFILE;
    store_webhooks_.emplace(*hooks_.delivery);
    outbox = &*store_webhooks_;
  } else if (hooks_.acks && hooks_.delivery && redis_) {
    if (webhook_fd_ < 0) return -EMFILE;
    redis_webhooks_.emplace(*hooks_.delivery);
    outbox = &*redis_webhooks_;
  }
  if (!config_.edit_hook_url.empty() || outbox) {
    backend_.emplace(config_, hooks_.client, index_, outbox, &log_);
    backend_->attach(*rooms_);
    rooms_->attach_backend(*backend_);
  }
  table_.emplace(config_, *loop_, *limits_, *rooms_, static_cast<ConnectionEvents*>(this),
                 static_cast<FanoutObserver*>(this), metrics_, log_);
  output_.emplace(config_, *loop_, *table_, *rooms_, metrics_, log_);
  housekeeping_.emplace(config_, *table_, metrics_, log_);
  http_.emplace(config_, *limits_, *api_rate_, *files_, log_);
  if (redis_) {
    if (redis_fd_ < 0) return -EMFILE;
    cluster_.emplace(*rooms_, *static_cast<ClusterPort*>(this), instance_id_, config_, metrics_, &log_);
    if (redis_webhooks_) {
      redis_webhooks_->attach(*cluster_);
      const unsigned index = index_, workers = config_.threads;
      cluster_->deliver_webhooks(*redis_webhooks_,
                                 [index, workers](std::string_view room) { return index_of(room, workers) == index; });
    }
  }
  if (disk_client_) {
    if (disk_client_->event_fd() < 0) return -EMFILE;
    durable_.emplace(*rooms_, std::move(disk_client_), *static_cast<DurablePort*>(this), metrics_, &log_);
    if (store_webhooks_) {
      store_webhooks_->attach(*durable_);
      durable_->deliver_events_to(&*store_webhooks_);  // the loaded rooms' events go out at once
    }
    durable_->restore(std::move(disk_rooms_), now_ns_);
    disk_rooms_.clear();
  }
  return 0;
}

void Worker::keep_on_disk(const disk::DiskStore* store, std::unique_ptr<disk::DiskStore::Client> client,
                          std::vector<disk::LoadedRoom> rooms) {
  disk_ = store;
  disk_client_ = std::move(client);
  disk_rooms_ = std::move(rooms);
}

size_t Worker::index_of(std::string_view room, size_t workers) { return std::hash<std::string_view>{}(room) % workers; }

Worker* Worker::owner_of(std::string_view room) const { return peers_[index_of(room, peers_.size())]; }

// ---------------------------------------------------------------------------------------
// The loop.

void Worker::run() {
  arm_accept();
  arm_wake();
  arm_timer();
  if (redis_) arm_redis();
  if (hook_fd_ >= 0) arm_hook();
  if (durable_) arm_disk();
  if (store_webhooks_ || redis_webhooks_) arm_webhook();
  for (;;) {
    output_->step(now_ns_, stopping_, load_.saturated());
    if (stopping_ && (table_->drained() || now_ns_ >= stop_deadline_ns_)) break;
    now_fresh_ = false;
    // Any input may produce output that leaves at once (core/server/output.h): wake for the
    // first completion, or when the next socket's window passes.
    int rc = loop_->run_once(*this, output_->next_deadline());
    if (rc < 0) {
      log_.log(LogLevel::Error, "loop_failed", {{"backend", loop_->name()}, {"error", std::strerror(-rc)}});
      break;
    }
    if (!now_fresh_) now_ns_ = monotonic_ns();
    load_.tick(now_ns_);
    if (!starved_.empty()) rearm_starved();
    // Held sessions end within ~100 ms of their grace (docs/protocol.md 3.1), not at the 1 s tick.
    // With Redis the same timer drives gap filling, orphan reaping and presence records.
    if (!grace_armed_ && (rooms_->holding() || redis_)) {
      loop_->timeout_at(now_ns_ + 100'000'000, completion_tag(Op::Grace));
      grace_armed_ = true;
    }
    if (trim_pending_) {
      trim_pending_ = false;
      output_->release_idle_memory();
      table_->release_idle_memory();
      release_free_heap_memory();
      loop_->release_idle_memory();
    }
    table_->sweep();
  }
}

void Worker::on_completion(const Completion& done) {
  if (!now_fresh_) {  // one clock read per batch of completions
    now_ns_ = monotonic_ns();
    now_fresh_ = true;
  }
  const uint64_t tag = done.user_data;
  switch (op_of(tag)) {
    case Op::Accept:
      on_accept(done);
      return;
    case Op::Wake:
      on_wake();
      return;
    case Op::Timer:
      on_tick();
      return;
    case Op::Grace:
      grace_armed_ = false;
      rooms_->expire_held(now_ns_);
      if (cluster_) cluster_->tick(now_ns_);
      return;
    case Op::Redis:
      on_redis();
      return;
    case Op::Hook:
      on_hook();
      return;
    case Op::Disk:
      on_disk();
      return;
    case Op::Webhook:
      on_webhook();
      return;
    case Op::Recv: {
      Connection* c = table_->lookup(slot_of(tag), generation_of(tag));
      if (!c) {
        // A completion for a connection already gone still owns a buffer.
        if (done.buffer != kNoBuffer) loop_->release_buffer(done.buffer);
        return;
      }
      on_recv(*c, done);
      return;
    }
    case Op::Send: {
      Connection* c = table_->lookup(slot_of(tag), generation_of(tag));
      if (c) output_->on_sent(*c, done.result, now_ns_);
      return;
    }
  }
}

void Worker::fanout_done(int64_t born_ns) { metrics_.observe_fanout(now_ns_ - born_ns); }

// ---------------------------------------------------------------------------------------
// Accept and receive.

void Worker::arm_accept() {
  if (listen_fd_ < 0 || accept_armed_) return;
  loop_->accept(listen_fd_, completion_tag(Op::Accept));
  accept_armed_ = true;
}

void Worker::on_accept(const Completion& done) {
  if (!done.more) accept_armed_ = false;
  if (done.result < 0) {
    on_accept_error(-done.result);
    return;
  }
  int fd = done.result;
  if (stopping_) {
    close(fd);  // refused during shutdown; nothing to report
    return;
  }
  int one = 1;
  // Best effort: without TCP_NODELAY small frames may wait for Nagle, nothing breaks.
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  Connection& c = table_->open(fd, now_ns_);
  metrics_.connections_accepted.add();
  c.peer = PeerAddress::of_socket(fd);
  // Connection limits are checked once the request is known to be an upgrade
  // (HttpFront); until then the socket lives on this thread's handshake budget. A proxy
  // counts there in the total only, until it names its client (core/http/proxy_front.h).
  const PeerRole role = http_->role_of(c.peer);
  if (role == PeerRole::Refused) {
    table_->end(c, Ending::drop("not a trusted proxy (--proxy-protocol)"), now_ns_);
  } else {
    table_->admit_handshake(c, now_ns_, role == PeerRole::Client);
    c.deadline = ClockMs::of(now_ns_ + int64_t(config_.handshake_timeout_s) * 1'000'000'000);
    arm_recv(c);
  }
  if (!accept_armed_) arm_accept();
}

void Worker::on_accept_error(int error) {
  // The next tick re-arms (a full fd table cannot spin the loop while connected clients
  // keep being served).
  if (error == ECANCELED || error == EAGAIN || error == EINTR) return;
  if (error == EMFILE || error == ENFILE) {
    metrics_.accept_errors[size_t(AcceptError::OutOfDescriptors)].add();
    // Clients waiting in the listen queue would otherwise hear nothing at all.
    static const std::string answer = http_response(503, "server out of file descriptors\n", "Retry-After: 5\r\n");
    size_t shed = reserve_.shed(listen_fd_, answer, 64);
    metrics_.connections_shed.add(shed);
    metrics_.refusals[size_t(Refusal::OverCapacity)].add(shed);
    log_.log(LogLevel::Warn, "accept_failed", {{"error", std::strerror(error)}, {"answered_503", shed}, {"retry", "1s"}});
    return;
  }
  metrics_.accept_errors[size_t(error == ENOBUFS || error == ENOMEM ? AcceptError::OutOfMemory : AcceptError::Other)]
      .add();
  log_.log(LogLevel::Warn, "accept_failed", {{"error", std::strerror(error)}, {"retry", "1s"}});
}

void Worker::arm_recv(Connection& c) {
  // One shot during the handshake: once a request head is complete nothing is in
  // flight, so the socket can move to another thread at once.
  loop_->recv(c.fd, completion_tag(Op::Recv, c.slot, c.generation), c.state != ConnState::Handshake);
  c.recv_armed = true;
}

void Worker::on_recv(Connection& c, const Completion& done) {
  if (!done.more) c.recv_armed = false;
  const uint32_t slot = c.slot, generation = c.generation;
  const int res = done.result;
  if (res > 0) {
    metrics_.bytes_in.add(uint64_t(res));
    on_bytes(c, done.data, size_t(res));
  } else if (res == -ENOBUFS) {
    // Every receive buffer of this thread is in use (a burst: thousands of sockets had
    // data in one batch). Re-arming now would fail the same way for all but a few, so
    // the connection waits in starved_ and rearm_starved() re-arms as many as there
    // are buffers once this batch has given them back.
    starved_.push_back({slot, generation});
    metrics_.receive_buffers_exhausted.add();
  } else if (res != -ECANCELED || c.state != ConnState::Dead) {
    // EOF or a socket error: the client is gone (without a close handshake if Open).
    table_->end(c, Ending::drop(res == 0 ? "peer closed" : std::strerror(-res)), now_ns_);
  }
  if (done.buffer != kNoBuffer) loop_->release_buffer(done.buffer);  // wslay and the head copied what they keep
  Connection* still = table_->lookup(slot, generation);
  // An upgrade waiting for the auth hook reads nothing more: its socket may yet move to
  // the room's thread, with no receive in flight (on_hook arms it once decided).
  const bool hook_wait = still && still->http && still->http->awaiting_auth;
  if (still && still->state != ConnState::Dead && !still->recv_armed && res != -ENOBUFS && !hook_wait) arm_recv(*still);
  if (still && still->state == ConnState::Dead) table_->retire(*still);
}

void Worker::rearm_starved() {
  size_t budget = std::min(starved_.size(), loop_->spare_receive_buffers());
  size_t taken = 0;
  while (taken < starved_.size() && budget > 0) {
    const SlotRef ref = starved_[taken++];
    Connection* c = table_->lookup(ref.slot, ref.generation);
    if (!c || c->state == ConnState::Dead || c->recv_armed) continue;
    arm_recv(*c);
    --budget;
  }
  starved_.erase(starved_.begin(), starved_.begin() + ptrdiff_t(taken));
}

void Worker::on_bytes(Connection& c, const uint8_t* data, size_t len) {
  c.last_rx = ClockMs::of(now_ns_);
  switch (c.state) {
    case ConnState::Handshake: {
      if (!c.http) c.http = std::make_unique<HttpExchange>();
      HttpDecision decision = http_->on_bytes(*c.http, c.peer, data, len);
      if (decision.client) table_->client_known(c, *decision.client, now_ns_);
      apply(c, std::move(decision));
      break;
    }
    case ConnState::Open:
      feed(c, data, len);
      break;
    case ConnState::Closing:
    case ConnState::Dead:
      break;  // draining until the peer's FIN
  }
}

// ---------------------------------------------------------------------------------------
// Before the upgrade: the HTTP front's decisions, carried out.

void Worker::apply(Connection& c, HttpDecision&& decision) {
  switch (decision.kind) {
    case HttpDecision::Kind::NeedMore:
      return;
    case HttpDecision::Kind::Respond:
      if (decision.body.remaining() > 0) {
        if (!c.http) c.http = std::make_unique<HttpExchange>();
        c.http->body = std::move(decision.body);
      }
      table_->end(c, Ending::respond(decision.status, decision.response), now_ns_);
      return;
    case HttpDecision::Kind::Drop:
      table_->end(c, Ending::drop(decision.response), now_ns_);
      return;
    case HttpDecision::Kind::Metrics: {
      std::vector<const Metrics*> all;
      for (const Worker* w : peers_) all.push_back(&w->metrics());
      std::string text = render_metrics(all);
      if (redis_) redis_->render_metrics(&text);
      if (hooks_.client) hooks_.client->render_metrics(&text);
      if (hooks_.delivery) hooks_.delivery->render_metrics(&text);
      if (disk_) render_disk_metrics(disk_->stats(), &text);
      table_->end(c, Ending::respond(200, http_response_typed(200, "text/plain; version=0.0.4", text)), now_ns_);
      return;
    }
    case HttpDecision::Kind::Route:
      hand_to_owner(c, std::move(decision));
      return;
    case HttpDecision::Kind::AuthHook: {
      // The connection waits in Handshake (its deadline still runs) for on_hook.
      HookRequest request;
      request.cookie = (uint64_t(c.generation) << 32) | c.slot;
      request.kind = HookKind::Auth;
      request.url = config_.auth_hook_url;
      request.webhook_id = "auth:" + random_base64url(12);
      request.body = std::move(decision.hook_body);
      if (!hooks_.client || !hooks_.client->submit(index_, std::move(request)))
        apply(c, http_->auth_answered(*c.http, c.peer, 0, {}, int64_t(std::time(nullptr))));  // 503
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Frames in, messages through.

void Worker::open_websocket(Connection& c, HttpDecision&& upgrade) {
  c.state = ConnState::Open;
  // A member holds a place from its upgrade when its token came with it; an in-band one
  // (docs/protocol.md 3.4) takes it when its join's token verifies (ConnectionTable::admit_member)
  // and stays on the handshake budget, bounded per address and in all, until then.
  if (c.admitted) table_->upgraded(c);
  c.http.reset();  // the request head is not kept on an idle connection
  c.member.set_room(std::move(upgrade.room));
  c.member.identity = std::move(upgrade.identity);
  c.member.awaiting_token = upgrade.awaiting_token;
  c.member.awaiting_place = upgrade.awaiting_place;
  // In band, the join (with its token) is due within the handshake timeout as well.
  c.deadline = ClockMs::of(now_ns_ + int64_t(config_.handshake_timeout_s) * 1'000'000'000);
  c.member.rate = RateLimiter(config_.rate_limit, config_.rate_burst, now_ns_);
  c.last_rx = c.last_ping = ClockMs::of(now_ns_);
  c.member.out.push_reply(SharedFrame::raw(upgrade_response(upgrade.accept_key)));
  if (!c.ws.init(config_.max_message)) {
    table_->end(c, Ending::drop("out of memory"), now_ns_);
    return;
  }
  log_.log(LogLevel::Info, "ws_open", {{"peer", c.peer.to_string()}, {"room", c.member.room()}});
  if (!upgrade.leftover.empty())
    feed(c, reinterpret_cast<const uint8_t*>(upgrade.leftover.data()), upgrade.leftover.size());
}

void Worker::feed(Connection& c, const uint8_t* data, size_t len) {
  switch (c.feed(data, len, *this)) {
    case WsReader::FeedResult::ProtocolError:
      table_->end(c, Ending::close(kCloseProtocolError, "protocol error"), now_ns_);
      return;
    case WsReader::FeedResult::InvalidPayload:
      table_->end(c, Ending::close(kCloseInvalidPayload, "invalid UTF-8 in close reason"), now_ns_);
      return;
    case WsReader::FeedResult::Ok:
      break;
  }
  c.flush_control();  // pongs and close echoes wslay queued, into the member's queue
  if (c.ws.close_sent()) {
    table_->end(c, Ending::close_queued(), now_ns_);
    return;
  }
  // Between frames the ~8.5 KiB wslay context goes back at once, not after a quiet second:
  // 10,000 busy connections otherwise hold ~90 MB of parser buffers they use for
  // microseconds per message (docs/profiling.md: overload RSS 176 -> 64 MB, S1 CPU same).
  if (c.state == ConnState::Open) c.ws.park();
}

// One complete text message: the room service decodes it once and decides.
void Worker::on_message(Connection& c, std::string_view text) {
  if (c.state != ConnState::Open) return;  // nothing after a close is processed
  const Verdict verdict = rooms_->receive(c.member, text, now_ns_);
  if (!verdict.closes()) return;
  if (verdict.close_code == kCloseNormal) {
    // `leave`: through wslay, so its reader stops: nothing after it is processed, even in
    // the same segment. feed() then sees the close and ends the connection.
    c.ws.queue_close(kCloseNormal, "");
    return;
  }
  table_->end(c, Ending::close(verdict.close_code, verdict.reason), now_ns_);
}

void Worker::close_connection(Connection& c, uint16_t code, std::string_view reason) {
  table_->end(c, Ending::close(code, reason), now_ns_);
}

// ---------------------------------------------------------------------------------------
// Timers and stop (the hand-off between threads is in worker_handoff.cpp).

void Worker::arm_timer() { loop_->timeout_at(now_ns_ + 1'000'000'000, completion_tag(Op::Timer)); }

void Worker::on_tick() {
  TickReport report = housekeeping_->tick(now_ns_, int64_t(std::time(nullptr)));
  // Before reap: a room whose events were all acknowledged may go now.
  if (store_webhooks_) durable_->retry_events();
  rooms_->reap(now_ns_);
  // Freed framing state sits in the heap between live objects; hand the whole free pages
  // back so many idle connections really cost little memory (only after many parked at
  // once, and after this batch: its buffers are still in use).
  if (report.parked >= 256) trim_pending_ = true;
  arm_timer();
  if (!stopping_) arm_accept();
}

void Worker::begin_stop() {
  stopping_ = true;
  stop_deadline_ns_ = now_ns_ + int64_t(config_.drain_timeout_s) * 1'000'000'000;
  if (accept_armed_) loop_->cancel(listen_fd_, completion_tag(Op::Accept));
  table_->for_each([&](Connection& c) {
    if (c.state == ConnState::Open) {
      c.note_close_reason("server shutting down", /*replace=*/true);
      c.ws.queue_close(kCloseGoingAway, "server shutting down");
      c.flush_control();
      if (c.ws.close_sent()) table_->end(c, Ending::close_queued(), now_ns_);
      c.deadline = ClockMs::of(stop_deadline_ns_);  // queued output may take the whole drain
    } else if (c.state == ConnState::Handshake) {
      table_->end(c, Ending::drop("server shutting down"), now_ns_);
    }
  });
}

}  // namespace roomcast
