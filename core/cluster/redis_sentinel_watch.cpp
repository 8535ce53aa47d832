// core/cluster/redis_sentinel_watch.cpp: the `+switch-master` subscription on one sentinel
// at a time (see core/cluster/redis_sentinel_watch.h).
#include "core/cluster/redis_sentinel_watch.h"

#include <poll.h>

#include <chrono>
#include <cstdlib>
#include <string_view>

#include "core/cluster/redis_sentinel.h"

namespace roomcast {

namespace {

constexpr std::string_view kChannel = "+switch-master";

// "<name> <old-ip> <old-port> <new-ip> <new-port>": the five words, or false.
bool split_switch(std::string_view text, std::string_view words[5]) {
  size_t n = 0, pos = 0;
  while (pos <= text.size() && n < 5) {
    size_t space = text.find(' ', pos);
    if (space == std::string_view::npos) space = text.size();
    words[n++] = text.substr(pos, space - pos);
    pos = space + 1;
  }
  return n == 5 && pos > text.size();
}

}  // namespace

RedisSentinelWatch::Event RedisSentinelWatch::dial(RedisClock::time_point now) {
  if (!enabled()) return {};
  current_ = next_ % opt_.sentinels.size();
  next_ = current_ + 1;
  subscribed_ = false;
  const auto& [host, port] = opt_.sentinels[current_];
  switch (conn_.dial(host, port, std::chrono::milliseconds(RedisSentinel::kPerSentinelMs), now)) {
    case RedisConnection::Dial::Failed: return lost(now, "connect failed");
    case RedisConnection::Dial::InProgress: return {};
    case RedisConnection::Dial::Connected: return opened(now);
  }
  return {};
}

RedisSentinelWatch::Event RedisSentinelWatch::opened(RedisClock::time_point now) {
  if (!conn_.establish()) return lost(now, "out of memory");
  bool ok = true;
  if (!opt_.sentinel_password.empty()) ok = conn_.append({"AUTH", opt_.sentinel_password});
  ok = ok && conn_.append({"SUBSCRIBE", kChannel});
  if (!ok || !conn_.write_out()) return lost(now, "connection failed");
  return {};
}

RedisSentinelWatch::Event RedisSentinelWatch::lost(RedisClock::time_point now, std::string why) {
  conn_.close(now);
  Event e;
  e.kind = Event::Kind::Lost;
  if (!opt_.sentinels.empty()) {
    const auto& [host, port] = opt_.sentinels[current_ % opt_.sentinels.size()];
    e.why = host + ":" + std::to_string(port) + ": " + why;
  }
  return e;
}

RedisSentinelWatch::Event RedisSentinelWatch::check_deadline(RedisClock::time_point now) {
  if (conn_.phase() != RedisConnection::Phase::Connecting || now < conn_.connect_deadline()) return {};
  return lost(now, "no connection within " + std::to_string(RedisSentinel::kPerSentinelMs) + " ms");
}

RedisSentinelWatch::Event RedisSentinelWatch::service(short revents, RedisClock::time_point now) {
  if (conn_.fd() < 0 || revents == 0) return {};
  if (conn_.phase() == RedisConnection::Phase::Connecting) {
    if (!conn_.connect_succeeded()) return lost(now, "connect refused");
    return opened(now);
  }
  if (!conn_.open()) return {};
  Event event;
  bool refused = false;
  bool alive = true;
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    alive = conn_.read_replies([&](RedisValue&& v) {
      if (on_reply(std::move(v), &event)) return RedisConnection::Take::Next;
      refused = true;
      return RedisConnection::Take::Refuse;
    });
  }
  if (alive && (revents & POLLOUT)) alive = conn_.write_out();
  if (alive) return event;
  if (event.kind == Event::Kind::Switched) {
    conn_.close(now);  // the switch still counts; the next dial subscribes again
    return event;
  }
  return lost(now, refused && !event.why.empty() ? event.why : "connection lost");
}

bool RedisSentinelWatch::on_reply(RedisValue&& v, Event* event) {
  if (v.kind == RedisValue::Kind::Status) return true;  // +OK to AUTH
  if (v.is_error()) {
    event->why = "refused: " + v.str;  // Redis's words never echo the password
    return false;
  }
  if (v.kind != RedisValue::Kind::Array || v.elements.size() != 3) {
    event->why = "an unexpected reply";
    return false;
  }
  const std::string& kind = v.elements[0].str;
  if (kind == "subscribe") {
    subscribed_ = true;
    return true;
  }
  if (kind != "message" || v.elements[1].str != kChannel) return true;
  std::string_view words[5];
  if (!split_switch(v.elements[2].str, words) || words[0] != opt_.master_name) return true;
  unsigned long port = std::strtoul(std::string(words[4]).c_str(), nullptr, 10);
  if (port == 0 || port > 65535) return true;
  event->kind = Event::Kind::Switched;
  event->host = std::string(words[3]);
  event->port = static_cast<uint16_t>(port);
  return true;
}

}  // namespace roomcast
