// fuzz/room_log_fuzz.cpp: the room log reader (core/disk/room_log.h) on hostile files.
//
// Input: a whole log file, as a start-up load would read it. Byte 0 of the input also
// picks the history limit (0..15), so trimming is exercised.
// Invariants:
//   - never reads out of bounds, never crashes (ASan/UBSan);
//   - good_bytes <= size; Clean means every byte was consumed;
//   - the history is contiguous, ends at seq, and is at most history_limit long;
//   - the outbox holds exactly the events acked_through+1..last_event, in order;
//   - the valid prefix re-read gives the same state, Clean (a cut tail stays cut), and a
//     snapshot of a non-damaged state reads back as the same state;
//   - the same bytes replayed as a journal entry onto the state (replay_records) keep
//     every invariant above, and what it reports applied, replayed onto the state before,
//     gives the same state again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/disk/record.h"
#include "core/disk/room_log.h"
#include "fuzz/fuzz_common.h"

namespace roomcast_fuzz::room_log {

using namespace roomcast::disk;

bool same(const RoomState& a, const RoomState& b) {
  if (a.room != b.room || a.epoch != b.epoch || a.seq != b.seq || a.acked_through != b.acked_through ||
      a.last_event != b.last_event || a.history.size() != b.history.size() || a.outbox.size() != b.outbox.size())
    return false;
  for (size_t i = 0; i < a.history.size(); ++i) {
    const StoredEdit &x = a.history[i], &y = b.history[i];
    if (x.seq != y.seq || x.key != y.key || x.frame != y.frame || x.ts_ms != y.ts_ms) return false;
  }
  for (size_t i = 0; i < a.outbox.size(); ++i) {
    const StoredEvent &x = a.outbox[i], &y = b.outbox[i];
    if (x.number != y.number || x.id != y.id || x.body != y.body) return false;
  }
  return true;
}

void check_state(const RoomState& s, size_t limit) {
  check(s.history.size() <= limit, "history bounded");
  for (size_t i = 0; i < s.history.size(); ++i) {
    check(s.history[i].seq == s.seq - (s.history.size() - 1 - i), "history contiguous, ending at seq");
  }
  check(s.acked_through <= s.last_event, "acked within events");
  check(s.outbox.size() == s.last_event - s.acked_through, "outbox holds every unacked event");
  for (size_t i = 0; i < s.outbox.size(); ++i) {
    check(s.outbox[i].number == s.acked_through + 1 + i, "outbox in order");
  }
}

// The log's records after its header, replayed as a journal entry onto the state the
// header alone gives, must rebuild the state the whole read gave.
void replay_onto(const RoomState& whole, std::string_view bytes, size_t limit) {
  Frame first = read_frame(bytes);
  if (first.status != FrameStatus::Ok) return;
  LogRecovery header = read_room_log(bytes.substr(0, first.size), limit);
  if (header.outcome != LogOutcome::Clean) return;
  std::string_view tail = bytes.substr(first.size);
  RoomState s = header.state;
  std::string applied;
  Replay r = replay_records(s, tail, limit, applied);
  check_state(s, limit);
  check(r.outcome == Replay::Outcome::Ok, "a clean log's records replay");
  check(same(s, whole), "replaying a log's records rebuilds its state");
  RoomState again = header.state;
  std::string applied_again;
  Replay r2 = replay_records(again, applied, limit, applied_again);
  check(r2.outcome == Replay::Outcome::Ok && applied_again == applied, "what was applied applies again");
  check(same(again, whole), "the same state");
  std::string none;
  Replay r3 = replay_records(again, tail, limit, none);
  check(r3.outcome == Replay::Outcome::Ok && r3.applied == 0 && none.empty(), "a second replay applies nothing");
}

void one_input(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  size_t limit = size > 0 ? data[0] & 15 : 4;
  LogRecovery r = read_room_log(bytes, limit);
  const RoomState& s = r.state;
  check(r.good_bytes <= size, "good_bytes within the input");
  check(r.outcome != LogOutcome::Clean || r.good_bytes == size, "clean consumes everything");
  check_state(s, limit);
  if (r.outcome == LogOutcome::Damaged) return;
  replay_onto(s, bytes.substr(0, r.good_bytes), limit);
  LogRecovery again = read_room_log(bytes.substr(0, r.good_bytes), limit);
  check(again.outcome == LogOutcome::Clean, "the kept prefix is clean");
  check(same(again.state, s), "the kept prefix reads the same");
  LogRecovery snap = read_room_log(encode_snapshot(s), limit);
  check(snap.outcome == LogOutcome::Clean, "a snapshot reads clean");
  check(same(snap.state, s), "a snapshot keeps the state");
}

}  // namespace roomcast_fuzz::room_log

#ifndef ROOMCAST_FUZZ_NO_ENTRY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  roomcast_fuzz::room_log::one_input(data, size);
  return 0;
}
#endif
