// core/cluster/cluster_store_load.cpp: loading a room from Redis (the sync script) the first
// time and after every reconnect, and reconciling the mirror with what Redis holds: a
// new epoch, a gap history no longer covers, sessions that came or went unseen.
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

void ClusterStore::start_load(Room& room) {
  const std::string& name = room.name();
  metrics_.room_loads.add();
  PendingCall p{CallKind::Sync, name};
  p.applied = room.seq();
  call(std::move(p), wire::kSync, 4,
       {wire::meta_key(name), wire::log_key(name), wire::who_key(name), wire::ids_key(name), random_base64url(12),
        std::to_string((uint64_t(config_.room_ttl_s) + 60) * 1000)});
}

void ClusterStore::on_subscribed(std::string_view channel) {
  auto it = domain_.rooms().find(std::string(wire::room_of_channel(channel)));
  if (it == domain_.rooms().end()) return;
  Room& room = *it->second;
  RoomLink& link = link_of(room);
  switch (link.sync) {
    case RoomLink::Sync::Idle:
      return;
    case RoomLink::Sync::Subscribing:
      link.sync = RoomLink::Sync::Loading;
      start_load(room);
      return;
    case RoomLink::Sync::Loading:
      link.resync_wanted = true;  // what the running load read may predate the gap
      return;
    case RoomLink::Sync::Ready:
      // The subscriber reconnected: anything published meanwhile was missed.
      start_load(room);
      return;
  }
}

void ClusterStore::fail_sync(Room& room) {
  RoomLink& link = link_of(room);
  if (link.ready()) {
    link.resync_wanted = true;  // keep serving from the mirror; load again on the next poll
    return;
  }
  link.sync = RoomLink::Sync::Idle;
  port_.unsubscribe(link.channel);
  std::vector<Member*> waiting = std::move(link.waiting);
  link.waiting.clear();
  if (link.http_waiting) {
    link.http_waiting = 0;
    port_.room_ready(room.name(), false);
  }
  for (Member* m : waiting) {
    m->wait->busy = false;
    m->wait->deferred.clear();
    m->wait->deferred_bytes = 0;
    // Nothing can be said about the room until the store is back.
    if (m->link) m->link->close_member(*m, kCloseTryAgainLater, "store unavailable");
  }
}

void ClusterStore::restart_room(Room& room, std::string_view epoch, uint64_t seq) {
  const bool had_members = !room.members().empty();
  room.restart(std::string(epoch), seq);
  RoomLink& link = link_of(room);
  // Edits stored in the history Redis lost are not in the new one: their senders are
  // told `unavailable` and resend (their ids are new to the new history).
  for (auto it = link.acks.begin(); it != link.acks.end();) {
    if (it->second.epoch == epoch) {
      ++it;
      continue;
    }
    Session* s = room.find(it->second.session);
    it = link.acks.erase(it);
    if (!s || !s->connected || !s->member) continue;
    domain_.send_error(*s->member, ErrorCode::Unavailable, "the edit store lost this edit; it was not applied");
    if (s->member->wait) {
      domain_.release(*s->member);
    }
  }
  link.ahead.clear();
  link.known_seq = seq;
  link.behind_since_ns = 0;
  if (had_members && link.ready()) {
    // The history the members hold is gone (Redis lost it): they must reload.
    encode_resync(domain_.encoder(), seq);
    domain_.fan_out(room, nullptr, OutType::Resync, domain_.encoded());
    metrics_.resyncs.add();
  }
}

