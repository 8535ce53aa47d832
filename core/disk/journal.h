// core/disk/journal.h: the store's write-ahead journal, what makes a group commit durable
// with one fdatasync however many rooms it touches (docs/durability.md "The journal").
//
// Owns: DIR/journal/ and its segment files, j_<16 hex digits>.wal, numbered upward; the
// newest is the one appended to. An entry is one framed record (record.h, kind Journal):
// room, epoch, and that room's room-log records of one group commit, byte for byte as
// they are then written to the room's own log.
// Called by: DiskStore's writer thread (append, start_segment), its checkpointer thread
// (retire_through), and DiskStore::open (read) before either thread starts.
// Promises:
//   - append returns 0 only once the bytes are written and fdatasynced; on an error the
//     segment is cut back to its length before the call, durably, and until that cut has
//     succeeded every later append fails (a record reported failed never comes back after
//     a crash);
//   - read hands every whole entry of every segment, oldest first, and stops a segment at
//     its first torn or bad frame (a batch whose sync never returned; nobody was acked);
//   - retire_through deletes whole segments only, and only those numbered at or below
//     its argument: the caller guarantees everything in them is durable in room logs.
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
  int open(const std::string& dir, std::string& error);
  // Calls each(entry) for every whole entry of every existing segment, oldest first;
  // `bad(segment, detail)` for a segment that ends in a torn or bad frame. 0 or an errno.
  int read(const std::function<void(const JournalEntry&)>& each,
           const std::function<void(const std::string&, const std::string&)>& bad) const;

  // Appends one entry to `out`.
  static void encode_entry(std::string& out, std::string_view room, std::string_view epoch,
                           std::string_view records);

  // Writes `bytes` at the end of the current segment and fdatasyncs it. 0 or an errno.
  int append(std::string_view bytes);
  // Opens a new, empty segment numbered after every existing one and makes it current;
  // returns its number in `number`. 0 or an errno (the current segment stays).
  int start_segment(uint64_t& number);
  // Deletes every segment numbered <= `number` except the current one, then syncs the
  // directory. Thread-safe against the writer's calls. 0 or an errno.
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
  uint64_t size_ = 0;        // its durable length
  bool needs_cut_ = false;   // a failed append is not cut back yet
  mutable std::mutex mu_;    // numbers_, against retire_through on the checkpointer
  std::vector<uint64_t> numbers_;  // every segment on disk, ascending
};

}  // namespace roomcast::disk
