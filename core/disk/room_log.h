// core/disk/room_log.h: what a room's log file means: its records, and its recovery.
//
// Owns: the meaning of the three record kinds (docs/durability.md):
//   Header  room, epoch, the seq before the file's first edit, the outbox event number
//           before the file's first event, and "acknowledged through"; always first, once.
//   Append  an optional edit (seq, exactly-once key, ts in ms, frame bytes) and zero or
//           more outbox events (number, id, body): one record, so an edit and its events
//           land together or not at all.
//   Ack     the outbox is acknowledged through event N.
// Called by: disk_store.cpp (append encoding, start-up load, compaction), tests, fuzzer.
// Promises: read_room_log keeps every whole record before the first bad one, and says
// whether what follows is a torn/garbage tail (cut it, the history is whole) or damage in
// the middle (a valid record exists after the bad one, or seqs/event numbers skip): then
// the returned prefix must not be served as the room's history (start a new epoch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::disk {

struct StoredEdit {
  uint64_t seq = 0;
  std::string key;    // exactly-once key (user id + edit id), empty if the edit had none
  std::string frame;  // the edit frame as broadcast, opaque here
  int64_t ts_ms = 0;
};

struct StoredEvent {
  uint64_t number = 0;  // per room, contiguous from 1, assigned by the caller
  std::string id;       // e.g. the webhook-id
  std::string body;
};

// A room's durable state: what a load returns and what a snapshot writes.
struct RoomState {
  std::string room;
  std::string epoch;
  uint64_t seq = 0;                 // the last edit's seq (0: none yet)
  std::deque<StoredEdit> history;   // the last history_limit edits, seqs ending at `seq`
  uint64_t acked_through = 0;       // outbox events <= this are acknowledged
  uint64_t last_event = 0;          // the last outbox event number ever appended
  std::deque<StoredEvent> outbox;   // unacknowledged events, numbers acked_through+1..last_event
};

// Borrowed views for an append: encoded by the writer thread, so nothing is copied twice.
struct EditView {
  uint64_t seq = 0;
  std::string_view key;
  std::string_view frame;
  int64_t ts_ms = 0;
};
struct EventView {
  uint64_t number = 0;
  std::string_view id;
  std::string_view body;
};

// Framed records, appended to `out`.
void encode_header(std::string& out, std::string_view room, std::string_view epoch, uint64_t seq_base,
                   uint64_t event_base, uint64_t acked_through);
void encode_append(std::string& out, const EditView* edit, std::span<const EventView> events);
void encode_ack(std::string& out, uint64_t through);
// A whole file holding `state`: header, its history, its unacknowledged events. This is
// what compaction and a new room (or a new epoch) write.
std::string encode_snapshot(const RoomState& state);

enum class LogOutcome : uint8_t {
  Clean,    // every byte is a valid record
  TailCut,  // a torn or garbage tail after the last valid record; good_bytes ends before it
  Damaged,  // damage before the end, or no valid header: the prefix has (or may have) a hole
};
std::string_view to_string(LogOutcome o);

struct LogRecovery {
  RoomState state;               // everything read before the first bad byte
  LogOutcome outcome = LogOutcome::Clean;
  uint64_t good_bytes = 0;       // length of the valid prefix
  uint64_t records = 0;          // valid records in it (the compaction trigger counts them)
  std::string detail;            // why, for the log line
};

// Reads a whole log. `history_limit` bounds the history kept in the result.
LogRecovery read_room_log(std::string_view bytes, size_t history_limit);

// The outbox events numbered `from` and after in `bytes`, a run of whole framed records
// of a room log starting anywhere on a record boundary (headers and acks are skipped),
// appended to `out` until it holds `max` or more (a record's events are never split).
// Returns how many bytes of whole records were read: where the next scan starts. Stops
// at the first bad or cut frame.
size_t scan_events(std::string_view bytes, uint64_t from, size_t max, std::vector<StoredEvent>& out);

// What the journal (journal.h) adds to a room read from its log.
struct Replay {
  enum class Outcome : uint8_t {
    Ok,         // every record was either already in the state or continues it
    Gap,        // a record does not continue the state (a seq or event number skips)
    Malformed,  // a record does not decode
  };
  Outcome outcome = Outcome::Ok;
  uint64_t applied = 0;  // records added to the state
  uint64_t appends = 0;  // of which appends (an edit and/or events)
  std::string detail;
};
// Applies the framed room-log records `records` (Append, Ack) to `state`, skipping those
// it already holds, stopping at the first one that neither is held nor continues it.
// The bytes of every applied record are appended to `applied`, so the caller can write
// them to the room's log as they are.
Replay replay_records(RoomState& state, std::string_view records, size_t history_limit, std::string& applied);

}  // namespace roomcast::disk
