// core/room_cluster_inbound.cpp: what Redis answers and other instances publish, turned
// into this instance's frames: replies to our calls, edits applied in seq order (acks in
// step), and the mirror of other instances' sessions.
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

// ---- what comes in ------------------------------------------------------------------

void RoomService::on_redis(RedisEvent& event, int64_t now_ns) {
  now_ns_ = now_ns;
  switch (event.kind) {
    case RedisEvent::Kind::Reply:
      on_reply(event.cookie, event.ok, event.value);
      break;
    case RedisEvent::Kind::Message:
      relaying_ = true;
      on_message(event.channel, event.payload);
      relaying_ = false;
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
    case CallKind::Peek:
      apply_peek(p.room, ok, value);
      return;
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
        metrics_.edits_unavailable.add();
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
      if (ok) metrics_.gap_fills.add();
      RoomLink& link = *room->link;
      link.filling = false;
      if (!ok || value.kind != RedisValue::Kind::Array) return;  // tried again after kGapWaitNs
      for (RedisValue& entry : value.elements) {
        wire::LogEntry e;
        if (wire::read_log_entry(entry, &e)) apply_edit(*room, e.seq, room->epoch(), e.origin, e.key, e.frame);
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
      if (ok && value.kind == RedisValue::Kind::Integer && value.integer == 1 && p.session_reaped) metrics_.sessions_reaped.add();
      if (!room || !room->link) return;
      auto peer = room->link->remote.find(p.session);
      if (peer != room->link->remote.end() && !ok) peer->second.reaping = false;  // again next tick
      return;
    }
  }
}


void RoomService::commit_relayed(Room& room, std::string_view origin, std::string key, std::string_view frame) {
  Session* sender = room.find(origin);
  if (sender && !sender->connected) sender = nullptr;
  FrameRef f = fan_out(room, sender, OutType::Edit, frame);
  room.commit_edit(f.get(), std::move(key));
  if (!sender || !sender->member) return;
  // The sender's own edit, applied before the script's reply came back: ack it now, so
  // it arrives before any later edit (docs/protocol.md 3.2: acks and edits in seq order).
  // Unless replicas must confirm it first (--redis-min-replicas): then only the script's
  // reply, held by the link until WAIT says so, acks it (settle_acks).
  if (config_.redis_min_replicas > 0) return;
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
    taken = old->take_session();
    room.remove(s);
    --sessions_;
    if (old->link) old->link->close_member(*old, kCloseReplaced, "replaced");
  } else {
    taken = room.unhold(s);
    if (!taken) return;
    if (taken->hold) give_back_place(*taken->hold);
    --held_;
  }
  taken->hold.reset();
  taken->member = nullptr;
  if (taken->view) taken->view->last_cursor = FrameRef();
  taken->room = &room;
  taken->connected = true;
  taken->resume_token = {};
  RemotePeer peer;
  peer.session = std::move(taken);
  peer.instance = std::string(owner);
  room.link->remote[std::string(session_id)] = std::move(peer);
  update_gauges();
}

// A camera, selection or follow that session `s` sent on the instance it has just left,
// relayed from there after this instance took it over (the claim did not wait for that
// instance's outbox). It is older than anything `s` sent here since, so it changes only
// what `s` has not sent here; the members here had not seen it, so they get it (not `s`).
void RoomService::apply_late_relay(Room& room, Session& s, wire::Record kind, std::string_view frame) {
  Session::View& v = s.view_for_update();
  switch (kind) {
    case wire::Record::Cursor: {
      if (v.sent_here & Session::View::kCameraSent) return;
      Camera camera;
      if (!wire::parse_cursor_camera(frame, &camera)) return;
      v.camera = camera;
      v.has_camera = true;
      if (v.last_cursor) v.last_cursor->mark_superseded();
      v.last_cursor = fan_out(room, &s, OutType::Cursor, frame, DropPolicy::WhenSuperseded);
      break;
    }
    case wire::Record::Select:
      if (v.sent_here & Session::View::kSelectionSent) return;
      if (!wire::parse_select_ids(frame, &v.selection)) return;
      fan_out(room, &s, OutType::Select, frame);
      break;
    case wire::Record::Follow:
      if (v.sent_here & Session::View::kFollowingSent) return;
      if (!wire::parse_follow_target(frame, &v.following)) return;
      fan_out(room, &s, OutType::Follow, frame);
      break;
    default:
      return;
  }
  // The record now, not at the next record period: it may hold what this instance wrote
  // when it took the session over, which instances loading presence would take as the
  // truth (a rare write: only right after a move).
  write_presence(room, s);
}

