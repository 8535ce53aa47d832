// core/room/local_store.h: what every store of a single process answers alike: no room is
// shared with another process, so nothing is mirrored, relayed, claimed or waited for.
//
// A base for MemoryStore (core/room/memory_store.h) and the disk store
// (core/durable/durable_store.h), which differ only in where an edit goes and what a room
// keeps across a restart. Called by RoomService on its loop thread (core/room/room_store.h).
#pragma once

#include "core/room/room_store.h"
#include "core/room/session.h"

namespace roomcast {

class LocalStore : public RoomStore {
 public:
  bool join_waits(Member&, Room&, const ClientMessage&, std::string_view) override { return false; }
  std::unique_ptr<Session> claimed(Member&, Room&) override { return nullptr; }
  void add_peers_elsewhere(const Room&, std::vector<PeerView>&) const override {}
  bool is_elsewhere(const Room&, std::string_view) const override { return false; }
  Session* find_elsewhere(Room&, std::string_view) override { return nullptr; }
  void joined(Room&, Session&, bool, bool) override {}
  void relayed(Room&, Session&, Relay, std::string_view) override {}
  void held(Room&, const Session&) override {}
  void ended(Room&, const Session&) override {}
  void end_window() override {}
  bool window_open() const override { return false; }
  bool presence_ready(std::string_view, int64_t) override { return true; }
  bool take_peeked(std::string_view, std::vector<PresenceEntry>&) override { return false; }
};

}  // namespace roomcast
