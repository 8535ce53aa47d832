// core/cluster/cluster_store.cpp: the ClusterStore (docs/protocol.md 3.6), over
// Redis: the members that wait for Redis, and what goes out. What comes back is in
// cluster_store_inbound.cpp, loading a room in cluster_store_load.cpp, the clock (leases,
// orphans, gaps, polls) in cluster_store_time.cpp. Formats: core/cluster/cluster_wire.h; the
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
//   - with --redis-min-replicas N > 0 nothing unconfirmed is ever applied: the edit
//     script stores without publishing, its reply (and those of the sync and poll
//     scripts, whose writes put them behind every edit they read) comes back only once
//     WAIT confirmed it, and only then does the sender's instance apply the edit, ack it
//     and publish its E record; gap fills read no further than a seq known confirmed;
//   - sessions of an instance whose lease lapsed are held for the grace from the moment
//     it died, then ended by whichever instance runs the end script first.
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

ClusterStore::ClusterStore(RoomService& domain, ClusterPort& port, std::string instance_id, const Config& config,
                           Metrics& metrics, const Logger* log)
    : domain_(domain), port_(port), instance_id_(std::move(instance_id)), config_(config), metrics_(metrics), log_(log) {
  domain_.attach_store(*this);
}

Room* ClusterStore::room(std::string_view name) { return domain_.find_room(name); }

int64_t ClusterStore::redis_now_ms(int64_t now_ns) const {
  if (redis_base_ns_ == 0) return 0;
  return redis_base_ms_ + (now_ns - redis_base_ns_) / kMs;
}

uint64_t ClusterStore::call(PendingCall pending, int script, unsigned keys, std::vector<std::string> argv) {
  uint64_t cookie = next_cookie_++;
  pending_.emplace(cookie, std::move(pending));
  calls_.push_back(RedisCall{cookie, script, keys, std::move(argv)});
  return cookie;
}

void ClusterStore::submit_calls() {
  if (!calls_.empty()) port_.submit(calls_);
  calls_.clear();
}

// ---- members that wait -------------------------------------------------------------

bool ClusterStore::wait_for_room(Member& m, Room& room, std::string_view text) {
  RoomLink& link = link_of(room);
  if (link.ready()) return false;
  if (!m.wait) m.wait = std::make_unique<Member::Wait>();
  m.wait->busy = true;
  m.wait->deferred.emplace_front(text);  // the join itself, handled again once mirrored
  m.wait->deferred_bytes += text.size();
  link.waiting.push_back(&m);
  if (link.sync == RoomLink::Sync::Idle) {
    link.sync = RoomLink::Sync::Subscribing;
    link.subscribing_since_ns = now_ns_;
    port_.subscribe(link.channel);
  }
  return true;
}

void ClusterStore::start_claim(Member& m, Room& room, std::string_view token, std::string_view text) {
  if (!m.wait) m.wait = std::make_unique<Member::Wait>();
  m.wait->busy = true;
  m.wait->claim = Member::Wait::Claim::Pending;
  m.wait->deferred.emplace_front(text);
  m.wait->deferred_bytes += text.size();
  link_of(room).waiting.push_back(&m);
  std::string user = m.identity && m.identity->verified ? m.identity->user_id : std::string();
  PendingCall p{CallKind::Claim, room.name()};
  p.member = &m;
  call(std::move(p), wire::kClaim, 1,
       {wire::who_key(room.name()), std::string(token), instance_id_, std::move(user), link_of(room).channel});
  submit_calls();
}

void ClusterStore::left(Member& m) {
  if (!m.wait) return;
  Room* r = room(m.room());
  if (!r) return;
  auto& waiting = link_of(*r).waiting;
  waiting.erase(std::remove(waiting.begin(), waiting.end(), &m), waiting.end());
}

// ---- the domain's calls ---------------------------------------------------------------

void ClusterStore::opened(Room& room) {
  auto link = std::make_unique<RoomLink>();
  link->channel = wire::channel(room.name());
  room.store = std::move(link);
}

bool ClusterStore::keeps(const Room& room) const {
  const RoomLink& link = link_of(room);
  return !link.waiting.empty() || link.http_waiting;
}

void ClusterStore::closing(Room& room) {
  if (link_of(room).sync != RoomLink::Sync::Idle) port_.unsubscribe(link_of(room).channel);
}

// The room must be mirrored first, and a token this thread does not know may name a
// session another instance holds.
bool ClusterStore::join_waits(Member& m, Room& room, const ClientMessage& join, std::string_view text) {
  now_ns_ = std::max(now_ns_, domain_.now_ns());  // the join's time, not the last Redis event's
  if (wait_for_room(m, room, text)) return true;
  const bool claimed = m.wait && m.wait->claim == Member::Wait::Claim::Done;
  if (!join.resume.empty() && !claimed && !room.find_by_token(join.resume)) {
    start_claim(m, room, join.resume, text);
    return true;
  }
  return false;
}

