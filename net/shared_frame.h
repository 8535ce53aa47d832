// net/shared_frame.h: one complete, immutable server frame shared by every recipient.
//
// Owns: its bytes (WebSocket header + payload, or raw bytes such as an HTTP response),
// in the same allocation as the refcount. Created once per outbound message by the loop
// thread that owns the room; referenced from every recipient's SendQueue and from room
// history. Never crosses threads, so the refcount is a plain integer: fan-out costs one
// increment per recipient, no atomic, no copy, no re-encoding.
// Promises: bytes never change after make(); the memory is freed when the last
// FrameRef goes away.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

#include "proto/frame.h"

namespace roomcast {

// Why a frame exists; SendQueue uses it to drop stale cameras under backpressure.
enum class FrameKind : uint8_t {
  Reliable,  // presence, edit, ack, select, follow, control: never dropped
  Cursor,    // latest-wins: may be skipped once `superseded` is set
};

class SharedFrame {
 public:
  // A WebSocket frame (final, unmasked) around `payload`. Refcount starts at 1.
  static SharedFrame* make(Opcode op, std::string_view payload, FrameKind kind = FrameKind::Reliable) {
    size_t header = frame_header_size(payload.size());
    SharedFrame* f = allocate(header + payload.size(), kind);
    write_frame_header(f->bytes(), op, payload.size());
    if (!payload.empty()) std::memcpy(f->bytes() + header, payload.data(), payload.size());
    return f;
  }
  // Bytes sent verbatim (HTTP responses, control frames produced by wslay).
  static SharedFrame* raw(std::string_view bytes) {
    SharedFrame* f = allocate(bytes.size(), FrameKind::Reliable);
    if (!bytes.empty()) std::memcpy(f->bytes(), bytes.data(), bytes.size());
    return f;
  }
  // A close frame: 2-byte code + reason (truncated to fit a control frame).
  static SharedFrame* close(uint16_t code, std::string_view reason) {
    char payload[125];
    payload[0] = static_cast<char>(code >> 8);
    payload[1] = static_cast<char>(code & 0xFF);
    size_t n = reason.size() < 123 ? reason.size() : 123;
    std::memcpy(payload + 2, reason.data(), n);
    return make(Opcode::Close, std::string_view(payload, n + 2));
  }

  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(this + 1); }
  uint32_t size() const { return size_; }
  FrameKind kind() const { return kind_; }
  uint32_t refs() const { return refs_; }

  // Set by the sender's session when it sends a newer camera: queues that have not
  // started sending this frame may drop it (latest-wins).
  bool superseded() const { return superseded_; }
  void mark_superseded() { superseded_ = true; }

  // Fan-out latency: a broadcast frame remembers when its message arrived and how many
  // recipients have yet to hand it to the kernel (SendQueue counts down).
  void track_fanout(int64_t born_ns, uint32_t recipients) {
    born_ns_ = born_ns;
    undelivered_ = recipients;
  }
  // True when this call delivered the last tracked copy.
  bool delivered_one() { return undelivered_ != 0 && --undelivered_ == 0; }
  int64_t born_ns() const { return born_ns_; }

  void retain() { ++refs_; }
  void release() {
    if (--refs_ == 0) ::operator delete(this);
  }

 private:
  SharedFrame(uint32_t size, FrameKind kind) : size_(size), kind_(kind) {}
  static SharedFrame* allocate(size_t size, FrameKind kind) {
    // One allocation holds the refcount and the bytes.
    void* mem = ::operator new(sizeof(SharedFrame) + size);
    return new (mem) SharedFrame(static_cast<uint32_t>(size), kind);
  }
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(this + 1); }

  uint32_t refs_ = 1;
  uint32_t size_;
  int64_t born_ns_ = 0;
  uint32_t undelivered_ = 0;
  FrameKind kind_;
  bool superseded_ = false;
};

// An owning reference: copy = retain, destroy = release.
class FrameRef {
 public:
  FrameRef() = default;
  // Adopts a reference the caller already holds (make()/raw() return one).
  static FrameRef adopt(SharedFrame* f) { FrameRef r; r.f_ = f; return r; }
  FrameRef(const FrameRef& o) : f_(o.f_) { if (f_) f_->retain(); }
  FrameRef(FrameRef&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  FrameRef& operator=(FrameRef o) noexcept { std::swap(f_, o.f_); return *this; }
  ~FrameRef() { if (f_) f_->release(); }

  SharedFrame* get() const { return f_; }
  SharedFrame* operator->() const { return f_; }
  explicit operator bool() const { return f_ != nullptr; }

 private:
  SharedFrame* f_ = nullptr;
};

}  // namespace roomcast
