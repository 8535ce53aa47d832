// core/base/admission.h: the server-wide connection limits, shared by every loop thread.
//
// Owns: the count of open connections and the count per client address. Touched once
// when a connection is accepted and once when it is freed, never per message; the
// per-address table sits behind a mutex, the total is one atomic.
// Promises: admit() either counts the connection (and the caller must release() it
// exactly once, on whichever thread ends up owning the socket) or says which limit it
// would pass; nothing is counted for a refused connection.
// Held sessions (docs/protocol.md 3.1) keep their connection's place, and the table
// knows how many places of each address are held that way: an upgrade over a limit that
// held places explain may be the resume of one of them, so it is let through to its join
// (may_resume), where a resume always gets a place (force_admit: the held place it gives
// back pays for it) and a fresh join is told 1013 (docs/protocol.md "Resume behind one
// address").
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

namespace roomcast {

// A client address without its port, comparable and hashable.
struct PeerAddress {
  std::array<uint8_t, 16> bytes{};  // IPv4 as ::ffff:a.b.c.d
  uint16_t port = 0;

  static PeerAddress of_socket(int fd);
  std::string to_string() const;  // "127.0.0.1:5555" / "[::1]:5555"
  bool operator==(const PeerAddress& o) const { return bytes == o.bytes; }
};

// Hashes an address without its port, for per-address counts.
struct PeerAddressHash {
  size_t operator()(const std::array<uint8_t, 16>& b) const {
    uint64_t a, c;
    std::memcpy(&a, b.data(), 8);
    std::memcpy(&c, b.data() + 8, 8);
    return std::hash<uint64_t>{}(a * 0x9E3779B97F4A7C15ull ^ c);
  }
};

enum class Admission : uint8_t { Admitted, OverTotal, OverPerAddress };

class ConnectionLimits {
 public:
  ConnectionLimits(size_t max_total, size_t max_per_address) : max_total_(max_total), max_per_address_(max_per_address) {}

  Admission admit(const PeerAddress& peer);
  void release(const PeerAddress& peer);
  // A resume: counted whatever the limits (its session gave its held place back).
  void force_admit(const PeerAddress& peer);
  // One of `peer`'s places now belongs to a held session / no longer does (resumed, or
  // the hold ended; release() the place separately when it goes).
  void hold(const PeerAddress& peer);
  void unhold(const PeerAddress& peer);
  // An upgrade refused with `verdict` may resume a held session: places of that address
  // (OverPerAddress) or of the server (OverTotal) are held.
  bool may_resume(const PeerAddress& peer, Admission verdict);
  size_t open() const { return open_.load(std::memory_order_relaxed); }

 private:
  struct Use {
    uint32_t open = 0;  // places counted, held ones included
    uint32_t held = 0;  // of those, places of held sessions
  };
  const size_t max_total_;
  const size_t max_per_address_;
  std::atomic<size_t> open_{0};
  std::mutex mutex_;
  size_t held_ = 0;
  std::unordered_map<std::array<uint8_t, 16>, Use, PeerAddressHash> per_address_;
};

}  // namespace roomcast
