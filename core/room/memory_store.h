// core/room/memory_store.h: the store of a single process (the default): rooms live in this
// thread's memory and nowhere else.
//
// Owns nothing: the domain's Rooms are the whole state. Every join is served at once and
// every edit is applied at once with the room's next seq (EditPath::Here), so a message
// never waits. A restart forgets every room (a new epoch: clients resync; docs/protocol.md
// 3.3). Called by RoomService on its loop thread (core/room/room_store.h).
#pragma once

#include "core/room/room_store.h"
#include "core/room/session.h"

namespace roomcast {

class MemoryStore final : public RoomStore {
 public:
  void opened(Room&) override {}
  bool keeps(const Room&) const override { return false; }
  void closing(Room&) override {}
  bool join_waits(Member&, Room&, const ClientMessage&, std::string_view) override { return false; }
  std::unique_ptr<Session> claimed(Member&, Room&) override { return nullptr; }
  void add_peers_elsewhere(const Room&, std::vector<PeerView>&) const override {}
  bool is_elsewhere(const Room&, std::string_view) const override { return false; }
  Session* find_elsewhere(Room&, std::string_view) override { return nullptr; }
  void joined(Room&, Session&, bool, bool) override {}
  void relayed(Room&, Session&, Relay, std::string_view) override {}
  void held(Room&, const Session&) override {}
  void ended(Room&, const Session&) override {}
  void left(Member&) override {}
  EditPath append_edit(Member*, Session*, Room&, const ClientMessage&, std::string, uint64_t) override {
    return EditPath::Here;
  }
  void end_window() override {}
  bool window_open() const override { return false; }
  bool presence_ready(std::string_view, int64_t) override { return true; }
  bool take_peeked(std::string_view, std::vector<PresenceEntry>&) override { return false; }
};

}  // namespace roomcast
