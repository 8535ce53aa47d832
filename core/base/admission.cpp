#include "core/base/admission.h"

#include <arpa/inet.h>

namespace roomcast {

PeerAddress PeerAddress::of_socket(int fd) {
  PeerAddress p;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return p;
  if (ss.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    p.bytes[10] = p.bytes[11] = 0xFF;
    std::memcpy(p.bytes.data() + 12, &sin->sin_addr, 4);
    p.port = ntohs(sin->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    std::memcpy(p.bytes.data(), &sin6->sin6_addr, 16);
    p.port = ntohs(sin6->sin6_port);
  }
  return p;
}

std::string PeerAddress::to_string() const {
  static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  char buf[INET6_ADDRSTRLEN + 16];
  if (std::memcmp(bytes.data(), v4_prefix, 12) == 0) {
    inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(port);
  }
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  return "[" + std::string(buf) + "]:" + std::to_string(port);
}

Admission ConnectionLimits::admit(const PeerAddress& peer) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_.load(std::memory_order_relaxed) >= max_total_) return Admission::OverTotal;
  auto it = per_address_.find(peer.bytes);
  if (it != per_address_.end() && it->second.open >= max_per_address_) return Admission::OverPerAddress;
  if (it == per_address_.end()) it = per_address_.emplace(peer.bytes, Use{}).first;
  ++it->second.open;
  open_.fetch_add(1, std::memory_order_relaxed);
  return Admission::Admitted;
}

void ConnectionLimits::force_admit(const PeerAddress& peer) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++per_address_[peer.bytes].open;
  open_.fetch_add(1, std::memory_order_relaxed);
}

void ConnectionLimits::release(const PeerAddress& peer) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = per_address_.find(peer.bytes);
  if (it == per_address_.end() || it->second.open == 0) return;
  --it->second.open;
  if (it->second.open == 0 && it->second.held == 0) per_address_.erase(it);
  open_.fetch_sub(1, std::memory_order_relaxed);
}

void ConnectionLimits::hold(const PeerAddress& peer) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++per_address_[peer.bytes].held;
  ++held_;
}

void ConnectionLimits::unhold(const PeerAddress& peer) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = per_address_.find(peer.bytes);
  if (it == per_address_.end() || it->second.held == 0) return;
  --it->second.held;
  --held_;
  if (it->second.open == 0 && it->second.held == 0) per_address_.erase(it);
}

bool ConnectionLimits::may_resume(const PeerAddress& peer, Admission verdict) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (verdict == Admission::OverTotal) return held_ > 0;
  auto it = per_address_.find(peer.bytes);
  return it != per_address_.end() && it->second.held > 0;
}

}  // namespace roomcast
