// core/server/connection_table.h: one thread's connections: their slots, and how they end.
//
// Owns: every Connection of its loop thread (slot + generation table), the DirtyList of
// connections with output, the budget of connections not yet upgraded (HandshakeBudget)
// and the list of dead connections waiting to be freed.
// Called by: the Worker (open, lookup, end, sweep), Output (end on a failed send or a
// slow reader) and Housekeeping (end on timeouts).
// One verb ends a connection, end(c, Ending): whatever the reason, the connection moves
// through the same states (connection.h), leaves its room exactly once and is freed
// exactly once, after the kernel holds nothing of it.
// Promises:
//   - lookup() never returns a connection whose slot was reused since the completion's
//     operation was submitted (generations);
//   - a freed connection gives back its ConnectionLimits admission and its handshake
//     budget place, and closes its fd;
//   - admit_handshake() never refuses the newcomer: a full budget ends its oldest member.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/base/admission.h"
#include "core/base/log.h"
#include "core/base/metrics.h"
#include "core/http/handshake_budget.h"
#include "core/room/room_service.h"
#include "core/server/connection.h"
#include "net/event_loop.h"

namespace roomcast {

// How a connection ends.
struct Ending {
  enum class Kind : uint8_t {
    Drop,         // no goodbye: the socket is gone or not worth answering (EOF, errors, timeouts)
    Close,        // a WebSocket close frame of ours, then the drain (Open only)
    CloseQueued,  // wslay queued the close frame (an echo, or its own protocol error)
    Respond,      // an HTTP answer, then the drain (before the upgrade only)
  };
  Kind kind;
  uint16_t code = 0;          // Close
  int status = 0;             // Respond
  std::string_view text;      // Drop/Close: the reason; Respond: the response bytes

  static Ending drop(std::string_view why) { return {Kind::Drop, 0, 0, why}; }
  static Ending close(uint16_t code, std::string_view reason) { return {Kind::Close, code, 0, reason}; }
  static Ending close_queued() { return {Kind::CloseQueued, 0, 0, {}}; }
  static Ending respond(int status, std::string_view response) { return {Kind::Respond, 0, status, response}; }
};

class ConnectionTable final : public MemberLink {
 public:
  // After our last byte (a close frame, an HTTP answer) the peer has this long to send its
  // FIN; an HTTP answer still streaming gets it again after every write that made
  // progress. Then the connection is dropped, whatever it has in flight.
  static constexpr int64_t kLingerNs = 2'000'000'000;
  // Unsent HTTP answer bytes this thread keeps (docs/protocol.md "What one address can
  // hold"): per client address, and in all. Beyond, the oldest answer of that address (or
  // of all) is dropped to make room.
  static constexpr size_t kAnswerBytesPerAddress = 2u << 20;
  static constexpr size_t kAnswerBytesTotal = 64u << 20;

  ConnectionTable(const Config& config, EventLoop& loop, ConnectionLimits& limits, RoomService& rooms,
                  ConnectionEvents* events, FanoutObserver* observer, Metrics& metrics, Logger& log);
  ConnectionTable(const ConnectionTable&) = delete;
  ConnectionTable& operator=(const ConnectionTable&) = delete;
  ~ConnectionTable();

  // A new connection for `fd` (accepted here, or handed over by another thread).
  Connection& open(int fd, int64_t now_ns);
  Connection* lookup(uint32_t slot, uint32_t generation);
  Connection* at(uint32_t slot) { return slot < conns_.size() ? conns_[slot].get() : nullptr; }

  // `c` has not upgraded yet: it takes a place in the handshake budget, ending the oldest
  // pre-upgrade connection of its address (or of all) when the budget is full.
  // `per_address` false: a proxy's connection, counted in the total only until
  // client_known() (core/http/proxy_front.h).
  void admit_handshake(Connection& c, int64_t now_ns, bool per_address = true);
  // The client behind `c`'s proxy is known (PROXY header or forwarding headers): `c`
  // counts under the client's address from now on, in the budget and everywhere else.
  void client_known(Connection& c, const PeerAddress& client, int64_t now_ns);
  // `c` became a WebSocket member that holds a place in ConnectionLimits: its budget
  // place is free again.
  void upgraded(Connection& c) { handshakes_.remove(c.slot); }
  // `c` (on the budget) is about to hold `bytes` more of an unsent HTTP answer: older
  // answers of its address (or of all) are dropped until that fits.
  void charge_answer(Connection& c, size_t bytes, int64_t now_ns);

  // The one verb that ends a connection. Safe to call in any state (later calls for a
  // connection already ending are ignored, except Drop, which ends a drain at once).
  void end(Connection& c, const Ending& how, int64_t now_ns);
  // The socket now belongs to another thread: forget it here without touching it.
  void hand_over(Connection& c, int64_t now_ns);
  // Queues a Dead connection to be freed (a completion arrived for it).
  void retire(Connection& c) { dead_.push_back(c.slot); }
  // Frees the dead connections the kernel holds nothing of; once per loop iteration.
  void sweep();
  // After a burst, once most connections went quiet: gives back the capacity the burst
  // left in the thread's lists and slot tables and in the handshake budget's maps.
  void release_idle_memory();

  // MemberLink: the room service ends a member's connection (4008 replaced, ...).
  void close_member(Member& m, uint16_t code, std::string_view reason) override;
  // MemberLink: a member that joins takes its place in ConnectionLimits (forced for a
  // resume) and leaves the handshake budget, or learns which limit it would pass.
  Admission admit_member(Member& m, bool resume) override;

  DirtyList& dirty() { return dirty_; }
  size_t live() const { return live_; }
  // Every connection either dead or closing with its last byte handed to the kernel.
  bool drained() const;

  template <typename F>
  void for_each(F&& f) {
    for (auto& owned : conns_)
      if (owned) f(*owned);
  }

 private:
  void to_closing(Connection& c, Departure how, int64_t now_ns);
  void leave_room(Connection& c, Departure how, int64_t now_ns);

  EventLoop& loop_;
  ConnectionLimits& limits_;
  RoomService& rooms_;
  ConnectionEvents* events_;
  FanoutObserver* observer_;
  Metrics& metrics_;
  Logger& log_;
  HandshakeBudget handshakes_;
  DirtyList dirty_;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<uint32_t> generations_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> dead_;
  size_t live_ = 0;
};

}  // namespace roomcast
