// core/room/room.h: one project's live channel: its members, edit sequence and history.
//
// Owns: the member list (pointers to Sessions owned by their connections), the room's
// edit seq and its History. A room lives on exactly one loop thread, chosen by its name;
// every connection that joins it has been moved to that thread, so nothing here is
// shared and fan-out takes no lock and touches no atomic.
// Called by: core/room/room_service.cpp for joins, leaves and every relayed message.
// Promises:
//   - broadcast() queues one shared frame to every member but `except`: a pointer push
//     and a refcount increment per recipient; nothing is copied or encoded per recipient.
//   - commit_edit() hands out seq 1, 2, 3, ... without gaps and keeps the frame for replay.
//   - (1.2) members without camera_rate come first in members(), so a cursor's full-rate
//     group is a contiguous run (broadcast_cursor, core/room/attention.h); the room knows
//     its presenter (docs/protocol.md 7.1-7.2).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <string>
#include <vector>

#include "core/base/fifo.h"
#include "core/room/attention.h"
#include "core/room/history.h"
#include "core/room/room_store.h"
#include "core/room/session.h"
#include "net/frame_arena.h"
#include "net/shared_frame.h"

namespace roomcast {

class Room {
 public:
  // `epoch` names this history (docs/protocol.md 3.3): a fresh one whenever seq restarts, which
  // is whenever a Room is made.
  Room(std::string name, size_t history_limit, std::string epoch)
      : name_(std::move(name)), epoch_(std::move(epoch)), history_(history_limit) {}
  Room(const Room&) = delete;
  Room& operator=(const Room&) = delete;

  const std::string& name() const { return name_; }
  const std::string& epoch() const { return epoch_; }
  // Connected sessions: the recipients of every broadcast.
  std::span<Session* const> members() const { return members_; }
  // Sessions whose connection ended, held for a resume (owned here while held).
  std::span<const std::unique_ptr<Session>> held() const { return held_; }
  // Sessions counted against --max-room-members: connected and held.
  size_t sessions() const { return members_.size() + held_.size(); }
  bool empty() const { return members_.empty() && held_.empty(); }
  // A connected or held session.
  Session* find(std::string_view session_id) const;
  // The connected or held session whose resume token is `token`, or null. A scan of the
  // room, comparing every token in constant time (a token is a secret): rooms are at most
  // --max-room-members, a resume is one per reconnect, and no index costs ~58 bytes per
  // joined member.
  Session* find_by_token(std::string_view token) const;

  void add(Session* s);
  void remove(Session* s);
  // `s` (a member) stops receiving and is kept here, not connected, until unhold().
  void hold(std::unique_ptr<Session> s);
  // Gives a held session back to its caller (a resume, or the grace ended).
  std::unique_ptr<Session> unhold(Session* s);

  // Queues `frame` to every member except `except` (may be null); returns the number
  // of recipients.
  // `urgent`: the frame has already waited for a batch window on another instance, so
  // it leaves at the end of this loop iteration instead of waiting for a second one.
  uint32_t broadcast(SharedFrame* frame, const Session* except, bool urgent = false);
  // 1.2: `frame`, the newest cursor of `sender` (a member here, held, or a session
  // elsewhere), to its full-rate group now; held back for the others (attention()).
  // Returns the recipients pushed to now.
  uint32_t broadcast_cursor(SharedFrame* frame, Session& sender, int64_t now_ns, bool urgent = false);
  // Made at the room's first reduced member: most rooms never have one (an idle room of
  // 10 pays 8 bytes for it, not 64; docs/benchmarks.md S4).
  Attention& attention() {
    if (!attention_) attention_ = std::make_unique<Attention>();
    return *attention_;
  }
  Attention* attention_if_any() { return attention_.get(); }
  bool reduced() const { return attention_ && attention_->any(); }

  // 1.2: the presenting session's id (connected, held or elsewhere); empty: nobody.
  std::string_view presenter() const { return presenter_ ? std::string_view(*presenter_) : std::string_view(); }
  void set_presenter(std::string_view session) {
    if (session.empty()) presenter_.reset();
    else presenter_ = std::make_unique<std::string>(session);
  }

  // The seq the next edit will get.
  uint64_t next_seq() const { return seq_ + 1; }
  uint64_t seq() const { return seq_; }
  // Records the edit encoded with next_seq() as the room's latest. A non-empty `key` (the
  // sender's user id and edit id, docs/protocol.md 3.2) is remembered with its seq for as long
  // as the edit stays in history.
  void commit_edit(SharedFrame* frame, std::string key = {});
  // The seq of the edit committed with `key`, if it is still in history; 0 otherwise.
  uint64_t applied(const std::string& key) const {
    if (!applied_) return 0;
    auto it = applied_->find(key);
    return it == applied_->end() ? 0 : it->second;
  }
  const History& history() const { return history_; }
  // Scale-out: the room's history is now `epoch`, whose latest edit is `seq`; the kept
  // edits (and their ids) belong to the old one and are dropped.
  void restart(std::string epoch, uint64_t seq);

  // What the room's store keeps beside it (core/room/room_store.h); null for the memory store.
  std::unique_ptr<RoomStoreState> store;

  // Bytes of this room's cameras, in broadcast order (RoomService seals it at each flush).
  FrameArena& camera_arena() { return cameras_; }

  // RoomService lists the room while its attention() may have held-back cursors.
  bool attention_listed = false;

  // Loop time (ns) when the last member left; rooms keep history for a while after that.
  int64_t empty_since_ns = 0;

 private:
  std::string name_;
  std::string epoch_;
  // Queues `frame` to every session of `to` but `except`; returns how many.
  static uint32_t push_to(std::span<Session* const> to, SharedFrame* frame, const Session* except, bool urgent);

  std::vector<Session*> members_;  // [0, full_) without camera_rate, then the reduced ones
  size_t full_ = 0;
  std::unique_ptr<Attention> attention_;
  std::unique_ptr<std::string> presenter_;  // null: nobody presents (most rooms, always)
  std::vector<std::unique_ptr<Session>> held_;
  uint64_t seq_ = 0;
  History history_;
  Fifo<std::string> edit_keys_;  // parallel to history_: the key of each kept edit
  // Edit id -> its seq, for edits that carried an id; made at the first one (most rooms of
  // an idle server never see an edit: an empty map is 56 bytes per room).
  std::unique_ptr<std::unordered_map<std::string, uint64_t>> applied_;
  FrameArena cameras_;
};

}  // namespace roomcast
