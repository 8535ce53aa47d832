// core/disk/journal.cpp: Journal (its contract is in core/disk/journal.h).
#include "core/disk/journal.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/disk/durable_file.h"
#include "core/disk/record.h"

namespace roomcast::disk {
namespace {

std::string segment_name(uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "j_%016" PRIx64 ".wal", n);
  return buf;
}

bool segment_number(std::string_view name, uint64_t& n) {
  if (name.size() != 22 || !name.starts_with("j_") || !name.ends_with(".wal")) return false;
  n = 0;
  for (char c : name.substr(2, 16)) {
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return false;
    n = n * 16 + uint64_t(v);
  }
  return n > 0;
}

constexpr const char* kPreparedName = "j_next.tmp";


// Writes `bytes` zeros from the start of `fd` and syncs them. 0 or an errno.
int fill_zeros(int fd, uint64_t bytes) {
  static const std::string zeros(256 << 10, '\0');
  for (uint64_t off = 0; off < bytes; off += zeros.size()) {
    size_t n = size_t(std::min<uint64_t>(zeros.size(), bytes - off));
    if (int err = pwrite_all(fd, std::string_view(zeros).substr(0, n), off); err != 0) return err;
  }
  return datasync_fd(fd);
}


}  // namespace

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
  if (prepared_fd_ >= 0) {
    ::close(prepared_fd_);
    ::unlinkat(dir_fd_, kPreparedName, 0);
  }
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

int Journal::open(const std::string& dir, uint64_t segment_bytes, std::string& error) {
  segment_bytes_ = segment_bytes;
  dir_ = dir + "/journal";
  if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) {
    int err = errno;
    error = "cannot create " + dir_ + ": " + std::strerror(err);
    return err;
  }
  dir_fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) {
    int err = errno;
    error = "cannot open " + dir_ + ": " + std::strerror(err);
    return err;
  }
  DIR* d = ::fdopendir(::dup(dir_fd_));
  if (!d) {
    int err = errno;
    error = "cannot list " + dir_ + ": " + std::strerror(err);
    return err;
  }
  while (dirent* e = ::readdir(d)) {
    uint64_t n;
    if (segment_number(e->d_name, n)) numbers_.push_back(n);
  }
  ::unlinkat(dir_fd_, kPreparedName, 0);  // a segment made ahead of a crash: never used
  ::closedir(d);
  std::sort(numbers_.begin(), numbers_.end());
  high_ = numbers_.empty() ? 0 : numbers_.back();
  return 0;
}

int Journal::read(const std::function<void(const JournalEntry&)>& each) const {
  std::string bytes;
  for (uint64_t n : numbers_) {
    std::string name = segment_name(n);
    int fd = ::openat(dir_fd_, name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    int err = read_all(fd, bytes);
    ::close(fd);
    if (err != 0) return err;
    size_t pos = 0;
    while (pos < bytes.size()) {
      Frame f = read_frame(std::string_view(bytes).substr(pos));
      if (f.status != FrameStatus::Ok) break;  // the end: zeros, old bytes, or a torn batch
      RecordReader r(f.payload);
      if (RecordKind(r.u8()) != RecordKind::Journal || r.u64() != n) break;  // an old entry of a recycled file
      JournalEntry e;
      e.room = r.str();
      e.epoch = r.str();
      e.records = r.str();
      if (r.failed() || !r.at_end()) break;
      each(e);
      pos += f.size;
    }
  }
  return 0;
}

void Journal::encode_entry(std::string& out, std::string_view room, std::string_view epoch,
                           std::string_view records) const {
  RecordWriter w(RecordKind::Journal);
  w.u64(current_).str(room).str(epoch).str(records);
  append_frame(out, w.payload());
}

int Journal::append(std::string_view bytes) {
  if (fd_ < 0) return EBADF;
  if (bad_bytes_ > 0) {
    // A failed append may have landed whole: erase it before anything follows it.
    int err = 0;
    if (size_ < capacity_) {
      std::string zeros(size_t(std::min(bad_bytes_, capacity_ - size_)), '\0');
      err = pwrite_all(fd_, zeros, size_);
    }
    if (err == 0 && ::ftruncate(fd_, off_t(std::max(size_, capacity_))) != 0) err = errno;
    if (err == 0) err = datasync_fd(fd_);
    if (err != 0) return err;
    bad_bytes_ = 0;
  }
  int err = pwrite_all(fd_, bytes, size_);
  if (err == 0) err = datasync_fd(fd_);
  if (err == 0) {
    size_ += bytes.size();
    return 0;
  }
  // What may have landed must not come back after a crash: erase it, durably, before
  // the next append (which tries again first, and fails while it cannot).
  bad_bytes_ = bytes.size();
  return err;
}

bool Journal::room_to_preallocate() const {
  // Writing a segment of zeros on a nearly full disk would fill it for a moment and fail
  // others' writes (the edits' own): only with four segments' worth free.
  struct statvfs st;
  if (::fstatvfs(dir_fd_, &st) != 0) return false;
  return uint64_t(st.f_bavail) * uint64_t(st.f_frsize) >= 4 * segment_bytes_;
}

int Journal::prepare_next() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (prepared_fd_ >= 0) return 0;
  }
  if (!room_to_preallocate()) return ENOSPC;
  int fd = ::openat(dir_fd_, kPreparedName, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  if (int err = fill_zeros(fd, segment_bytes_); err != 0) {
    ::close(fd);
    ::unlinkat(dir_fd_, kPreparedName, 0);
    return err;
  }
  std::lock_guard<std::mutex> lock(mu_);
  prepared_fd_ = fd;
  prepared_bytes_ = segment_bytes_;
  return 0;
}