void ClusterStore::add_peers_elsewhere(const Room& room, std::vector<PeerView>& out) const {
  for (const auto& [id, peer] : link_of(room).remote) {
    const Session& p = *peer.session;
    out.push_back(PeerView{p.id, &p.user, p.camera(), p.selection(), p.following(), p.connected, p.role,
                           p.id == room.presenter()});
  }
}

bool ClusterStore::is_elsewhere(const Room& room, std::string_view session_id) const {
  return link_of(room).remote.count(std::string(session_id)) != 0;
}

Session* ClusterStore::find_elsewhere(Room& room, std::string_view session_id) {
  auto it = link_of(room).remote.find(std::string(session_id));
  return it == link_of(room).remote.end() ? nullptr : it->second.session.get();
}

void ClusterStore::joined(Room& room, Session& s, bool resumed, bool claimed) {
  // A claimed session was announced (`r`) by the claim script itself, atomically with
  // its move; announcing it again from here could reach an instance after the session
  // moved on from here, which would take it for a newer move (docs/protocol.md).
  if (resumed && !claimed) announce_resume(room, s);
  else write_presence(room, s);
  // The welcome's new token is the only one that works now: its record goes to Redis
  // at once, not at the end of the window, so a resume on another instance right after
  // this welcome finds it (resumes are rare; joins keep sharing one submission).
  if (resumed) submit_calls();
  if (s.member && s.member->wait) s.member->wait->claimed_session.clear();
}

void ClusterStore::relayed(Room& room, Session& s, Relay what, std::string_view frame) {
  switch (what) {
    case Relay::Join:
      relay(room, wire::Record::Join, s.id, frame);
      return;  // the join's record is written by joined()
    case Relay::Cursor:
      relay(room, wire::Record::Cursor, s.id, frame);
      break;
    case Relay::Select:
      relay(room, wire::Record::Select, s.id, frame);
      break;
    case Relay::Follow:
      relay(room, wire::Record::Follow, s.id, frame);
      break;
    case Relay::Present:
      relay(room, wire::Record::Present, s.id, frame);
      // Records say who presents: the old presenter's (maybe one of ours) and the new one's.
      for (Session* local : room.members()) local->presence_stale = true;
      for (const auto& held : room.held()) held->presence_stale = true;
      break;
    case Relay::Role:
      relay(room, wire::Record::Role, s.id, frame);
      break;
  }
  s.presence_stale = true;
}

// ---- what goes out ------------------------------------------------------------------

void ClusterStore::relay(Room& room, wire::Record kind, std::string_view session, std::string_view frame) {
  RoomLink& link = link_of(room);
  if (link.outbox.empty()) {
    wire::put(link.outbox, instance_id_);
    outbox_rooms_.push_back(&room);
  }
  wire::put(link.outbox, wire::letter(kind));
  wire::put(link.outbox, session);
  wire::put(link.outbox, frame);
}

void ClusterStore::publish_outbox(RoomLink& link) {
  calls_.push_back(RedisCall{0, -1, 0, {"PUBLISH", link.channel, std::move(link.outbox)}});
  link.outbox.clear();
}

void ClusterStore::flush_outbox(Room& room) {
  if (link_of(room).outbox.empty()) return;
  publish_outbox(link_of(room));
  outbox_rooms_.erase(std::remove(outbox_rooms_.begin(), outbox_rooms_.end(), &room), outbox_rooms_.end());
}

std::string ClusterStore::session_record(const Session& s, int64_t held_until_ms) {
  std::string record;
  wire::put(record, instance_id_);
  wire::put(record, s.token());
  wire::put(record, s.connected ? "1" : "0");
  wire::put(record, std::to_string(held_until_ms));
  PeerView view{s.id, &s.user, s.camera(), s.selection(), s.following(), s.connected, s.role,
                s.room && s.room->presenter() == s.id};
  encode_presence_list(domain_.encoder(), std::span<const PeerView>(&view, 1));
  std::string_view list = domain_.encoded();
  wire::put(record, list.substr(1, list.size() - 2));  // the one entry, without [ ]
  return record;
}

// The record is written unless another instance has claimed the session meanwhile (a
// hold announced here can reach Redis after a resume elsewhere took the session).
void ClusterStore::write_presence(Room& room, const Session& s) {
  int64_t until = s.hold ? redis_now_ms(s.hold->until_ns) : 0;
  calls_.push_back(
      RedisCall{0, wire::kRecord, 1, {wire::who_key(room.name()), instance_id_, s.id, session_record(s, until)}});
}

void ClusterStore::held(Room& room, const Session& s) {
  int64_t until = redis_now_ms(s.hold->until_ns);
  relay(room, wire::Record::Hold, s.id, std::to_string(until));
  write_presence(room, s);
}

void ClusterStore::announce_resume(Room& room, const Session& s) {
  relay(room, wire::Record::Resume, s.id, instance_id_);
  write_presence(room, s);
}

