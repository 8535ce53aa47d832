#include "core/disk/disk_store.h"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>

#include "core/disk/checkpointer.h"
#include "core/disk/dir_lock.h"
#include "core/disk/durable_file.h"
#include "core/disk/journal.h"
#include "core/disk/record.h"

namespace roomcast::disk {
namespace {

constexpr std::string_view kPrefix = "r_";
// A room's records wait (in memory, durable in the journal) until this many bytes are
// ready for its log: the writer's cost is then one journal write per batch plus one
// room-log write per this many bytes, not one per room and batch.
constexpr size_t kWriteBehindBytes = 16 << 10;
constexpr std::string_view kSuffix = ".log";

// Room names are [A-Za-z0-9_.-] (proto/handshake.h); anything else is escaped, so any
// string maps to one safe file name and back.
std::string file_name(std::string_view room) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(kPrefix);
  for (unsigned char c : room) {
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                 c == '.' || c == '-';
    if (plain) {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  out.append(kSuffix);
  return out;
}

bool room_of(std::string_view name, std::string& room) {
  if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) return false;
  name = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  room.clear();
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] != '%') {
      room.push_back(name[i]);
      continue;
    }
    if (i + 2 >= name.size()) return false;
    int hi = nib(name[i + 1]), lo = nib(name[i + 2]);
    if (hi < 0 || lo < 0) return false;
    room.push_back(char(hi * 16 + lo));
    i += 2;
  }
  return !room.empty();
}

DiskError error_of(int err) {
  if (err == 0) return DiskError::None;
  if (err == ENOSPC || err == EDQUOT) return DiskError::NoSpace;
  return DiskError::Io;
}

void bump(std::atomic<uint64_t>& a, uint64_t n = 1) { a.fetch_add(n, std::memory_order_relaxed); }

}  // namespace

std::string_view to_string(DiskError e) {
  switch (e) {
    case DiskError::None: return "none";
    case DiskError::NoSpace: return "no_space";
    case DiskError::Io: return "io";
    case DiskError::NoRoom: return "no_room";
    case DiskError::BadSequence: return "bad_sequence";
    case DiskError::Stopped: return "stopped";
  }
  return "?";
}

struct DiskStore::Client::Inbox {
  int efd = -1;
  std::mutex mu;
  std::vector<DiskCompletion> done;
  ~Inbox() {
    if (efd >= 0) ::close(efd);
  }
  void post(const DiskCompletion* c, size_t n) {
    {
      std::lock_guard<std::mutex> lock(mu);
      done.insert(done.end(), c, c + n);
    }
    uint64_t one = 1;
    // The counter only wakes the loop; a full counter (never in practice) still is readable.
    [[maybe_unused]] ssize_t w = ::write(efd, &one, sizeof one);
  }
};

namespace {

enum class OpKind : uint8_t { Append, Ack, Put, Remove, ReadEvents };

struct Op {
  OpKind kind = OpKind::Append;
  std::string room;
  uint64_t ticket = 0;
  std::shared_ptr<DiskStore::Client::Inbox> inbox;
  std::string record;  // Append/Ack: the framed record
  bool has_edit = false;
  uint64_t seq = 0;
  uint64_t first_event = 0;
  uint64_t events = 0;
  uint64_t ack_through = 0;
  std::unique_ptr<RoomState> state;  // Put
  uint64_t read_from = 0, read_max = 0, read_offset = 0, read_generation = 0;  // ReadEvents
  std::shared_ptr<EventsRead> read;                                             // its result
  DiskError error = DiskError::None;
  bool decided = false;              // error is final (rejected before writing)
  void* file = nullptr;              // the writer's RoomFile once staged
};

}  // namespace

struct DiskStore::Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Op> queue;
  bool stopping = false;

  struct Counters {
    std::atomic<uint64_t> appends_ok{0}, batches{0}, syncs{0}, bytes_written{0}, errors_no_space{0},
        errors_io{0}, errors_rejected{0}, compactions{0}, compaction_errors{0}, rooms_loaded{0}, tails_cut{0},
        rooms_damaged{0}, open_files{0}, rooms_behind{0}, replayed_records{0};
  } counters;

  // false when stopping (the op is not queued).
  bool submit(Op&& op) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) return false;
      queue.push_back(std::move(op));
    }
    cv.notify_one();
    return true;
  }
};