void RoomService::remove_remote(Room& room, std::string_view session_id) {
  auto it = room.link->remote.find(std::string(session_id));
  if (it == room.link->remote.end()) return;
  room.link->remote.erase(it);
  for (Session* other : room.members())
    other->stop_following(session_id);
  for (auto& [id, peer] : room.link->remote) peer.session->stop_following(session_id);
  encode_presence_leave(encoded_, session_id);
  fan_out(room, nullptr, OutType::Presence, encoded());
}

void RoomService::on_message(std::string_view channel, std::string_view payload) {
  auto it = rooms_.find(std::string(wire::room_of_channel(channel)));
  if (it == rooms_.end() || !it->second->link) return;
  Room& room = *it->second;
  RoomLink& link = *room.link;
  if (link.sync == RoomLink::Sync::Idle || link.sync == RoomLink::Sync::Subscribing) return;
  if (!link.ready()) {
    if (link.early.size() < 4096) link.early.emplace_back(payload);
    return;
  }
  size_t pos = 0;
  std::string_view origin;
  if (!wire::next(payload, &pos, &origin)) return;
  const bool mine = origin == instance_id_;
  std::string_view kind, session, frame;
  while (wire::next(payload, &pos, &kind) && wire::next(payload, &pos, &session)) {
    if (kind == wire::letter(wire::Record::Edit)) {
      std::string_view seq, epoch, key;
      if (!wire::next(payload, &pos, &seq) || !wire::next(payload, &pos, &epoch) || !wire::next(payload, &pos, &key) ||
          !wire::next(payload, &pos, &frame))
        return;
      apply_edit(room, to_u64(seq), epoch, session, key, frame);
      continue;
    }
    if (!wire::next(payload, &pos, &frame) || kind.size() != 1) return;
    if (mine) continue;  // our own relays: local members had them at once
    metrics_.relayed_in.add();
    const std::string id(session);
    auto peer_it = link.remote.find(id);
    RemotePeer* peer = peer_it == link.remote.end() ? nullptr : &peer_it->second;
    const auto record = wire::Record(kind[0]);
    if (!peer && (record == wire::Record::Cursor || record == wire::Record::Select || record == wire::Record::Follow)) {
      // A session that moved here: what the instance it left relayed meanwhile.
      if (Session* here = room.find(id)) apply_late_relay(room, *here, record, frame);
      continue;
    }
    switch (record) {
      case wire::Record::Cursor: {
        if (!peer) break;
        Session::View& v = peer->session->view_for_update();
        if (Camera camera; wire::parse_cursor_camera(frame, &camera)) {
          v.camera = camera;
          v.has_camera = true;
        }
        if (v.last_cursor) v.last_cursor->mark_superseded();
        v.last_cursor = fan_out(room, nullptr, OutType::Cursor, frame, DropPolicy::WhenSuperseded);
        break;
      }
      case wire::Record::Select:
        if (!peer) break;
        wire::parse_select_ids(frame, &peer->session->view_for_update().selection);
        fan_out(room, nullptr, OutType::Select, frame);
        break;
      case wire::Record::Follow:
        if (!peer) break;
        wire::parse_follow_target(frame, &peer->session->view_for_update().following);
        fan_out(room, nullptr, OutType::Follow, frame);
        break;
      case wire::Record::Join: {
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
      case wire::Record::Leave:
        remove_remote(room, id);
        break;
      case wire::Record::Hold:
        if (!peer) break;
        peer->session->connected = false;
        peer->held_until_ns = now_ns_ + (int64_t(to_u64(frame)) - redis_now_ms(now_ns_)) * kMs;
        break;
      case wire::Record::Resume: {
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

}  // namespace roomcast
