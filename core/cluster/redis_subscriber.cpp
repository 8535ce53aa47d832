// core/cluster/redis_subscriber.cpp: channels -> workers over the subscriber connection (see
// core/cluster/redis_subscriber.h).
#include "core/cluster/redis_subscriber.h"

#include <vector>

namespace roomcast {

namespace {

constexpr size_t kSubscribeBatch = 256;  // channels per SUBSCRIBE after a reconnect

bool is_text(const RedisValue& v) {
  return v.kind == RedisValue::Kind::String || v.kind == RedisValue::Kind::Status;
}

}  // namespace

RedisSubscriber::RedisSubscriber(RedisConnection& conn, RedisOutbox& outbox, RedisStats& stats)
    : conn_(conn), outbox_(outbox), stats_(stats) {}

void RedisSubscriber::add(unsigned worker, const std::string& channel) {
  Channel& ch = channels_[channel];
  bool fresh = ch.workers.empty();
  ch.workers.insert(worker);
  if (fresh && conn_.open()) conn_.append({"SUBSCRIBE", channel});
  else if (!fresh && ch.confirmed) post_subscribed(worker, channel);
  // Otherwise the confirmation to come (or open()'s SUBSCRIBE) reaches this worker too.
}

void RedisSubscriber::remove(unsigned worker, const std::string& channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  it->second.workers.erase(worker);
  if (!it->second.workers.empty()) return;
  channels_.erase(it);
  if (conn_.open()) conn_.append({"UNSUBSCRIBE", channel});
}

void RedisSubscriber::open(const RedisOptions& opt) {
  if (!opt.password.empty()) {
    if (opt.user.empty()) conn_.append({"AUTH", opt.password});
    else conn_.append({"AUTH", opt.user, opt.password});
  }
  if (opt.db != 0) conn_.append({"SELECT", std::to_string(opt.db)});
  std::vector<std::string> batch;
  for (auto& [name, ch] : channels_) {
    ch.confirmed = false;
    batch.push_back(name);
    if (batch.size() == kSubscribeBatch) {
      conn_.append({"SUBSCRIBE"}, batch);
      batch.clear();
    }
  }
  if (!batch.empty()) conn_.append({"SUBSCRIBE"}, batch);
}

void RedisSubscriber::lose(RedisClock::time_point now) {
  if (conn_.phase() == RedisConnection::Phase::Closed) return;
  conn_.close(now);
  for (auto& [name, ch] : channels_) ch.confirmed = false;
}

bool RedisSubscriber::read() {
  return conn_.read_replies([&](RedisValue&& v) {
    return on_reply(std::move(v)) ? RedisConnection::Take::Next : RedisConnection::Take::Refuse;
  });
}

bool RedisSubscriber::on_reply(RedisValue&& v) {
  if (v.kind == RedisValue::Kind::Status) return true;  // +OK to AUTH or SELECT
  if (v.kind != RedisValue::Kind::Array || v.elements.size() < 3 || !is_text(v.elements[0])) return false;
  const std::string& what = v.elements[0].str;
  if (!is_text(v.elements[1])) return false;
  auto it = channels_.find(v.elements[1].str);
  if (what == "message") {
    stats_.messages.fetch_add(1, std::memory_order_relaxed);
    if (it == channels_.end() || !is_text(v.elements[2])) return true;  // unsubscribed meanwhile
    size_t left = it->second.workers.size();
    for (unsigned w : it->second.workers) {
      RedisEvent e;
      e.kind = RedisEvent::Kind::Message;
      e.channel = it->first;
      // Each worker owns its copy; the last one takes the parsed bytes.
      e.payload = --left == 0 ? std::move(v.elements[2].str) : v.elements[2].str;
      outbox_.post(w, std::move(e));
    }
  } else if (what == "subscribe") {
    if (it == channels_.end()) return true;
    it->second.confirmed = true;
    for (unsigned w : it->second.workers) post_subscribed(w, it->first);
  } else if (what == "unsubscribe") {
    // The channel was given up and asked for again before this arrived: active again
    // only with the next subscribe confirmation.
    if (it != channels_.end()) it->second.confirmed = false;
  }
  return true;
}

void RedisSubscriber::post_subscribed(unsigned w, const std::string& channel) {
  RedisEvent e;
  e.kind = RedisEvent::Kind::Subscribed;
  e.channel = channel;
  outbox_.post(w, std::move(e));
}

}  // namespace roomcast
