// core/cluster/redis_metrics.cpp: RedisLink::render_metrics (its contract is in core/cluster/redis_link.h):
// the roomcast_redis_* families in Prometheus text format, read from RedisStats.
//
// Called by a /metrics scrape on any thread while the link's thread writes the counters:
// every value is one relaxed atomic load, so values of one scrape may be a few events
// apart (a bucket may briefly count a call the count does not have yet). The latency
// buckets are cumulative, as Prometheus expects; +Inf and _count are the calls count.
#include <cstdio>
#include <string>

#include "core/cluster/redis_link.h"

namespace roomcast {

void RedisLink::render_metrics(std::string* out) const {
  const RedisStats& s = stats_;
  auto get = [](const std::atomic<uint64_t>& a) { return static_cast<unsigned long long>(a.load(std::memory_order_relaxed)); };
  char buf[256];
  auto line = [&](const char* name, const char* labels, unsigned long long v) {
    std::snprintf(buf, sizeof buf, "%s%s %llu\n", name, labels, v);
    *out += buf;
  };
  auto header = [&](const char* name, const char* type, const char* help) {
    *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  header("roomcast_redis_up", "gauge", "1 while the Redis command connection is connected and its scripts loaded.");
  line("roomcast_redis_up", "", get(s.up));
  header("roomcast_redis_reconnects_total", "counter", "Successful connects to Redis after the first.");
  line("roomcast_redis_reconnects_total", "", get(s.reconnects));
  header("roomcast_redis_errors_total", "counter",
         "Redis calls failed, by kind (timeout: deadline passed; unavailable: not connected, connection lost or "
         "queue full; reply: Redis answered with an error; replicas: an edit stored but not confirmed by "
         "--redis-min-replicas replicas in time).");
  line("roomcast_redis_errors_total", "{kind=\"timeout\"}", get(s.errors_timeout));
  line("roomcast_redis_errors_total", "{kind=\"unavailable\"}", get(s.errors_unavailable));
  line("roomcast_redis_errors_total", "{kind=\"reply\"}", get(s.errors_reply));
  line("roomcast_redis_errors_total", "{kind=\"replicas\"}", get(s.errors_replicas));
  header("roomcast_redis_calls_total", "counter", "Redis calls answered by Redis.");
  unsigned long long calls = get(s.calls);
  line("roomcast_redis_calls_total", "", calls);
  header("roomcast_redis_latency_seconds", "histogram", "Redis calls, submission to reply.");
  line("roomcast_redis_latency_seconds_bucket", "{le=\"0.001\"}", get(s.latency_le_1ms));
  line("roomcast_redis_latency_seconds_bucket", "{le=\"0.005\"}", get(s.latency_le_5ms));
  line("roomcast_redis_latency_seconds_bucket", "{le=\"0.025\"}", get(s.latency_le_25ms));
  line("roomcast_redis_latency_seconds_bucket", "{le=\"0.1\"}", get(s.latency_le_100ms));
  line("roomcast_redis_latency_seconds_bucket", "{le=\"+Inf\"}", calls);
  std::snprintf(buf, sizeof buf, "roomcast_redis_latency_seconds_sum %.6f\n", double(get(s.latency_us_sum)) / 1e6);
  *out += buf;
  line("roomcast_redis_latency_seconds_count", "", calls);
  header("roomcast_redis_messages_total", "counter", "Pub/sub messages received from Redis.");
  line("roomcast_redis_messages_total", "", get(s.messages));
}

}  // namespace roomcast
