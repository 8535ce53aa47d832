// core/session.h: what the room knows about one joined member.
//
// Owns: the presence state a late joiner sees in `welcome.peers` (user, camera,
// selection, following) and a reference to the sender's newest cursor frame.
// Lives inside its Member (core/member.h) from `join` until leave; the Room holds a pointer
// while it is a member. Loop-thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/send_queue.h"
#include "proto/message.h"

namespace roomcast {

class Room;

struct Session {
  std::string id;  // unique per server run
  User user;
  bool has_camera = false;
  Camera camera;
  std::vector<std::string> selection;
  std::string following;  // empty: following nobody
  SendQueue* out = nullptr;
  Room* room = nullptr;
  uint32_t member_index = 0;  // position in Room::members_, for O(1) removal
  FrameRef last_cursor;       // marked superseded when a newer camera is sent
};

}  // namespace roomcast
