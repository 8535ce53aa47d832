// core/cluster/redis_lease.cpp: the lease round's script and reply (see core/cluster/redis_lease.h).
#include "core/cluster/redis_lease.h"

#include <cstdint>
#include <cstdlib>

namespace roomcast {

namespace {

constexpr const char* kLeaseScript = R"lua(local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - 86400000))
local alive = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - lease), '+inf', 'WITHSCORES')
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - lease, 'WITHSCORES')
return {now, alive, dead}
)lua";

bool is_text(const RedisValue& v) {
  return v.kind == RedisValue::Kind::String || v.kind == RedisValue::Kind::Status;
}

// Lua numbers come back as integers, ZRANGE scores as decimal text.
bool to_ms(const RedisValue& v, int64_t* out) {
  if (v.kind == RedisValue::Kind::Integer) {
    *out = v.integer;
    return true;
  }
  if (!is_text(v) || v.str.empty()) return false;
  char* end = nullptr;
  double d = std::strtod(v.str.c_str(), &end);
  if (end != v.str.c_str() + v.str.size()) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

bool to_leases(const RedisValue& v, std::vector<InstanceLease>* out) {
  if (v.kind != RedisValue::Kind::Array || v.elements.size() % 2 != 0) return false;
  for (size_t i = 0; i < v.elements.size(); i += 2) {
    InstanceLease l;
    if (!is_text(v.elements[i]) || !to_ms(v.elements[i + 1], &l.last_renewal_ms)) return false;
    l.id = v.elements[i].str;
    out->push_back(std::move(l));
  }
  return true;
}

}  // namespace

std::string_view redis_lease_script() { return kLeaseScript; }

std::vector<std::string> lease_round_args(const std::string& instance_id, int lease_ms) {
  return {kRedisInstancesKey, instance_id, std::to_string(lease_ms)};
}

bool decode_lease_round(const RedisValue& v, RedisEvent* out) {
  if (v.kind != RedisValue::Kind::Array || v.elements.size() != 3) return false;
  out->kind = RedisEvent::Kind::Instances;
  return to_ms(v.elements[0], &out->redis_now_ms) && to_leases(v.elements[1], &out->alive) &&
         to_leases(v.elements[2], &out->dead);
}

}  // namespace roomcast
