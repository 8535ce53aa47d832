// core/cluster/cluster_store_inbound.cpp: what Redis answers and other instances publish, turned
// into this instance's frames: replies to our calls, edits applied in seq order (acks in
// step), and the mirror of other instances' sessions.
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

// ---- what comes in ------------------------------------------------------------------

void ClusterStore::on_redis(RedisEvent& event, int64_t now_ns) {
  now_ns_ = now_ns;
  switch (event.kind) {
    case RedisEvent::Kind::Reply:
      on_reply(event.cookie, event.ok, event.value);
      break;
    case RedisEvent::Kind::Message:
      domain_.set_urgent(true);
      on_message(event.channel, event.payload);
      domain_.set_urgent(false);
      break;
    case RedisEvent::Kind::Subscribed:
      on_subscribed(event.channel);
      break;
    case RedisEvent::Kind::Instances:
      on_instances(event);
      break;
  }
  take_hook_calls();
  submit_calls();
}

void ClusterStore::on_reply(uint64_t cookie, bool ok, RedisValue& value) {
  auto it = pending_.find(cookie);
  if (it == pending_.end()) return;
  PendingCall p = std::move(it->second);
  pending_.erase(it);
  if (ok && value.is_error()) {
    if (log_) log_->log(LogLevel::Warn, "redis_error", {{"room", p.room}, {"error", value.str}});
    ok = false;
  }
  auto room_it = domain_.rooms().find(p.room);
  Room* room = room_it == domain_.rooms().end() ? nullptr : room_it->second.get();
  switch (p.kind) {
    case CallKind::Peek:
      apply_peek(p.room, ok, value);
      return;
    case CallKind::Sync:
      if (!room) return;
      if (ok && value.kind == RedisValue::Kind::Array && value.elements.size() == 4)
        apply_sync(*room, value, p.applied);
      else
        fail_sync(*room);
      return;
    case CallKind::Hook:
      if (hooks_) hooks_->on_reply(p.step, p.room, ok, value);
      return;
    case CallKind::HookAppend:
      if (hooks_ && ok && value.kind == RedisValue::Kind::Array && value.elements.size() == 2)
        hooks_->kept(p.room, value_u64(value.elements[0]), int(value_u64(value.elements[1])), &p.event);
      return;
    case CallKind::Edit: {
      if (ok) edit_event_kept(p, value);
      auto flight = edits_in_flight_.find(p.session);
      if (flight != edits_in_flight_.end() && flight->second == cookie) edits_in_flight_.erase(flight);
      if (p.acked) return;  // acked when its E record was applied
      Session* s = room ? room->find(p.session) : nullptr;
      Member* m = s && s->connected ? s->member : nullptr;
      if (!ok || value.kind != RedisValue::Kind::Array || value.elements.size() < 3) {
        if (!m) return;
        metrics_.edits_unavailable.add();
        domain_.send_error(*m, ErrorCode::Unavailable, "the edit store cannot be reached; the edit was not applied");
        domain_.release(*m);
        return;
      }
      const uint64_t seq = value_u64(value.elements[0]);
      const bool duplicate = value_u64(value.elements[1]) != 0;
      if (duplicate) metrics_.duplicate_edits.add();
      confirmed_edit(room, p, value);
      if (!room) return;
      RoomLink& link = link_of(*room);
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
      if (ok) edit_event_kept(p, value);
      if (ok && value.kind == RedisValue::Kind::Array && value.elements.size() >= 3) {
        confirmed_edit(room, p, value);
        port_.published(p.ticket, true, value_u64(value.elements[0]));
      } else
        port_.published(p.ticket, false, 0);
      return;
    case CallKind::Claim: {
      if (!room) return;
      auto& waiting = link_of(*room).waiting;
      if (std::find(waiting.begin(), waiting.end(), p.member) == waiting.end()) return;  // it left
      Member& m = *p.member;
      waiting.erase(std::remove(waiting.begin(), waiting.end(), &m), waiting.end());
      m.wait->claim = Member::Wait::Claim::Done;
      if (ok && value.kind == RedisValue::Kind::Array && value.elements.size() == 2) {
        m.wait->claimed_session = std::move(value.elements[0].str);
        m.wait->claimed_state = std::move(value.elements[1].str);
      }
      domain_.release(m);
      return;
    }
    case CallKind::Fill: {
      if (!room) return;
      if (ok) metrics_.gap_fills.add();
      RoomLink& link = link_of(*room);
      link.filling = false;
      if (!ok || value.kind != RedisValue::Kind::Array) return;  // tried again after kGapWaitNs
      for (RedisValue& entry : value.elements) {
        wire::LogEntry e;
        if (wire::read_log_entry(entry, &e))
          apply_edit(*room, e.seq, room->epoch(), e.origin, e.key, e.frame, e.instance == instance_id_);
      }
      if (room->seq() < link.known_seq) link.behind_since_ns = now_ns_;
      return;
    }
    case CallKind::Poll: {
      if (!room || !ok || value.kind != RedisValue::Kind::Array || value.elements.size() != 2) return;
      if (value.elements[1].kind != RedisValue::Kind::String || value.elements[1].str != room->epoch()) {
        start_load(*room);  // the room's state in Redis is gone or new
        return;
      }
      RoomLink& link = link_of(*room);
      const uint64_t seq = value_u64(value.elements[0]);
      if (seq < p.applied) {
        start_load(*room);  // Redis holds fewer edits than were applied here: see apply_sync
        return;
      }
      if (seq > room->seq()) {
        link.known_seq = std::max(link.known_seq, seq);
        if (!link.behind_since_ns) link.behind_since_ns = now_ns_;
      }
      return;
    }
    case CallKind::Reap: {
      if (ok && value.kind == RedisValue::Kind::Integer && value.integer == 1 && p.session_reaped) {
        metrics_.sessions_reaped.add();
        if (!p.event.id.empty()) keep_event(p.room, p.event);  // exactly one instance gets 1
      }
      if (!room) return;
      auto peer = link_of(*room).remote.find(p.session);
      if (peer != link_of(*room).remote.end() && !ok) peer->second.reaping = false;  // again next tick
      return;
    }
  }
}

void ClusterStore::confirmed_edit(Room* room, const PendingCall& p, RedisValue& value) {
  if (config_.redis_min_replicas == 0 || value.elements.size() < 5) return;  // the script published it
  const std::string& frame = value.elements[3].str;
  if (frame.empty()) return;  // a duplicate whose entry the history no longer keeps
  const uint64_t seq = value_u64(value.elements[0]);
  const std::string& epoch = value.elements[2].str;
  const std::string& origin = value.elements[4].str;
  // Published even if this thread no longer serves the room: the others do. A duplicate
  // goes out again too: its first reply may have failed (WAIT short of N replicas), so
  // nobody published it then; instances that applied it already skip it.
  calls_.push_back(RedisCall{0, -1, 0,
                             {"PUBLISH", wire::channel(p.room),
                              wire::edit_message(instance_id_, origin, seq, epoch, p.key, frame)}});
  // Applied here at once rather than when our own PUBLISH comes back (apply_edit keeps
  // seq order: beyond a gap it waits in `ahead`).
  if (room && link_of(*room).ready() && epoch == room->epoch()) apply_edit(*room, seq, epoch, origin, p.key, frame, true);
}

void ClusterStore::commit_relayed(Room& room, std::string_view origin, std::string key, std::string_view frame,
                                  bool mine) {
  // With --webhook the edit script kept the event (an edit applied here is one of ours).
  Session* sender = domain_.apply_stored_edit(room, origin, std::move(key), frame, mine, hooks_ != nullptr);
  if (!sender) return;
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
  encode_ack(domain_.encoder(), p.has_id, p.id, room.seq(), false, RoomService::rewritten_ack(m));
  domain_.reply(m, OutType::Ack, domain_.encoded());
  if (m.wait) {
    domain_.release(m);
  }
}

void ClusterStore::apply_edit(Room& room, uint64_t seq, std::string_view epoch, std::string_view origin,
                             std::string_view key, std::string_view frame, bool mine) {
  RoomLink& link = link_of(room);
  if (seq == 0 || frame.empty()) return;
  if (epoch != room.epoch()) {
    // A new history (Redis lost the old one): the members start over from it.
    restart_room(room, epoch, seq - 1);
  }
  if (seq <= room.seq()) return;  // already applied (the channel and the stream overlap)
  if (seq > room.seq() + 1) {
    if (link.ahead.size() < kMaxAhead) link.ahead.try_emplace(seq, RelayedEdit{std::string(origin), std::string(key), std::string(frame), mine});
    link.known_seq = std::max(link.known_seq, seq);
    if (!link.behind_since_ns) link.behind_since_ns = now_ns_;
    return;
  }
  commit_relayed(room, origin, std::string(key), frame, mine);
  while (!link.ahead.empty() && link.ahead.begin()->first <= room.seq() + 1) {
    auto node = link.ahead.extract(link.ahead.begin());
    if (node.key() == room.seq() + 1) commit_relayed(room, node.mapped().origin, std::move(node.mapped().key), node.mapped().frame,
                     node.mapped().mine);
  }
  link.known_seq = std::max(link.known_seq, room.seq());
  if (room.seq() >= link.known_seq) link.behind_since_ns = 0;
  settle_acks(room);
}

void ClusterStore::settle_acks(Room& room) {
  RoomLink& link = link_of(room);
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
    const bool rewritten = RoomService::rewritten_ack(m) && !ack.duplicate;
    encode_ack(domain_.encoder(), ack.has_id, ack.id, node.key(), ack.duplicate, rewritten);
    domain_.reply(m, OutType::Ack, domain_.encoded());
    if (m.wait) {
      domain_.release(m);
    }
  }
}

