// core/disk/disk_store.h: durable rooms on one machine: one log file per room, one journal
// per process, group commit.
//
// Owns: DIR (locked with DIR/LOCK, one process at a time), DIR/rooms/<room>.log, DIR/journal/
// (journal.h), one writer thread and one checkpointer thread. The writer takes everything
// queued, writes it as one journal append with one fdatasync (the group commit: one sync
// per batch however many rooms it touches), then appends each room's records to its own
// log without a sync, compacts logs past their bound, and posts completions. When the
// journal segment is full it starts another and the checkpointer syncs the room logs
// written meanwhile and deletes the old segment. A start replays what the journal holds
// beyond the room logs (a crash before their checkpoint). See docs/durability.md.
// Called by: the process (open once, before the loops start: it loads every room), and
// each loop thread through its own DiskStore::Client: the loop registers client.event_fd()
// for readability and calls client.drain() when it fires.
// Promises:
//   - a completion with DiskError::None means the record is on disk and fdatasynced (in
//     the journal), so it survives kill -9 and power loss; a failed batch is cut from the
//     journal (and the cut synced) before anything else is written to it;
//   - completions of one client come back in submission order for a room;
//   - an error (disk full, I/O) of the journal fails the records of that batch, and the
//     next batch tries again; an error writing a room's log after the journal's sync fails
//     nothing (the journal holds the records; they are written again, and the journal is
//     not retired until they are);
//   - append() and the others never touch the disk on the calling thread: they encode
//     the record (a copy and a checksum) and queue it under a short lock;
//   - each room's file stays within about 2 x (history_limit + unacknowledged events)
//     records (background compaction by rewrite, unacknowledged events kept).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/disk/room_log.h"

namespace roomcast::disk {

enum class DiskError : uint8_t {
  None,
  NoSpace,      // ENOSPC/EDQUOT: the caller answers `unavailable`; retry later succeeds
  Io,           // any other write/sync/rename error
  NoRoom,       // no file for this room (never put_room, removed, or damaged at load)
  BadSequence,  // seq is not last seq + 1, an event number skips, or an ack is ahead
  Stopped,      // the store is shutting down
};
std::string_view to_string(DiskError e);

// What read_events found: the events, and where to read on from.
struct EventsRead {
  std::vector<StoredEvent> events;  // numbered `from` and after, in order
  uint64_t next_offset = 0;         // pass back as `offset` with `generation`
  uint64_t generation = 0;          // the room file's; a compaction or put changes it
};

struct DiskCompletion {
  uint64_t ticket = 0;
  DiskError error = DiskError::None;
  std::shared_ptr<EventsRead> read;  // read_events only
};

struct DiskOptions {
  std::string dir;              // created if missing (one level)
  size_t history_limit = 1000;  // edits kept per room (--history)
  size_t max_open_files = 1024; // room files kept open by the writer; least recent closed
  // A journal segment this long starts a checkpoint (the room logs written meanwhile are
  // synced, then the segment is deleted): the journal's disk use, and what a start after
  // a crash replays, stay about this size.
  uint64_t journal_segment_bytes = 16u << 20;
  // Log lines (tail cut, damage, errors, compaction and checkpoint failures), from the
  // opening thread, then from the writer and the checkpointer threads, possibly at once:
  // it must be safe to call from two threads (the server's Logger is: one write(2) a line).
  std::function<void(std::string_view)> log;
};

struct DiskStats {
  uint64_t appends_ok = 0;        // records acknowledged durable (appends and acks)
  uint64_t batches = 0;           // group commits
  uint64_t syncs = 0;             // journal fdatasyncs, one per group commit (the fsyncs/s number)
  uint64_t bytes_written = 0;     // journal bytes
  uint64_t errors_no_space = 0;   // failed records, by kind (roomcast_store_errors_total)
  uint64_t errors_io = 0;
  uint64_t errors_rejected = 0;   // NoRoom and BadSequence: caller bugs, not the disk
  uint64_t compactions = 0;
  uint64_t compaction_errors = 0;
  uint64_t rooms_loaded = 0;
  uint64_t tails_cut = 0;         // at load
  uint64_t rooms_damaged = 0;     // at load
  uint64_t open_files = 0;
  uint64_t checkpoints = 0;       // journal segments retired after their room logs were synced
  uint64_t checkpoint_syncs = 0;  // room log fdatasyncs by the checkpointer (off the ack path)
  uint64_t checkpoint_errors = 0;
  uint64_t journal_segments = 0;  // on disk now
  uint64_t rooms_behind = 0;      // room log writes that failed after the journal's sync
  uint64_t replayed_records = 0;  // at start: records the room logs lacked, from the journal
};

struct LoadedRoom {
  RoomState state;      // Damaged: only what came before the damage, never to be served
  LogOutcome outcome = LogOutcome::Clean;
  uint64_t cut_bytes = 0;  // TailCut: bytes removed from the end of the file
  std::string detail;
};

class DiskStore {
 public:
  class Client;

