// core/room_service.h: protocol-v1 semantics for the rooms of one loop thread, with no
// transport in sight.
//
// Owns: this thread's rooms (by name), their sessions (through the Members that joined),
// presence, edit history and the encode buffer every outbound message is serialized into
// once before it becomes a SharedFrame.
// Called by: the loop thread's connections for each decoded client message (handle) or
// each message that failed to decode (refuse), when a member's connection ends (leave);
// by the HTTP front for the rooms this thread owns (presence_json, publish); by the
// output step at the end of each window (end_window) and by housekeeping (reap).
// Knows: Members (an identity, a rate limiter and a SendQueue to push frames into) and
// decoded ClientMessages. Never a socket, a wslay context or a Connection, so a unit test
// drives it with plain SendQueues, and a member on another instance can plug in the same
// way.
// Promises:
//   - every outbound message is encoded once; a relay reaches the other members as one
//     shared frame (Room::broadcast), never the sender;
//   - bad input gets exactly the spec's `error` and changes nothing for anyone else;
//   - a joiner receives welcome, then (with `since`) the missed edits or `resync`, then
//     live traffic, in that order;
//   - cameras are latest-wins: a newer camera marks the sender's previous one superseded
//     (queues that have not started it drop it, see net/send_queue.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <rapidjson/stringbuffer.h>

#include "core/config.h"
#include "core/member.h"
#include "core/metrics.h"
#include "core/room.h"
#include "proto/message.h"

namespace roomcast {

// What the member's transport must do after a message.
enum class Verdict : uint8_t {
  Continue,
  CloseNormal,  // `leave`: close with 1000 (the transport then calls leave())
};

class RoomService {
 public:
  // `instance` prefixes this thread's session ids, keeping them unique across threads.
  RoomService(const Config& config, unsigned instance, Metrics& metrics);
  RoomService(const RoomService&) = delete;
  RoomService& operator=(const RoomService&) = delete;

  // One decoded message from `m`, at loop time `now_ns`.
  Verdict handle(Member& m, const ClientMessage& msg, int64_t now_ns);
  // A message that did not decode: `error` with its code (no rate token is spent).
  void refuse(Member& m, const DecodeError& error);
  // `m`'s connection ended (any way): `presence leave` to the others. No-op if not joined.
  void leave(Member& m, int64_t now_ns);

  // POST /api/rooms/{room}/publish: `edit` from session "server". Returns its seq.
  uint64_t publish(std::string_view room, const ClientMessage& edit, int64_t now_ns);
  // GET /api/rooms/{room}/presence: a JSON array of the room's sessions.
  std::string presence_json(std::string_view room);

  // The window's frames are about to go to the kernel: later cameras start new arena
  // chunks (net/frame_arena.h). Called by the output step at every flush.
  void end_window();
  // Forgets rooms that have been empty for longer than --room-ttl.
  void reap(int64_t now_ns);

  size_t room_count() const { return rooms_.size(); }
  const Room* find_room(std::string_view name) const;

 private:
  void join(Member& m, const ClientMessage& msg);
  void cursor(Session& s, const ClientMessage& msg);
  void select(Session& s, const ClientMessage& msg);
  void edit(Member& m, Session& s, const ClientMessage& msg);
  void follow(Member& m, Session& s, const ClientMessage& msg);
  void send_error(Member& m, ErrorCode code, std::string_view message);

  // What the encoders just wrote.
  std::string_view encoded() const { return {encoded_.GetString(), encoded_.GetSize()}; }
  // `payload` to one member.
  void reply(Member& m, OutType type, std::string_view payload);
  // `payload` as one frame to every member of `room` but `except`; returns the frame.
  FrameRef fan_out(Room& room, const Session* except, OutType type, std::string_view payload,
                   DropPolicy policy = DropPolicy::Never);
  void update_gauges();
  // Every member of `room` (as welcome.peers and the presence API show them).
  const std::vector<PeerView>& snapshot(const Room& room);
  Room& room_named(std::string_view name);

  const Config& config_;
  const unsigned instance_;
  Metrics& metrics_;
  int64_t now_ns_ = 0;
  uint64_t sessions_ = 0;
  uint64_t sessions_made_ = 0;
  rapidjson::StringBuffer encoded_;      // reused: keeps its capacity
  std::vector<PeerView> peers_;          // reused by snapshot()
  std::vector<Room*> filling_arenas_;    // rooms whose camera arena is open since the last flush
  std::unordered_map<std::string, std::unique_ptr<Room>> rooms_;
};

}  // namespace roomcast
