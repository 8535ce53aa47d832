// core/cluster/cluster_store_time.cpp: the scale-out clock: lease rounds (which instances died and
// since when), and the ~100 ms tick that reaps their sessions after the grace, fills
// gaps, rewrites presence records, polls each room's seq and flushes the outboxes.
#include <algorithm>

#include "core/auth/tokens.h"
#include "core/base/ws_frames.h"
#include "core/cluster/cluster_store.h"
#include "core/cluster/cluster_wire.h"
#include "core/room/room_service.h"

namespace roomcast {

using namespace link_timing;
using wire::entry_seq;
using wire::to_u64;
using wire::value_u64;

void ClusterStore::on_instances(const RedisEvent& event) {
  redis_base_ms_ = event.redis_now_ms;
  redis_base_ns_ = now_ns_;
  std::vector<std::string> alive;
  for (const InstanceLease& lease : event.alive) alive.push_back(lease.id);
  std::sort(alive.begin(), alive.end());
  gone_.clear();
  for (const InstanceLease& lease : event.dead) gone_.push_back(lease.id);
  std::vector<std::string> absent;
  const int64_t grace_ms = int64_t(config_.resume_grace_s) * 1000;
  for (auto& [name, room] : domain_.rooms()) {
    for (auto& [id, peer] : link_of(*room).remote) {
      if (peer.orphaned || std::binary_search(alive.begin(), alive.end(), peer.instance)) continue;
      int64_t died_ms = -1;
      for (const InstanceLease& lease : event.dead)
        if (lease.id == peer.instance) died_ms = lease.last_renewal_ms + 1000;  // alive until its next renewal was due
      if (died_ms < 0) {
        // No lease at all: withdrawn by a graceful stop, or not yet renewed by a new
        // instance. Gone only if it was missing from the last round too.
        absent.push_back(peer.instance);
        if (!std::binary_search(absent_before_.begin(), absent_before_.end(), peer.instance)) continue;
        died_ms = event.redis_now_ms;
      }
      // Its instance stopped renewing its lease: the session is held for the grace,
      // counted from when the instance died (it stays resumable all that time).
      peer.orphaned = true;
      if (peer.held_until_ns == 0 || peer.session->connected) {
        peer.held_until_ns = now_ns_ + (died_ms + grace_ms - event.redis_now_ms) * kMs;
        peer.session->connected = false;
      }
    }
  }
  std::sort(absent.begin(), absent.end());
  absent.erase(std::unique(absent.begin(), absent.end()), absent.end());
  for (const std::string& id : absent) gone_.push_back(id);
  std::sort(gone_.begin(), gone_.end());
  absent_before_ = std::move(absent);
}


// ---- time ---------------------------------------------------------------------------

void ClusterStore::tick(int64_t now_ns) {
  now_ns_ = now_ns;
  if (hooks_) {
    hooks_->tick(now_ns);
    take_hook_calls();
  }
  const bool slow = now_ns >= next_slow_tick_ns_;
  if (slow) next_slow_tick_ns_ = now_ns + kPollEveryNs;
  const bool records = now_ns >= next_record_tick_ns_;
  if (records) next_record_tick_ns_ = now_ns + kRecordEveryNs;
  for (auto& [name, room_ptr] : domain_.rooms()) {
    Room& room = *room_ptr;
    if (link_of(room).sync == RoomLink::Sync::Subscribing &&
        now_ns - link_of(room).subscribing_since_ns > kSubscribeWaitNs)
      fail_sync(room);  // Redis never confirmed: its joins get 1013, not silence
    if (!link_of(room).ready()) continue;
    RoomLink& link = link_of(room);
    // Sessions of a dead instance whose grace is over: the end script announces each once.
    for (auto& [id, peer] : link.remote) {
      if (!peer.orphaned || peer.reaping || peer.held_until_ns > now_ns) continue;
      peer.reaping = true;
      encode_presence_leave(domain_.encoder(), id);
      PendingCall reap{CallKind::Reap, name, id};
      reap.session_reaped = true;
      // Its webhook `leave`, reported if the end script says this instance ended it (its
      // own instance cannot: it died). Built now: the session is gone by the reply.
      if (hooks_) domain_.leave_event(room, *peer.session, reap.event);
      call(std::move(reap), wire::kEnd, 1,
           {wire::who_key(name), id, peer.instance, link.channel, "-", std::string(domain_.encoded())});
    }
    for (auto it = link.remote.begin(); it != link.remote.end();) {
      const bool stale = it->second.unconfirmed_since_ns && now_ns - it->second.unconfirmed_since_ns >= kUnconfirmedNs;
      std::string id = it->first;
      ++it;
      if (stale) remove_remote(room, id);
    }
    if (link.behind_since_ns && !link.filling && now_ns - link.behind_since_ns >= kGapWaitNs &&
        link.known_seq > room.seq()) {
      link.filling = true;
      // No further than known_seq: with --redis-min-replicas that is a seq WAIT
      // confirmed, and every entry before it was written (and replicated) before it,
      // while entries after it may still be unconfirmed (the stream holds them at once).
      call(PendingCall{CallKind::Fill, name}, -1, 0,
           {"XRANGE", wire::log_key(name), std::to_string(room.seq() + 1) + "-0",
            std::to_string(link.known_seq) + "-1"});
    }
    if (records) {
      // One HSET per room for every session whose camera, selection or following moved:
      // the cost grows with rooms, not with members.
      // Written only where this instance still owns the session (wire::kRecord).
      RedisCall hset{0, wire::kRecord, 1, {wire::who_key(name), instance_id_}};
      for (Session* s : room.members()) {
        if (!s->presence_stale) continue;
        s->presence_stale = false;
        hset.argv.push_back(s->id);
        hset.argv.push_back(session_record(*s, 0));
      }
      if (hset.argv.size() > 2) calls_.push_back(std::move(hset));
    }
    if (link.reload_at_ns && now_ns >= link.reload_at_ns) {
      // The first load may have read records up to one record period old.
      link.reload_at_ns = 0;
      start_load(room);
    }
    if (!slow) continue;
    PendingCall poll{CallKind::Poll, name};
    poll.applied = room.seq();
    call(std::move(poll), wire::kPoll, 4,
         {wire::meta_key(name), wire::log_key(name), wire::who_key(name), wire::ids_key(name),
          std::to_string((uint64_t(config_.room_ttl_s) + 60) * 1000)});
    if (link.resync_wanted) {
      link.resync_wanted = false;
      start_load(room);
    }
  }
  domain_.end_window();
}

}  // namespace roomcast