// The session ended here: the others hear `leave` from the end script, which also makes
// sure exactly one instance announces it.
void ClusterStore::ended(Room& room, const Session& s) {
  flush_outbox(room);  // its last cursor goes before its leave
  encode_presence_leave(domain_.encoder(), s.id);
  PendingCall p{CallKind::Reap, room.name(), s.id};
  call(std::move(p), wire::kEnd, 1,
       {wire::who_key(room.name()), s.id, instance_id_, link_of(room).channel, instance_id_, std::string(domain_.encoded())});
  submit_calls();
}

// Redis gives the seq (the edit script: exactly-once check, seq, stream, PUBLISH, all
// atomic); the ack follows once the edit is applied here.
EditPath ClusterStore::append_edit(Member* m, Session* s, Room& room, const ClientMessage& msg, std::string key,
                                   uint64_t ticket) {
  flush_outbox(room);  // what the sender relayed before this edit arrives before it
  const std::string_view origin = s ? std::string_view(s->id) : std::string_view("server");
  encode_edit(domain_.encoder(), origin, 0, msg.building, msg.op, msg.data);
  // The script writes the seq in: the frame is split right after "seq": (the first
  // occurrence; the session id before it never holds a quote).
  std::string_view frame = domain_.encoded();
  const size_t at = frame.find("\"seq\":0");
  std::string prefix(frame.substr(0, at + 6));
  std::string suffix(frame.substr(at + 7));
  PendingCall p{m ? CallKind::Edit : CallKind::Publish, room.name()};
  if (s) p.session = s->id;
  p.has_id = msg.has_id;
  p.id = std::string(msg.id);
  p.ticket = ticket;
  p.key = key;
  if (m && s) edits_in_flight_[s->id] = next_cookie_;  // the cookie call() hands out
  // With --redis-min-replicas the script only stores: the E record goes out from
  // on_reply once WAIT confirmed the write (see confirmed_edit).
  const bool script_publishes = config_.redis_min_replicas == 0;
  // --webhook: the edit's event, as the backend port makes it, goes into the room's
  // outbox in the same script call (docs/integration.md 4, "Nothing lost").
  if (hooks_) {
    const bool has_id = s && msg.has_id && !key.empty();  // an id the room remembers
    AppliedEdit applied{0, origin, s ? &s->user : nullptr, has_id, has_id ? msg.id : std::string_view(), frame};
    HookEvent made;
    const std::string marker = "\"epoch\":\"" + room.epoch() + "\",\"seq\":0";
    const std::string id_end = ":" + room.epoch() + ":0";
    size_t at = std::string::npos;
    if (domain_.edit_event(room, applied, made) && made.id.ends_with(id_end) &&
        (at = made.body.find(marker)) != std::string::npos) {
      p.event.body = made.body.substr(0, at + 9);  // through "epoch":"
      p.event_tail = made.body.substr(at + marker.size());
      p.event.id = made.id.substr(0, made.id.size() - id_end.size() + 1);  // through "edit:<room>:"
      p.event.created_ms = made.created_ms;
    }
  }
  std::vector<std::string> args{wire::meta_key(room.name()), wire::log_key(room.name()), wire::ids_key(room.name())};
  const bool event = !p.event.body.empty();
  if (event) {
    args.push_back(wire::hooks_key(room.name()));
    args.push_back(wire::hook_lease_key(room.name()));
    args.push_back(wire::kHookRoomsKey);
  }
  for (std::string* a : {&key, &prefix, &suffix}) args.push_back(std::move(*a));
  args.push_back(std::to_string(config_.history));
  args.push_back(std::string(origin));
  args.push_back(random_base64url(12));
  args.push_back(instance_id_);
  args.push_back(std::to_string((uint64_t(config_.room_ttl_s) + 60) * 1000));
  args.push_back(link_of(room).channel);
  args.push_back(script_publishes ? "1" : "0");
  if (event) {
    args.push_back(room.name());
    args.push_back(p.event.body);
    args.push_back(p.event_tail);
    args.push_back(p.event.id);
    args.push_back(std::to_string(p.event.created_ms));
    args.push_back(hooks_->lease_ms());
    args.push_back(hooks_->ttl_ms());
  }
  call(std::move(p), wire::kEdit, event ? 6 : 3, std::move(args));
  submit_calls();
  return EditPath::Pending;
}

void ClusterStore::end_window() {
  // One PUBLISH per room per window carries everything relayed in it.
  for (Room* r : outbox_rooms_) publish_outbox(link_of(*r));
  outbox_rooms_.clear();
  submit_calls();
}

bool ClusterStore::take_peeked(std::string_view room_name, std::vector<PresenceEntry>& out) {
  auto it = peeked_.find(std::string(room_name));
  if (it == peeked_.end()) return false;
  out = it->second;
  return true;
}

bool ClusterStore::presence_ready(std::string_view room_name, int64_t now_ns) {
  now_ns_ = now_ns;
  if (Room* served = room(room_name)) {
    RoomLink& link = link_of(*served);
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

void ClusterStore::apply_peek(const std::string& room, bool ok, RedisValue& value) {
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
  port_.room_ready(room, ok);
  peeked_.erase(room);
}

}  // namespace roomcast
