// core/cluster/redis_pipeline.h: the command connection's pipeline: what was written, in write
// order, each with its deadline; and the scripts.
//
// Owns: the FIFO of entries, one per command written (or about to be written) on the
// command connection, in write order, so that each reply answers the front; the script
// sources (the user's, RedisOptions::scripts, then the lease script) and their shas; the
// handshake after each connect (AUTH when a password is set, first; SELECT when db != 0;
// SCRIPT LOAD of every script);
// whether a lease round is in flight.
// Called by: the Redis link's thread only (core/cluster/redis_link.cpp), which owns the
// connection, dials and polls it, watches next_deadline() and decides when the
// connection is lost: it then calls fail_all() and closes the connection.
// Promises:
//   - every user call handed to send() or fail() gets exactly one answer, staged in the
//     outbox for the worker that asked (nothing when its cookie is 0): Redis's reply
//     (ok=true, maybe an error reply), ok=false from fail()/fail_all() (the outcome is
//     then unknown), or, for an invalid call (never sent), an error reply in its turn;
//     `queued` drops by one with each such answer;
//   - script calls go as EVALSHA when the sha is known, as EVAL otherwise; one answered
//     NOSCRIPT (the script cache was flushed under us) is sent once more as EVAL at the
//     back of the pipeline, so its reply may come after replies to later calls; its
//     deadline still counts in next_deadline();
//   - answer() pairs a reply with the front entry and says when the handshake is over
//     (Ready) or the connection can no longer be trusted (Lost: AUTH or SELECT refused, or
//     a SCRIPT LOAD refused for anything but the script itself, such as NOAUTH from a
//     Redis that wants a password we do not have, or NOPERM for an ACL user); refusal()
//     then says why in Redis's words (which never echo the password);
//   - a lease round's reply becomes one Instances event for every attached worker;
//   - with opt.min_replicas N > 0, a call of one of opt.durable_scripts that Redis
//     answered without an error is held until a `WAIT N T` written after it returns:
//     answered with Redis's reply when at least N replicas acknowledged every write made
//     so far on this connection, with ok=false (counted errors_replicas) otherwise. One
//     WAIT covers every durable call written before it, and at most one is in flight, so
//     while replicas are missing the connection blocks at most T (wait_timeout_ms()) per
//     round, never the whole deadline (WAIT blocks the connection it is sent on, and must
//     be sent on the writing connection: it counts that connection's writes);
//   - the WAIT asks for every replica the master lists as online (ROLE), at least N: an
//     acked edit is then on whichever replica Sentinel promotes (WAIT N alone, N below
//     the number of replicas, leaves that to chance: the promoted one may lack it). A
//     ROLE refused (an ACL without it) falls back to N;
//   - with min_replicas or sentinels, ROLE is part of the handshake and follows each
//     lease round: a server that says it is a replica (a demoted master, or one the
//     sentinels named before its promotion) ends the handshake in Lost, or, later, makes
//     answer() say Lost, so the link asks the sentinels again.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/cluster/redis_connection.h"
#include "core/cluster/redis_link.h"
#include "core/cluster/redis_outbox.h"

namespace roomcast {

class RedisPipeline {
 public:
  // One command of the FIFO (a user call, or one the link sends for itself).
  struct Entry {
    enum class Kind : uint8_t { Call, Auth, Select, Load, Lease, Unlease, Wait, Role, Invalid };
    Kind kind = Kind::Call;
    bool retried = false;  // already sent again as EVAL after NOSCRIPT
    bool durable = false;  // Call: its reply waits for the next WAIT (min_replicas)
    unsigned worker = 0;
    int script = -1;       // Call/Lease: script index; Load: the script being loaded
    unsigned keys = 0;
    uint64_t cookie = 0;
    std::vector<std::string> argv;  // kept for script calls only (the EVAL fallback)
    RedisClock::time_point submitted{};
    RedisClock::time_point deadline{};
  };

  enum class Answer : uint8_t {
    Unpaired,  // a reply nobody asked for: the pairing is lost, close the connection
    Answered,
    Ready,     // that reply ended the handshake: the connection takes calls now
    Lost,      // the connection can no longer be trusted: close it (fail_all())
  };

  // All references outlive the pipeline; `queued` counts user calls not yet answered.
  RedisPipeline(const RedisOptions& opt, RedisConnection& conn, RedisOutbox& outbox, RedisStats& stats,
                std::atomic<size_t>& queued);

  bool empty() const { return fifo_.empty() && held_.empty() && !wait_needed_; }
  bool lease_in_flight() const { return lease_in_flight_; }
  // Why the last handshake ended in Lost (empty when it did not).
  const std::string& refusal() const { return refusal_; }
  // The soonest deadline in the FIFO; past it, Redis did not answer in time.
  std::optional<RedisClock::time_point> next_deadline() const;

  // The connection just opened (the FIFO is empty): the handshake, due by `deadline`.
  void open(RedisClock::time_point deadline);
  // A user call: written, or answered at once when it cannot be (invalid: in its turn).
  void send(Entry&& call);
  // A user call that will get no answer from Redis (any other entry: nothing to do).
  void fail(Entry& e, bool timed_out);
  // Every entry fails (timed out when past its deadline); the pipeline is empty after.
  void fail_all(RedisClock::time_point now);
  // Answers the invalid calls at the front (they were never sent).
  void settle_front();
  // One reply from Redis, for the front entry.
  Answer answer(RedisValue&& v, RedisClock::time_point now);

  // A lease round for opt.instance_id. False: nothing was written (out of memory).
  bool send_lease(RedisClock::time_point now, RedisClock::time_point deadline);
  // A graceful stop: this instance's lease goes away at once.
  void withdraw_lease(RedisClock::time_point deadline);
  // Durable calls written since the last WAIT and none in flight: writes one, due by
  // `deadline`. The link calls it once per loop turn, after handing over new calls.
  void flush_wait(RedisClock::time_point deadline);
  // How long a WAIT may block the connection: a tenth of the call deadline, 10..200 ms.
  int wait_timeout_ms() const;
  // How many replicas the next WAIT asks for: N, or the replicas ROLE listed if more.
  int wait_replicas() const;

 private:
  bool append_script(const Entry& e);
  void send_internal(Entry::Kind kind, std::initializer_list<std::string_view> argv, RedisClock::time_point deadline,
                     int script = -1);
  void answer_invalid(Entry& e);
  Answer on_reply(RedisValue&& v, RedisClock::time_point now);

  const RedisOptions& opt_;
  RedisConnection& conn_;
  RedisOutbox& outbox_;
  RedisStats& stats_;
  std::atomic<size_t>& queued_;
  std::vector<std::string> scripts_;  // the user's, then the lease script
  std::vector<std::string> shas_;     // "" = not loaded: send EVAL
  std::deque<Entry> fifo_;
  std::multiset<RedisClock::time_point> retry_deadlines_;  // of retried entries still in the FIFO
  // A durable call's reply, answered when the WAIT covering it returns.
  struct Held {
    unsigned worker = 0;
    uint64_t cookie = 0;
    RedisValue value;
  };
  std::vector<Held> held_;
  bool wait_needed_ = false;     // a durable call was written after the last WAIT
  bool wait_in_flight_ = false;
  int replicas_online_ = -1;     // as the last ROLE listed them; -1: not known
  bool asks_role() const { return opt_.min_replicas > 0 || !opt_.sentinels.empty(); }
  size_t handshake_left_ = 0;
  std::string refusal_;
  bool lease_in_flight_ = false;
};

}  // namespace roomcast
