// core/handshake_budget.cpp: a doubly linked list threaded through a map from slot to
// node (O(1) add and remove on average), plus a count per address. Finding the oldest
// connection of one address walks the list from the oldest end; that happens only when
// that address is at its limit, and the walk is bounded by the thread's budget.
#include "core/handshake_budget.h"

#include <algorithm>

namespace roomcast {

HandshakeBudget::HandshakeBudget(size_t max_total, size_t max_per_address)
    : max_total_(std::max<size_t>(1, max_total)), max_per_address_(std::max<size_t>(1, max_per_address)) {}

size_t HandshakeBudget::count_for(const PeerAddress& peer) const {
  auto it = per_address_.find(peer.bytes);
  return it == per_address_.end() ? 0 : it->second;
}

uint32_t HandshakeBudget::victim_for(const PeerAddress& peer, bool per_address) const {
  if (per_address && count_for(peer) >= max_per_address_) {
    for (uint32_t s = oldest_; s != kNone;) {
      const Node& n = nodes_.at(s);
      if (n.per_address && n.peer == peer) return s;
      s = n.next;
    }
  }
  if (size_ >= max_total_) return oldest_;
  return kNone;
}

void HandshakeBudget::release_idle_memory() {
  if (!nodes_.empty()) return;
  decltype(nodes_)().swap(nodes_);
  decltype(per_address_)().swap(per_address_);
}

void HandshakeBudget::add(uint32_t slot, const PeerAddress& peer, bool per_address) {
  remove(slot);
  if (newest_ != kNone) nodes_.at(newest_).next = slot;
  nodes_.emplace(slot, Node{newest_, kNone, peer, per_address});
  newest_ = slot;
  if (oldest_ == kNone) oldest_ = slot;
  ++size_;
  if (per_address) ++per_address_[peer.bytes];
}

void HandshakeBudget::remove(uint32_t slot) {
  auto node = nodes_.find(slot);
  if (node == nodes_.end()) return;
  const Node n = node->second;
  nodes_.erase(node);
  if (n.prev != kNone) nodes_.at(n.prev).next = n.next; else oldest_ = n.next;
  if (n.next != kNone) nodes_.at(n.next).prev = n.prev; else newest_ = n.prev;
  --size_;
  if (!n.per_address) return;
  auto it = per_address_.find(n.peer.bytes);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

}  // namespace roomcast
