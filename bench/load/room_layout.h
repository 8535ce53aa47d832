// bench/load/room_layout.h: which room, and which server instance, each connection joins.
//
// Connection i joins room i % R as member i / R, so sessions are spread evenly (room sizes
// differ by at most one) and any tool thread can compute a sender's room and member index
// from the sender index alone. With N servers (--url given N times), member m of a room
// connects to server m % N: every room is split evenly over the servers whatever R and N
// are (with i % N, R = N would put each whole room on one server and measure no
// cross-server delivery at all). With R = 1 this is i % N.
#pragma once

namespace load {

struct RoomLayout {
  int connections = 1;
  int rooms = 1;
  int servers = 1;

  int room_of(int i) const { return i % rooms; }
  int member_of(int i) const { return i / rooms; }
  int room_size(int room) const { return connections / rooms + (room < connections % rooms ? 1 : 0); }
  int server_of(int i) const { return member_of(i) % servers; }
  // Members of `room` connected to `server` (members m = server, server + N, ...).
  int members_on(int room, int server) const {
    const int size = room_size(room);
    return server < size % servers ? size / servers + 1 : size / servers;
  }
};

}  // namespace load