// One room's file as the writer thread sees it.
struct RoomFile {
  std::string name;
  std::string epoch;       // journal entries carry it: a replay never crosses epochs
  int fd = -1;
  uint64_t size = 0;       // the valid length written (in the page cache; synced at checkpoints)
  uint64_t seq = 0, last_event = 0, acked = 0, records = 0;
  bool damaged = false;    // loaded with damage: no appends until put_room
  bool dirty = false;      // written since the last checkpoint request (in `dirty`)
  // Records durable in the journal that the room's file has not taken yet (written in
  // pieces, or a write error after the journal's sync): written before anything newer,
  // and no checkpoint retires the journal while any room has some.
  std::string unwritten;
  uint64_t last_used = 0;  // batch number, for closing the least recent files
  uint64_t compact_at = 0; // records count that triggers the next compaction (0: bound)
  uint64_t generation = 1; // changes when the file is rewritten (offsets of read_events)
  // During a batch:
  bool staged = false;
  std::string pending;
  uint64_t saved_seq = 0, saved_event = 0, saved_acked = 0, saved_records = 0;
  DiskError batch_error = DiskError::None;
};

struct DiskStore::Writer {
  DiskOptions opt;
  DirLock lock;
  int dir_fd = -1;
  std::shared_ptr<Shared> shared;
  std::unordered_map<std::string, RoomFile> rooms;
  std::vector<RoomFile*> touched;
  std::vector<RoomFile*> compact_candidates;
  std::vector<RoomFile*> dirty;  // written since the last checkpoint request
  Journal journal;
  std::unique_ptr<Checkpointer> checkpointer;  // made once the journal is open
  uint64_t checkpoint_at = 0;    // journal segment bytes that start the next checkpoint
  std::string journal_batch;
  uint64_t batch_no = 0;
  size_t open_files = 0;
  std::thread thread;

  ~Writer() {
    checkpointer.reset();
    for (auto& [_, rf] : rooms) close_file(rf);
    if (dir_fd >= 0) ::close(dir_fd);
  }

  void log(const std::string& line) {
    if (opt.log) opt.log(line);
  }
  Shared::Counters& c() { return shared->counters; }

