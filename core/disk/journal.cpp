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

int datasync(int fd) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

}  // namespace

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

int Journal::open(const std::string& dir, std::string& error) {
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
  ::closedir(d);
  std::sort(numbers_.begin(), numbers_.end());
  return 0;
}

int Journal::read(const std::function<void(const JournalEntry&)>& each,
                  const std::function<void(const std::string&, const std::string&)>& bad) const {
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
      RecordReader r(f.payload);
      JournalEntry e;
      bool ok = f.status == FrameStatus::Ok && RecordKind(r.u8()) == RecordKind::Journal;
      if (ok) {
        e.room = r.str();
        e.epoch = r.str();
        e.records = r.str();
        ok = !r.failed() && r.at_end();
      }
      if (!ok) {
        bad(name, (f.status == FrameStatus::Torn ? "torn entry at offset " : "bad entry at offset ") +
                      std::to_string(pos) + " of " + std::to_string(bytes.size()) + " bytes");
        break;
      }
      each(e);
      pos += f.size;
    }
  }
  return 0;
}

void Journal::encode_entry(std::string& out, std::string_view room, std::string_view epoch,
                           std::string_view records) {
  RecordWriter w(RecordKind::Journal);
  w.str(room).str(epoch).str(records);
  append_frame(out, w.payload());
}

int Journal::append(std::string_view bytes) {
  if (fd_ < 0) return EBADF;
  if (needs_cut_) {
    if (::ftruncate(fd_, off_t(size_)) != 0) return errno;
    if (int err = datasync(fd_); err != 0) return err;
    needs_cut_ = false;
  }
  int err = pwrite_all(fd_, bytes, size_);
  if (err == 0) err = datasync(fd_);
  if (err == 0) {
    size_ += bytes.size();
    return 0;
  }
  // What may have landed must not come back after a crash: cut it, durably, now or
  // before the next append.
  needs_cut_ = !(::ftruncate(fd_, off_t(size_)) == 0 && datasync(fd_) == 0);
  return err;
}

int Journal::start_segment(uint64_t& number) {
  uint64_t n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = std::max(current_, numbers_.empty() ? 0 : numbers_.back()) + 1;
  }
  std::string name = segment_name(n);
  int fd = ::openat(dir_fd_, name.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  // The new name must survive a crash before anything in it is acked.
  if (int err = fsync_fd(dir_fd_); err != 0) {
    ::close(fd);
    ::unlinkat(dir_fd_, name.c_str(), 0);
    return err;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  size_ = 0;
  needs_cut_ = false;
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t n : numbers_)
      if (n <= number && n != current_) gone.push_back(n);
  }
  if (gone.empty()) return 0;
  int err = 0;
  for (uint64_t n : gone) {
    if (::unlinkat(dir_fd_, segment_name(n).c_str(), 0) != 0 && errno != ENOENT) {
      err = errno;
      break;
    }
    std::lock_guard<std::mutex> lock(mu_);
    std::erase(numbers_, n);
  }
  if (int s = fsync_fd(dir_fd_); err == 0) err = s;
  return err;
}

size_t Journal::segments() const {
  std::lock_guard<std::mutex> lock(mu_);
  return numbers_.size();
}

}  // namespace roomcast::disk
