// bench/load/room_layout.h: which room each connection joins.
//
// Connection i joins room i % R as member i / R, so sessions are spread evenly (room sizes
// differ by at most one) and any tool thread can compute a sender's room and member index
// from the sender index alone.
#pragma once

namespace load {

struct RoomLayout {
  int connections = 1;
  int rooms = 1;

  int room_of(int i) const { return i % rooms; }
  int member_of(int i) const { return i / rooms; }
  int room_size(int room) const { return connections / rooms + (room < connections % rooms ? 1 : 0); }
};

}  // namespace load
