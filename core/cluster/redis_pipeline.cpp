// core/cluster/redis_pipeline.cpp: the command FIFO, the scripts and the handshake (see
// core/cluster/redis_pipeline.h).
//
// Invariants:
//   - fifo_ holds one entry per command appended to the connection, in append order,
//     plus the invalid calls (never appended), each in its submission turn: settle_front()
//     answers those as soon as they reach the front, so a reply always meets a sent entry;
//   - retry_deadlines_ holds the deadline of every retried entry still in fifo_ (those sit
//     behind entries with later deadlines, so the front's deadline alone would miss them);
//   - during the handshake fifo_ holds only its SELECT and SCRIPT LOADs (no call is sent
//     before Ready), so handshake_left_ counts down to 0 exactly on its last reply.
#include "core/cluster/redis_pipeline.h"

#include <algorithm>

#include "core/cluster/redis_lease.h"

namespace roomcast {

RedisPipeline::RedisPipeline(const RedisOptions& opt, RedisConnection& conn, RedisOutbox& outbox, RedisStats& stats,
                             std::atomic<size_t>& queued)
    : opt_(opt), conn_(conn), outbox_(outbox), stats_(stats), queued_(queued) {
  scripts_ = opt_.scripts;
  scripts_.emplace_back(redis_lease_script());
  shas_.resize(scripts_.size());
}

std::optional<RedisClock::time_point> RedisPipeline::next_deadline() const {
  if (fifo_.empty()) return std::nullopt;
  RedisClock::time_point earliest = fifo_.front().deadline;
  if (!retry_deadlines_.empty()) earliest = std::min(earliest, *retry_deadlines_.begin());
  return earliest;
}

void RedisPipeline::open(RedisClock::time_point deadline) {
  refusal_.clear();
  // AUTH before anything else: a Redis with requirepass or ACL users answers every other
  // command NOAUTH until then.
  if (!opt_.password.empty()) {
    if (opt_.user.empty()) send_internal(Entry::Kind::Auth, {"AUTH", opt_.password}, deadline);
    else send_internal(Entry::Kind::Auth, {"AUTH", opt_.user, opt_.password}, deadline);
  }
  std::string db = std::to_string(opt_.db);
  if (opt_.db != 0) send_internal(Entry::Kind::Select, {"SELECT", db}, deadline);
  for (size_t i = 0; i < scripts_.size(); ++i)
    send_internal(Entry::Kind::Load, {"SCRIPT", "LOAD", scripts_[i]}, deadline, static_cast<int>(i));
  replicas_online_ = -1;
  if (asks_role()) send_internal(Entry::Kind::Role, {"ROLE"}, deadline);
  handshake_left_ = fifo_.size();
}

// Writes a script call: EVALSHA when the sha is known (and this is not the NOSCRIPT
// retry), EVAL with the source otherwise.
bool RedisPipeline::append_script(const Entry& e) {
  std::string nkeys = std::to_string(e.keys);
  const std::string& sha = shas_[static_cast<size_t>(e.script)];
  if (!sha.empty() && !e.retried) return conn_.append({"EVALSHA", sha, nkeys}, e.argv);
  return conn_.append({"EVAL", scripts_[static_cast<size_t>(e.script)], nkeys}, e.argv);
}

void RedisPipeline::send(Entry&& e) {
  bool valid = !e.argv.empty() && e.script < static_cast<int>(opt_.scripts.size()) &&
               (e.script < 0 || e.keys <= e.argv.size());
  if (!valid) {
    e.kind = Entry::Kind::Invalid;  // answered in order when it reaches the front
    fifo_.push_back(std::move(e));
    return;
  }
  bool written = e.script >= 0 ? append_script(e) : conn_.append({}, e.argv);
  if (!written) {
    stats_.errors_unavailable.fetch_add(1, std::memory_order_relaxed);
    outbox_.post_reply(e.worker, e.cookie, false);
    queued_.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  if (e.script < 0) e.argv = {};  // only a script call may be sent again
  if (opt_.min_replicas > 0 && e.script >= 0 &&
      std::find(opt_.durable_scripts.begin(), opt_.durable_scripts.end(), e.script) != opt_.durable_scripts.end()) {
    e.durable = true;
    wait_needed_ = true;
  }
  fifo_.push_back(std::move(e));
}

int RedisPipeline::wait_timeout_ms() const { return std::clamp(opt_.call_timeout_ms / 10, 10, 200); }

int RedisPipeline::wait_replicas() const { return std::max(opt_.min_replicas, replicas_online_); }

void RedisPipeline::flush_wait(RedisClock::time_point deadline) {
  if (!wait_needed_ || wait_in_flight_) return;
  std::string n = std::to_string(wait_replicas()), ms = std::to_string(wait_timeout_ms());
  size_t before = fifo_.size();
  send_internal(Entry::Kind::Wait, {"WAIT", n, ms}, deadline);
  if (fifo_.size() == before) return;  // allocation failed: tried again next turn
  wait_needed_ = false;
  wait_in_flight_ = true;
}

void RedisPipeline::send_internal(Entry::Kind kind, std::initializer_list<std::string_view> argv,
                                  RedisClock::time_point deadline, int script) {
  if (!conn_.append(argv)) return;  // allocation failed: the deadline logic cannot help either
  Entry e;
  e.kind = kind;
  e.script = script;
  e.deadline = deadline;
  fifo_.push_back(std::move(e));
}

bool RedisPipeline::send_lease(RedisClock::time_point now, RedisClock::time_point deadline) {
  Entry e;
  e.kind = Entry::Kind::Lease;
  e.script = static_cast<int>(scripts_.size()) - 1;
  e.keys = 1;
  e.argv = lease_round_args(opt_.instance_id, opt_.lease_ms);
  e.submitted = now;
  e.deadline = deadline;
  if (!append_script(e)) return false;
  fifo_.push_back(std::move(e));
  lease_in_flight_ = true;
  if (asks_role()) send_internal(Entry::Kind::Role, {"ROLE"}, deadline);
  return true;
}

void RedisPipeline::withdraw_lease(RedisClock::time_point deadline) {
  send_internal(Entry::Kind::Unlease, {"ZREM", kRedisInstancesKey, opt_.instance_id}, deadline);
}

void RedisPipeline::fail(Entry& e, bool timed_out) {
  if (e.kind == Entry::Kind::Invalid) {
    answer_invalid(e);
    return;
  }
  if (e.kind != Entry::Kind::Call) return;
  (timed_out ? stats_.errors_timeout : stats_.errors_unavailable).fetch_add(1, std::memory_order_relaxed);
  outbox_.post_reply(e.worker, e.cookie, false);
  queued_.fetch_sub(1, std::memory_order_relaxed);
}

void RedisPipeline::fail_all(RedisClock::time_point now) {
  // Held replies first: their calls were written before anything still in the FIFO.
  for (Held& h : held_) {
    stats_.errors_unavailable.fetch_add(1, std::memory_order_relaxed);
    outbox_.post_reply(h.worker, h.cookie, false);
    queued_.fetch_sub(1, std::memory_order_relaxed);
  }
  held_.clear();
  wait_needed_ = false;
  wait_in_flight_ = false;
  for (Entry& e : fifo_) fail(e, now >= e.deadline);
  fifo_.clear();
  retry_deadlines_.clear();
  handshake_left_ = 0;
  lease_in_flight_ = false;
}

void RedisPipeline::answer_invalid(Entry& e) {
  RedisValue v;
  v.kind = RedisValue::Kind::Error;
  v.str = e.argv.empty() ? "ERR empty command" : "ERR no such script or more keys than arguments";
  stats_.errors_reply.fetch_add(1, std::memory_order_relaxed);
  outbox_.post_reply(e.worker, e.cookie, true, std::move(v));
  queued_.fetch_sub(1, std::memory_order_relaxed);
}

void RedisPipeline::settle_front() {
  while (!fifo_.empty() && fifo_.front().kind == Entry::Kind::Invalid) {
    answer_invalid(fifo_.front());
    fifo_.pop_front();
  }
}

RedisPipeline::Answer RedisPipeline::answer(RedisValue&& v, RedisClock::time_point now) {
  settle_front();
  if (fifo_.empty()) return Answer::Unpaired;
  Answer a = on_reply(std::move(v), now);
  if (a != Answer::Lost) settle_front();
  return a;
}

RedisPipeline::Answer RedisPipeline::on_reply(RedisValue&& v, RedisClock::time_point now) {
  Entry e = std::move(fifo_.front());
  fifo_.pop_front();
  if (e.retried) {
    auto it = retry_deadlines_.find(e.deadline);
    if (it != retry_deadlines_.end()) retry_deadlines_.erase(it);
  }
  bool noscript = v.is_error() && v.str.compare(0, 8, "NOSCRIPT") == 0;
  // A write that reached a replica: the master we dialed was demoted (a failover). The
  // call gets Redis's error (unavailable to the room), and the connection is dropped so
  // the next dial asks the sentinels again.
  const bool readonly = v.is_error() && v.str.compare(0, 8, "READONLY") == 0;
  if (noscript && e.script >= 0 && !e.retried && (e.kind == Entry::Kind::Call || e.kind == Entry::Kind::Lease)) {
    // The script cache was flushed under us: the same call again as EVAL (which also
    // puts the script back in the cache, so the sha stays good for later calls).
    e.retried = true;
    if (append_script(e)) {
      if (e.durable) wait_needed_ = true;  // the WAIT to come must follow the retry
      retry_deadlines_.insert(e.deadline);
      fifo_.push_back(std::move(e));
      return Answer::Answered;
    }
    e.retried = false;
  }
  switch (e.kind) {
    case Entry::Kind::Call: {
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - e.submitted).count();
      uint64_t u = us > 0 ? static_cast<uint64_t>(us) : 0;
      stats_.calls.fetch_add(1, std::memory_order_relaxed);
      stats_.latency_us_sum.fetch_add(u, std::memory_order_relaxed);
      if (u <= 1000) stats_.latency_le_1ms.fetch_add(1, std::memory_order_relaxed);
      if (u <= 5000) stats_.latency_le_5ms.fetch_add(1, std::memory_order_relaxed);
      if (u <= 25000) stats_.latency_le_25ms.fetch_add(1, std::memory_order_relaxed);
      if (u <= 100000) stats_.latency_le_100ms.fetch_add(1, std::memory_order_relaxed);
      if (v.is_error()) stats_.errors_reply.fetch_add(1, std::memory_order_relaxed);
      if (e.durable && !v.is_error()) {  // stored on the master; acked once replicas have it
        held_.push_back(Held{e.worker, e.cookie, std::move(v)});
        break;
      }
      outbox_.post_reply(e.worker, e.cookie, true, std::move(v));
      queued_.fetch_sub(1, std::memory_order_relaxed);
      break;
    }
    case Entry::Kind::Wait: {
      // WAIT answers how many replicas acknowledged; an error (a replica we were sent to,
      // an ACL without WAIT) confirms nothing.
      wait_in_flight_ = false;
      const bool enough = v.kind == RedisValue::Kind::Integer && v.integer >= opt_.min_replicas;
      for (Held& h : held_) {
        if (!enough) stats_.errors_replicas.fetch_add(1, std::memory_order_relaxed);
        outbox_.post_reply(h.worker, h.cookie, enough, std::move(h.value));
        queued_.fetch_sub(1, std::memory_order_relaxed);
      }
      held_.clear();
      break;
    }
    case Entry::Kind::Auth:
    case Entry::Kind::Select:
      if (v.is_error()) {  // a wrong password or DB: retried with backoff
        refusal_ = (e.kind == Entry::Kind::Auth ? "AUTH: " : "SELECT: ") + v.str;
        return Answer::Lost;
      }
      break;
    case Entry::Kind::Load:
      // Redis refusing us rather than the script (NOAUTH, NOPERM, LOADING...): nothing
      // else would work either, so the link must not say it is up.
      if (v.is_error() && v.str.compare(0, 4, "ERR ") != 0) {
        refusal_ = "SCRIPT LOAD: " + v.str;
        return Answer::Lost;
      }
      // A script Redis refuses keeps no sha: its calls go as EVAL and get Redis's error.
      shas_[static_cast<size_t>(e.script)] = v.kind == RedisValue::Kind::String ? v.str : std::string();
      break;
    case Entry::Kind::Lease: {
      lease_in_flight_ = false;
      RedisEvent instances;
      if (decode_lease_round(v, &instances)) outbox_.broadcast(instances);
      break;
    }
    case Entry::Kind::Role: {
      // ["master", offset, [[ip, port, offset], ...]] lists the replicas that are online;
      // "slave" (or "sentinel"): this is not the master (any more).
      const bool array = v.kind == RedisValue::Kind::Array && !v.elements.empty();
      if (array && v.elements[0].str == "master" && v.elements.size() >= 3) {
        replicas_online_ = static_cast<int>(v.elements[2].elements.size());
      } else if (array) {
        refusal_ = "ROLE: " + v.elements[0].str + ", not the master (a failover?)";
        return Answer::Lost;
      } else {
        replicas_online_ = -1;  // refused (an ACL without ROLE): WAIT asks for N only
      }
      break;
    }
    case Entry::Kind::Unlease:
    case Entry::Kind::Invalid:
      break;
  }
  if (readonly) {
    refusal_ = "a replica answered READONLY (a failover?)";
    return Answer::Lost;
  }
  if (handshake_left_ > 0 && --handshake_left_ == 0) return Answer::Ready;
  return Answer::Answered;
}

}  // namespace roomcast
