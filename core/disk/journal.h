// core/disk/journal.h: the store's write-ahead journal, what makes a group commit durable
// with one fdatasync however many rooms it touches (docs/durability.md "The journal").
//
// Owns: DIR/journal/ and its segment files, j_<16 hex digits>.wal, numbered upward; the
// newest is the one appended to. An entry is one framed record (record.h, kind Journal):
// the segment's number, room, epoch, and that room's room-log records of one group
// commit, byte for byte as they are then written to the room's own log.
// Called by: DiskStore's writer thread (append, start_segment), its checkpointer thread
// (retire_through, prepare_next), and DiskStore::open (read) before either thread starts.
// Why preallocated: a segment is created full of zeros (written, not fallocated), so an
// append overwrites blocks the file system already holds and its fdatasync changes no
// metadata: no file-system journal commit, which would also have to wait for the room
// logs' writeback (ext4 data=ordered). Measured in docs/durability.md "The journal".
// Why recycled: a retired segment of full length becomes the next one (renamed, not
// rewritten), so a rotation costs neither 16 MiB of zeros nor new blocks; its old
// entries carry the old number, so a read stops at the first of them.
// Promises:
//   - append returns 0 only once the bytes are written and fdatasynced; on an error the
//     segment is cut back to its length before the call, durably, and until that cut has
//     succeeded every later append fails (a record reported failed never comes back after
//     a crash);
//   - read hands every whole entry of every segment, oldest first, and stops a segment at
//     its first frame that is torn, bad or numbered for another segment: the end of what
//     was written (the zeros of a new segment, the old entries of a recycled one, or a
//     batch whose sync never returned: nobody was acked for it);
//   - preallocation is best effort, and only tried with four segments' worth of free
//     space (a segment of zeros written on a nearly full disk would fill it for a moment
//     and fail the edits' own writes): otherwise a segment grows as it is written, and
//     appends then fail with ENOSPC when the disk is full;
//   - retire_through removes whole segments only, and only those numbered at or below
//     its argument (the caller guarantees everything in them is durable in room logs):
//     one of full length becomes the next segment if none is prepared, the rest are
//     deleted.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::disk {

struct JournalEntry {
  std::string_view room;
  std::string_view epoch;
  std::string_view records;  // framed room-log records (room_log.h)
};

class Journal {
 public:
  Journal() = default;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  ~Journal();

  // Opens DIR/journal (created if missing) and lists its segments; appends go nowhere
  // until start_segment. 0 or an errno, with `error` set.
  // Segments are preallocated to `segment_bytes`.
  int open(const std::string& dir, uint64_t segment_bytes, std::string& error);
  // Calls each(entry) for every entry of every existing segment, oldest first (each
  // segment up to its end, see above). 0 or an errno.
  int read(const std::function<void(const JournalEntry&)>& each) const;

  // Appends one entry of the current segment to `out`.
  void encode_entry(std::string& out, std::string_view room, std::string_view epoch,
                    std::string_view records) const;

  // Writes `bytes` at the end of the current segment and fdatasyncs it. 0 or an errno.
  int append(std::string_view bytes);
  // Opens a new, empty segment numbered after every existing one and makes it current;
  // returns its number in `number`. It is the segment prepare_next made, if one is ready;
  // otherwise one preallocated now when `preallocate_now` (at start), else a growing one
  // (no stall on the writer). 0 or an errno (the current segment stays).
  int start_segment(uint64_t& number, bool preallocate_now);
  // Makes the next segment ahead of time (zeros, synced) under a temporary name; a
  // no-op when one is ready. 0 or an errno (nothing left behind).
  int prepare_next();

 private:
  bool room_to_preallocate() const;

 public:
  // Removes every segment numbered <= `number` except the current one (recycling one as
  // the next segment, see above), then syncs the directory. Thread-safe against the
  // writer's calls. 0 or an errno.
  int retire_through(uint64_t number);

  uint64_t current_bytes() const { return size_; }
  uint64_t current_number() const { return current_; }
  // Segments on disk, the current one included.
  size_t segments() const;

 private:
  std::string dir_;
  int dir_fd_ = -1;
  int fd_ = -1;              // the current segment
  uint64_t current_ = 0;     // its number (0: none yet)
  uint64_t high_ = 0;        // the highest number on disk at open or started since (under mu_)
  uint64_t size_ = 0;        // its durable length: the end of its last entry
  uint64_t capacity_ = 0;    // bytes preallocated (zeros) in it
  uint64_t bad_bytes_ = 0;   // a failed append's length, not erased yet (0: none)
  uint64_t segment_bytes_ = 0;
  int prepared_fd_ = -1;     // the next segment, made by prepare_next or recycled (under mu_)
  uint64_t prepared_bytes_ = 0;  // its length (under mu_)
  mutable std::mutex mu_;    // numbers_, against retire_through on the checkpointer
  std::vector<uint64_t> numbers_;  // every segment on disk, ascending
};

}  // namespace roomcast::disk
