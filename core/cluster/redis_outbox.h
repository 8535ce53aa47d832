// core/cluster/redis_outbox.h: what the Redis link owes each worker, and how it gets there.
//
// Owns: one mailbox per worker (the events it has not taken yet, under a mutex of its
// own, and the worker's eventfd) and, for the link's thread, the events staged for each
// worker during one loop iteration.
// Called by: the link's thread (post, post_reply, broadcast, flush); RedisLink::submit()
// on a loop thread (deliver: calls refused at once); each worker through RedisLink::take()
// and, before the link starts, RedisLink::attach().
// Why staging: a loop iteration answers many calls; handing them over one by one would
// cost a lock and an eventfd write (a syscall, a wake-up) each.
// Promises:
//   - staging touches no lock; flush() hands each worker its staged events with one lock
//     and at most one eventfd write, behind what the worker has not taken yet;
//   - per worker, events are taken in the order they were handed over;
//   - events for a worker index out of range are dropped (a caller bug: nobody to tell).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/cluster/redis_link.h"

namespace roomcast {

class RedisOutbox {
 public:
  explicit RedisOutbox(unsigned workers);

  unsigned workers() const { return workers_; }

  // Before the link's thread starts, from one thread: worker w's eventfd, written once
  // whenever events were handed to it (-1: none, the worker polls take()).
  void attach(unsigned w, int notify_fd);

  // The link's thread: stage events until the next flush().
  void post(unsigned w, RedisEvent e);
  void post_reply(unsigned w, uint64_t cookie, bool ok, RedisValue v = {});  // cookie 0: not wanted
  void broadcast(const RedisEvent& e);  // a copy to every attached worker
  void flush();

  // Any thread: hands `events` to w now (they are moved out; `events` is left empty).
  void deliver(unsigned w, std::vector<RedisEvent>& events);
  // Worker w's thread: moves everything handed to w into *out (appending).
  void take(unsigned w, std::vector<RedisEvent>* out);

 private:
  struct Box {
    std::mutex mu;
    std::vector<RedisEvent> events;
    int notify_fd = -1;
  };

  unsigned workers_;
  std::vector<std::unique_ptr<Box>> boxes_;
  std::vector<bool> attached_;                 // written before start() only
  std::vector<std::vector<RedisEvent>> staged_;  // the link's thread only
};

}  // namespace roomcast
