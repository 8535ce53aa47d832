// core/room.h: one project's live channel: its members, edit sequence and history.
//
// Owns: the member list (pointers to Sessions owned by their connections), the room's
// edit seq and its History. A room lives on exactly one loop thread, chosen by its name;
// every connection that joins it has been moved to that thread, so nothing here is
// shared and fan-out takes no lock and touches no atomic.
// Called by: core/room_service.cpp for joins, leaves and every relayed message.
// Promises:
//   - broadcast() queues one shared frame to every member but `except`: a pointer push
//     and a refcount increment per recipient; nothing is copied or encoded per recipient.
//   - commit_edit() hands out seq 1, 2, 3, ... without gaps and keeps the frame for replay.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/history.h"
#include "core/session.h"
#include "net/frame_arena.h"
#include "net/shared_frame.h"

namespace roomcast {

class Room {
 public:
  Room(std::string name, size_t history_limit) : name_(std::move(name)), history_(history_limit) {}
  Room(const Room&) = delete;
  Room& operator=(const Room&) = delete;

  const std::string& name() const { return name_; }
  std::span<Session* const> members() const { return members_; }
  bool empty() const { return members_.empty(); }
  Session* find(std::string_view session_id) const;

  void add(Session* s);
  void remove(Session* s);

  // Queues `frame` to every member except `except` (may be null); returns the number
  // of recipients.
  uint32_t broadcast(SharedFrame* frame, const Session* except) {
    uint32_t recipients = 0;
    for (Session* member : members_) {
      if (member == except) continue;
      member->out->push(frame);
      ++recipients;
    }
    return recipients;
  }

  // The seq the next edit will get.
  uint64_t next_seq() const { return seq_ + 1; }
  uint64_t seq() const { return seq_; }
  // Records the edit encoded with next_seq() as the room's latest.
  void commit_edit(SharedFrame* frame) { history_.push(++seq_, frame); }
  const History& history() const { return history_; }

  // Bytes of this room's cameras, in broadcast order (RoomService seals it at each flush).
  FrameArena& camera_arena() { return cameras_; }

  // Loop time (ns) when the last member left; rooms keep history for a while after that.
  int64_t empty_since_ns = 0;

 private:
  std::string name_;
  std::vector<Session*> members_;
  uint64_t seq_ = 0;
  History history_;
  FrameArena cameras_;
};

}  // namespace roomcast
