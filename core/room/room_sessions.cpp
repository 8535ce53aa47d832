// core/room/room_sessions.cpp: the life of a session beyond one connection (protocol 1.1):
// in-band authentication and refresh, resume tokens, holds and their expiry, the end of a
// session. The rest of RoomService (messages in, frames out) is in room_service.cpp.
#include <algorithm>
#include <array>

#include "core/auth/tokens.h"
#include "core/base/ws_frames.h"
#include "core/room/room_service.h"
#include "proto/base64url.h"
#include "proto/jwt.h"

namespace roomcast {

// In-band authentication (docs/protocol.md 3.4): the join's token decides, as the upgrade's would.
Verdict RoomService::authenticate(Member& m, std::string_view token) {
  if (token.empty()) return Verdict::close(kCloseUnauthorized, "unauthorized");
  JwtClaims claims;
  JwtError error;
  if (!tokens_.verify(token, unix_now(), claims, error)) {
    if (log_) log_->log(LogLevel::Warn, "auth_failed", {{"endpoint", "join"}, {"reason", to_string(error)}});
    return Verdict::close(kCloseUnauthorized, "unauthorized");
  }
  if (!jwt_allows_room(claims, m.room())) return Verdict::close(kCloseForbidden, "forbidden");
  auto identity = std::make_unique<Identity>();
  identity->verified = true;
  identity->user_id = std::move(claims.sub);
  identity->has_name = claims.has_name;
  identity->name = std::move(claims.name);
  identity->exp = claims.usable_until;  // exp + --jwt-leeway: then close 4001
  identity->role = jwt_allows_edit(claims, m.room()) ? Role::Editor : Role::Viewer;
  m.identity = std::move(identity);
  m.awaiting_token = false;
  return Verdict::proceed();
}

std::string RoomService::fresh_session_id(Session& s) {
  constexpr size_t kIdBytes = 9;  // 12 base64url characters
  std::array<uint8_t, kIdBytes + Session::kTokenBytes> raw;
  do random_bytes(raw.data(), raw.size());
  while (std::all_of(raw.begin() + kIdBytes, raw.end(), [](uint8_t b) { return b == 0; }));
  std::copy(raw.begin() + kIdBytes, raw.end(), s.resume_token.begin());
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(raw.data()), kIdBytes));
}

void RoomService::issue_token(Session& s) {
  // One live token per session: the new one replaces the old.
  do random_bytes(s.resume_token.data(), s.resume_token.size());
  while (!s.has_token());
}

std::unique_ptr<Session> RoomService::take_over(Member& m, Room& room, std::string_view token) {
  Session* s = room.find_by_token(token);
  if (!s) return nullptr;
  if (m.identity && m.identity->verified && s->user.id != m.identity->user_id) return nullptr;
  if (s->connected) {
    // Still attached to a connection the server has not noticed is dead: that one ends.
    Member* old = s->member;
    std::unique_ptr<Session> taken = old->take_session();
    room.remove(s);
    if (old->link) old->link->close_member(*old, kCloseReplaced, "replaced");
    metrics_.resumes[size_t(ResumeResult::Replaced)].add();
    if (log_) log_->log(LogLevel::Info, "session_resumed", {{"session", s->id}, {"room", room.name()}, {"result", "replaced"}});
    --sessions_;
    return taken;
  }
  std::unique_ptr<Session> taken = room.unhold(s);
  if (!taken) return nullptr;
  // The new connection holds its own place.
  if (taken->hold) give_back_place(*taken->hold);
  taken->hold.reset();
  --held_;
  metrics_.resumes[size_t(ResumeResult::Ok)].add();
  if (log_) log_->log(LogLevel::Info, "session_resumed", {{"session", taken->id}, {"room", room.name()}, {"result", "ok"}});
  return taken;
}