// A local session taken over by another instance (a resume there): it moves to the
// mirror without a word to anyone; a connection still attached is told 4008.
void ClusterStore::hand_to_remote(Room& room, std::string_view session_id, std::string_view owner) {
  std::unique_ptr<Session> taken = domain_.move_elsewhere(room, session_id);
  if (!taken) return;
  if (taken->view) taken->view->last_cursor = FrameRef();
  taken->room = &room;
  taken->connected = true;
  taken->resume_token = {};
  RemotePeer peer;
  peer.session = std::move(taken);
  peer.instance = std::string(owner);
  link_of(room).remote[std::string(session_id)] = std::move(peer);
}

// A camera, selection or follow that session `s` sent on the instance it has just left,
// relayed from there after this instance took it over (the claim did not wait for that
// instance's outbox). It is older than anything `s` sent here since, so it changes only
// what `s` has not sent here; the members here had not seen it, so they get it (not `s`).
void ClusterStore::apply_late_relay(Room& room, Session& s, wire::Record kind, std::string_view frame) {
  Session::View& v = s.view_for_update();
  switch (kind) {
    case wire::Record::Cursor: {
      if (v.sent_here & Session::View::kCameraSent) return;
      Camera camera;
      if (!wire::parse_cursor_camera(frame, &camera)) return;
      v.camera = camera;
      v.has_camera = true;
      domain_.fan_out_cursor(room, s, frame);
      break;
    }
    case wire::Record::Select:
      if (v.sent_here & Session::View::kSelectionSent) return;
      if (!wire::parse_select_ids(frame, &v.selection)) return;
      domain_.flush_cursor(room, s);
      domain_.fan_out(room, &s, OutType::Select, frame);
      break;
    case wire::Record::Follow:
      if (v.sent_here & Session::View::kFollowingSent) return;
      if (!wire::parse_follow_target(frame, &v.following)) return;
      domain_.flush_cursor(room, s);
      domain_.fan_out(room, &s, OutType::Follow, frame);
      break;
    default:
      return;
  }
  // The record now, not at the next record period: it may hold what this instance wrote
  // when it took the session over, which instances loading presence would take as the
  // truth (a rare write: only right after a move).
  write_presence(room, s);
}

