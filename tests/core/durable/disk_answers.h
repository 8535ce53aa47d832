// tests/core/durable/disk_answers.h: waiting for the disk engine in the durable store's
// unit tests, which drive a real DiskStore on a temporary directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

#include "core/disk/disk_store.h"

namespace roomcast::testing_support {

// Records the engine has answered so far, whatever the answer.
inline uint64_t disk_answers(const disk::DiskStore& disk) {
  const disk::DiskStats st = disk.stats();
  return st.appends_ok + st.errors_no_space + st.errors_io + st.errors_rejected;
}

// Waits (at most 5 s, sleeping, not polling the store's eventfd: it may still be readable
// from an earlier post) until the engine answered `want` records in all. The engine counts
// a batch just before it posts the completions (core/disk/disk_store.cpp), so the post
// gets 20 ms more before the caller drains. Returns the count reached.
inline uint64_t wait_for_disk_answers(const disk::DiskStore& disk, uint64_t want) {
  using namespace std::chrono_literals;
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (disk_answers(disk) < want && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);
  return disk_answers(disk);
}

}  // namespace roomcast::testing_support
