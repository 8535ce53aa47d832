// core/disk/checkpointer.h: the thread that makes journal segments redundant and deletes
// them (docs/durability.md "Group commit: the journal").
//
// Owns: its thread; the room log names and the segment number it was handed and has not
// settled yet; its counters.
// Called by: DiskStore's writer thread (request at each rotation, finish at a clean stop,
// drain), DiskStore::open (start) and ~DiskStore (stop, through the writer's state).
// Promises:
//   - a segment is retired (Journal::retire_through) only after every room log named in
//     the requests up to it has been fdatasynced; a room log that no longer exists (the
//     room was removed) needs no sync;
//   - a failed sync keeps every name and the segment for the next request, which retries
//     them together with its own; it never retries in a loop on its own;
//   - while not finishing, it makes the journal's next segment ahead of time
//     (Journal::prepare_next) after each request and once at start;
//   - log lines come from its thread (the DiskOptions::log contract).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/disk/journal.h"

namespace roomcast::disk {

class Checkpointer {
 public:
  using Log = std::function<void(std::string_view)>;
  // `dir_fd`: the rooms directory (room log names are relative to it).
  Checkpointer(int dir_fd, Journal& journal, Log log) : dir_fd_(dir_fd), journal_(journal), log_(std::move(log)) {}
  ~Checkpointer() { stop(); }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  void start();
  // The room logs written while segment `segment` (and those before it) was current.
  void request(std::vector<std::string> room_logs, uint64_t segment);
  // The store is closing: no next segment is prepared from now on.
  void finish() { finishing_.store(true); }
  // Waits until every request so far was tried once.
  void drain();
  void stop();

  uint64_t checkpoints() const { return checkpoints_.load(std::memory_order_relaxed); }
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  void run();
  // Syncs `names_`, then retires through `upto`; called with mu_ held, unlocks it meanwhile.
  void settle(std::unique_lock<std::mutex>& lock, uint64_t upto);
  void say(const std::string& line) const {
    if (log_) log_(line);
  }

  const int dir_fd_;
  Journal& journal_;
  const Log log_;
  std::atomic<bool> finishing_{false};
  std::atomic<uint64_t> checkpoints_{0}, syncs_{0}, errors_{0};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Under mu_:
  std::vector<std::string> incoming_;
  uint64_t incoming_through_ = 0;
  uint64_t tried_ = 0;  // requests tried through this segment number
  bool busy_ = false;
  bool stopping_ = false;
  // The thread's own: what is not settled yet.
  std::vector<std::string> names_;
};

}  // namespace roomcast::disk
