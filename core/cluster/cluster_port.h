// core/cluster/cluster_port.h: how a thread's ClusterStore reaches Redis and tells its worker what
// came back, without knowing a socket, a thread or the RedisLink.
//
// Implemented by the Worker (core/server/worker.cpp) over the instance's RedisLink, with the
// worker's index; a unit test may implement it with a fake. Called by the
// ClusterStore (core/cluster/cluster_store.h) on the loop thread only.
// Promises (of the implementation): calls keep their order; every call with a cookie is
// answered exactly once, through ClusterStore::on_redis, on this thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/cluster/redis_link.h"

namespace roomcast {

class ClusterPort {
 public:
  virtual void submit(std::vector<RedisCall>& calls) = 0;  // moves the calls out
  virtual void subscribe(const std::string& channel) = 0;
  virtual void unsubscribe(const std::string& channel) = 0;
  // The room's first sync ended (ok: mirrored; otherwise Redis is unavailable): presence
  // API requests waiting for it can be answered.
  virtual void room_ready(std::string_view room, bool ok) = 0;
  // A publish API edit was stored (seq) or could not be (ok false).
  virtual void published(uint64_t ticket, bool ok, uint64_t seq) = 0;

 protected:
  ~ClusterPort() = default;
};

}  // namespace roomcast
