// bench/load/connection.h: one client WebSocket connection as the tool sees it.
//
// Owned by exactly one tool thread (worker.h); never shared. `in` holds only the bytes of
// a frame that a read cut in half (most reads leave nothing behind), `out` only bytes a
// nonblocking send could not take yet.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace load {

enum class ConnState : uint8_t {
  NotStarted,
  Connecting,   // nonblocking connect() in progress
  Handshaking,  // upgrade request sent, waiting for 101
  Joining,      // join sent, waiting for welcome
  Joined,       // welcomed: sends cursors, receives relays
  Closed,       // by the server, by an error, or by the tool at the end
};

struct Connection {
  int fd = -1;
  int id = 0;      // global connection index = sender index in cursors
  int room = 0;
  int server = 0;  // index into Options::servers
  ConnState state = ConnState::NotStarted;
  bool watching_out = false;   // EPOLLOUT registered
  uint32_t seq = 0;            // last cursor sequence number sent (first is 1)
  uint32_t sends = 0;          // messages sent (cursors and edits), for --edit-every
  int64_t room_seq = 0;        // the room's last edit seq seen (welcome, relayed edits, acks)
  std::string in;
  std::string out;
  std::vector<uint32_t> last_seq;  // per member of the room: highest seq received from it
  std::deque<int64_t> edits_in_flight;  // send times (µs) of edits not acked yet, oldest first
  bool joined_at_end = false;      // still joined when the tool closed it
  bool follower = false;           // --followers: follows its room's member 0
  bool follow_sent = false;
};

}  // namespace load