  void close_file(RoomFile& rf) {
    if (rf.fd >= 0) {
      ::close(rf.fd);
      rf.fd = -1;
      --open_files;
    }
  }
  int open_file(RoomFile& rf) {
    if (rf.fd >= 0) return 0;
    int fd = ::openat(dir_fd, rf.name.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno;
    rf.fd = fd;
    ++open_files;
    return 0;
  }

  // ---- start-up ---------------------------------------------------------------------

  bool load(std::vector<LoadedRoom>& out, std::string& error) {
    DIR* d = ::fdopendir(::dup(dir_fd));
    if (!d) {
      error = std::string("cannot list rooms: ") + std::strerror(errno);
      return false;
    }
    std::vector<std::string> names;
    bool removed_tmp = false;
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n == "." || n == "..") continue;
      if (n.ends_with(".tmp")) {
        // A write_file_atomically that never reached its rename: never the truth.
        ::unlinkat(dir_fd, e->d_name, 0);
        removed_tmp = true;
        continue;
      }
      names.emplace_back(n);
    }
    ::closedir(d);
    if (removed_tmp) fsync_fd(dir_fd);
    std::sort(names.begin(), names.end());
    std::string bytes;
    for (const std::string& name : names) {
      std::string room;
      if (!room_of(name, room)) {
        log("data dir: ignoring unknown file rooms/" + name);
        continue;
      }
      int fd = ::openat(dir_fd, name.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) {
        error = "cannot open rooms/" + name + ": " + std::strerror(errno);
        return false;
      }
      if (int err = read_all(fd, bytes); err != 0) {
        ::close(fd);
        error = "cannot read rooms/" + name + ": " + std::strerror(err);
        return false;
      }
      LogRecovery rec = read_room_log(bytes, opt.history_limit);
      LoadedRoom lr;
      lr.outcome = rec.outcome;
      lr.detail = std::move(rec.detail);
      if (rec.outcome != LogOutcome::Damaged && rec.state.room != room) {
        lr.outcome = LogOutcome::Damaged;
        lr.detail = "header names room '" + rec.state.room + "'";
      }
      if (lr.outcome == LogOutcome::TailCut) {
        lr.cut_bytes = bytes.size() - rec.good_bytes;
        int err = ::ftruncate(fd, off_t(rec.good_bytes)) == 0 ? fsync_fd(fd) : errno;
        if (err != 0) {
          ::close(fd);
          error = "cannot cut the torn tail of rooms/" + name + ": " + std::strerror(err);
          return false;
        }
        bump(c().tails_cut);
        log("room " + room + ": cut " + std::to_string(lr.cut_bytes) + " bytes: " + lr.detail);
      }
      RoomFile& rf = rooms[room];
      rf.name = name;
      rf.epoch = rec.state.epoch;
      rf.size = rec.good_bytes;
      rf.records = rec.records;
      rf.damaged = lr.outcome == LogOutcome::Damaged;
      ::close(fd);
      lr.state = std::move(rec.state);
      lr.state.room = room;
      out.push_back(std::move(lr));
    }
    if (!replay_journal(out, error)) return false;
    for (LoadedRoom& lr : out) {
      RoomFile& rf = rooms[lr.state.room];
      rf.seq = lr.state.seq;
      rf.last_event = lr.state.last_event;
      rf.acked = lr.state.acked_through;
      if (lr.outcome == LogOutcome::Damaged) {
        bump(c().rooms_damaged);
        log("room " + lr.state.room + ": DAMAGED log, its history cannot be trusted (" + lr.detail +
            "); it needs a new epoch");
      }
      bump(c().rooms_loaded);
    }
    return true;
  }

  // What the journal holds beyond the room files (a crash before their checkpoint): it
  // is applied, written to the rooms' files and synced, then every old segment is
  // retired, so the store starts with one empty segment and nothing dirty.
  bool replay_journal(std::vector<LoadedRoom>& out, std::string& error) {
    if (int err = journal.open(opt.dir, opt.journal_segment_bytes, error); err != 0) return false;
    std::unordered_map<std::string_view, size_t> index;
    for (size_t i = 0; i < out.size(); ++i) index.emplace(out[i].state.room, i);
    std::unordered_map<size_t, std::string> applied;  // room index -> records to write
    std::unordered_map<size_t, bool> broken;          // a gap or a bad record: no more replay
    std::unordered_map<size_t, bool> appended;        // a Damaged room continued by the journal
    std::unordered_map<size_t, uint64_t> counts;      // records applied
    int err = journal.read(
        [&](const JournalEntry& e) {
          auto it = index.find(e.room);
          if (it == index.end()) return;  // removed since (or never put): nothing to continue
          LoadedRoom& lr = out[it->second];
          if (lr.state.epoch != e.epoch || broken[it->second]) return;  // another life of the room
          Replay r = replay_records(lr.state, e.records, opt.history_limit, applied[it->second]);
          if (r.appends > 0) appended[it->second] = true;
          counts[it->second] += r.applied;
          bump(c().replayed_records, r.applied);
          if (r.outcome != Replay::Outcome::Ok) {
            broken[it->second] = true;
            if (lr.outcome != LogOutcome::Damaged) {
              lr.outcome = LogOutcome::Damaged;
              lr.detail = "journal: " + r.detail;
            }
          }
        });
    if (err != 0) {
      error = std::string("cannot read the journal: ") + std::strerror(err);
      return false;
    }
    for (auto& [i, records] : applied) {
      if (records.empty()) continue;
      LoadedRoom& lr = out[i];
      RoomFile& rf = rooms[lr.state.room];
      int werr;
      if (lr.outcome == LogOutcome::Damaged) {
        // Damage in the part the journal still covered: the journal continued the good
        // prefix without a hole, so the whole history is known again. A fresh file.
        if (broken[i] || !appended[i]) continue;
        std::string snap = encode_snapshot(lr.state);
        werr = write_file_atomically(dir_fd, rf.name, snap);
        if (werr == 0) {
          rf.size = snap.size();
          rf.records = 1 + lr.state.history.size() + lr.state.outbox.size();
          rf.damaged = false;
          lr.outcome = LogOutcome::TailCut;
          lr.detail = "repaired from the journal: " + lr.detail;
          log("room " + lr.state.room + ": " + lr.detail);
        }
      } else {
        int fd = ::openat(dir_fd, rf.name.c_str(), O_RDWR | O_CLOEXEC);
        werr = fd < 0 ? errno : pwrite_all(fd, records, rf.size);
        if (werr == 0) werr = fsync_fd(fd);
        if (fd >= 0) ::close(fd);
        if (werr == 0) {
          rf.size += records.size();
          rf.records += counts[i];
        }
      }
      if (werr != 0) {
        error = "cannot write the journal's records into rooms/" + rf.name + ": " + std::strerror(werr);
        return false;
      }
    }
    // Every old segment goes (one of full length becomes the first new one), then the
    // first segment of this run starts.
    if (int e = journal.retire_through(UINT64_MAX); e != 0) {
      error = std::string("cannot remove old journal segments: ") + std::strerror(e);
      return false;
    }
    uint64_t first;
    if (int e = journal.start_segment(first, true); e != 0) {
      error = std::string("cannot start a journal segment: ") + std::strerror(e);
      return false;
    }
    checkpoint_at = opt.journal_segment_bytes;
    return true;
  }

  // ---- the writer thread ------------------------------------------------------------

  void run() {
    std::vector<Op> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(shared->mu);
        shared->cv.wait(lock, [&] { return !shared->queue.empty() || shared->stopping; });
        if (shared->queue.empty()) break;  // stopping, and everything done
        batch.swap(shared->queue);
      }
      process(batch);
      batch.clear();
    }
    final_checkpoint();
  }

  void process(std::vector<Op>& batch) {
    ++batch_no;
    size_t seg = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      Op& op = batch[i];
      if (op.kind == OpKind::Put || op.kind == OpKind::Remove || op.kind == OpKind::ReadEvents) {
        // Rare, and they replace or read the file: everything queued before them goes first.
        flush(batch, seg, i);
        op.error = op.kind == OpKind::Put ? put(op) : op.kind == OpKind::Remove ? remove(op.room) : read_events(op);
        op.decided = true;
        seg = i + 1;
      } else {
        stage(op);
      }
    }
    flush(batch, seg, batch.size());
    complete(batch);
    compact_some();
    if (journal.current_bytes() >= checkpoint_at) checkpoint();
    close_idle_files();
    c().open_files.store(open_files, std::memory_order_relaxed);
  }

  void reject(Op& op, DiskError e) {
    op.error = e;
    op.decided = true;
  }

  void stage(Op& op) {
    auto it = rooms.find(op.room);
    if (it == rooms.end() || it->second.damaged) return reject(op, DiskError::NoRoom);
    RoomFile& rf = it->second;
    if (op.kind == OpKind::Append) {
      if (op.has_edit && op.seq != rf.seq + 1) return reject(op, DiskError::BadSequence);
      if (op.events > 0 && op.first_event != rf.last_event + 1) return reject(op, DiskError::BadSequence);
    } else if (op.ack_through > rf.last_event) {
      return reject(op, DiskError::BadSequence);
    }
    if (!rf.staged) {
      rf.staged = true;
      rf.batch_error = DiskError::None;
      rf.saved_seq = rf.seq;
      rf.saved_event = rf.last_event;
      rf.saved_acked = rf.acked;
      rf.saved_records = rf.records;
      touched.push_back(&rf);
    }
    if (op.kind == OpKind::Append) {
      if (op.has_edit) rf.seq = op.seq;
      rf.last_event += op.events;
    } else {
      rf.acked = std::max(rf.acked, op.ack_through);
    }
    ++rf.records;
    rf.pending += op.record;
    op.file = &rf;
  }

  // The group commit: every staged room's records go into one journal entry each, one
  // write and one fdatasync for all of them; then each room's file gets its records
  // (page cache only: the journal is what is durable until the next checkpoint).
  void flush(std::vector<Op>& batch, size_t from, size_t to) {
    if (touched.empty()) return;
    journal_batch.clear();
    for (RoomFile* rf : touched) journal.encode_entry(journal_batch, rooms_key(*rf), rf->epoch, rf->pending);
    int err = journal.append(journal_batch);
    bump(c().batches);
    bump(c().syncs);
    if (err == 0) bump(c().bytes_written, journal_batch.size());
    else log("journal: write failed: " + std::string(std::strerror(err)) + " (the batch's records are refused)");
    for (RoomFile* p : touched) {
      RoomFile& rf = *p;
      rf.last_used = batch_no;
      if (err == 0) {
        rf.unwritten += rf.pending;
        // The room's log takes its records in pieces of kWriteBehindBytes: one write for
        // many batches. What waits is in the journal's current segment, so it is bounded
        // by the segment's length; a checkpoint, a compaction and a stop write it first.
        if (rf.unwritten.size() >= kWriteBehindBytes) write_behind(rf);
        mark_dirty(rf);
        if (rf.records > bound(rf)) compact_candidates.push_back(&rf);
      } else {
        rf.batch_error = error_of(err);
        rf.seq = rf.saved_seq;
        rf.last_event = rf.saved_event;
        rf.acked = rf.saved_acked;
        rf.records = rf.saved_records;
      }
      rf.pending.clear();
      rf.staged = false;
    }
    for (size_t i = from; i < to; ++i) {
      Op& op = batch[i];
      if (op.decided || !op.file) continue;
      op.error = static_cast<RoomFile*>(op.file)->batch_error;
      op.decided = true;
    }
    touched.clear();
  }

  // The room's file takes what the journal already holds for it; on an error the file is
  // cut back to its valid length and the records wait (the journal keeps them durable).
  bool write_behind(RoomFile& rf) {
    if (rf.unwritten.empty()) return true;
    int err = open_file(rf);
    if (err == 0) err = pwrite_all(rf.fd, rf.unwritten, rf.size);
    if (err == 0) {
      rf.size += rf.unwritten.size();
      rf.unwritten.clear();
      return true;
    }
    if (rf.fd >= 0) [[maybe_unused]] int cut = ::ftruncate(rf.fd, off_t(rf.size));
    bump(c().rooms_behind);  // a write that failed
    log("room " + std::string(rooms_key(rf)) + ": its file is behind the journal (" + std::strerror(err) +
        "); kept in the journal, written again later");
    return false;
  }

  void mark_dirty(RoomFile& rf) {
    if (rf.dirty) return;
    rf.dirty = true;
    dirty.push_back(&rf);
  }

  std::string_view rooms_key(const RoomFile& rf) {
    std::string_view n = rf.name;
    return n.substr(kPrefix.size(), n.size() - kPrefix.size() - kSuffix.size());
  }

  // The journal segment is full: start a new one and hand the rooms written while the old
  // one was current to the checkpointer, which syncs their files and retires it. Rooms
  // whose file is behind keep the old segment alive: nothing is handed over until every
  // one of them caught up.
  void checkpoint() {
    for (RoomFile* rf : dirty) {
      if (!write_behind(*rf)) {
        checkpoint_at = journal.current_bytes() + opt.journal_segment_bytes / 4 + 1;  // try again later
        return;
      }
    }
    uint64_t old = journal.current_number(), fresh;
    if (int err = journal.start_segment(fresh, false); err != 0) {
      log("journal: cannot start a new segment: " + std::string(std::strerror(err)));
      checkpoint_at = journal.current_bytes() + opt.journal_segment_bytes / 4 + 1;
      return;
    }
    std::vector<std::string> names;
    names.reserve(dirty.size());
    for (RoomFile* rf : dirty) {
      rf->dirty = false;
      names.push_back(rf->name);
    }
    dirty.clear();
    checkpointer->request(std::move(names), old);
    checkpoint_at = opt.journal_segment_bytes;
  }

  // At a clean stop: the room files are synced and the journal retired, so the next
  // start has nothing to replay.
  void final_checkpoint() {
    if (journal.current_number() == 0) return;
    for (RoomFile* rf : dirty) write_behind(*rf);
    checkpointer->finish();
    checkpoint();
    checkpointer->drain();
  }

  void complete(std::vector<Op>& batch) {
    // One post (one eventfd write) per client and batch.
    std::vector<DiskCompletion> out;
    for (size_t i = 0; i < batch.size();) {
      Client::Inbox* inbox = batch[i].inbox.get();
      out.clear();
      size_t j = i;
      for (; j < batch.size() && batch[j].inbox.get() == inbox; ++j) {
        Op& op = batch[j];
        out.push_back({op.ticket, op.error, std::move(op.read)});
        switch (op.error) {
          case DiskError::None: bump(c().appends_ok); break;
          case DiskError::NoSpace: bump(c().errors_no_space); break;
          case DiskError::Io: bump(c().errors_io); break;
          case DiskError::NoRoom:
          case DiskError::BadSequence:
          case DiskError::Stopped: bump(c().errors_rejected); break;
        }
      }
      inbox->post(out.data(), out.size());
      i = j;
    }
  }

  // ---- whole-file operations ----------------------------------------------------------

  DiskError put(Op& op) {
    const RoomState& s = *op.state;
    std::string name = file_name(s.room);
    std::string bytes = encode_snapshot(s);
    if (int err = write_file_atomically(dir_fd, name, bytes); err != 0) {
      log("room " + s.room + ": cannot write its file: " + std::strerror(err));
      return error_of(err);
    }
    RoomFile& rf = rooms[s.room];
    close_file(rf);  // the old inode, if any
    bool was_dirty = rf.dirty;
    uint64_t generation = rf.generation;
    rf = RoomFile{};
    rf.dirty = was_dirty;  // still listed in `dirty`: its old name is synced harmlessly
    rf.generation = generation + 1;
    rf.name = std::move(name);
    rf.epoch = s.epoch;
    rf.size = bytes.size();
    rf.seq = s.seq;
    rf.last_event = s.last_event;
    rf.acked = std::min(s.acked_through, s.last_event - s.outbox.size());
    rf.records = 1 + s.history.size() + s.outbox.size();
    return DiskError::None;
  }

  DiskError remove(const std::string& room) {
    auto it = rooms.find(room);
    std::string name = it != rooms.end() ? it->second.name : file_name(room);
    if (it != rooms.end()) {
      close_file(it->second);
      std::erase(compact_candidates, &it->second);
      std::erase(dirty, &it->second);
      rooms.erase(it);
    }
    // The journal may still hold its records: a replay finds no file and skips them.
    if (::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) return error_of(errno);
    return error_of(fsync_fd(dir_fd));
  }

  // A window of the room's log (and of what it has not taken yet: its offsets follow
  // the file's) from the caller's offset, scanned for outbox events.
  DiskError read_events(Op& op) {
    auto it = rooms.find(op.room);
    if (it == rooms.end() || it->second.damaged) return DiskError::NoRoom;
    RoomFile& rf = it->second;
    write_behind(rf);
    uint64_t offset = op.read_generation == rf.generation ? op.read_offset : 0;
    if (offset > rf.size + rf.unwritten.size()) offset = 0;
    auto read = std::make_shared<EventsRead>();
    read->generation = rf.generation;
    std::string bytes;
    // About 1 MiB at a time; more only when a single record is longer.
    uint64_t window = 1 << 20;
    for (int attempt = 0; attempt < 2 && offset < rf.size; ++attempt) {
      int err = open_file(rf);
      if (err != 0) return error_of(err);
      bytes.resize(size_t(std::min(window, rf.size - offset)));
      if (int perr = pread_exact(rf.fd, bytes, offset); perr != 0) return error_of(perr);
      if (read_frame(bytes).status != FrameStatus::Torn || bytes.size() < kFrameHeaderBytes) break;
      uint32_t len = 0;
      for (int i = 0; i < 4; ++i) len |= uint32_t(uint8_t(bytes[size_t(i)])) << (8 * i);
      window = kFrameHeaderBytes + len;
    }
    size_t used = scan_events(bytes, op.read_from, op.read_max, read->events);
    offset += used;
    if (offset >= rf.size && read->events.size() < op.read_max && !rf.unwritten.empty()) {
      std::string_view tail = std::string_view(rf.unwritten).substr(size_t(offset - rf.size));
      offset += scan_events(tail, op.read_from, op.read_max, read->events);
    }
    read->next_offset = offset;
    op.read = std::move(read);
    return DiskError::None;
  }

  uint64_t bound(const RoomFile& rf) const {
    uint64_t live = 1 + opt.history_limit + (rf.last_event - rf.acked);
    return std::max<uint64_t>(2 * live + 32, rf.compact_at);
  }

  // A few rewrites per batch, so one batch's acks never wait behind many.
  void compact_some() {
    size_t budget = 2;
    while (budget > 0 && !compact_candidates.empty()) {
      RoomFile* rf = compact_candidates.back();
      compact_candidates.pop_back();
      if (rf->records <= bound(*rf) || !write_behind(*rf)) continue;
      compact(*rf);
      --budget;
    }
  }

  void compact(RoomFile& rf) {
    std::string room(rooms_key(rf));
    std::string bytes;
    int err = open_file(rf);
    if (err == 0) err = read_all(rf.fd, bytes);
    if (err == 0) {
      bytes.resize(std::min<size_t>(bytes.size(), rf.size));
      LogRecovery rec = read_room_log(bytes, opt.history_limit);
      if (rec.outcome != LogOutcome::Clean) {
        log("room " + room + ": not compacted, its log reads as " + std::string(to_string(rec.outcome)) + ": " +
            rec.detail);
        err = EIO;
      } else {
        rec.state.room = room;
        std::string out = encode_snapshot(rec.state);
        err = write_file_atomically(dir_fd, rf.name, out);
        if (err == 0) {
          close_file(rf);
          ++rf.generation;
          rf.size = out.size();
          rf.records = 1 + rec.state.history.size() + rec.state.outbox.size();
          rf.compact_at = 0;
          bump(c().compactions);
          return;
        }
        log("room " + room + ": compaction failed: " + std::strerror(err));
      }
    }
    bump(c().compaction_errors);
    rf.compact_at = rf.records * 2;  // back off; appends go on into the old file
  }

  void close_idle_files() {
    if (open_files <= opt.max_open_files) return;
    std::vector<RoomFile*> open;
    for (auto& [_, rf] : rooms)
      if (rf.fd >= 0) open.push_back(&rf);
    std::sort(open.begin(), open.end(), [](RoomFile* a, RoomFile* b) { return a->last_used < b->last_used; });
    size_t target = opt.max_open_files * 3 / 4;
    for (RoomFile* rf : open) {
      if (open_files <= target) break;
      close_file(*rf);
    }
  }
};

