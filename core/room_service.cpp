// core/room_service.cpp: decoded message in, frames into members' queues out.
#include "core/room_service.h"

#include <ctime>

#include "core/cluster_wire.h"
#include "core/tokens.h"
#include "core/ws_frames.h"

namespace roomcast {
namespace {

// Edit ids of 1 to 64 characters (code points) are remembered; others apply every time.
bool rememberable(std::string_view id) {
  size_t chars = 0;
  for (char c : id)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++chars;
  return chars >= 1 && chars <= kMaxRememberedIdChars;
}

// (user id, edit id) as one map key: length-prefixed, so no two pairs collide.
std::string edit_key(std::string_view user_id, std::string_view id) {
  std::string key = std::to_string(user_id.size());
  key += ':';
  key += user_id;
  key += id;
  return key;
}

}  // namespace

RoomService::RoomService(const Config& config, unsigned instance, Metrics& metrics, ConnectionLimits* limits,
                         const Logger* log)
    : unix_now([] { return int64_t(std::time(nullptr)); }),
      config_(config),
      tokens_(config),
      instance_(instance),
      metrics_(metrics),
      limits_(limits),
      log_(log) {}

void RoomService::reply(Member& m, OutType type, std::string_view payload) {
  m.out.push_reply(ws_frame(Opcode::Text, payload));
  metrics_.messages_out[size_t(type)].add();
}

// Cameras are broadcast and forgotten: their bytes go in the room's arena, next to the
// room's previous camera of this window, so a recipient's queued cameras leave as one
// range. Everything else (edits stay in history) gets its own allocation.
FrameRef RoomService::fan_out(Room& room, const Session* except, OutType type, std::string_view payload,
                              DropPolicy policy) {
  FrameArena* arena = policy == DropPolicy::WhenSuperseded ? &room.camera_arena() : nullptr;
  const bool was_filling = arena && arena->filling();
  FrameRef frame = FrameRef::adopt(ws_frame(Opcode::Text, payload, policy, arena));
  if (arena && !was_filling && arena->filling()) filling_arenas_.push_back(&room);
  uint32_t recipients = room.broadcast(frame.get(), except, relaying_);
  frame->track_fanout(now_ns_, recipients);
  metrics_.messages_out[size_t(type)].add(recipients);
  return frame;
}

void RoomService::end_window() {
  for (Room* room : filling_arenas_) room->camera_arena().seal();
  filling_arenas_.clear();
  if (!port_) return;
  // One PUBLISH per room per window carries everything relayed in it (scale-out).
  for (Room* room : outbox_rooms_) publish_outbox(*room->link);
  outbox_rooms_.clear();
  submit_calls();
}

void RoomService::send_error(Member& m, ErrorCode code, std::string_view message) {
  encode_error(encoded_, code, message);
  reply(m, OutType::Error, encoded());
}

const std::vector<PeerView>& RoomService::snapshot(const Room& room) {
  peers_.clear();
  auto view = [](const Session& p) {
    return PeerView{p.id, &p.user, p.camera(), p.selection(), p.following(), p.connected};
  };
  for (const Session* p : room.members()) peers_.push_back(view(*p));
  for (const auto& p : room.held()) peers_.push_back(view(*p));
  if (room.link)
    for (const auto& [id, peer] : room.link->remote) peers_.push_back(view(*peer.session));
  return peers_;
}

void RoomService::update_gauges() {
  metrics_.rooms.set(rooms_.size());
  metrics_.sessions.set(sessions_);
  metrics_.held_sessions.set(held_);
}

Room& RoomService::room_named(std::string_view name) {
  auto it = rooms_.find(std::string(name));
  if (it == rooms_.end()) {
    // A new Room starts seq at 0: a new history, so a new epoch (docs/protocol.md 3.3).
    auto room = std::make_unique<Room>(std::string(name), config_.history, random_base64url(12));
    if (port_) {
      room->link = std::make_unique<RoomLink>();
      room->link->channel = wire::channel(name);
    }
    it = rooms_.emplace(std::string(name), std::move(room)).first;
    it->second->empty_since_ns = now_ns_;
    update_gauges();
  }
  return *it->second;
}

const Room* RoomService::find_room(std::string_view name) const {
  auto it = rooms_.find(std::string(name));
  return it == rooms_.end() ? nullptr : it->second.get();
}

Verdict RoomService::refuse(Member& m, const DecodeError& error) {
  // Before its token, a member gets no answers to probe with (docs/protocol.md 3.4).
  if (m.awaiting_token) return Verdict::close(kCloseUnauthorized, "unauthorized");
  send_error(m, error.code, error.message);
  return Verdict::proceed();
}

// The hot path for every inbound message: check, dispatch.
Verdict RoomService::handle(Member& m, const ClientMessage& msg, int64_t now_ns, std::string_view text) {
  now_ns_ = now_ns;
  // docs/protocol.md 3.4: before its token, anything but a `join` ends the connection, before
  // the rate limiter could answer it.
  if (m.awaiting_token && msg.type != MessageType::Join) return Verdict::close(kCloseUnauthorized, "unauthorized");
  if (!m.rate.allow(now_ns)) {
    metrics_.rate_limited.add();
    // Cameras are lossy by contract: drop silently. Everything else is told.
    if (msg.type != MessageType::Cursor) send_error(m, ErrorCode::RateLimited, "rate limit exceeded; message not processed");
    return Verdict::proceed();
  }
  metrics_.messages_in[size_t(msg.type)].add();
  return dispatch(m, msg, text);
}

Verdict RoomService::dispatch(Member& m, const ClientMessage& msg, std::string_view text) {
  Session* s = m.session.get();
  if (!s) {
    if (msg.type != MessageType::Join) {
      if (m.awaiting_token) return Verdict::close(kCloseUnauthorized, "unauthorized");
      send_error(m, ErrorCode::NotJoined, "send join first");
      return Verdict::proceed();
    }
    if (m.awaiting_token) {
      Verdict v = authenticate(m, msg.token);
      if (v.closes()) return v;
    }
    join(m, msg, text);
    return Verdict::proceed();
  }
  switch (msg.type) {
    case MessageType::Join:
      send_error(m, ErrorCode::AlreadyJoined, "this connection has already joined");
      break;
    case MessageType::Cursor:
      cursor(*s, msg);
      break;
    case MessageType::Select:
      select(*s, msg);
      break;
    case MessageType::Edit:
      edit(m, *s, msg);
      break;
    case MessageType::Follow:
      follow(m, *s, msg);
      break;
    case MessageType::Ping:
      encode_pong(encoded_, msg.t);
      reply(m, OutType::Pong, encoded());
      break;
    case MessageType::Refresh:
      refresh(m, msg);
      break;
    case MessageType::Leave:
      // The transport closes with 1000 and calls leave(Final): presence leave to the others.
      return Verdict::close(kCloseNormal, "");
  }
  return Verdict::proceed();
}




void RoomService::join(Member& m, const ClientMessage& msg, std::string_view text) {
  Room& room = room_named(m.room());
  const bool resuming = !msg.resume.empty();
  if (port_) {
    // Scale-out: the room must be mirrored first, and a token this thread does not know
    // may name a session another instance holds.
    if (wait_for_room(m, room, text)) return;
    const bool claimed = m.wait && m.wait->claim == Member::Wait::Claim::Done;
    if (resuming && !claimed && !room.find_by_token(msg.resume)) {
      start_claim(m, room, msg.resume, text);
      return;
    }
  }
  std::unique_ptr<Session> s = resuming ? take_over(m, room, msg.resume) : nullptr;
  bool claimed_here = false;  // taken over from another instance by the claim script
  if (!s && port_ && m.wait && !m.wait->claimed_session.empty()) {
    s = claimed_session(m, room);
    claimed_here = s != nullptr;
  }
  const bool resumed = s != nullptr;
  if (resuming && !resumed) {
    metrics_.resumes[size_t(ResumeResult::Expired)].add();
    if (log_) log_->log(LogLevel::Info, "resume_refused", {{"room", room.name()}, {"result", "expired"}});
  }
  // A member without a place yet (in band, or let past a full address as a possible
  // resume) takes it now: a resume always (its hold gave one back), a fresh join only
  // within the limits (docs/protocol.md "Resume behind one address").
  if (m.awaiting_place && (resumed || room.sessions() < config_.max_room_members)) {
    if (m.link && m.link->admit_member(m, resumed) != Admission::Admitted) {
      if (log_) log_->log(LogLevel::Warn, "limit", {{"room", room.name()}, {"limit", "over capacity at the join: 1013"}});
      m.link->close_member(m, kCloseTryAgainLater, "server overloaded");
      return;
    }
    m.awaiting_place = false;
  }
  if (!resumed) {
    if (room.sessions() >= config_.max_room_members) {
      send_error(m, ErrorCode::RoomFull, "this room has the maximum number of sessions");
      return;
    }
    s = std::make_unique<Session>();
    // 72 random bits (docs/protocol.md): never repeated across restarts, epochs, threads
    // or instances (a client may still hold an id from before a restart: it must not
    // name someone else), and nothing in it names an instance. Drawn with the session's
    // first resume token in one getrandom, so a join costs what it did with a counter.
    do s->id = fresh_session_id(*s);
    while (room.find(s->id) || (room.link && room.link->remote.count(s->id)));
    s->user = msg.user;
    if (m.identity && m.identity->verified) {
      // With authentication on, the token says who this is, whatever the join claims.
      s->user.id = m.identity->user_id;
      if (!s->user.has_name && m.identity->has_name) {
        s->user.name = m.identity->name;
        s->user.has_name = true;
      }
    }
  }
  s->member = &m;
  s->connected = true;
  if (resumed || !s->has_token()) issue_token(*s);  // a fresh session's came with its id

  WelcomeExtras extras;
  const std::string token = s->token();
  extras.resume = token;
  extras.epoch = room.epoch();
  if (m.identity && m.identity->verified && m.identity->exp > 0) {
    extras.has_exp = true;
    extras.exp = m.identity->exp;
  }
  extras.has_resumed = resuming;
  extras.resumed = resumed;
  encode_welcome(encoded_, s->id, room.name(), s->user, room.seq(), snapshot(room), extras);
  reply(m, OutType::Welcome, encoded());

  if (msg.has_since) {
    // History holds the very frames that were broadcast: the replay is queued from it as
    // the socket drains, outside the slow-reader limit (core/room_replay.cpp).
    // A `since` from another epoch counts edits of another history: never replayed.
    const bool same_history = !msg.has_epoch || msg.epoch == room.epoch();
    const bool complete = same_history && room.history().covers(msg.since, room.seq());
    if (complete) {
      if (msg.since < room.seq()) start_replay(m, room, msg.since);
      else metrics_.history_replays.add();
    } else {
      metrics_.resyncs.add();
      encode_resync(encoded_, room.seq());
      reply(m, OutType::Resync, encoded());
    }
  }

  if (!resumed) {
    encode_presence_join(encoded_, s->id, s->user);
    fan_out(room, nullptr, OutType::Presence, encoded());  // before add(): the joiner got welcome instead
    if (port_) relay(room, wire::Record::Join, s->id, encoded());
  }
  room.add(s.get());
  if (port_) {
    // A claimed session was announced (`r`) by the claim script itself, atomically with
    // its move; announcing it again from here could reach an instance after the session
    // moved on from here, which would take it for a newer move (docs/protocol.md).
    if (resumed && !claimed_here) announce_resume(room, *s);
    else write_presence(room, *s);
    // The welcome's new token is the only one that works now: its record goes to Redis
    // at once, not at the end of the window, so a resume on another instance right after
    // this welcome finds it (resumes are rare; joins keep sharing one submission).
    if (resumed) submit_calls();
    if (m.wait) m.wait->claimed_session.clear();
  }
  m.attach(std::move(s));
  ++sessions_;
  update_gauges();
}

void RoomService::cursor(Session& s, const ClientMessage& msg) {
  Session::View& view = s.view_for_update();
  view.camera = msg.camera;
  view.has_camera = true;
  view.sent_here |= Session::View::kCameraSent;
  encode_cursor(encoded_, s.id, view.camera);
  // Queues still holding the previous camera may now skip it (latest wins).
  if (view.last_cursor) view.last_cursor->mark_superseded();
  view.last_cursor = fan_out(*s.room, &s, OutType::Cursor, encoded(), DropPolicy::WhenSuperseded);
  if (port_) {
    relay(*s.room, wire::Record::Cursor, s.id, encoded());
    s.presence_stale = true;
  }
}

void RoomService::select(Session& s, const ClientMessage& msg) {
  Session::View& view = s.view_for_update();
  view.sent_here |= Session::View::kSelectionSent;
  std::vector<std::string>& selection = view.selection;
  selection.assign(msg.ids.begin(), msg.ids.end());
  encode_select(encoded_, s.id, selection);
  fan_out(*s.room, &s, OutType::Select, encoded());
  if (port_) {
    relay(*s.room, wire::Record::Select, s.id, encoded());
    s.presence_stale = true;
  }
}

void RoomService::edit(Member& m, Session& s, const ClientMessage& msg) {
  Room& room = *s.room;
  std::string key;
  if (msg.has_id && rememberable(msg.id)) {
    key = edit_key(s.user.id, msg.id);
    if (const uint64_t original = room.applied(key)) {
      // Exactly once (docs/protocol.md 3.2): the client did not see the first ack.
      metrics_.duplicate_edits.add();
      encode_ack(encoded_, true, msg.id, original, true);
      reply(m, OutType::Ack, encoded());
      return;
    }
  }
  if (port_) {
    // Scale-out: Redis gives the seq; the ack follows once the edit is applied here.
    store_edit(&m, &s, room, msg, std::move(key), 0);
    return;
  }
  const uint64_t seq = room.next_seq();
  encode_edit(encoded_, s.id, seq, msg.building, msg.op, msg.data);
  FrameRef frame = fan_out(room, &s, OutType::Edit, encoded());
  room.commit_edit(frame.get(), std::move(key));
  encode_ack(encoded_, msg.has_id, msg.id, seq);
  reply(m, OutType::Ack, encoded());
}


uint64_t RoomService::publish(std::string_view room_name, const ClientMessage& edit, int64_t now_ns) {
  now_ns_ = now_ns;
  Room& room = room_named(room_name);
  const uint64_t seq = room.next_seq();
  encode_edit(encoded_, "server", seq, edit.building, edit.op, edit.data);
  FrameRef frame = fan_out(room, nullptr, OutType::Edit, encoded());
  room.commit_edit(frame.get());
  metrics_.publishes.add();
  return seq;
}

PresencePage RoomService::presence(std::string_view room_name, std::string_view after) {
  std::vector<PresenceEntry> entries;
  if (auto peeked = peeked_.find(std::string(room_name)); peeked != peeked_.end()) {
    entries = peeked->second;  // read from Redis for a room this thread does not serve
  } else if (const Room* room = find_room(room_name)) {
    for (const PeerView& view : snapshot(*room)) {
      encode_presence_list(encoded_, std::span<const PeerView>(&view, 1));
      const std::string_view list = encoded();
      entries.push_back({std::string(view.session), std::string(list.substr(1, list.size() - 2))});
    }
  }
  return presence_page(entries, after);
}

std::string RoomService::presence_json(std::string_view room_name) { return presence(room_name, {}).json; }

void RoomService::follow(Member& m, Session& s, const ClientMessage& msg) {
  if (msg.has_follow_target) {
    if (msg.follow_target == s.id) {
      send_error(m, ErrorCode::BadMessage, "follow: a session cannot follow itself");
      return;
    }
    const bool remote = s.room->link && s.room->link->remote.count(std::string(msg.follow_target));
    if (!s.room->find(msg.follow_target) && !remote) {
      send_error(m, ErrorCode::BadMessage, "follow: no such session in this room");
      return;
    }
    s.view_for_update().following.assign(msg.follow_target);
  } else if (s.view) {
    s.view->following.clear();
  }
  if (s.view) s.view->sent_here |= Session::View::kFollowingSent;
  encode_follow(encoded_, s.id, s.following());
  fan_out(*s.room, &s, OutType::Follow, encoded());
  if (port_) {
    relay(*s.room, wire::Record::Follow, s.id, encoded());
    s.presence_stale = true;
  }
}




void RoomService::reap(int64_t now_ns) {
  end_window();  // no pointer to a room may outlive it; and a quiet room keeps no chunk
  const int64_t ttl_ns = int64_t(config_.room_ttl_s) * 1'000'000'000;
  for (auto it = rooms_.begin(); it != rooms_.end();) {
    Room& room = *it->second;
    const bool waited_on = room.link && (!room.link->waiting.empty() || room.link->http_waiting);
    if (room.empty() && !waited_on && now_ns - room.empty_since_ns >= ttl_ns) {
      if (room.link && room.link->sync != RoomLink::Sync::Idle) port_->unsubscribe(room.link->channel);
      it = rooms_.erase(it);
    } else {
      ++it;
    }
  }
  update_gauges();
}

}  // namespace roomcast