void RoomService::refresh(Member& m, const ClientMessage& msg) {
  if (!tokens_.enabled() || !m.identity) {
    metrics_.refreshes_refused.add();
    send_error(m, ErrorCode::BadToken, "refresh: authentication is off, there is no token to replace");
    return;
  }
  JwtClaims claims;
  JwtError error;
  if (!tokens_.verify(msg.token, unix_now(), claims, error)) {
    if (log_) log_->log(LogLevel::Warn, "auth_failed", {{"endpoint", "refresh"}, {"reason", to_string(error)}});
    metrics_.refreshes_refused.add();
    send_error(m, ErrorCode::BadToken, std::string("refresh: ") + std::string(to_string(error)));
    return;
  }
  if (claims.sub != m.identity->user_id) {
    metrics_.refreshes_refused.add();
    send_error(m, ErrorCode::BadToken, "refresh: the token is for another user");
    return;
  }
  if (!jwt_allows_room(claims, m.room())) {
    metrics_.refreshes_refused.add();
    send_error(m, ErrorCode::Forbidden, "refresh: the token does not grant this room");
    return;
  }
  m.identity->exp = claims.usable_until;
  // 1.2: the new token's rights decide the role from now on.
  const Role role = jwt_allows_edit(claims, m.room()) ? Role::Editor : Role::Viewer;
  m.identity->role = role;
  metrics_.refreshes.add();
  if (log_) log_->log(LogLevel::Info, "token_refreshed", {{"room", m.room()}, {"exp", claims.usable_until}});
  encode_refreshed(encoded_, claims.usable_until, role);
  reply(m, OutType::Refreshed, encoded());
  if (Session* s = m.session.get(); s && s->room && s->role != role) {
    s->role = role;
    role_changed(*s->room, *s, role);
  }
}

bool RoomService::leave(Member& m, int64_t now_ns, Departure how, const PeerAddress* admission) {
  now_ns_ = now_ns;
  store_->left(m);
  end_replay(m);
  if (!m.session) return false;
  Room& room = *m.session->room;
  --sessions_;
  if (how == Departure::Dropped && config_.resume_grace_s > 0) {
    // Held: nobody is told; a resume within the grace takes it back.
    std::unique_ptr<Session> s = m.take_session();
    s->hold = std::make_unique<Session::Hold>();
    s->hold->until_ns = now_ns + int64_t(config_.resume_grace_s) * 1'000'000'000;
    const bool took = admission != nullptr && limits_ != nullptr;
    if (took) {
      s->hold->holds_admission = true;
      s->hold->admission = *admission;
      limits_->hold(*admission);
    }
    holds_.push_back({s->hold->until_ns, room.name(), s->token()});
    if (log_) log_->log(LogLevel::Info, "session_held", {{"session", s->id}, {"room", room.name()}, {"grace_s", config_.resume_grace_s}});
    Session* kept = s.get();
    room.hold(std::move(s));
    ++held_;
    store_->held(room, *kept);
    update_gauges();
    return took;
  }
  std::unique_ptr<Session> s = m.take_session();
  room.remove(s.get());
  end_session(room, std::move(s), now_ns);
  return false;
}

void RoomService::give_back_place(Session::Hold& hold) {
  if (!hold.holds_admission || !limits_) return;
  limits_->unhold(hold.admission);
  limits_->release(hold.admission);
  hold.holds_admission = false;
}

void RoomService::end_session(Room& room, std::unique_ptr<Session> s, int64_t now_ns) {
  // Followers of a departed leader follow nobody; late joiners must not see a ghost.
  for (Session* other : room.members())
    other->stop_following(s->id);
  for (const auto& other : room.held()) other->stop_following(s->id);
  if (Attention* a = room.attention_if_any()) a->follows_changed();
  flush_cursor(room, *s);  // its last cursor goes before its leave (docs/protocol.md 7.3)
  encode_presence_leave(encoded_, s->id);
  fan_out(room, nullptr, OutType::Presence, encoded());
  presenter_gone(room, s->id);  // a presenter leaving ends it (docs/protocol.md 7.1-7.2)
  store_->ended(room, *s);
  backend_->left(room, *s);
  if (room.empty()) room.empty_since_ns = now_ns;
  update_gauges();
}

void RoomService::expire_held(int64_t now_ns) {
  now_ns_ = now_ns;
  while (!holds_.empty() && holds_.front().until_ns <= now_ns) {
    Hold hold = std::move(holds_.front());
    holds_.pop_front();
    auto room_it = rooms_.find(hold.room);
    Session* s = room_it == rooms_.end() ? nullptr : room_it->second->find_by_token(hold.token);
    if (!s) continue;  // resumed (a new token) or already ended
    if (s->connected || !s->hold || s->hold->until_ns != hold.until_ns) continue;
    Room& room = *s->room;
    std::unique_ptr<Session> taken = room.unhold(s);
    if (!taken) continue;
    give_back_place(*taken->hold);
    --held_;
    metrics_.holds_expired.add();
    if (log_) log_->log(LogLevel::Info, "hold_expired", {{"session", taken->id}, {"room", room.name()}});
    end_session(room, std::move(taken), now_ns);
  }
}

}  // namespace roomcast
