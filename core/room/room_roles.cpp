// core/room/room_roles.cpp: protocol 1.2 rights and presenting (docs/protocol.md 7.1-7.2): a
// viewer's `present`, the room's one presenter and everyone hearing of each change, and a
// session whose role changed. Edits from viewers are refused in RoomService::edit.
#include "core/room/room_service.h"

namespace roomcast {

void RoomService::present(Member& m, Session& s, const ClientMessage& msg) {
  Room& room = *s.room;
  if (msg.stop) {
    // From anyone but the presenter it is ignored.
    if (room.presenter() == s.id) set_presenter(room, &s, {}, nullptr);
    return;
  }
  if (s.role != Role::Editor) {
    metrics_.edits_forbidden.add();
    send_error(m, ErrorCode::Forbidden, "viewers may not present in this room");
    return;
  }
  set_presenter(room, &s, s.id, &s.user);  // a takeover if someone else presented
}

void RoomService::set_presenter(Room& room, Session* by, std::string_view session, const User* user) {
  if (!session.empty()) {
    // The presenter's cursors reach everyone at once from now on: one it had held back
    // goes now (a tick skips the presenter).
    Session* presenter = room.find(session);
    if (!presenter) presenter = store_->find_elsewhere(room, session);
    if (presenter) flush_cursor(room, *presenter);
  }
  room.set_presenter(session);
  encode_presenting(encoded_, session, user);
  fan_out(room, nullptr, OutType::Presenting, encoded());  // the sender too
  if (by) store_->relayed(room, *by, Relay::Present, encoded());
}

void RoomService::role_changed(Room& room, Session& s, Role role) {
  encode_presence_role(encoded_, s.id, role);
  fan_out(room, &s, OutType::Presence, encoded());
  store_->relayed(room, s, Relay::Role, encoded());
  // A presenter that may no longer edit stops presenting, as if it had sent stop.
  if (role == Role::Viewer && room.presenter() == s.id) set_presenter(room, &s, {}, nullptr);
}

void RoomService::presenting_relayed(Room& room, std::string_view session, std::string_view frame) {
  if (!session.empty()) {
    Session* presenter = room.find(session);
    if (!presenter) presenter = store_->find_elsewhere(room, session);
    if (presenter) flush_cursor(room, *presenter);
  }
  room.set_presenter(session);
  fan_out(room, nullptr, OutType::Presenting, frame);
}

void RoomService::presenter_gone(Room& room, std::string_view session) {
  if (session.empty() || room.presenter() != session) return;
  set_presenter(room, nullptr, {}, nullptr);
}

}  // namespace roomcast
