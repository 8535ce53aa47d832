// core/disk/checkpointer.cpp: Checkpointer (its contract is in core/disk/checkpointer.h).
#include "core/disk/checkpointer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "core/disk/durable_file.h"

namespace roomcast::disk {

void Checkpointer::start() {
  thread_ = std::thread([this] { run(); });
}

void Checkpointer::request(std::vector<std::string> room_logs, uint64_t segment) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::string& f : room_logs) incoming_.push_back(std::move(f));
    incoming_through_ = std::max(incoming_through_, segment);
  }
  cv_.notify_all();
}

void Checkpointer::drain() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !busy_ && incoming_through_ <= tried_; });
}

void Checkpointer::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Checkpointer::run() {
  if (int err = journal_.prepare_next(); err != 0)
    say("journal: cannot prepare the next segment: " + std::string(std::strerror(err)));
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    busy_ = false;
    cv_.notify_all();
    cv_.wait(lock, [&] { return incoming_through_ > tried_ || stopping_; });
    if (incoming_through_ <= tried_) return;  // stopping, nothing new
    for (std::string& f : incoming_) names_.push_back(std::move(f));
    incoming_.clear();
    busy_ = true;
    tried_ = incoming_through_;
    settle(lock, tried_);
  }
}

void Checkpointer::settle(std::unique_lock<std::mutex>& lock, uint64_t upto) {
  lock.unlock();
  std::sort(names_.begin(), names_.end());
  names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
  std::vector<std::string> failed;
  for (const std::string& n : names_) {
    int fd = ::openat(dir_fd_, n.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno != ENOENT) failed.push_back(n);  // ENOENT: the room was removed
      continue;
    }
    const int err = datasync_fd(fd);
    ::close(fd);
    syncs_.fetch_add(1, std::memory_order_relaxed);
    if (err != 0) failed.push_back(n);
  }
  int err = failed.empty() ? journal_.retire_through(upto) : EIO;
  if (err == 0) {
    names_.clear();
    checkpoints_.fetch_add(1, std::memory_order_relaxed);
  } else {
    names_ = std::move(failed);
    errors_.fetch_add(1, std::memory_order_relaxed);
    say("checkpoint: journal kept, " + std::to_string(names_.size()) + " room logs not synced yet");
  }
  // The segment after the current one, zeros ahead of time, so the writer's next
  // rotation costs a rename (a failure here only means a growing segment next).
  if (!finishing_.load()) {
    if (int perr = journal_.prepare_next(); perr != 0)
      say("journal: cannot prepare the next segment: " + std::string(std::strerror(perr)));
  }
  lock.lock();
}

}  // namespace roomcast::disk