// ---- DiskStore ----------------------------------------------------------------------

std::unique_ptr<DiskStore> DiskStore::open(DiskOptions options, std::vector<LoadedRoom>& rooms,
                                           std::string& error) {
  rooms.clear();
  if (options.dir.empty()) {
    error = "no data directory given";
    return nullptr;
  }
  if (::mkdir(options.dir.c_str(), 0755) != 0 && errno != EEXIST) {
    error = "cannot create " + options.dir + ": " + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<DiskStore> store(new DiskStore());
  store->shared_ = std::make_shared<Shared>();
  auto w = std::make_unique<Writer>();
  w->opt = std::move(options);
  w->shared = store->shared_;
  if (!w->lock.acquire(w->opt.dir, error)) return nullptr;
  std::string rooms_dir = w->opt.dir + "/rooms";
  if (::mkdir(rooms_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    error = "cannot create " + rooms_dir + ": " + std::strerror(errno);
    return nullptr;
  }
  w->dir_fd = ::open(rooms_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (w->dir_fd < 0) {
    error = "cannot open " + rooms_dir + ": " + std::strerror(errno);
    return nullptr;
  }
  if (!w->load(rooms, error)) return nullptr;
  w->checkpointer = std::make_unique<Checkpointer>(w->dir_fd, w->journal, w->opt.log);
  w->checkpointer->start();
  store->writer_ = std::move(w);
  store->writer_->thread = std::thread([ws = store->writer_.get()] { ws->run(); });
  return store;
}

DiskStore::~DiskStore() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->stopping = true;
  }
  shared_->cv.notify_all();
  if (writer_ && writer_->thread.joinable()) writer_->thread.join();
}

std::unique_ptr<DiskStore::Client> DiskStore::client() {
  return std::unique_ptr<Client>(new Client(shared_));
}

DiskStats DiskStore::stats() const {
  const auto& k = shared_->counters;
  auto g = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  DiskStats s;
  s.appends_ok = g(k.appends_ok);
  s.batches = g(k.batches);
  s.syncs = g(k.syncs);
  s.bytes_written = g(k.bytes_written);
  s.errors_no_space = g(k.errors_no_space);
  s.errors_io = g(k.errors_io);
  s.errors_rejected = g(k.errors_rejected);
  s.compactions = g(k.compactions);
  s.compaction_errors = g(k.compaction_errors);
  s.rooms_loaded = g(k.rooms_loaded);
  s.tails_cut = g(k.tails_cut);
  s.rooms_damaged = g(k.rooms_damaged);
  s.open_files = g(k.open_files);
  if (writer_) {
    s.checkpoints = writer_->checkpointer->checkpoints();
    s.checkpoint_syncs = writer_->checkpointer->syncs();
    s.checkpoint_errors = writer_->checkpointer->errors();
    s.journal_segments = writer_->journal.segments();
  }
  s.rooms_behind = g(k.rooms_behind);
  s.replayed_records = g(k.replayed_records);
  return s;
}

// ---- Client -------------------------------------------------------------------------

DiskStore::Client::Client(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {
  inbox_ = std::make_shared<Inbox>();
  inbox_->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

DiskStore::Client::~Client() = default;

int DiskStore::Client::event_fd() const { return inbox_->efd; }

namespace {

uint64_t submit(DiskStore::Shared& shared, const std::shared_ptr<DiskStore::Client::Inbox>& inbox, Op&& op) {
  uint64_t ticket = op.ticket;
  op.inbox = inbox;
  if (!shared.submit(std::move(op))) {
    DiskCompletion c{ticket, DiskError::Stopped, nullptr};
    inbox->post(&c, 1);
  }
  return ticket;
}

}  // namespace

uint64_t DiskStore::Client::append(std::string_view room, const EditView* edit, std::span<const EventView> events) {
  Op op;
  op.kind = OpKind::Append;
  op.room.assign(room);
  op.ticket = next_ticket_++;
  op.has_edit = edit != nullptr;
  op.seq = edit ? edit->seq : 0;
  op.events = events.size();
  op.first_event = events.empty() ? 0 : events.front().number;
  for (size_t i = 1; i < events.size(); ++i) {
    if (events[i].number != events[i - 1].number + 1) op.first_event = 0;  // rejected by the writer
  }
  encode_append(op.record, edit, events);
  return submit(*shared_, inbox_, std::move(op));
}

uint64_t DiskStore::Client::ack_events(std::string_view room, uint64_t through) {
  Op op;
  op.kind = OpKind::Ack;
  op.room.assign(room);
  op.ticket = next_ticket_++;
  op.ack_through = through;
  encode_ack(op.record, through);
  return submit(*shared_, inbox_, std::move(op));
}

uint64_t DiskStore::Client::put_room(const RoomState& state) {
  Op op;
  op.kind = OpKind::Put;
  op.room = state.room;
  op.ticket = next_ticket_++;
  op.state = std::make_unique<RoomState>(state);
  return submit(*shared_, inbox_, std::move(op));
}

uint64_t DiskStore::Client::remove_room(std::string_view room) {
  Op op;
  op.kind = OpKind::Remove;
  op.room.assign(room);
  op.ticket = next_ticket_++;
  return submit(*shared_, inbox_, std::move(op));
}

uint64_t DiskStore::Client::read_events(std::string_view room, uint64_t from, size_t max, uint64_t offset,
                                       uint64_t generation) {
  Op op;
  op.kind = OpKind::ReadEvents;
  op.room.assign(room);
  op.ticket = next_ticket_++;
  op.read_from = from;
  op.read_max = max;
  op.read_offset = offset;
  op.read_generation = generation;
  return submit(*shared_, inbox_, std::move(op));
}

void DiskStore::Client::take(std::vector<DiskCompletion>& out) {
  uint64_t n;
  [[maybe_unused]] ssize_t r = ::read(inbox_->efd, &n, sizeof n);  // EAGAIN when none: fine
  std::lock_guard<std::mutex> lock(inbox_->mu);
  out.swap(inbox_->done);
}

}  // namespace roomcast::disk
