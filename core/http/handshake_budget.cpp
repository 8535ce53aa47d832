// core/http/handshake_budget.cpp: a doubly linked list threaded through a map from slot to
// node (O(1) add and remove on average), plus a count per address. Finding the oldest
// connection of one address walks the list from the oldest end; that happens only when
// that address is at its limit, and the walk is bounded by the thread's budget.
#include "core/http/handshake_budget.h"

#include <algorithm>

namespace roomcast {

HandshakeBudget::HandshakeBudget(size_t max_total, size_t max_per_address, size_t max_bytes_total,
                                 size_t max_bytes_per_address)
    : max_total_(std::max<size_t>(1, max_total)),
      max_per_address_(std::max<size_t>(1, max_per_address)),
      max_bytes_total_(std::max<size_t>(1, max_bytes_total)),
      max_bytes_per_address_(std::max<size_t>(1, max_bytes_per_address)) {}

size_t HandshakeBudget::count_for(const PeerAddress& peer) const {
  auto it = per_address_.find(peer.bytes);
  return it == per_address_.end() ? 0 : it->second.connections;
}

size_t HandshakeBudget::bytes_for(const PeerAddress& peer) const {
  auto it = per_address_.find(peer.bytes);
  return it == per_address_.end() ? 0 : it->second.bytes;
}

uint32_t HandshakeBudget::oldest_of(const PeerAddress& peer, uint32_t except) const {
  for (uint32_t s = oldest_; s != kNone;) {
    const Node& n = nodes_.at(s);
    if (s != except && n.per_address && n.peer == peer) return s;
    s = n.next;
  }
  return kNone;
}

uint32_t HandshakeBudget::victim_for(const PeerAddress& peer, bool per_address) const {
  if (per_address && count_for(peer) >= max_per_address_) {
    const uint32_t own = oldest_of(peer, kNone);
    if (own != kNone) return own;
  }
  if (size_ >= max_total_) return oldest_;
  return kNone;
}

uint32_t HandshakeBudget::victim_for_bytes(uint32_t slot, size_t bytes) const {
  auto node = nodes_.find(slot);
  if (node == nodes_.end()) return kNone;
  const PeerAddress& peer = node->second.peer;
  if (node->second.per_address && bytes_for(peer) + bytes > max_bytes_per_address_) {
    const uint32_t own = oldest_of(peer, slot);
    if (own != kNone) return own;
  }
  if (bytes_ + bytes > max_bytes_total_) {
    // The oldest connection that holds answer bytes (evicting one that holds none frees nothing).
    for (uint32_t s = oldest_; s != kNone;) {
      const Node& n = nodes_.at(s);
      if (s != slot && n.bytes > 0) return s;
      s = n.next;
    }
  }
  return kNone;
}

void HandshakeBudget::charge(uint32_t slot, size_t bytes) {
  auto node = nodes_.find(slot);
  if (node == nodes_.end()) return;
  node->second.bytes += bytes;
  if (node->second.per_address) per_address_[node->second.peer.bytes].bytes += bytes;
  bytes_ += bytes;
}

void HandshakeBudget::release_idle_memory() {
  if (!nodes_.empty()) return;
  decltype(nodes_)().swap(nodes_);
  decltype(per_address_)().swap(per_address_);
}

void HandshakeBudget::add(uint32_t slot, const PeerAddress& peer, bool per_address) {
  remove(slot);
  if (newest_ != kNone) nodes_.at(newest_).next = slot;
  nodes_.emplace(slot, Node{newest_, kNone, 0, peer, per_address});
  newest_ = slot;
  if (oldest_ == kNone) oldest_ = slot;
  ++size_;
  if (per_address) ++per_address_[peer.bytes].connections;
}

void HandshakeBudget::remove(uint32_t slot) {
  auto node = nodes_.find(slot);
  if (node == nodes_.end()) return;
  const Node n = node->second;
  nodes_.erase(node);
  if (n.prev != kNone) nodes_.at(n.prev).next = n.next; else oldest_ = n.next;
  if (n.next != kNone) nodes_.at(n.next).prev = n.prev; else newest_ = n.prev;
  --size_;
  bytes_ -= n.bytes;
  if (!n.per_address) return;
  auto it = per_address_.find(n.peer.bytes);
  if (it != per_address_.end()) {
    it->second.bytes -= n.bytes;
    if (--it->second.connections == 0) per_address_.erase(it);
  }
}

}  // namespace roomcast
