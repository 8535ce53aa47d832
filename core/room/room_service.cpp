// core/room/room_service.cpp: decoded message in, frames into members' queues out.
#include "core/room/room_service.h"

#include <algorithm>
#include <ctime>

#include <rapidjson/document.h>

#include "core/auth/tokens.h"
#include "core/base/ws_frames.h"
#include "proto/json_util.h"

namespace roomcast {
namespace {

// Edit ids of 1 to 64 characters (code points) are remembered; others apply every time.
bool rememberable(std::string_view id) {
  size_t chars = 0;
  for (char c : id)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++chars;
  return chars >= 1 && chars <= kMaxRememberedIdChars;
}

// The edit id inside an exactly-once key (edit_key below), or empty.
std::string_view id_of_key(std::string_view key) {
  const size_t colon = key.find(':');
  if (colon == std::string_view::npos) return {};
  size_t user_len = 0;
  for (char c : key.substr(0, colon)) user_len = user_len * 10 + size_t(c - '0');
  if (colon + 1 + user_len > key.size()) return {};
  return key.substr(colon + 1 + user_len);
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
      store_(&memory_),
      backend_(&no_backend_),
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

// Everything but cameras (edits stay in history) gets its own allocation.
FrameRef RoomService::fan_out(Room& room, const Session* except, OutType type, std::string_view payload) {
  FrameRef frame = FrameRef::adopt(ws_frame(Opcode::Text, payload));
  uint32_t recipients = room.broadcast(frame.get(), except, relaying_);
  frame->track_fanout(now_ns_, recipients);
  metrics_.messages_out[size_t(type)].add(recipients);
  return frame;
}

FrameRef RoomService::fan_out_cursor(Room& room, Session& sender, std::string_view payload) {
  Session::View& view = sender.view_for_update();
  // Queues still holding the previous camera may now skip it (latest wins).
  if (view.last_cursor) view.last_cursor->mark_superseded();
  // Cameras are broadcast and forgotten: their bytes go in the room's arena, next to the
  // room's previous camera of this window, so a recipient's queued cameras leave as one
  // range. A cursor held back for reduced members (1.2) is pushed again at their tick, so
  // its bytes must outlive its first recipients: outside the arena then.
  const bool reduced = room.reduced();
  FrameArena* arena = reduced ? nullptr : &room.camera_arena();
  const bool was_filling = arena && arena->filling();
  FrameRef frame = FrameRef::adopt(ws_frame(Opcode::Text, payload, DropPolicy::WhenSuperseded, arena));
  if (arena && !was_filling && arena->filling()) filling_arenas_.push_back(&room);
  const uint32_t recipients = room.broadcast_cursor(frame.get(), sender, now_ns_, relaying_);
  frame->track_fanout(now_ns_, recipients);
  metrics_.messages_out[size_t(OutType::Cursor)].add(recipients);
  view.last_cursor = frame;
  if (reduced) note_attention(room);
  return frame;
}

void RoomService::flush_cursor(Room& room, Session& sender) {
  if (!sender.view || !sender.view->held_back) return;
  if (Attention* a = room.attention_if_any()) metrics_.messages_out[size_t(OutType::Cursor)].add(a->flush(sender));
}

void RoomService::forget_cursor(Room& room, Session& sender) {
  if (Attention* a = room.attention_if_any()) a->forget(sender);
}

void RoomService::note_attention(Room& room) {
  if (room.attention_listed) return;
  room.attention_listed = true;
  attention_rooms_.push_back(&room);
}

int64_t RoomService::cameras_due_ns() const {
  int64_t due = 0;
  for (Room* room : attention_rooms_) {
    const int64_t at = room->attention().due_ns();
    if (at != 0 && (due == 0 || at < due)) due = at;
  }
  return due;
}

void RoomService::camera_tick(int64_t now_ns) {
  now_ns_ = now_ns;
  for (size_t i = 0; i < attention_rooms_.size();) {
    Room* room = attention_rooms_[i];
    metrics_.messages_out[size_t(OutType::Cursor)].add(room->attention().tick(now_ns, room->presenter()));
    if (room->attention().due_ns() == 0) {
      room->attention_listed = false;
      attention_rooms_[i] = attention_rooms_.back();
      attention_rooms_.pop_back();
    } else {
      ++i;
    }
  }
}

void RoomService::end_window() {
  for (Room* room : filling_arenas_) room->camera_arena().seal();
  filling_arenas_.clear();
  store_->end_window();
}

void RoomService::send_error(Member& m, ErrorCode code, std::string_view message) {
  encode_error(encoded_, code, message);
  reply(m, OutType::Error, encoded());
}

const std::vector<PeerView>& RoomService::snapshot(const Room& room) {
  peers_.clear();
  auto view = [&room](const Session& p) {
    return PeerView{p.id, &p.user, p.camera(), p.selection(), p.following(), p.connected, p.role,
                    p.id == room.presenter()};
  };
  for (const Session* p : room.members()) peers_.push_back(view(*p));
  for (const auto& p : room.held()) peers_.push_back(view(*p));
  store_->add_peers_elsewhere(room, peers_);
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
    it = rooms_.emplace(std::string(name), std::move(room)).first;
    it->second->empty_since_ns = now_ns_;
    store_->opened(*it->second);
    update_gauges();
  }
  return *it->second;
}

Room& RoomService::open_room(std::string_view name, int64_t now_ns) {
  now_ns_ = now_ns;
  return room_named(name);
}

const Room* RoomService::find_room(std::string_view name) const {
  auto it = rooms_.find(std::string(name));
  return it == rooms_.end() ? nullptr : it->second.get();
}

Room* RoomService::find_room(std::string_view name) {
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
    case MessageType::Present:
      present(m, *s, msg);
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
  // The store may need the room loaded first, or look for the resumed session elsewhere.
  if (store_->join_waits(m, room, msg, text)) return;
  // 1.2: this connection's camera rate (a resume without one gets every cursor).
  m.camera_rate = msg.has_camera_rate ? float(msg.camera_rate) : 0.0f;
  std::unique_ptr<Session> s = resuming ? take_over(m, room, msg.resume) : nullptr;
  bool claimed_here = false;  // brought from elsewhere by the store
  if (!s && resuming) {
    s = store_->claimed(m, room);
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
    while (room.find(s->id) || store_->is_elsewhere(room, s->id));
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
  // 1.2: with a token, the role is always the token's (the join's or the upgrade's);
  // without authentication everyone edits.
  const Role role = m.identity && m.identity->verified ? m.identity->role : Role::Editor;
  const bool role_changed_here = resumed && s->role != role;
  s->role = role;

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
  extras.role = role;
  extras.has_camera_rate = msg.has_camera_rate;
  extras.camera_rate = msg.camera_rate;
  // A resumed presenter demoted by its new token no longer presents (announced below).
  const bool demoted_presenter = role_changed_here && role == Role::Viewer && room.presenter() == s->id;
  extras.presenter = demoted_presenter ? std::string_view() : std::string_view(room.presenter());
  encode_welcome(encoded_, s->id, room.name(), s->user, room.seq(), snapshot(room), extras);
  reply(m, OutType::Welcome, encoded());

  if (msg.has_since) {
    // History holds the very frames that were broadcast: the replay is queued from it as
    // the socket drains, outside the slow-reader limit (core/room/room_replay.cpp).
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
    encode_presence_join(encoded_, s->id, s->user, s->role);
    fan_out(room, nullptr, OutType::Presence, encoded());  // before add(): the joiner got welcome instead
    store_->relayed(room, *s, Relay::Join, encoded());
    backend_->joined(room, *s);
  }
  room.add(s.get());
  store_->joined(room, *s, resumed, claimed_here);
  Session& joined = *s;
  m.attach(std::move(s));
  if (role_changed_here) role_changed(room, joined, role);
  ++sessions_;
  update_gauges();
}

void RoomService::cursor(Session& s, const ClientMessage& msg) {
  Session::View& view = s.view_for_update();
  view.camera = msg.camera;
  view.has_camera = true;
  view.sent_here |= Session::View::kCameraSent;
  encode_cursor(encoded_, s.id, view.camera);
  fan_out_cursor(*s.room, s, encoded());
  store_->relayed(*s.room, s, Relay::Cursor, encoded());
}

void RoomService::select(Session& s, const ClientMessage& msg) {
  Session::View& view = s.view_for_update();
  view.sent_here |= Session::View::kSelectionSent;
  std::vector<std::string>& selection = view.selection;
  selection.assign(msg.ids.begin(), msg.ids.end());
  flush_cursor(*s.room, s);  // per-sender order (docs/protocol.md 7.3)
  encode_select(encoded_, s.id, selection);
  fan_out(*s.room, &s, OutType::Select, encoded());
  store_->relayed(*s.room, s, Relay::Select, encoded());
}

void RoomService::edit(Member& m, Session& s, const ClientMessage& msg) {
  Room& room = *s.room;
  if (s.role != Role::Editor) {
    // 1.2 (docs/protocol.md 7.1-7.2): nothing applied, relayed or stored, no seq consumed.
    metrics_.edits_forbidden.add();
    encode_edit_error(encoded_, ErrorCode::Forbidden, msg.has_id, msg.id, "viewers may not edit in this room");
    reply(m, OutType::Error, encoded());
    return;
  }
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
  EditDecision decision;
  const uint64_t ticket = next_ticket_++;
  const EditCheck check{room.name(), s.id, &s.user, msg.has_id, msg.id, msg.building, msg.op, msg.data};
  if (backend_->check_edit(check, ticket, decision) == BackendPort::Answer::Later) {
    Vetting& v = vetting_[ticket];
    v.room = room.name();
    v.session = s.id;
    v.key = std::move(key);
    v.has_id = msg.has_id;
    v.id = msg.id;
    v.building = msg.building;
    v.op = msg.op;
    if ((v.has_data = msg.data != nullptr)) v.data_json = json::text(*msg.data);
    hold_sender(m);  // its later messages wait for the decision (docs/protocol.md 3.2)
    return;
  }
  apply_decision(m, s, msg, std::move(key), decision);
}

bool RoomService::apply_decision(Member& m, Session& s, const ClientMessage& sent, std::string key,
                                 const EditDecision& d) {
  Room& room = *s.room;
  if (d.kind == EditDecision::Kind::Reject) {
    metrics_.edits_rejected.add();
    encode_edit_error(encoded_, ErrorCode::Rejected, sent.has_id, sent.id, "the backend rejected this edit; it was not applied",
                      d.reason);
    reply(m, OutType::Error, encoded());
    return false;
  }
  if (d.kind == EditDecision::Kind::Unavailable) {
    metrics_.hook_edits_unavailable.add();
    send_error(m, ErrorCode::Unavailable, "the backend cannot be reached; the edit was not applied");
    return false;
  }
  ClientMessage rewritten;
  rapidjson::Document data;
  if (d.kind == EditDecision::Kind::Rewrite) {
    rewritten = sent;
    if (d.has_building) rewritten.building = d.building;
    if (d.has_op) rewritten.op = d.op;
    if (d.has_data) {
      data.Parse(d.data_json.data(), d.data_json.size());
      rewritten.data = data.HasParseError() ? sent.data : &data;
    }
  }
  const ClientMessage& msg = d.kind == EditDecision::Kind::Rewrite ? rewritten : sent;
  if (store_->append_edit(&m, &s, room, msg, key, 0) == EditPath::Pending) {
    // The store gives the seq; the ack follows once the edit is applied here, and the
    // sender's later messages wait for it (per-sender order, docs/protocol.md 3.2).
    hold_sender(m);
    m.wait->rewritten = d.kind == EditDecision::Kind::Rewrite;
    return true;
  }
  const uint64_t seq = room.next_seq();
  flush_cursor(room, s);  // per-sender order (docs/protocol.md 7.3)
  encode_edit(encoded_, s.id, seq, msg.building, msg.op, msg.data);
  // A rewritten edit reaches its sender too: what the room stored is not what it sent
  // (docs/integration.md 3).
  const bool to_sender_too = d.kind == EditDecision::Kind::Rewrite;
  commit(room, to_sender_too ? nullptr : &s, s.id, &s.user, msg.has_id, msg.id, std::move(key), encoded(), true, false);
  encode_ack(encoded_, msg.has_id, msg.id, seq, false, to_sender_too);
  reply(m, OutType::Ack, encoded());
  return false;
}

void RoomService::edit_decided(uint64_t ticket, const EditDecision& decision, int64_t now_ns) {
  now_ns_ = now_ns;
  auto it = vetting_.find(ticket);
  if (it == vetting_.end()) return;
  Vetting v = std::move(it->second);
  vetting_.erase(it);
  Room* room = find_room(v.room);
  Session* s = room ? room->find(v.session) : nullptr;
  if (!s || !s->connected || !s->member) return;  // gone or held: it resends after resuming
  Member& m = *s->member;
  ClientMessage msg;
  msg.type = MessageType::Edit;
  msg.has_id = v.has_id;
  msg.id = v.id;
  msg.building = v.building;
  msg.op = v.op;
  rapidjson::Document data;
  if (v.has_data) {
    data.Parse(v.data_json.data(), v.data_json.size());
    msg.data = &data;
  }
  if (!apply_decision(m, *s, msg, std::move(v.key), decision)) release(m);
}


uint64_t RoomService::publish(std::string_view room_name, const ClientMessage& edit, int64_t now_ns) {
  now_ns_ = now_ns;
  Room& room = room_named(room_name);
  const uint64_t seq = room.next_seq();
  encode_edit(encoded_, "server", seq, edit.building, edit.op, edit.data);
  commit(room, nullptr, "server", nullptr, false, {}, {}, encoded(), true, false);
  metrics_.publishes.add();
  return seq;
}

PresencePage RoomService::presence(std::string_view room_name, std::string_view after) {
  std::vector<PresenceEntry> entries;
  if (store_->take_peeked(room_name, entries)) {
    // read by the store for a room this thread does not serve
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
    if (!s.room->find(msg.follow_target) && !store_->is_elsewhere(*s.room, msg.follow_target)) {
      send_error(m, ErrorCode::BadMessage, "follow: no such session in this room");
      return;
    }
    s.view_for_update().following.assign(msg.follow_target);
  } else if (s.view) {
    s.view->following.clear();
  }
  if (s.view) s.view->sent_here |= Session::View::kFollowingSent;
  Room& room = *s.room;
  if (Attention* a = room.attention_if_any()) a->follows_changed();
  flush_cursor(room, s);  // per-sender order (docs/protocol.md 7.3)
  if (m.camera_rate > 0 && msg.has_follow_target) {
    // A follow takes effect for the next cursor; the leader's newest, which may be held
    // back for this member, comes now (so it is never lost to the change).
    Session* leader = room.find(msg.follow_target);
    if (!leader) leader = store_->find_elsewhere(room, msg.follow_target);
    if (leader && leader->view && leader->view->last_cursor && leader->view->last_cursor->has_bytes()) {
      m.out.push(leader->view->last_cursor.get());
      metrics_.messages_out[size_t(OutType::Cursor)].add();
    }
  }
  encode_follow(encoded_, s.id, s.following());
  fan_out(*s.room, &s, OutType::Follow, encoded());
  store_->relayed(*s.room, s, Relay::Follow, encoded());
}




void RoomService::reap(int64_t now_ns) {
  end_window();  // no pointer to a room may outlive it; and a quiet room keeps no chunk
  const int64_t ttl_ns = int64_t(config_.room_ttl_s) * 1'000'000'000;
  for (auto it = rooms_.begin(); it != rooms_.end();) {
    Room& room = *it->second;
    if (room.empty() && !store_->keeps(room) && now_ns - room.empty_since_ns >= ttl_ns) {
      store_->closing(room);
      if (room.attention_listed)
        attention_rooms_.erase(std::find(attention_rooms_.begin(), attention_rooms_.end(), &room));
      it = rooms_.erase(it);
    } else {
      ++it;
    }
  }
  update_gauges();
}

// ---- one message in, and the members that wait -----------------------------------------

Verdict RoomService::receive(Member& m, std::string_view text, int64_t now_ns) {
  if (m.busy()) {
    // An earlier join or edit of this member waits for its store: this one waits behind it.
    defer(m, text, now_ns);
    return Verdict::proceed();
  }
  DecodeError error;
  if (!decoder_.decode(text, message_, error)) return refuse(m, error);
  return handle(m, message_, now_ns, text);
}

void RoomService::defer(Member& m, std::string_view text, int64_t now_ns) {
  now_ns_ = now_ns;
  Member::Wait& wait = *m.wait;
  if (!m.rate.allow(now_ns) || wait.deferred.size() >= kMaxDeferred ||
      wait.deferred_bytes + text.size() > kMaxDeferredBytes) {
    metrics_.rate_limited.add();
    // Cameras are lossy by contract: dropped silently, as over the rate limit anywhere.
    DecodeError error;
    if (decoder_.decode(text, message_, error) && message_.type == MessageType::Cursor) return;
    send_error(m, ErrorCode::RateLimited, "message not processed: too many messages while an earlier one is stored");
    return;
  }
  wait.deferred_bytes += text.size();
  wait.deferred.emplace_back(text);
}

void RoomService::hold_sender(Member& m) {
  if (!m.wait) m.wait = std::make_unique<Member::Wait>();
  m.wait->busy = true;
}

// Handles what `m` sent while it waited, in order, until it waits again.
void RoomService::release(Member& m) {
  if (m.wait) m.wait->busy = false;
  while (m.wait && !m.wait->busy && !m.wait->deferred.empty()) {
    std::string text = std::move(m.wait->deferred.front());
    m.wait->deferred.pop_front();
    m.wait->deferred_bytes -= text.size();
    DecodeError error;
    Verdict v;
    if (!decoder_.decode(text, message_, error)) {
      v = refuse(m, error);
      if (!v.closes()) continue;
      if (m.link) m.link->close_member(m, v.close_code, v.reason);
      return;
    }
    // The rate limiter already let it in once.
    if (message_.type == MessageType::Join && !m.session) {
      if (m.awaiting_token) v = authenticate(m, message_.token);
      if (!v.closes()) join(m, message_, text);
    } else {
      v = dispatch(m, message_, text);
    }
    if (v.closes()) {
      if (m.link) m.link->close_member(m, v.close_code, v.reason);
      return;  // `m` may be gone
    }
  }
}

// ---- the store side ---------------------------------------------------------------------

Session* RoomService::apply_stored_edit(Room& room, std::string_view origin, std::string key, std::string_view frame,
                                       bool stored_here, bool event_kept) {
  Session* const from = room.find(origin);  // null: the publish API, or a session elsewhere
  Session* sender = from && from->connected ? from : nullptr;
  if (Session* cam = from ? from : store_->find_elsewhere(room, origin)) flush_cursor(room, *cam);
  // A rewritten edit reaches its sender too (docs/integration.md 3).
  const bool rewritten = sender && sender->member && sender->member->wait && sender->member->wait->rewritten;
  const std::string_view id = origin != "server" ? id_of_key(key) : std::string_view();
  commit(room, rewritten ? nullptr : sender, origin, from ? &from->user : nullptr, !id.empty(), id, std::move(key),
         frame, stored_here, event_kept);
  return sender && sender->member ? sender : nullptr;
}

void RoomService::commit(Room& room, const Session* except, std::string_view origin, const User* user, bool has_id,
                         std::string_view id, std::string key, std::string_view frame, bool stored_here,
                         bool event_kept) {
  FrameRef f = fan_out(room, except, OutType::Edit, frame);
  // The backend first: `id` may point into `key`, which then moves into the room.
  backend_->edit_applied(room, AppliedEdit{room.next_seq(), origin, user, has_id, id, frame, stored_here, event_kept});
  room.commit_edit(f.get(), std::move(key));
}

bool RoomService::rewritten_ack(Member& m) {
  if (!m.wait || !m.wait->rewritten) return false;
  m.wait->rewritten = false;
  return true;
}

std::unique_ptr<Session> RoomService::move_elsewhere(Room& room, std::string_view session_id) {
  Session* s = room.find(session_id);
  if (!s) return nullptr;
  forget_cursor(room, *s);  // its cameras come from the other instance from now on
  std::unique_ptr<Session> taken;
  if (s->connected) {
    Member* old = s->member;
    taken = old->take_session();
    room.remove(s);
    --sessions_;
    if (old->link) old->link->close_member(*old, kCloseReplaced, "replaced");
  } else {
    taken = room.unhold(s);
    if (!taken) return nullptr;
    if (taken->hold) give_back_place(*taken->hold);
    --held_;
  }
  taken->hold.reset();
  taken->member = nullptr;
  update_gauges();
  return taken;
}

void RoomService::publish_stored(std::string_view room_name, const ClientMessage& edit, uint64_t ticket,
                                 int64_t now_ns) {
  now_ns_ = now_ns;
  Room& room = room_named(room_name);
  store_->append_edit(nullptr, nullptr, room, edit, {}, ticket);
  metrics_.publishes.add();
}

bool RoomService::presence_ready(std::string_view room, int64_t now_ns) {
  now_ns_ = now_ns;
  return store_->presence_ready(room, now_ns);
}

}  // namespace roomcast