  // Locks DIR, removes leftover temp files, loads every room (cutting torn tails on disk),
  // and starts the writer. A Damaged room gets no appends until the caller put_room()s
  // it with a new epoch (its clients resync). Null with `error` set on failure, e.g.
  // another process holds DIR.
  static std::unique_ptr<DiskStore> open(DiskOptions options, std::vector<LoadedRoom>& rooms,
                                         std::string& error);
  // Writes and completes everything already queued, then stops the writer. Clients may
  // outlive the store: their later calls complete with Stopped.
  ~DiskStore();
  DiskStore(const DiskStore&) = delete;
  DiskStore& operator=(const DiskStore&) = delete;

  // One per loop thread.
  std::unique_ptr<Client> client();
  DiskStats stats() const;

  struct Shared;  // the queue shared with clients (disk_store.cpp)
  struct Writer;  // the writer thread's state (disk_store.cpp)

 private:
  DiskStore() = default;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<Writer> writer_;
};

// A loop thread's door to the store: submits records and collects their completions.
// Not thread-safe: one loop thread uses it.
class DiskStore::Client {
 public:
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // An eventfd, readable when completions are waiting (register it on the loop).
  int event_fd() const;

  // Each call returns a ticket, > 0, unique within this client; its completion carries it.
  // An edit (seq must be the room's last seq + 1) and/or outbox events (numbers must
  // continue the room's last event number), as one atomic record.
  uint64_t append(std::string_view room, const EditView* edit, std::span<const EventView> events = {});
  // The outbox is acknowledged through event `through` (compaction may then drop them).
  uint64_t ack_events(std::string_view room, uint64_t through);
  // Replaces the room's whole file by `state` (atomically): a new room, or a new epoch
  // after damage. Its history may be empty; its seq and outbox are kept as given.
  uint64_t put_room(const RoomState& state);
  // Deletes the room's file (room TTL).
  uint64_t remove_room(std::string_view room);
  // Reads back the room's unacknowledged outbox events numbered `from` and after, about
  // `max` of them (a webhook backlog that is not kept in memory). `offset` and
  // `generation` come from the previous read of this room (0, 0 the first time): the
  // read then starts where that one ended, unless the file was rewritten since. Events
  // already acknowledged may come back too (the caller skips them). The writer reads at
  // most about 1 MiB per call, so a read never holds the next batch's acks for long.
  uint64_t read_events(std::string_view room, uint64_t from, size_t max, uint64_t offset = 0,
                       uint64_t generation = 0);

  // Hands every waiting completion to `each(const DiskCompletion&)`; returns how many.
  template <typename F>
  size_t drain(F&& each) {
    take(scratch_);
    for (const DiskCompletion& c : scratch_) each(c);
    size_t n = scratch_.size();
    scratch_.clear();
    return n;
  }

  struct Inbox;  // disk_store.cpp

 private:
  friend class DiskStore;
  Client(std::shared_ptr<Shared> shared);
  void take(std::vector<DiskCompletion>& out);
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<Inbox> inbox_;
  uint64_t next_ticket_ = 1;
  std::vector<DiskCompletion> scratch_;
};

}  // namespace roomcast::disk
