// core/cluster/redis_lease.h: the lease round, as Redis runs it and as the link reads its answer.
//
// Owns: the sorted set of leases (kRedisInstancesKey: instance id scored by its last
// renewal), the Lua script of one round and the decoding of its reply. Pure: no I/O.
// Called by: core/cluster/redis_pipeline.cpp (sends a round every renew_ms, withdraws the lease
// on a graceful stop, decodes the reply into the Instances event every worker gets).
// Why Redis's clock, not ours: every instance then judges every lease by the same clock.
// Entries are kept 24 h after their last renewal so a lapsed instance is reported dead
// (its sessions can then be cleaned up) rather than silently forgotten.
// Promises: decode_lease_round() accepts exactly the script's {now, alive, dead} reply,
// alive and dead being id/score pairs; anything else is refused as a whole.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/cluster/redis_link.h"

namespace roomcast {

inline constexpr const char* kRedisInstancesKey = "rc:instances";

// The script: KEYS[1] = kRedisInstancesKey, ARGV = {instance_id, lease_ms}; returns
// {Redis's now in ms, alive leases, lapsed leases}.
std::string_view redis_lease_script();

// The script's KEYS then ARGV for one round (1 key).
std::vector<std::string> lease_round_args(const std::string& instance_id, int lease_ms);

// The script's reply as an Instances event. False: not the script's shape (*out is then
// incomplete and must not be used).
bool decode_lease_round(const RedisValue& v, RedisEvent* out);

}  // namespace roomcast
