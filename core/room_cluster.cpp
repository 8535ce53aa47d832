// core/room_cluster.cpp: RoomService across instances (protocol 1.1 section 6), over
// Redis. The formats are in core/cluster_wire.h; the transport is a ClusterPort.
//
// How one room is shared:
//   - the first local join subscribes to the room's channel, then loads seq, epoch, the
//     edit history and the presence hash (the sync script); joins wait for that once;
//   - cameras, selections, follows and presence go to local members at once and into the
//     room's outbox: one PUBLISH per room per window carries them to the other instances,
//     which turn each into one shared frame for their own members;
//   - an edit goes to the edit script (exactly-once check, seq, stream, PUBLISH, all
//     atomic); every instance, the sender's included, applies edits from the channel in
//     seq order, filling gaps from the stream; the ack waits until its seq is applied
//     here, and the sender's later messages wait for the ack (per-sender order);
//   - sessions of an instance whose lease lapsed are held for the grace from the moment
//     it died, then ended by whichever instance runs the end script first.
#include <algorithm>
#include <charconv>

#include "core/cluster_wire.h"
#include "core/room_service.h"
#include "core/tokens.h"
#include "core/ws_frames.h"

namespace roomcast {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kGapWaitNs = 200 * kMs;   // a gap this old is filled from the stream
constexpr int64_t kPollEveryNs = 1000 * kMs;
// Presence records (camera, selection, following) are rewritten at most this often: the
// channel carries every change to mirrors already listening; the hash is for late ones.
constexpr int64_t kRecordEveryNs = 500 * kMs;
constexpr size_t kMaxAhead = 4096;
constexpr int64_t kUnconfirmedNs = 3000 * kMs;  // a live instance re-announces well within this          // edits kept beyond a gap (more: refetched)

uint64_t to_u64(std::string_view s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

uint64_t value_u64(const RedisValue& v) {
  if (v.kind == RedisValue::Kind::Integer) return v.integer > 0 ? uint64_t(v.integer) : 0;
  if (v.kind == RedisValue::Kind::String) return to_u64(v.str);
  return 0;
}

// The seq of a stream entry id "<seq>-1".
uint64_t entry_seq(std::string_view id) { return to_u64(id.substr(0, id.find('-'))); }

}  // namespace

void RoomService::attach_cluster(ClusterPort* port, std::string instance_id) {
  port_ = port;
  instance_id_ = std::move(instance_id);
  replay_decoder_ = std::make_unique<MessageDecoder>();
  replay_message_ = std::make_unique<ClientMessage>();
}

int64_t RoomService::redis_now_ms(int64_t now_ns) const {
  if (redis_base_ns_ == 0) return 0;
  return redis_base_ms_ + (now_ns - redis_base_ns_) / kMs;
}

uint64_t RoomService::call(PendingCall pending, int script, unsigned keys, std::vector<std::string> argv) {
  uint64_t cookie = next_cookie_++;
  pending_.emplace(cookie, std::move(pending));
  calls_.push_back(RedisCall{cookie, script, keys, std::move(argv)});
  return cookie;
}

void RoomService::submit_calls() {
  if (!calls_.empty()) port_->submit(calls_);
  calls_.clear();
}

// ---- members that wait -------------------------------------------------------------

void RoomService::defer(Member& m, std::string_view text, int64_t now_ns) {
  now_ns_ = now_ns;
  Member::Wait& wait = *m.wait;
  if (!m.rate.allow(now_ns) || wait.deferred.size() >= kMaxDeferred ||
      wait.deferred_bytes + text.size() > kMaxDeferredBytes) {
    metrics_.rate_limited.add();
    // Cameras are lossy by contract: dropped silently, as over the rate limit anywhere.
    DecodeError error;
    if (replay_decoder_->decode(text, *replay_message_, error) && replay_message_->type == MessageType::Cursor) return;
    send_error(m, ErrorCode::RateLimited, "message not processed: too many messages while an earlier one is stored");
    return;
  }
  wait.deferred_bytes += text.size();
  wait.deferred.emplace_back(text);
}

bool RoomService::wait_for_room(Member& m, Room& room, std::string_view text) {
  RoomLink& link = *room.link;
  if (link.sync == RoomLink::Sync::Ready) return false;
  if (!m.wait) m.wait = std::make_unique<Member::Wait>();
  m.wait->busy = true;
  m.wait->deferred.emplace_front(text);  // the join itself, handled again once mirrored
  m.wait->deferred_bytes += text.size();
  link.waiting.push_back(&m);
  if (link.sync == RoomLink::Sync::Idle) {
    link.sync = RoomLink::Sync::Subscribing;
    port_->subscribe(link.channel);
  }
  return true;
}

void RoomService::start_claim(Member& m, Room& room, std::string_view token, std::string_view text) {
  if (!m.wait) m.wait = std::make_unique<Member::Wait>();
  m.wait->busy = true;
  m.wait->claim = Member::Wait::Claim::Pending;
  m.wait->deferred.emplace_front(text);
  m.wait->deferred_bytes += text.size();
  room.link->waiting.push_back(&m);
  std::string user = m.identity && m.identity->verified ? m.identity->user_id : std::string();
  PendingCall p{CallKind::Claim, room.name()};
  p.member = &m;
  call(std::move(p), wire::kClaim, 1,
       {wire::who_key(room.name()), std::string(token), instance_id_, std::move(user), room.link->channel});
  submit_calls();
}

void RoomService::stop_waiting(Member& m) {
  if (!m.wait) return;
  auto it = rooms_.find(m.room);
  if (it == rooms_.end() || !it->second->link) return;
  auto& waiting = it->second->link->waiting;
  waiting.erase(std::remove(waiting.begin(), waiting.end(), &m), waiting.end());
}

// Handles what `m` sent while it waited, in order, until it waits again.
void RoomService::resume_member(Member& m) {
  while (m.wait && !m.wait->busy && !m.wait->deferred.empty()) {
    std::string text = std::move(m.wait->deferred.front());
    m.wait->deferred.pop_front();
    m.wait->deferred_bytes -= text.size();
    DecodeError error;
    if (!replay_decoder_->decode(text, *replay_message_, error)) {
      refuse(m, error);
      continue;
    }
    // The rate limiter already let it in once.
    ClientMessage& msg = *replay_message_;
    Verdict v;
    if (msg.type == MessageType::Join && !m.session) {
      if (m.awaiting_token) v = authenticate(m, msg.token);
      if (!v.closes()) join(m, msg, text);
    } else {
      v = dispatch(m, msg, text);
    }
    if (v.closes()) {
      if (m.link) m.link->close_member(v.close_code, v.reason);
      return;  // `m` may be gone
    }
  }
}

// ---- what goes out ------------------------------------------------------------------

void RoomService::relay(Room& room, char kind, std::string_view session, std::string_view frame) {
  RoomLink& link = *room.link;
  if (link.outbox.empty()) {
    wire::put(link.outbox, instance_id_);
    outbox_rooms_.push_back(&room);
  }
  wire::put(link.outbox, std::string_view(&kind, 1));
  wire::put(link.outbox, session);
  wire::put(link.outbox, frame);
}

void RoomService::flush_outbox(Room& room) {
  RoomLink& link = *room.link;
  if (link.outbox.empty()) return;
  calls_.push_back(RedisCall{0, -1, 0, {"PUBLISH", link.channel, std::move(link.outbox)}});
  link.outbox.clear();
  outbox_rooms_.erase(std::remove(outbox_rooms_.begin(), outbox_rooms_.end(), &room), outbox_rooms_.end());
}

std::string RoomService::session_record(const Session& s, int64_t held_until_ms) {
  std::string record;
  wire::put(record, instance_id_);
  wire::put(record, s.token());
  wire::put(record, s.connected ? "1" : "0");
  wire::put(record, std::to_string(held_until_ms));
  PeerView view{s.id, &s.user, s.has_camera ? &s.camera : nullptr, &s.selection, s.following, s.connected};
  encode_presence_list(encoded_, std::span<const PeerView>(&view, 1));
  std::string_view list = encoded();
  wire::put(record, list.substr(1, list.size() - 2));  // the one entry, without [ ]
  return record;
}

void RoomService::write_presence(Room& room, const Session& s) {
  int64_t until = s.hold ? redis_now_ms(s.hold->until_ns) : 0;
  calls_.push_back(RedisCall{0, -1, 0, {"HSET", wire::who_key(room.name()), s.id, session_record(s, until)}});
}

void RoomService::announce_hold(Room& room, const Session& s) {
  int64_t until = redis_now_ms(s.hold->until_ns);
  relay(room, 'h', s.id, std::to_string(until));
  write_presence(room, s);
}

void RoomService::announce_resume(Room& room, const Session& s) {
  relay(room, 'r', s.id, instance_id_);
  write_presence(room, s);
}

// The session ended here: the others hear `leave` from the end script, which also makes
// sure exactly one instance announces it.
void RoomService::end_everywhere(Room& room, const Session& s) {
  flush_outbox(room);  // its last cursor goes before its leave
  encode_presence_leave(encoded_, s.id);
  PendingCall p{CallKind::Reap, room.name(), s.id};
  call(std::move(p), wire::kEnd, 1,
       {wire::who_key(room.name()), s.id, instance_id_, room.link->channel, instance_id_, std::string(encoded())});
  submit_calls();
}

void RoomService::store_edit(Member* m, Session* s, Room& room, const ClientMessage& msg, std::string key,
                             uint64_t ticket) {
  flush_outbox(room);  // what the sender relayed before this edit arrives before it
  const std::string_view origin = s ? std::string_view(s->id) : std::string_view("server");
  encode_edit(encoded_, origin, 0, msg.building, msg.op, msg.data);
  // The script writes the seq in: the frame is split right after "seq": (the first
  // occurrence; the session id before it never holds a quote).
  std::string_view frame = encoded();
  const size_t at = frame.find("\"seq\":0");
  std::string prefix(frame.substr(0, at + 6));
  std::string suffix(frame.substr(at + 7));
  PendingCall p{m ? CallKind::Edit : CallKind::Publish, room.name()};
  if (s) p.session = s->id;
  p.has_id = msg.has_id;
  p.id = std::string(msg.id);
  p.ticket = ticket;
  if (m && s) edits_in_flight_[s->id] = next_cookie_;  // the cookie call() hands out
  call(std::move(p), wire::kEdit, 3,
       {wire::meta_key(room.name()), wire::log_key(room.name()), wire::ids_key(room.name()), std::move(key),
        std::move(prefix), std::move(suffix), std::to_string(config_.history), std::string(origin),
        random_base64url(12), instance_id_, std::to_string((uint64_t(config_.room_ttl_s) + 60) * 1000),
        room.link->channel});
  if (m) {
    if (!m->wait) m->wait = std::make_unique<Member::Wait>();
    m->wait->busy = true;  // its next messages wait for the ack
  }
  submit_calls();
}

void RoomService::publish_stored(std::string_view room_name, const ClientMessage& edit, uint64_t ticket,
                                 int64_t now_ns) {
  now_ns_ = now_ns;
  Room& room = room_named(room_name);
  store_edit(nullptr, nullptr, room, edit, {}, ticket);
  metrics_.publishes.add();
}

bool RoomService::presence_ready(std::string_view room_name, int64_t now_ns) {
  now_ns_ = now_ns;
  Room& room = room_named(room_name);
  RoomLink& link = *room.link;
  if (link.sync == RoomLink::Sync::Ready) return true;
  ++link.http_waiting;
  if (link.sync == RoomLink::Sync::Idle) {
    link.sync = RoomLink::Sync::Subscribing;
    port_->subscribe(link.channel);
  }
  return false;
}

// ---- what comes in ------------------------------------------------------------------

void RoomService::on_redis(RedisEvent& event, int64_t now_ns) {
  now_ns_ = now_ns;
  switch (event.kind) {
    case RedisEvent::Kind::Reply:
      on_reply(event.cookie, event.ok, event.value);
      break;
    case RedisEvent::Kind::Message:
      on_message(event.channel, event.payload);
      break;
    case RedisEvent::Kind::Subscribed:
      on_subscribed(event.channel);
      break;
    case RedisEvent::Kind::Instances:
      on_instances(event);
      break;
  }
  submit_calls();
}

void RoomService::start_load(Room& room) {
  const std::string& name = room.name();
  call(PendingCall{CallKind::Sync, name}, wire::kSync, 4,
       {wire::meta_key(name), wire::log_key(name), wire::who_key(name), wire::ids_key(name), random_base64url(12),
        std::to_string((uint64_t(config_.room_ttl_s) + 60) * 1000)});
}

void RoomService::on_subscribed(std::string_view channel) {
  auto it = rooms_.find(std::string(wire::room_of_channel(channel)));
  if (it == rooms_.end() || !it->second->link) return;
  Room& room = *it->second;
  RoomLink& link = *room.link;
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

void RoomService::on_instances(const RedisEvent& event) {
  redis_base_ms_ = event.redis_now_ms;
  redis_base_ns_ = now_ns_;
  std::vector<std::string> alive;
  for (const InstanceLease& lease : event.alive) alive.push_back(lease.id);
  std::sort(alive.begin(), alive.end());
  gone_.clear();
  for (const InstanceLease& lease : event.dead) gone_.push_back(lease.id);
  std::vector<std::string> absent;
  const int64_t grace_ms = int64_t(config_.resume_grace_s) * 1000;
  for (auto& [name, room] : rooms_) {
    if (!room->link) continue;
    for (auto& [id, peer] : room->link->remote) {
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

void RoomService::on_reply(uint64_t cookie, bool ok, RedisValue& value) {
  auto it = pending_.find(cookie);
  if (it == pending_.end()) return;
  PendingCall p = std::move(it->second);
  pending_.erase(it);
  if (ok && value.is_error()) {
    if (log_) log_->log(LogLevel::Warn, "redis_error", {{"room", p.room}, {"error", value.str}});
    ok = false;
  }
  auto room_it = rooms_.find(p.room);
  Room* room = room_it == rooms_.end() ? nullptr : room_it->second.get();
  switch (p.kind) {
    case CallKind::Sync:
      if (!room || !room->link) return;
      if (ok && value.kind == RedisValue::Kind::Array && value.elements.size() == 4)
        apply_sync(*room, value);
      else
        fail_sync(*room);
      return;
    case CallKind::Edit: {
      auto flight = edits_in_flight_.find(p.session);
      if (flight != edits_in_flight_.end() && flight->second == cookie) edits_in_flight_.erase(flight);
      if (p.acked) return;  // acked when its E record was applied
      Session* s = room ? room->find(p.session) : nullptr;
      Member* m = s && s->connected ? s->member : nullptr;
      if (!ok || value.kind != RedisValue::Kind::Array || value.elements.size() != 3) {
        if (!m) return;
        send_error(*m, ErrorCode::Unavailable, "the edit store cannot be reached; the edit was not applied");
        m->wait->busy = false;
        resume_member(*m);
        return;
      }
      const uint64_t seq = value_u64(value.elements[0]);
      const bool duplicate = value_u64(value.elements[1]) != 0;
      if (duplicate) metrics_.duplicate_edits.add();
      if (!room) return;
      RoomLink& link = *room->link;
      link.acks.emplace(seq, PendingAck{p.session, p.has_id, std::move(p.id), duplicate, value.elements[2].str});
      if (value.elements[2].str != room->epoch()) {
        start_load(*room);  // Redis lost the history and started a new one
      } else if (seq > room->seq()) {
        link.known_seq = std::max(link.known_seq, seq);
        if (!link.behind_since_ns) link.behind_since_ns = now_ns_;
      }
      settle_acks(*room);
      return;
    }
    case CallKind::Publish:
      if (ok && value.kind == RedisValue::Kind::Array && value.elements.size() == 3)
        port_->published(p.ticket, true, value_u64(value.elements[0]));
      else
        port_->published(p.ticket, false, 0);
      return;
    case CallKind::Claim: {
      if (!room || !room->link) return;
      auto& waiting = room->link->waiting;
      if (std::find(waiting.begin(), waiting.end(), p.member) == waiting.end()) return;  // it left
      Member& m = *p.member;
      waiting.erase(std::remove(waiting.begin(), waiting.end(), &m), waiting.end());
      m.wait->claim = Member::Wait::Claim::Done;
      if (ok && value.kind == RedisValue::Kind::Array && value.elements.size() == 2) {
        m.wait->claimed_session = std::move(value.elements[0].str);
        m.wait->claimed_state = std::move(value.elements[1].str);
      }
      m.wait->busy = false;
      resume_member(m);
      return;
    }
    case CallKind::Fill: {
      if (!room || !room->link) return;
      RoomLink& link = *room->link;
      link.filling = false;
      if (!ok || value.kind != RedisValue::Kind::Array) return;  // tried again after kGapWaitNs
      for (RedisValue& entry : value.elements) {
        if (entry.kind != RedisValue::Kind::Array || entry.elements.size() != 2) continue;
        std::string_view origin, key, frame;
        const auto& f = entry.elements[1].elements;
        for (size_t i = 0; i + 1 < f.size(); i += 2) {
          if (f[i].str == "f") frame = f[i + 1].str;
          if (f[i].str == "k") key = f[i + 1].str;
          if (f[i].str == "s") origin = f[i + 1].str;
        }
        apply_edit(*room, entry_seq(entry.elements[0].str), room->epoch(), origin, key, frame);
      }
      if (room->seq() < link.known_seq) link.behind_since_ns = now_ns_;
      return;
    }
    case CallKind::Poll: {
      if (!room || !room->link || !ok || value.kind != RedisValue::Kind::Array || value.elements.size() != 2) return;
      if (value.elements[1].kind != RedisValue::Kind::String || value.elements[1].str != room->epoch()) {
        start_load(*room);  // the room's state in Redis is gone or new
        return;
      }
      RoomLink& link = *room->link;
      const uint64_t seq = value_u64(value.elements[0]);
      if (seq > room->seq()) {
        link.known_seq = std::max(link.known_seq, seq);
        if (!link.behind_since_ns) link.behind_since_ns = now_ns_;
      }
      return;
    }
    case CallKind::Reap: {
      if (!room || !room->link) return;
      auto peer = room->link->remote.find(p.session);
      if (peer != room->link->remote.end() && !ok) peer->second.reaping = false;  // again next tick
      return;
    }
  }
}

void RoomService::fail_sync(Room& room) {
  RoomLink& link = *room.link;
  if (link.ever_ready) {
    link.resync_wanted = true;  // keep serving from the mirror; load again on the next poll
    return;
  }
  link.sync = RoomLink::Sync::Idle;
  port_->unsubscribe(link.channel);
  std::vector<Member*> waiting = std::move(link.waiting);
  link.waiting.clear();
  if (link.http_waiting) {
    link.http_waiting = 0;
    port_->room_ready(room.name(), false);
  }
  for (Member* m : waiting) {
    m->wait->busy = false;
    m->wait->deferred.clear();
    m->wait->deferred_bytes = 0;
    // Nothing can be said about the room until the store is back.
    if (m->link) m->link->close_member(kCloseTryAgainLater, "store unavailable");
  }
}

void RoomService::restart_room(Room& room, std::string_view epoch, uint64_t seq) {
  const bool had_members = !room.members().empty();
  room.restart(std::string(epoch), seq);
  RoomLink& link = *room.link;
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
    send_error(*s->member, ErrorCode::Unavailable, "the edit store lost this edit; it was not applied");
    if (s->member->wait) {
      s->member->wait->busy = false;
      resume_member(*s->member);
    }
  }
  link.ahead.clear();
  link.known_seq = seq;
  link.behind_since_ns = 0;
  if (had_members && link.ever_ready) {
    // The history the members hold is gone (Redis lost it): they must reload.
    encode_resync(encoded_, seq);
    fan_out(room, nullptr, OutType::Resync, encoded());
    metrics_.resyncs.add();
  }
}

void RoomService::apply_sync(Room& room, RedisValue& value) {
  RoomLink& link = *room.link;
  const bool first = !link.ever_ready;
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
  }
  for (RedisValue& entry : log) {
    if (entry.kind != RedisValue::Kind::Array || entry.elements.size() != 2) continue;
    std::string_view origin, key, frame;
    const auto& f = entry.elements[1].elements;
    for (size_t i = 0; i + 1 < f.size(); i += 2) {
      if (f[i].str == "f") frame = f[i + 1].str;
      if (f[i].str == "k") key = f[i + 1].str;
      if (f[i].str == "s") origin = f[i + 1].str;
    }
    apply_edit(room, entry_seq(entry.elements[0].str), room.epoch(), origin, key, frame);
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
      // Ours, but ended here (its end script failed, or raced this load): remove the
      // record for everyone; our members never had it.
      listed.pop_back();
      encode_presence_leave(encoded_, id);
      call(PendingCall{CallKind::Reap, room.name(), id}, wire::kEnd, 1,
           {wire::who_key(room.name()), id, instance_id_, link.channel, instance_id_, std::string(encoded())});
      continue;
    }
    wire::PeerState st;
    if (!wire::parse_peer_state(state, &st)) continue;
    auto [pit, fresh] = room.link->remote.try_emplace(id);
    RemotePeer& peer = pit->second;
    if (fresh) {
      peer.session = std::make_unique<Session>();
      peer.session->id = id;
      peer.session->room = &room;
      if (!first) {
        encode_presence_join(encoded_, id, st.user);
        fan_out(room, nullptr, OutType::Presence, encoded());
      }
    }
    Session& s = *peer.session;
    s.user = std::move(st.user);
    s.has_camera = st.has_camera;
    s.camera = st.camera;
    s.selection = std::move(st.selection);
    s.following = std::move(st.following);
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
      // will write it again: cluster_tick decides after kUnconfirmedNs.
      peer.unconfirmed_since_ns = now_ns_;
    }
  }
  // Our own sessions the hash lost (Redis restarted empty, or reaped while cut off).
  auto reannounce = [&](const Session& s) {
    if (std::binary_search(listed.begin(), listed.end(), s.id)) return;
    encode_presence_join(encoded_, s.id, s.user);
    relay(room, 'j', s.id, encoded());
    if (s.hold) relay(room, 'h', s.id, std::to_string(redis_now_ms(s.hold->until_ns)));
    write_presence(room, s);
  };
  for (const Session* s : room.members()) reannounce(*s);
  for (const auto& s : room.held()) reannounce(*s);

  settle_acks(room);
  if (first) {
    link.sync = RoomLink::Sync::Ready;
    link.ever_ready = true;
    link.reload_at_ns = now_ns_ + kRecordEveryNs + 100 * kMs;
    std::vector<std::string> early = std::move(link.early);
    link.early.clear();
    for (const std::string& message : early) on_message(link.channel, message);
    std::vector<Member*> waiting = std::move(link.waiting);
    link.waiting.clear();
    if (link.http_waiting) {
      link.http_waiting = 0;
      port_->room_ready(room.name(), true);
    }
    for (Member* m : waiting) {
      if (m->wait->claim == Member::Wait::Claim::Pending) {
        link.waiting.push_back(m);  // still waiting for its claim
        continue;
      }
      m->wait->busy = false;
      resume_member(*m);
    }
  }
  if (link.resync_wanted) {
    link.resync_wanted = false;
    start_load(room);
  }
}

void RoomService::commit_relayed(Room& room, std::string_view origin, std::string key, std::string_view frame) {
  Session* sender = room.find(origin);
  if (sender && !sender->connected) sender = nullptr;
  FrameRef f = fan_out(room, sender, OutType::Edit, frame);
  room.commit_edit(f.get(), std::move(key));
  if (!sender || !sender->member) return;
  // The sender's own edit, applied before the script's reply came back: ack it now, so
  // it arrives before any later edit (1.1 section 2: acks and edits in seq order).
  auto flight = edits_in_flight_.find(sender->id);
  if (flight == edits_in_flight_.end()) return;
  auto call_it = pending_.find(flight->second);
  edits_in_flight_.erase(flight);
  if (call_it == pending_.end()) return;
  PendingCall& p = call_it->second;
  p.acked = true;
  Member& m = *sender->member;
  encode_ack(encoded_, p.has_id, p.id, room.seq());
  reply(m, OutType::Ack, encoded());
  if (m.wait) {
    m.wait->busy = false;
    resume_member(m);
  }
}

void RoomService::apply_edit(Room& room, uint64_t seq, std::string_view epoch, std::string_view origin,
                             std::string_view key, std::string_view frame) {
  RoomLink& link = *room.link;
  if (seq == 0 || frame.empty()) return;
  if (epoch != room.epoch()) {
    // A new history (Redis lost the old one): the members start over from it.
    restart_room(room, epoch, seq - 1);
  }
  if (seq <= room.seq()) return;  // already applied (the channel and the stream overlap)
  if (seq > room.seq() + 1) {
    if (link.ahead.size() < kMaxAhead) link.ahead.try_emplace(seq, RelayedEdit{std::string(origin), std::string(key), std::string(frame)});
    link.known_seq = std::max(link.known_seq, seq);
    if (!link.behind_since_ns) link.behind_since_ns = now_ns_;
    return;
  }
  commit_relayed(room, origin, std::string(key), frame);
  while (!link.ahead.empty() && link.ahead.begin()->first <= room.seq() + 1) {
    auto node = link.ahead.extract(link.ahead.begin());
    if (node.key() == room.seq() + 1) commit_relayed(room, node.mapped().origin, std::move(node.mapped().key), node.mapped().frame);
  }
  link.known_seq = std::max(link.known_seq, room.seq());
  if (room.seq() >= link.known_seq) link.behind_since_ns = 0;
  settle_acks(room);
}

void RoomService::settle_acks(Room& room) {
  RoomLink& link = *room.link;
  for (auto it = link.acks.begin(); it != link.acks.end() && it->first <= room.seq();) {
    if (it->second.epoch != room.epoch()) {
      ++it;  // of a history this room has not switched to yet
      continue;
    }
    auto node = link.acks.extract(it++);
    const PendingAck& ack = node.mapped();
    Session* s = room.find(ack.session);
    if (!s || !s->connected || !s->member) continue;  // held or gone: it resends after resuming
    Member& m = *s->member;
    encode_ack(encoded_, ack.has_id, ack.id, node.key(), ack.duplicate);
    reply(m, OutType::Ack, encoded());
    if (m.wait) {
      m.wait->busy = false;
      resume_member(m);
    }
  }
}

// A local session taken over by another instance (a resume there): it moves to the
// mirror without a word to anyone; a connection still attached is told 4008.
void RoomService::hand_to_remote(Room& room, std::string_view session_id, std::string_view owner) {
  Session* s = room.find(session_id);
  if (!s) return;
  std::unique_ptr<Session> taken;
  if (s->connected) {
    Member* old = s->member;
    taken = std::move(old->session);
    room.remove(s);
    --sessions_;
    if (old->link) old->link->close_member(kCloseReplaced, "replaced");
  } else {
    taken = room.unhold(s);
    if (!taken) return;
    if (taken->hold && taken->hold->holds_admission && limits_) limits_->release(taken->hold->admission);
    --held_;
  }
  by_token_.erase(taken->token());
  taken->hold.reset();
  taken->out = nullptr;
  taken->member = nullptr;
  taken->last_cursor = FrameRef();
  taken->room = &room;
  taken->connected = true;
  taken->resume_token = {};
  RemotePeer peer;
  peer.session = std::move(taken);
  peer.instance = std::string(owner);
  room.link->remote[std::string(session_id)] = std::move(peer);
  update_gauges();
}

void RoomService::remove_remote(Room& room, std::string_view session_id) {
  auto it = room.link->remote.find(std::string(session_id));
  if (it == room.link->remote.end()) return;
  room.link->remote.erase(it);
  for (Session* other : room.members())
    if (other->following == session_id) other->following.clear();
  for (auto& [id, peer] : room.link->remote)
    if (peer.session->following == session_id) peer.session->following.clear();
  encode_presence_leave(encoded_, session_id);
  fan_out(room, nullptr, OutType::Presence, encoded());
}

void RoomService::on_message(std::string_view channel, std::string_view payload) {
  auto it = rooms_.find(std::string(wire::room_of_channel(channel)));
  if (it == rooms_.end() || !it->second->link) return;
  Room& room = *it->second;
  RoomLink& link = *room.link;
  if (link.sync == RoomLink::Sync::Idle || link.sync == RoomLink::Sync::Subscribing) return;
  if (!link.ever_ready) {
    if (link.early.size() < 4096) link.early.emplace_back(payload);
    return;
  }
  size_t pos = 0;
  std::string_view origin;
  if (!wire::next(payload, &pos, &origin)) return;
  const bool mine = origin == instance_id_;
  std::string_view kind, session, frame;
  while (wire::next(payload, &pos, &kind) && wire::next(payload, &pos, &session)) {
    if (kind == "E") {
      std::string_view seq, epoch, key;
      if (!wire::next(payload, &pos, &seq) || !wire::next(payload, &pos, &epoch) || !wire::next(payload, &pos, &key) ||
          !wire::next(payload, &pos, &frame))
        return;
      apply_edit(room, to_u64(seq), epoch, session, key, frame);
      continue;
    }
    if (!wire::next(payload, &pos, &frame) || kind.size() != 1) return;
    if (mine) continue;  // our own relays: local members had them at once
    const std::string id(session);
    auto peer_it = link.remote.find(id);
    RemotePeer* peer = peer_it == link.remote.end() ? nullptr : &peer_it->second;
    switch (kind[0]) {
      case 'c':
        if (!peer) break;
        if (wire::parse_cursor_camera(frame, &peer->session->camera)) peer->session->has_camera = true;
        if (peer->session->last_cursor) peer->session->last_cursor->mark_superseded();
        peer->session->last_cursor = fan_out(room, nullptr, OutType::Cursor, frame, DropPolicy::WhenSuperseded);
        break;
      case 's':
        if (!peer) break;
        wire::parse_select_ids(frame, &peer->session->selection);
        fan_out(room, nullptr, OutType::Select, frame);
        break;
      case 'f':
        if (!peer) break;
        wire::parse_follow_target(frame, &peer->session->following);
        fan_out(room, nullptr, OutType::Follow, frame);
        break;
      case 'j': {
        if (room.find(id)) break;  // ours (a record from before a resume here)
        User user;
        if (!wire::parse_join_user(frame, &user)) break;
        if (!peer) {
          RemotePeer fresh;
          fresh.session = std::make_unique<Session>();
          fresh.session->id = id;
          fresh.session->room = &room;
          peer = &link.remote.emplace(id, std::move(fresh)).first->second;
          fan_out(room, nullptr, OutType::Presence, frame);
        }
        peer->session->user = std::move(user);
        peer->instance = std::string(origin);
        peer->held_until_ns = 0;
        peer->orphaned = false;
        peer->unconfirmed_since_ns = 0;
        peer->session->connected = true;
        break;
      }
      case 'l':
        remove_remote(room, id);
        break;
      case 'h':
        if (!peer) break;
        peer->session->connected = false;
        peer->held_until_ns = now_ns_ + (int64_t(to_u64(frame)) - redis_now_ms(now_ns_)) * kMs;
        break;
      case 'r': {
        // Resumed on `origin`: a copy here (connected or held) steps aside silently.
        if (room.find(id)) {
          hand_to_remote(room, id, origin);
          break;
        }
        if (!peer) break;
        peer->instance = std::string(origin);
        peer->session->connected = true;
        peer->held_until_ns = 0;
        peer->orphaned = false;
        peer->reaping = false;
        peer->unconfirmed_since_ns = 0;
        break;
      }
      default:
        break;
    }
  }
}

// ---- time ---------------------------------------------------------------------------

void RoomService::cluster_tick(int64_t now_ns) {
  now_ns_ = now_ns;
  const bool slow = now_ns >= next_slow_tick_ns_;
  if (slow) next_slow_tick_ns_ = now_ns + kPollEveryNs;
  const bool records = now_ns >= next_record_tick_ns_;
  if (records) next_record_tick_ns_ = now_ns + kRecordEveryNs;
  for (auto& [name, room_ptr] : rooms_) {
    Room& room = *room_ptr;
    if (!room.link || room.link->sync != RoomLink::Sync::Ready) continue;
    RoomLink& link = *room.link;
    // Sessions of a dead instance whose grace is over: the end script announces each once.
    for (auto& [id, peer] : link.remote) {
      if (!peer.orphaned || peer.reaping || peer.held_until_ns > now_ns) continue;
      peer.reaping = true;
      encode_presence_leave(encoded_, id);
      call(PendingCall{CallKind::Reap, name, id}, wire::kEnd, 1,
           {wire::who_key(name), id, peer.instance, link.channel, "-", std::string(encoded())});
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
      call(PendingCall{CallKind::Fill, name}, -1, 0,
           {"XRANGE", wire::log_key(name), std::to_string(room.seq() + 1) + "-0", "+"});
    }
    if (records) {
      for (Session* s : room.members()) {
        if (!s->presence_stale) continue;
        s->presence_stale = false;
        write_presence(room, *s);
      }
    }
    if (link.reload_at_ns && now_ns >= link.reload_at_ns) {
      // The first load may have read records up to one record period old.
      link.reload_at_ns = 0;
      start_load(room);
    }
    if (!slow) continue;
    call(PendingCall{CallKind::Poll, name}, wire::kPoll, 4,
         {wire::meta_key(name), wire::log_key(name), wire::who_key(name), wire::ids_key(name),
          std::to_string((uint64_t(config_.room_ttl_s) + 60) * 1000)});
    if (link.resync_wanted) {
      link.resync_wanted = false;
      start_load(room);
    }
  }
  end_window();
}

}  // namespace roomcast
