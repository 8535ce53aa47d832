// core/disk/durable_file.h: the system calls behind "on disk", with errors as values.
//
// Owns: nothing; each function is one durable step on a descriptor it is given.
// Called by: disk_store.cpp and dir_lock.cpp, on the store's writer thread or at open.
// Promises: a file written with write_file_atomically is either absent, the old one, or
// the whole new one after a crash (write temp + fsync + rename + fsync of the directory);
// every function returns 0 or an errno, never throws, and retries EINTR and short writes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace roomcast::disk {

// Writes all of `bytes` at `offset`.
int pwrite_all(int fd, std::string_view bytes, uint64_t offset);
// Reads the whole file into `out`.
int read_all(int fd, std::string& out);
int fsync_fd(int fd);
// fdatasync: the data and what reading it back needs, not timestamps.
int datasync_fd(int fd);
// Reads exactly out.size() bytes at `offset` (EIO if the file ends first).
int pread_exact(int fd, std::string& out, uint64_t offset);
// Makes `name` in the directory `dir_fd` hold exactly `bytes`, atomically and durably.
int write_file_atomically(int dir_fd, const std::string& name, std::string_view bytes);

}  // namespace roomcast::disk
