#include "core/protocol.h"

#include "proto/frame.h"

namespace roomcast {

Protocol::Protocol(const Config& config, unsigned worker_index, Metrics& metrics)
    : config_(config), worker_index_(worker_index), metrics_(metrics) {}

SharedFrame* Protocol::scratch_frame(FrameKind kind) {
  return SharedFrame::make(Opcode::Text, std::string_view(scratch_.GetString(), scratch_.GetSize()), kind);
}

// Cameras are broadcast and forgotten: their bytes go in the room's arena, next to the
// room's previous camera of this window, so a recipient's queued cameras leave as one
// range. Everything else (edits stay in history) gets its own allocation.
SharedFrame* Protocol::camera_frame(Room& room) {
  FrameArena& arena = room.camera_arena();
  const bool was_filling = arena.filling();
  SharedFrame* f = SharedFrame::make(&arena, Opcode::Text, std::string_view(scratch_.GetString(), scratch_.GetSize()),
                                     FrameKind::Cursor);
  if (!was_filling && arena.filling()) filling_arenas_.push_back(&room);
  return f;
}

void Protocol::seal_camera_arenas() {
  for (Room* room : filling_arenas_) room->camera_arena().seal();
  filling_arenas_.clear();
}

void Protocol::reply(Connection& c, OutType type) {
  c.out.push_adopt(scratch_frame());
  metrics_.messages_out[size_t(type)].add();
}

FrameRef Protocol::fan_out(Room& room, const Session* except, OutType type, FrameKind kind) {
  FrameRef frame = FrameRef::adopt(kind == FrameKind::Cursor ? camera_frame(room) : scratch_frame(kind));
  uint32_t recipients = room.broadcast(frame.get(), except);
  frame->track_fanout(now_ns_, recipients);
  metrics_.messages_out[size_t(type)].add(recipients);
  return frame;
}

void Protocol::send_error(Connection& c, ErrorCode code, std::string_view message) {
  encode_error(scratch_, code, message);
  reply(c, OutType::Error);
}

// What a late joiner (welcome.peers) or the presence API sees of each member.
void Protocol::snapshot(const Room& room) {
  peers_.clear();
  for (const Session* p : room.members())
    peers_.push_back(PeerView{p->id, &p->user, p->has_camera ? &p->camera : nullptr, &p->selection, p->following});
}

void Protocol::update_gauges() {
  metrics_.rooms.set(rooms_.size());
  metrics_.sessions.set(sessions_);
}

Room& Protocol::room_named(const std::string& name) {
  auto it = rooms_.find(name);
  if (it == rooms_.end()) {
    it = rooms_.emplace(name, std::make_unique<Room>(name, config_.history)).first;
    it->second->empty_since_ns = now_ns_;
    update_gauges();
  }
  return *it->second;
}

const Room* Protocol::find_room(std::string_view name) const {
  auto it = rooms_.find(std::string(name));
  return it == rooms_.end() ? nullptr : it->second.get();
}

// The hot path for every inbound message: decode once, check, dispatch.
void Protocol::on_text(Connection& c, std::string_view text, int64_t now_ns) {
  now_ns_ = now_ns;
  if (!decoder_.decode(text, msg_, decode_error_)) {
    send_error(c, decode_error_.code, decode_error_.message);
    return;
  }
  if (!c.rate.allow(now_ns)) {
    metrics_.rate_limited.add();
    // Cameras are lossy by contract: drop silently. Everything else is told.
    if (msg_.type != MessageType::Cursor)
      send_error(c, ErrorCode::RateLimited, "rate limit exceeded; message not processed");
    return;
  }
  metrics_.messages_in[size_t(msg_.type)].add();
  Session* s = c.session.get();
  if (!s) {
    if (msg_.type == MessageType::Join) {
      join(c, now_ns);
    } else {
      send_error(c, ErrorCode::NotJoined, "send join first");
    }
    return;
  }
  switch (msg_.type) {
    case MessageType::Join:
      send_error(c, ErrorCode::AlreadyJoined, "this connection has already joined");
      break;
    case MessageType::Cursor:
      cursor(*s);
      break;
    case MessageType::Select:
      select(*s);
      break;
    case MessageType::Edit:
      edit(c, *s);
      break;
    case MessageType::Follow:
      follow(c, *s);
      break;
    case MessageType::Ping:
      encode_pong(scratch_, msg_.t);
      reply(c, OutType::Pong);
      break;
    case MessageType::Leave:
      // The close makes the worker call on_leave(): presence leave, then close 1000.
      c.ws.queue_close(kCloseNormal, "");
      break;
  }
}

void Protocol::join(Connection& c, int64_t) {
  Room& room = room_named(c.room_name);
  if (room.members().size() >= config_.max_room_members) {
    send_error(c, ErrorCode::RoomFull, "this room has the maximum number of sessions");
    return;
  }
  auto s = std::make_unique<Session>();
  s->id = std::to_string(worker_index_) + "-" + std::to_string(++sessions_made_);
  s->user = std::move(msg_.user);
  if (c.identity && c.identity->verified) {
    // With authentication on, the token says who this is, whatever the join claims.
    s->user.id = c.identity->user_id;
    if (!s->user.has_name && c.identity->has_name) {
      s->user.name = c.identity->name;
      s->user.has_name = true;
    }
  }
  s->out = &c.out;

  snapshot(room);
  encode_welcome(scratch_, s->id, room.name(), s->user, room.seq(), peers_);
  reply(c, OutType::Welcome);

  if (msg_.has_since) {
    // History holds the very frames that were broadcast: replay is a queue push each.
    size_t replayed = 0;
    bool complete = room.history().replay_since(msg_.since, room.seq(), [&](SharedFrame* f) {
      c.out.push(f);
      ++replayed;
    });
    metrics_.messages_out[size_t(OutType::Edit)].add(replayed);
    if (complete) {
      metrics_.history_replays.add();
    } else {
      metrics_.resyncs.add();
      encode_resync(scratch_, room.seq());
      reply(c, OutType::Resync);
    }
  }

  encode_presence_join(scratch_, s->id, s->user);
  fan_out(room, nullptr, OutType::Presence);  // before add(): the joiner gets welcome instead
  room.add(s.get());
  c.session = std::move(s);
  ++sessions_;
  update_gauges();
}

void Protocol::cursor(Session& s) {
  s.camera = msg_.camera;
  s.has_camera = true;
  encode_cursor(scratch_, s.id, s.camera);
  // Queues still holding the previous camera may now skip it (latest-wins).
  if (s.last_cursor) s.last_cursor->mark_superseded();
  s.last_cursor = fan_out(*s.room, &s, OutType::Cursor, FrameKind::Cursor);
}

void Protocol::select(Session& s) {
  s.selection.assign(msg_.ids.begin(), msg_.ids.end());
  encode_select(scratch_, s.id, s.selection);
  fan_out(*s.room, &s, OutType::Select);
}

void Protocol::edit(Connection& c, Session& s) {
  Room& room = *s.room;
  uint64_t seq = room.next_seq();
  encode_edit(scratch_, s.id, seq, msg_.building, msg_.op, msg_.data);
  FrameRef frame = fan_out(room, &s, OutType::Edit);
  room.commit_edit(frame.get());
  encode_ack(scratch_, msg_.has_id, msg_.id, seq);
  reply(c, OutType::Ack);
}

uint64_t Protocol::publish(const std::string& room_name, std::string_view body, int64_t now_ns, std::string& error) {
  now_ns_ = now_ns;
  if (!decoder_.decode_publish(body, msg_, decode_error_)) {
    error = decode_error_.message;
    return 0;
  }
  Room& room = room_named(room_name);
  uint64_t seq = room.next_seq();
  encode_edit(scratch_, "server", seq, msg_.building, msg_.op, msg_.data);
  FrameRef frame = fan_out(room, nullptr, OutType::Edit);
  room.commit_edit(frame.get());
  metrics_.publishes.add();
  return seq;
}

std::string Protocol::presence_json(const std::string& room_name) {
  peers_.clear();
  if (const Room* room = find_room(room_name)) snapshot(*room);
  encode_presence_list(scratch_, peers_);
  return std::string(scratch_.GetString(), scratch_.GetSize());
}

void Protocol::follow(Connection& c, Session& s) {
  if (msg_.has_follow_target) {
    if (msg_.follow_target == s.id) {
      send_error(c, ErrorCode::BadMessage, "follow: a session cannot follow itself");
      return;
    }
    if (!s.room->find(msg_.follow_target)) {
      send_error(c, ErrorCode::BadMessage, "follow: no such session in this room");
      return;
    }
    s.following.assign(msg_.follow_target);
  } else {
    s.following.clear();
  }
  encode_follow(scratch_, s.id, s.following);
  fan_out(*s.room, &s, OutType::Follow);
}

void Protocol::on_leave(Connection& c, int64_t now_ns) {
  now_ns_ = now_ns;
  Session* s = c.session.get();
  if (!s) return;
  Room& room = *s->room;
  room.remove(s);
  // Followers of a departed leader follow nobody; late joiners must not see a ghost.
  for (Session* m : room.members())
    if (m->following == s->id) m->following.clear();
  encode_presence_leave(scratch_, s->id);
  fan_out(room, nullptr, OutType::Presence);
  if (room.empty()) room.empty_since_ns = now_ns;
  c.session.reset();
  --sessions_;
  update_gauges();
}

void Protocol::reap_rooms(int64_t now_ns) {
  seal_camera_arenas();  // no pointer to a room may outlive it; and a quiet room keeps no chunk
  const int64_t ttl_ns = int64_t(config_.room_ttl_s) * 1'000'000'000;
  for (auto it = rooms_.begin(); it != rooms_.end();) {
    if (it->second->empty() && now_ns - it->second->empty_since_ns >= ttl_ns)
      it = rooms_.erase(it);
    else
      ++it;
  }
  update_gauges();
}

}  // namespace roomcast
