// core/room_cluster.cpp: RoomService across instances (docs/protocol.md 3.6), over
// Redis: the members that wait for Redis, and what goes out. What comes back is in
// room_cluster_inbound.cpp, loading a room in room_cluster_load.cpp, the clock (leases,
// orphans, gaps, polls) in room_cluster_time.cpp. Formats: core/cluster_wire.h; the
// transport: a ClusterPort.
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

#include "core/cluster_wire.h"
#include "core/room_service.h"
#include "core/tokens.h"
#include "core/ws_frames.h"

namespace roomcast {

using namespace link_timing;
using wire::entry_seq;
using wire::to_u64;
using wire::value_u64;

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
  if (link.ready()) return false;
  if (!m.wait) m.wait = std::make_unique<Member::Wait>();
  m.wait->busy = true;
  m.wait->deferred.emplace_front(text);  // the join itself, handled again once mirrored
  m.wait->deferred_bytes += text.size();
  link.waiting.push_back(&m);
  if (link.sync == RoomLink::Sync::Idle) {
    link.sync = RoomLink::Sync::Subscribing;
    link.subscribing_since_ns = now_ns_;
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
  auto it = rooms_.find(std::string(m.room()));
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
    Verdict v;
    if (!replay_decoder_->decode(text, *replay_message_, error)) {
      v = refuse(m, error);
      if (!v.closes()) continue;
      if (m.link) m.link->close_member(m, v.close_code, v.reason);
      return;
    }
    // The rate limiter already let it in once.
    ClientMessage& msg = *replay_message_;
    if (msg.type == MessageType::Join && !m.session) {
      if (m.awaiting_token) v = authenticate(m, msg.token);
      if (!v.closes()) join(m, msg, text);
    } else {
      v = dispatch(m, msg, text);
    }
    if (v.closes()) {
      if (m.link) m.link->close_member(m, v.close_code, v.reason);
      return;  // `m` may be gone
    }
  }
}

// ---- what goes out ------------------------------------------------------------------

void RoomService::relay(Room& room, wire::Record kind, std::string_view session, std::string_view frame) {
  RoomLink& link = *room.link;
  if (link.outbox.empty()) {
    wire::put(link.outbox, instance_id_);
    outbox_rooms_.push_back(&room);
  }
  wire::put(link.outbox, wire::letter(kind));
  wire::put(link.outbox, session);
  wire::put(link.outbox, frame);
}

void RoomService::publish_outbox(RoomLink& link) {
  calls_.push_back(RedisCall{0, -1, 0, {"PUBLISH", link.channel, std::move(link.outbox)}});
  link.outbox.clear();
}

void RoomService::flush_outbox(Room& room) {
  if (room.link->outbox.empty()) return;
  publish_outbox(*room.link);
  outbox_rooms_.erase(std::remove(outbox_rooms_.begin(), outbox_rooms_.end(), &room), outbox_rooms_.end());
}

std::string RoomService::session_record(const Session& s, int64_t held_until_ms) {
  std::string record;
  wire::put(record, instance_id_);
  wire::put(record, s.token());
  wire::put(record, s.connected ? "1" : "0");
  wire::put(record, std::to_string(held_until_ms));
  PeerView view{s.id, &s.user, s.camera(), s.selection(), s.following(), s.connected};
  encode_presence_list(encoded_, std::span<const PeerView>(&view, 1));
  std::string_view list = encoded();
  wire::put(record, list.substr(1, list.size() - 2));  // the one entry, without [ ]
  return record;
}

// The record is written unless another instance has claimed the session meanwhile (a
// hold announced here can reach Redis after a resume elsewhere took the session).
void RoomService::write_presence(Room& room, const Session& s) {
  int64_t until = s.hold ? redis_now_ms(s.hold->until_ns) : 0;
  calls_.push_back(
      RedisCall{0, wire::kRecord, 1, {wire::who_key(room.name()), instance_id_, s.id, session_record(s, until)}});
}

void RoomService::announce_hold(Room& room, const Session& s) {
  int64_t until = redis_now_ms(s.hold->until_ns);
  relay(room, wire::Record::Hold, s.id, std::to_string(until));
  write_presence(room, s);
}

void RoomService::announce_resume(Room& room, const Session& s) {
  relay(room, wire::Record::Resume, s.id, instance_id_);
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
  auto it = rooms_.find(std::string(room_name));
  if (it != rooms_.end() && it->second->link) {
    RoomLink& link = *it->second->link;
    if (link.ready()) return true;
    if (link.sync != RoomLink::Sync::Idle) {  // a join is loading it: answer from the mirror
      ++link.http_waiting;
      return false;
    }
  }
  // Not served here: read its presence records, nothing more (one read per room at a time).
  auto [peek, fresh] = peeking_.try_emplace(std::string(room_name), true);
  if (fresh) {
    call(PendingCall{CallKind::Peek, peek->first}, -1, 0, {"HGETALL", wire::who_key(room_name)});
    submit_calls();
  }
  return false;
}

void RoomService::apply_peek(const std::string& room, bool ok, RedisValue& value) {
  peeking_.erase(room);
  ok = ok && value.kind == RedisValue::Kind::Array;
  std::vector<PresenceEntry>& entries = peeked_[room];
  if (ok) {
    const int64_t redis_ms = redis_now_ms(now_ns_);
    for (size_t i = 0; i + 1 < value.elements.size(); i += 2) {
      std::string_view rec = value.elements[i + 1].str;
      size_t pos = 0;
      std::string_view inst, token, connected, until, state;
      if (!wire::next(rec, &pos, &inst) || !wire::next(rec, &pos, &token) || !wire::next(rec, &pos, &connected) ||
          !wire::next(rec, &pos, &until) || !wire::next(rec, &pos, &state))
        continue;
      // What a mirror would show: no session of an instance that died, no hold that ended.
      if (std::binary_search(gone_.begin(), gone_.end(), inst)) continue;
      if (connected != "1" && int64_t(wire::to_u64(until)) < redis_ms) continue;
      entries.push_back({value.elements[i].str, std::string(state)});
    }
  }
  port_->room_ready(room, ok);
  peeked_.erase(room);
}

}  // namespace roomcast
