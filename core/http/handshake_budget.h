// core/http/handshake_budget.h: how many connections one loop thread keeps before they upgrade.
//
// Owns: the oldest-first order of this thread's pre-upgrade connections (accepted, not
// yet a WebSocket: reading a request head, or answering an HTTP request and waiting for
// the client's FIN) and their count per client address. Touched only by its Worker's
// thread, once at accept, once at upgrade or free: never per message.
// Why: a connection that never sends a byte costs the attacker nothing. Counting such
// sockets against the per-address connection cap let 256 idle sockets lock every real
// client of that address (everyone behind one proxy) out until the handshake timeout.
// Here they have their own budget, and a full budget is never a reason to refuse a
// newcomer: the oldest pre-upgrade connection of the same address (or, when the thread's
// total is full, the oldest of all) makes room. An attacker renewing idle sockets thus
// only evicts its own older ones, while a real client's head arrives within a round trip
// and leaves the budget as it upgrades.
// It also counts the bytes of HTTP answers those connections still have to send (a file
// chunk, a presence answer): a client that never reads keeps its answer in memory, so
// unsent answer bytes have a budget per address and in all, with the same rule (the
// address's oldest, or the thread's oldest, makes room; docs/protocol.md "What one address
// can hold").
// Promises: victim_for() names a connection to evict exactly when adding would pass a
// limit; after the caller removes it, add() stays within both limits. victim_for_bytes()
// likewise for charge(), and never names the connection being charged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "core/base/admission.h"

namespace roomcast {

class HandshakeBudget {
 public:
  static constexpr uint32_t kNone = ~0u;

  // Limits for this thread (at least 1 each): connections, and unsent answer bytes.
  HandshakeBudget(size_t max_total, size_t max_per_address, size_t max_bytes_total = SIZE_MAX,
                  size_t max_bytes_per_address = SIZE_MAX);

  // The connection to evict before `peer` may add one more, or kNone if there is room.
  // `per_address` false: a proxy's connection whose client is not known yet
  // (core/http/proxy_front.h); it counts in the total only, and is nobody's per-address victim.
  uint32_t victim_for(const PeerAddress& peer, bool per_address = true) const;
  // `slot` (a connection slot of the calling Worker) joins the budget as the newest.
  void add(uint32_t slot, const PeerAddress& peer, bool per_address = true);
  // The connection to evict before `slot` (in the budget) may hold `bytes` more unsent
  // answer bytes, or kNone if there is room (or nobody else to evict).
  uint32_t victim_for_bytes(uint32_t slot, size_t bytes) const;
  // `slot` now holds `bytes` more unsent answer bytes (given back when it leaves).
  void charge(uint32_t slot, size_t bytes);
  // `slot` leaves the budget (upgraded, handed off or freed); a slot not in it is ignored.
  void remove(uint32_t slot);
  bool contains(uint32_t slot) const { return nodes_.count(slot) != 0; }

  size_t size() const { return size_; }
  // Gives back the bucket arrays a burst grew, when nobody is in the budget (hash maps
  // never shrink on their own).
  void release_idle_memory();
  size_t count_for(const PeerAddress& peer) const;
  size_t bytes_for(const PeerAddress& peer) const;
  size_t bytes() const { return bytes_; }

 private:
  struct Node {
    uint32_t prev = kNone;
    uint32_t next = kNone;
    size_t bytes = 0;
    PeerAddress peer;
    bool per_address = true;
  };
  struct AddressUse {
    uint32_t connections = 0;
    size_t bytes = 0;
  };
  uint32_t oldest_of(const PeerAddress& peer, uint32_t except) const;

  const size_t max_total_;
  const size_t max_per_address_;
  const size_t max_bytes_total_;
  const size_t max_bytes_per_address_;
  // Keyed by slot, and only for connections in the budget: an upgraded connection (most
  // of them, for most of their life) costs nothing here. A slot-indexed vector cost
  // 28 bytes for every slot the thread ever used, ~45 bytes per idle connection.
  std::unordered_map<uint32_t, Node> nodes_;
  uint32_t oldest_ = kNone;
  uint32_t newest_ = kNone;
  size_t size_ = 0;
  size_t bytes_ = 0;
  std::unordered_map<std::array<uint8_t, 16>, AddressUse, PeerAddressHash> per_address_;
};

}  // namespace roomcast