int Journal::start_segment(uint64_t& number, bool preallocate_now) {
  uint64_t n, capacity;
  int fd;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Above every number ever used here, so a recycled file's old entries never pass.
    n = ++high_;
    fd = prepared_fd_;
    capacity = prepared_bytes_;
    prepared_fd_ = -1;
  }
  std::string name = segment_name(n);
  if (fd >= 0) {
    if (::renameat(dir_fd_, kPreparedName, dir_fd_, name.c_str()) != 0) {
      int err = errno;
      ::close(fd);
      ::unlinkat(dir_fd_, kPreparedName, 0);
      return err;
    }
  } else {
    capacity = 0;
    fd = ::openat(dir_fd_, name.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    if (preallocate_now && room_to_preallocate()) {
      // Best effort: without the space, a segment that grows (and ENOSPC on append).
      if (fill_zeros(fd, segment_bytes_) == 0) {
        capacity = segment_bytes_;
      } else if (::ftruncate(fd, 0) != 0 || datasync_fd(fd) != 0) {
        int err = errno;
        ::close(fd);
        ::unlinkat(dir_fd_, name.c_str(), 0);
        return err;
      }
    }
  }
  // The new name must survive a crash before anything in it is acked.
  if (int err = fsync_fd(dir_fd_); err != 0) {
    ::close(fd);
    ::unlinkat(dir_fd_, name.c_str(), 0);
    return err;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  size_ = 0;
  capacity_ = capacity;
  bad_bytes_ = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = n;
    numbers_.push_back(n);
  }
  number = n;
  return 0;
}

int Journal::retire_through(uint64_t number) {
  std::vector<uint64_t> gone;
  bool want_next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t n : numbers_)
      if (n <= number && n != current_) gone.push_back(n);
    want_next = prepared_fd_ < 0;
  }
  if (gone.empty()) return 0;
  int err = 0;
  for (uint64_t n : gone) {
    const std::string name = segment_name(n);
    struct stat st;
    int fd = -1;
    // The first one of full length becomes the next segment, unless one is ready.
    if (want_next && ::fstatat(dir_fd_, name.c_str(), &st, 0) == 0 && uint64_t(st.st_size) >= segment_bytes_ &&
        ::renameat(dir_fd_, name.c_str(), dir_fd_, kPreparedName) == 0) {
      fd = ::openat(dir_fd_, kPreparedName, O_RDWR | O_CLOEXEC);
      if (fd < 0) ::unlinkat(dir_fd_, kPreparedName, 0);
    } else if (::unlinkat(dir_fd_, name.c_str(), 0) != 0 && errno != ENOENT) {
      err = errno;
      break;
    }
    std::lock_guard<std::mutex> lock(mu_);
    std::erase(numbers_, n);
    if (fd >= 0) {
      prepared_fd_ = fd;
      prepared_bytes_ = uint64_t(st.st_size);
      want_next = false;
    }
  }
  if (int s = fsync_fd(dir_fd_); err == 0) err = s;
  return err;
}

size_t Journal::segments() const {
  std::lock_guard<std::mutex> lock(mu_);
  return numbers_.size();
}

}  // namespace roomcast::disk
