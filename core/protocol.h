// core/protocol.h: protocol-v1 message semantics for the rooms of one loop thread.
//
// Owns: this thread's rooms (by name), the message decoder and the scratch buffer every
// outbound message is serialized into before it becomes a SharedFrame.
// Called by: the Worker, for each complete inbound text message (on_text), when a
// joined connection goes away for any reason (on_leave), once per tick (reap_rooms), and
// for the HTTP API of rooms this thread owns (publish, presence_json).
// Promises:
//   - every message is decoded once and every outbound message encoded once; relays
//     reach the other members as one shared frame (Room::broadcast), never the sender;
//   - bad input gets exactly the spec's `error` and changes nothing for anyone else;
//   - a joiner receives welcome, then (with `since`) the missed edits or `resync`,
//     then live traffic, in that order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <rapidjson/stringbuffer.h>

#include "core/config.h"
#include "core/connection.h"
#include "core/metrics.h"
#include "core/room.h"
#include "proto/message.h"

namespace roomcast {

class Protocol {
 public:
  Protocol(const Config& config, unsigned worker_index, Metrics& metrics);

  void on_text(Connection& c, std::string_view text, int64_t now_ns);
  // An edit from session "server" (POST /api/rooms/{room}/publish). Returns its seq, or
  // 0 with `error` set for a bad body.
  uint64_t publish(const std::string& room, std::string_view body, int64_t now_ns, std::string& error);
  // GET /api/rooms/{room}/presence: a JSON array of the room's sessions.
  std::string presence_json(const std::string& room);
  // `presence leave` to the others; the connection's session ends. No-op if not joined.
  void on_leave(Connection& c, int64_t now_ns);
  // Forgets rooms that have been empty for longer than --room-ttl.
  void reap_rooms(int64_t now_ns);
  // The loop is about to hand this window's frames to the kernel: later cameras start new
  // chunks (see net/frame_arena.h). Called by the worker at every flush.
  void seal_camera_arenas();

  size_t room_count() const { return rooms_.size(); }
  const Room* find_room(std::string_view name) const;

 private:
  void join(Connection& c, int64_t now_ns);
  void cursor(Session& s);
  void select(Session& s);
  void edit(Connection& c, Session& s);
  void follow(Connection& c, Session& s);
  void send_error(Connection& c, ErrorCode code, std::string_view message);
  // The scratch buffer as a new frame (refcount 1, owned by the caller).
  SharedFrame* scratch_frame(FrameKind kind = FrameKind::Reliable);
  SharedFrame* camera_frame(Room& room);
  // The scratch buffer to one connection.
  void reply(Connection& c, OutType type);
  // The scratch buffer as one frame to every member but `except`; returns the frame.
  FrameRef fan_out(Room& room, const Session* except, OutType type, FrameKind kind = FrameKind::Reliable);
  void update_gauges();
  void snapshot(const Room& room);  // fills peers_
  Room& room_named(const std::string& name);

  const Config& config_;
  unsigned worker_index_;
  Metrics& metrics_;
  int64_t now_ns_ = 0;
  uint64_t sessions_ = 0;
  uint64_t sessions_made_ = 0;
  MessageDecoder decoder_;
  ClientMessage msg_;  // reused so its vectors keep their capacity
  DecodeError decode_error_;
  rapidjson::StringBuffer scratch_;
  std::vector<Room*> filling_arenas_;  // rooms whose camera arena is open since the last flush
  std::vector<PeerView> peers_;
  std::unordered_map<std::string, std::unique_ptr<Room>> rooms_;
};

}  // namespace roomcast
