// core/room/memory_store.h: the store of a single process (the default): rooms live in this
// thread's memory and nowhere else.
//
// Owns nothing: the domain's Rooms are the whole state. Every join is served at once and
// every edit is applied at once with the room's next seq (EditPath::Here), so a message
// never waits. A restart forgets every room (a new epoch: clients resync; docs/protocol.md
// 3.3). Called by RoomService on its loop thread (core/room/room_store.h).
#pragma once

#include "core/room/local_store.h"

namespace roomcast {

class MemoryStore final : public LocalStore {
 public:
  void opened(Room&) override {}
  bool keeps(const Room&) const override { return false; }
  void closing(Room&) override {}
  void left(Member&) override {}
  EditPath append_edit(Member*, Session*, Room&, const ClientMessage&, std::string, uint64_t) override {
    return EditPath::Here;
  }
};

}  // namespace roomcast