void ClusterStore::apply_sync(Room& room, RedisValue& value, uint64_t applied) {
  RoomLink& link = link_of(room);
  const bool first = !link.ready();
  const uint64_t seq = value_u64(value.elements[0]);
  const std::string epoch = value.elements[1].str;
  auto& log = value.elements[2].elements;
  const uint64_t first_kept = log.empty() ? seq + 1 : entry_seq(log.front().elements.empty() ? "" : log.front().elements[0].str);
  if (first || epoch != room.epoch()) {
    restart_room(room, epoch, first_kept - 1);
  } else if (first_kept > room.seq() + 1 && seq > room.seq()) {
    // Missed more than history keeps: members reload (resync at the seq before the first
    // kept edit), then get the kept edits.
    restart_room(room, epoch, first_kept - 1);
  } else if (seq < applied) {
    // Redis lost edits this room applied (a failover promoted a replica that lacked
    // them: with --redis-min-replicas 0, or a replica that was not connected when WAIT
    // confirmed them). Its next edits would reuse their seqs, which this mirror would
    // skip as applied: members reload what Redis holds instead of diverging silently.
    if (log_)
      log_->log(LogLevel::Error, "redis_history_lost",
                {{"room", room.name()}, {"applied_seq", room.seq()}, {"redis_seq", seq}});
    restart_room(room, epoch, first_kept - 1);
  }
  for (RedisValue& entry : log) {
    wire::LogEntry e;
    if (wire::read_log_entry(entry, &e))
      apply_edit(room, e.seq, room.epoch(), e.origin, e.key, e.frame, e.instance == instance_id_);
  }
  link.known_seq = std::max(link.known_seq, seq);

  // Presence: the hash is the truth; the mirror follows it.
  auto& who = value.elements[3].elements;
  std::vector<std::string> listed;
  for (size_t i = 0; i + 1 < who.size(); i += 2) {
    const std::string& id = who[i].str;
    std::string_view rec = who[i + 1].str;
    size_t pos = 0;
    std::string_view inst, token, connected, until, state;
    if (!wire::next(rec, &pos, &inst) || !wire::next(rec, &pos, &token) || !wire::next(rec, &pos, &connected) ||
        !wire::next(rec, &pos, &until) || !wire::next(rec, &pos, &state))
      continue;
    listed.push_back(id);
    if (room.find(id)) {
      if (inst == instance_id_) continue;
      hand_to_remote(room, id, inst);  // resumed elsewhere while we were cut off
    } else if (inst == instance_id_) {
      // Ours when the load read it, and another instance's since (a resume there took it
      // over after the read): the mirror knows better than this record.
      if (link.remote.count(id)) continue;
      // Ours, but ended here (its end script failed, or raced this load): remove the
      // record for everyone; our members never had it.
      listed.pop_back();
      encode_presence_leave(domain_.encoder(), id);
      call(PendingCall{CallKind::Reap, room.name(), id}, wire::kEnd, 1,
           {wire::who_key(room.name()), id, instance_id_, link.channel, instance_id_, std::string(domain_.encoded())});
      continue;
    }
    wire::PeerState st;
    if (!wire::parse_peer_state(state, &st)) continue;
    auto [pit, fresh] = link_of(room).remote.try_emplace(id);
    RemotePeer& peer = pit->second;
    if (fresh) {
      peer.session = std::make_unique<Session>();
      peer.session->id = id;
      peer.session->room = &room;
      if (!first) {
        encode_presence_join(domain_.encoder(), id, st.user, st.role);
        domain_.fan_out(room, nullptr, OutType::Presence, domain_.encoded());
      }
    }
    Session& s = *peer.session;
    if (!fresh && s.role != st.role) {
      encode_presence_role(domain_.encoder(), id, st.role);
      domain_.fan_out(room, nullptr, OutType::Presence, domain_.encoded());
    }
    s.role = st.role;
    // 1.2: a late joiner learns who presents from the records (docs/protocol.md 7.1-7.2).
    if (st.presenting && room.presenter().empty()) {
      if (first) {
        room.set_presenter(id);
      } else {
        encode_presenting(domain_.encoder(), id, &st.user);
        domain_.presenting_relayed(room, id, domain_.encoded());
      }
    }
    s.user = std::move(st.user);
    s.restore_view(st.has_camera, st.camera, std::move(st.selection), std::move(st.following));
    peer.instance = std::string(inst);
    s.connected = connected == "1";
    const int64_t until_ms = int64_t(to_u64(until));
    peer.held_until_ns = s.connected ? 0 : now_ns_ + (until_ms - redis_now_ms(now_ns_)) * kMs;
    peer.orphaned = false;
    peer.unconfirmed_since_ns = 0;
    if (std::binary_search(gone_.begin(), gone_.end(), peer.instance)) {
      peer.orphaned = true;
      if (peer.held_until_ns == 0) {
        peer.held_until_ns = now_ns_ + int64_t(config_.resume_grace_s) * 1'000'000'000;
        s.connected = false;
      }
    }
  }
  std::sort(listed.begin(), listed.end());
  for (auto it = link.remote.begin(); it != link.remote.end();) {
    RemotePeer& peer = it->second;
    if (std::binary_search(listed.begin(), listed.end(), it->first)) {
      peer.unconfirmed_since_ns = 0;
      ++it;
      continue;
    }
    std::string id = it->first;
    ++it;
    if (std::binary_search(gone_.begin(), gone_.end(), peer.instance)) {
      remove_remote(room, id);  // its instance is gone and so is its record
    } else if (!peer.unconfirmed_since_ns) {
      // Ended while we were not listening, or Redis lost the hash and its live instance
      // will write it again: tick() decides after kUnconfirmedNs.
      peer.unconfirmed_since_ns = now_ns_;
    }
  }
  // Our own sessions the hash lost (Redis restarted empty, or reaped while cut off).
  auto reannounce = [&](const Session& s) {
    if (std::binary_search(listed.begin(), listed.end(), s.id)) return;
    encode_presence_join(domain_.encoder(), s.id, s.user, s.role);
    relay(room, wire::Record::Join, s.id, domain_.encoded());
    if (s.hold) relay(room, wire::Record::Hold, s.id, std::to_string(redis_now_ms(s.hold->until_ns)));
    write_presence(room, s);
  };
  for (const Session* s : room.members()) reannounce(*s);
  for (const auto& s : room.held()) reannounce(*s);

  settle_acks(room);
  if (first) {
    link.sync = RoomLink::Sync::Ready;
    link.reload_at_ns = now_ns_ + kRecordEveryNs + 100 * kMs;
    std::vector<std::string> early = std::move(link.early);
    link.early.clear();
    for (const std::string& message : early) on_message(link.channel, message);
    std::vector<Member*> waiting = std::move(link.waiting);
    link.waiting.clear();
    if (link.http_waiting) {
      link.http_waiting = 0;
      port_.room_ready(room.name(), true);
    }
    for (Member* m : waiting) {
      if (m->wait->claim == Member::Wait::Claim::Pending) {
        link.waiting.push_back(m);  // still waiting for its claim
        continue;
      }
      domain_.release(*m);
    }
  }
  if (link.resync_wanted) {
    link.resync_wanted = false;
    start_load(room);
  }
}

}  // namespace roomcast