void ClusterStore::remove_remote(Room& room, std::string_view session_id) {
  auto it = link_of(room).remote.find(std::string(session_id));
  if (it == link_of(room).remote.end()) return;
  // Its last cursor goes before its leave (docs/protocol.md 7.3).
  domain_.flush_cursor(room, *it->second.session);
  const std::string id(session_id);  // session_id may point into the erased entry
  link_of(room).remote.erase(it);
  for (Session* other : room.members())
    other->stop_following(id);
  for (auto& [other_id, peer] : link_of(room).remote) peer.session->stop_following(id);
  if (Attention* a = room.attention_if_any()) a->follows_changed();
  encode_presence_leave(domain_.encoder(), id);
  domain_.fan_out(room, nullptr, OutType::Presence, domain_.encoded());
  domain_.presenter_gone(room, id);  // a presenter leaving ends it (docs/protocol.md 7.1-7.2)
}

void ClusterStore::on_message(std::string_view channel, std::string_view payload) {
  auto it = domain_.rooms().find(std::string(wire::room_of_channel(channel)));
  if (it == domain_.rooms().end()) return;
  Room& room = *it->second;
  RoomLink& link = link_of(room);
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
      apply_edit(room, to_u64(seq), epoch, session, key, frame, mine);
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
        domain_.fan_out_cursor(room, *peer->session, frame);
        break;
      }
      case wire::Record::Select:
        if (!peer) break;
        wire::parse_select_ids(frame, &peer->session->view_for_update().selection);
        domain_.flush_cursor(room, *peer->session);  // per-sender order
        domain_.fan_out(room, nullptr, OutType::Select, frame);
        break;
      case wire::Record::Follow:
        if (!peer) break;
        wire::parse_follow_target(frame, &peer->session->view_for_update().following);
        domain_.flush_cursor(room, *peer->session);  // per-sender order
        domain_.fan_out(room, nullptr, OutType::Follow, frame);
        break;
      case wire::Record::Present: {
        std::string presenter;
        if (!wire::parse_presenting(frame, &presenter)) break;
        domain_.presenting_relayed(room, presenter, frame);
        // Our records say who presents too: the old presenter may be one of ours.
        for (Session* local : room.members()) local->presence_stale = true;
        for (const auto& held : room.held()) held->presence_stale = true;
        break;
      }
      case wire::Record::Role: {
        Role role;
        if (!peer || !wire::parse_role(frame, &role)) break;
        peer->session->role = role;
        domain_.fan_out(room, nullptr, OutType::Presence, frame);
        break;
      }
      case wire::Record::Join: {
        if (room.find(id)) break;  // ours (a record from before a resume here)
        User user;
        Role role = Role::Editor;
        if (!wire::parse_join_user(frame, &user, &role)) break;
        if (!peer) {
          RemotePeer fresh;
          fresh.session = std::make_unique<Session>();
          fresh.session->id = id;
          fresh.session->room = &room;
          peer = &link.remote.emplace(id, std::move(fresh)).first->second;
          domain_.fan_out(room, nullptr, OutType::Presence, frame);
        }
        peer->session->user = std::move(user);
        peer->session->role = role;
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

// The claim script moved a session another instance had to this one.
std::unique_ptr<Session> ClusterStore::claimed(Member& m, Room& room) {
  if (!m.wait || m.wait->claimed_session.empty()) return nullptr;
  wire::PeerState st;
  if (!wire::parse_peer_state(m.wait->claimed_state, &st)) return nullptr;
  auto s = std::make_unique<Session>();
  s->id = std::move(m.wait->claimed_session);
  s->user = std::move(st.user);
  m.wait->claimed_session.clear();
  m.wait->claimed_state.clear();
  // The others mirror it already: it moves from "remote" to "here" without a word.
  auto mirrored = link_of(room).remote.find(s->id);
  if (mirrored != link_of(room).remote.end() && mirrored->second.session)
    domain_.forget_cursor(room, *mirrored->second.session);  // no pointer to the mirror may stay
  // Held here too: another instance took it over (the record had its token) before this
  // one heard of the move, so the copy here is stale, though it holds what that instance
  // relayed since (apply_late_relay). The claimed session replaces it without a word.
  std::unique_ptr<Session> stale;
  if (Session* here = room.find(s->id); here && !here->connected) stale = domain_.move_elsewhere(room, s->id);
  if (stale && stale->view) {
    s->view = std::move(stale->view);
    s->view->sent_here = 0;
    s->view->last_cursor = FrameRef();
  } else if (mirrored != link_of(room).remote.end() && mirrored->second.session && mirrored->second.session->view) {
    // Its camera, selection and following as this instance mirrors them: the channel
    // brought every change, while the record can lag by a record period (it is rewritten
    // at most every kRecordEveryNs), so a session that moved twice would come back with
    // what it had before the first move (docs/protocol.md "Several instances"). A mirror
    // that never saw any of them (made from a `j` record) knows less than the record.
    s->view = std::move(mirrored->second.session->view);
    if (s->view) s->view->sent_here = 0;
  } else {
    s->restore_view(st.has_camera, st.camera, std::move(st.selection), std::move(st.following));
  }
  if (mirrored != link_of(room).remote.end()) link_of(room).remote.erase(mirrored);
  // Connected here: it was ours after all (the record lagged our own resume).
  if (room.find(s->id)) return nullptr;
  metrics_.resumes[size_t(ResumeResult::Ok)].add();
  if (log_) log_->log(LogLevel::Info, "session_resumed", {{"session", s->id}, {"room", room.name()}, {"result", "claimed"}});
  return s;
}

}  // namespace roomcast
