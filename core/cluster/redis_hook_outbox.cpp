// core/cluster/redis_hook_outbox.cpp: claiming, reading, pushing and trimming a room's
// webhook outbox in Redis (see core/cluster/redis_hook_outbox.h).
#include "core/cluster/redis_hook_outbox.h"

#include <algorithm>

#include "core/cluster/cluster_wire.h"

namespace roomcast {

RedisHookOutbox::RedisHookOutbox(std::string instance_id, int64_t max_age_ms, int64_t room_ttl_ms, HookSink& sink,
                                 std::function<bool(std::string_view)> mine, const Logger* log)
    : instance_id_(std::move(instance_id)),
      // An event outlives the room by up to --webhook-max-age: the outbox expires only
      // once its newest event is past that (and never before the room's own keys).
      ttl_ms_(std::max(max_age_ms, room_ttl_ms) + 60'000),
      sink_(sink),
      mine_(std::move(mine)),
      log_(log) {}

RedisHookOutbox::Delivering& RedisHookOutbox::start(const std::string& room) {
  if (rooms_.count(room)) sink_.forget(room);  // stale: read again from the oldest
  Delivering& d = rooms_[room];
  d = Delivering{};
  d.empty_since_ns = now_ns_;
  if (log_) log_->log(LogLevel::Info, "webhook_outbox_delivering", {{"room", room}});
  load(room, d);
  return d;
}

void RedisHookOutbox::forget(const std::string& room) {
  if (!rooms_.erase(room)) return;
  sink_.forget(room);
  if (log_) log_->log(LogLevel::Info, "webhook_outbox_released", {{"room", room}});
}

void RedisHookOutbox::load(const std::string& room, Delivering& d) {
  if (d.loading) {
    d.again = true;
    return;
  }
  d.loading = true;
  d.again = false;
  d.complete = false;
  calls_.push_back(Call{Step::Load, room, -1, 0,
                        {"XRANGE", wire::hooks_key(room), "0-" + std::to_string(d.pushed + 1), "+", "COUNT",
                         std::to_string(kPage)}});
}

bool RedisHookOutbox::push(const std::string& room, Delivering& d, uint64_t n, std::string_view id,
                           std::string_view body, int64_t created_ms) {
  if (!sink_.push(room, n, HookEvent{std::string(id), std::string(body), created_ms})) return false;
  d.pushed = n;
  d.unacked.emplace_back(n, std::string(id));
  d.empty_since_ns = 0;
  return true;
}

void RedisHookOutbox::kept(std::string_view room_view, uint64_t n, int own, const HookEvent* event) {
  const std::string room(room_view);
  // Never: a room's scripts run on its own thread. Were it not so, this thread would not
  // hear of its acknowledgements; the lease lapses and the room's own thread claims it.
  if (!mine_(room)) return;
  auto it = rooms_.find(room);
  if (own == 0) {
    if (it != rooms_.end()) forget(room);  // another instance holds the lease now
    return;
  }
  if (own == 1 || it == rooms_.end()) {
    start(room);  // just became the deliverer: the outbox may hold older events
    return;
  }
  Delivering& d = it->second;
  if (n <= d.pushed) return;  // a read already brought it
  // The next event of the outbox, and nothing before it is unread: straight to the delivery.
  if (event && d.complete && !d.loading && n == d.pushed + 1 &&
      push(room, d, n, event->id, event->body, event->created_ms))
    return;
  load(room, d);
}

void RedisHookOutbox::loaded(const std::string& room, bool ok, const RedisValue& value) {
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return;
  Delivering& d = it->second;
  d.loading = false;
  if (!ok || value.kind != RedisValue::Kind::Array) {
    d.again = false;  // the next round reads again
    return;
  }
  bool refused = false;
  for (const RedisValue& entry : value.elements) {
    wire::HookEntry e;
    if (!wire::read_hook_entry(entry, &e)) continue;
    if (e.n <= d.pushed) continue;
    if (!push(room, d, e.n, e.id, e.body, e.created_ms)) {
      refused = true;  // the delivery is full: read again once it made room
      break;
    }
  }
  d.complete = !refused && value.elements.size() < kPage;
  if (d.again || (!refused && !d.complete)) load(room, d);
}

void RedisHookOutbox::on_reply(Step step, const std::string& room, bool ok, const RedisValue& value) {
  switch (step) {
    case Step::Load:
      loaded(room, ok, value);
      return;
    case Step::Scan: {
      scanning_ = false;
      if (!ok || value.kind != RedisValue::Kind::Array) return;
      size_t claims = 0;
      for (const RedisValue& member : value.elements) {
        if (claims == kClaimsPerScan) break;
        const std::string& r = member.str;
        if (r.empty() || rooms_.count(r) || claiming_.count(r) || !mine_(r)) continue;
        claiming_.insert(r);
        ++claims;
        calls_.push_back(Call{Step::Claim, r, wire::kHookClaim, 3,
                              {wire::hooks_key(r), wire::hook_lease_key(r), wire::kHookRoomsKey, r, instance_id_,
                               lease_ms()}});
      }
      return;
    }
    case Step::Claim: {
      claiming_.erase(room);
      const uint64_t own = ok ? wire::value_u64(value) : 0;
      if (own == 1 || (own == 2 && !rooms_.count(room))) start(room);
      return;
    }
    case Step::Renew: {
      auto it = rooms_.find(room);
      if (it == rooms_.end()) return;
      Delivering& d = it->second;
      d.renewing = false;
      if (!ok || value.kind != RedisValue::Kind::Array || value.elements.size() != 2) return;  // again next round
      if (wire::value_u64(value.elements[0]) == 0) {
        forget(room);  // lapsed (another instance delivers it now) or let go while empty
        return;
      }
      // Another instance's events (or ones the full delivery refused) wait beyond what
      // was pushed: read them.
      if (wire::value_u64(value.elements[1]) > d.pushed) load(room, d);
      return;
    }
  }
}

void RedisHookOutbox::tick(int64_t now_ns) {
  now_ns_ = now_ns;
  if (now_ns < next_round_ns_) return;
  next_round_ns_ = now_ns + kRoundNs;
  for (auto& [room, d] : rooms_) {
    if (d.renewing) continue;
    d.renewing = true;
    const bool idle = d.unacked.empty() && d.complete && !d.loading && d.empty_since_ns &&
                      now_ns - d.empty_since_ns >= kIdleNs;
    calls_.push_back(Call{Step::Renew, room, wire::kHookRenew, 3,
                          {wire::hooks_key(room), wire::hook_lease_key(room), wire::kHookRoomsKey, room, instance_id_,
                           lease_ms(), idle ? "1" : "0"}});
  }
  if (!scanning_) {
    scanning_ = true;
    calls_.push_back(Call{Step::Scan, {}, -1, 0, {"SMEMBERS", wire::kHookRoomsKey}});
  }
}

void RedisHookOutbox::done(std::string_view room_view, uint64_t through) {
  const std::string room(room_view);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return;  // forgotten meanwhile: its next deliverer re-sends it
  Delivering& d = it->second;
  std::string id;
  while (!d.unacked.empty() && d.unacked.front().first <= through) {
    if (d.unacked.front().first == through) id = std::move(d.unacked.front().second);
    d.unacked.pop_front();
  }
  if (!id.empty())
    calls_.push_back(Call{Step::Load, room, wire::kHookAck, 1, {wire::hooks_key(room), std::to_string(through), id},
                          false});
  if (d.unacked.empty()) d.empty_since_ns = now_ns_ ? now_ns_ : 1;
  if (!d.complete && !d.loading) load(room, d);  // the delivery made room
}

}  // namespace roomcast
