// core/room/room_replay.cpp: a `since` replay, paced from the room's history as the member's
// socket drains (docs/protocol.md 3.1: a replay never counts toward the slow-reader
// limit; docs/protocol.md "A since replay").
//
// The member's queue is, while a replay is in progress: [welcome + replay queued so far]
// [live frames that came since the join]. The first part (Replay::head_frames) is outside
// --max-pending and is refilled from the history, in front of the live part, whenever it
// runs below kReplayAhead bytes; a gather never reaches the live part before the whole
// replay is queued, so the order is welcome, replay, live traffic. The replay holds no
// frame of its own: a cursor (the next seq) into the history, whose frames are the very
// ones that were broadcast. If the history drops the cursor's edit meanwhile (--history
// newer edits came) or restarts (a new epoch), the replay ends with `resync`.
#include "core/base/ws_frames.h"
#include "core/room/room_service.h"

namespace roomcast {
namespace {

// Edits queued ahead at most per refill (each is one iovec; a sendmsg carries 64).
constexpr size_t kReplayAheadFrames = 1024;

}  // namespace

void RoomService::start_replay(Member& m, Room& room, uint64_t since) {
  Replay& r = replays_[&m];
  r = Replay{};
  r.next_seq = since + 1;
  r.last_seq = room.seq();
  r.epoch = room.epoch();
  // The welcome (and whatever the connection queued before it) leads the replay.
  r.head_frames = m.out.frames();
  r.head_bytes = m.out.pending_bytes();
  m.replaying = true;
  metrics_.history_replays.add();
  // The first part at once: edits made before the socket's next send cannot push the
  // start of the replay out of the history. (The member is not attached to its session
  // yet: the room is passed.)
  pump_replay(m, r, room);
}

void RoomService::end_replay(Member& m) {
  if (!m.replaying) return;
  replays_.erase(&m);
  m.replaying = false;
}

size_t RoomService::replay_pump(Member& m) {
  auto it = replays_.find(&m);
  if (it == replays_.end()) {
    m.replaying = false;
    return SIZE_MAX;
  }
  Replay& r = it->second;
  if (r.queued_all()) return SIZE_MAX;
  Room* room = m.session ? m.session->room : nullptr;
  if (!room) {
    // The session went on another connection (this one is being closed with 4008).
    r.next_seq = r.last_seq + 1;
    return SIZE_MAX;
  }
  return pump_replay(m, r, *room);
}

size_t RoomService::pump_replay(Member& m, Replay& r, Room& room) {
  if (r.queued_all()) return SIZE_MAX;
  if (r.head_bytes >= kReplayAhead) return r.head_frames;
  replay_batch_.clear();
  size_t ahead = r.head_bytes;
  bool lost = room.epoch() != r.epoch;
  while (!lost && !r.queued_all() && ahead < kReplayAhead && replay_batch_.size() < kReplayAheadFrames) {
    SharedFrame* f = room.history().at_seq(r.next_seq);
    if (!f) {
      lost = true;
      break;
    }
    replay_batch_.push_back(f);
    ahead += f->size();
    ++r.next_seq;
  }
  m.out.insert(r.head_frames, replay_batch_.data(), replay_batch_.size());
  r.head_frames += replay_batch_.size();
  r.head_bytes = ahead;
  metrics_.messages_out[size_t(OutType::Edit)].add(replay_batch_.size());
  if (lost) {
    // The history moved past the cursor: the client reloads state as of the join's seq,
    // which the live edits queued behind continue from (same epoch); after a restart,
    // as of the new history's seq.
    metrics_.resyncs.add();
    encode_resync(encoded_, room.epoch() == r.epoch ? r.last_seq : room.seq());
    SharedFrame* f = ws_frame(Opcode::Text, encoded());
    m.out.insert(r.head_frames, &f, 1);
    ++r.head_frames;
    r.head_bytes += f->size();
    f->release();
    metrics_.messages_out[size_t(OutType::Resync)].add();
    r.next_seq = r.last_seq + 1;
  }
  return r.queued_all() ? SIZE_MAX : r.head_frames;
}

void RoomService::replay_sent(Member& m, size_t frames, size_t bytes) {
  auto it = replays_.find(&m);
  if (it == replays_.end()) {
    m.replaying = false;
    return;
  }
  Replay& r = it->second;
  r.head_frames -= frames < r.head_frames ? frames : r.head_frames;
  r.head_bytes -= bytes < r.head_bytes ? bytes : r.head_bytes;
  if (r.queued_all() && r.head_frames == 0) end_replay(m);
}

size_t RoomService::replay_bytes(const Member& m) const {
  auto it = replays_.find(&m);
  return it == replays_.end() ? 0 : it->second.head_bytes;
}

}  // namespace roomcast
