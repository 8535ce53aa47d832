// core/disk/dir_lock.h: one process per data directory.
//
// Owns: an open descriptor on DIR/LOCK holding flock(LOCK_EX); the kernel drops the lock
// when the process dies (kill -9 included), so a crash never leaves a stale lock.
// Called by: DiskStore::open.
// Promises: acquire fails, with a message naming the directory and the holder's pid,
// while another process (or another DiskStore in this one) holds the directory.
#pragma once

#include <string>

namespace roomcast::disk {

class DirLock {
 public:
  DirLock() = default;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock();

  // false with `error` set if the directory is held or LOCK cannot be opened.
  bool acquire(const std::string& dir, std::string& error);

 private:
  int fd_ = -1;
};

}  // namespace roomcast::disk
