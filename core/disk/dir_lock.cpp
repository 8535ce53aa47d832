#include "core/disk/dir_lock.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/disk/durable_file.h"

namespace roomcast::disk {

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool DirLock::acquire(const std::string& dir, std::string& error) {
  std::string path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string holder;
    read_all(fd, holder);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
    ::close(fd);
    if (err == EWOULDBLOCK) {
      error = "data directory " + dir + " is in use by another roomcast process" +
              (holder.empty() ? std::string() : " (pid " + holder + ")") + "; refusing to share it";
    } else {
      error = "cannot lock " + path + ": " + std::strerror(err);
    }
    return false;
  }
  // The holder's pid, for the message a second process prints; not needed for safety.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) pwrite_all(fd, pid, 0);
  fd_ = fd;
  return true;
}

}  // namespace roomcast::disk
