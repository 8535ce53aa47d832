// net/shared_frame.h: one complete, immutable server frame shared by every recipient.
//
// Owns: its bytes (WebSocket header + payload, or raw bytes such as an HTTP response),
// in the same allocation as the refcount, or, for a camera frame made with a FrameArena,
// a run of the thread's arena chunk, held only while some queue still holds the frame. Created once per outbound message by the loop
// thread that owns the room; referenced from every recipient's SendQueue and from room
// history. Never crosses threads, so the refcount is a plain integer: fan-out costs one
// increment per recipient, no atomic, no copy, no re-encoding.
// Promises: bytes never change after make(); the memory is freed when the last
// FrameRef goes away. An arena frame's bytes go back to the arena as soon as every queue
// it was broadcast to has sent or dropped it (the fan-out count, track_fanout()); after
// that only its header (refcount, superseded flag) remains, and data() must not be used.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

#include "net/frame_arena.h"
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
    return make(nullptr, op, payload, kind);
  }
  // The same, with the bytes laid out in `arena` (when given and the frame is small), right
  // after the thread's previous arena frame. Only for frames that are broadcast and then
  // forgotten (cameras): the bytes are given back once every recipient is done.
  static SharedFrame* make(FrameArena* arena, Opcode op, std::string_view payload, FrameKind kind) {
    const size_t header = frame_header_size(payload.size());
    const size_t total = header + payload.size();
    SharedFrame* f;
    FrameArena::Chunk* chunk = nullptr;
    uint8_t* bytes = arena ? arena->allocate(total, &chunk) : nullptr;
    if (bytes) {
      f = new (::operator new(sizeof(SharedFrame))) SharedFrame(static_cast<uint32_t>(total), kind);
      f->external_ = bytes;
      f->chunk_ = chunk;
    } else {
      f = allocate(total, kind);
    }
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

  const uint8_t* data() const {
    assert(!bytes_gone_);  // an arena frame every recipient is done with has no bytes
    return external_ ? external_ : reinterpret_cast<const uint8_t*>(this + 1);
  }
  uint32_t size() const { return size_; }
  // False once an arena frame has given its bytes back (every recipient done with it).
  bool has_bytes() const { return !bytes_gone_; }
  FrameKind kind() const { return kind_; }
  uint32_t refs() const { return refs_; }

  // Set by the sender's session when it sends a newer camera: queues that have not
  // started sending this frame may drop it (latest-wins).
  bool superseded() const { return superseded_; }
  void mark_superseded() { superseded_ = true; }

  // Fan-out: a broadcast frame remembers when its message arrived and how many queues
  // still hold it; each queue counts down once, when the kernel took the frame
  // (delivered_one) or when the queue dropped it (abandoned_one). At zero an arena frame
  // gives its bytes back.
  void track_fanout(int64_t born_ns, uint32_t recipients) {
    born_ns_ = born_ns;
    undelivered_ = recipients;
    if (recipients == 0) drop_external();
  }
  // True when this call delivered the last tracked copy (fan-out latency is observed).
  bool delivered_one() {
    if (undelivered_ == 0 || --undelivered_ != 0) return false;
    drop_external();
    return true;
  }
  void abandoned_one() {
    if (undelivered_ != 0 && --undelivered_ == 0) drop_external();
  }
  int64_t born_ns() const { return born_ns_; }

  void retain() { ++refs_; }
  void release() {
    if (--refs_ == 0) {
      drop_external();
      ::operator delete(this);
    }
  }

 private:
  SharedFrame(uint32_t size, FrameKind kind) : size_(size), kind_(kind) {}
  static SharedFrame* allocate(size_t size, FrameKind kind) {
    // One allocation holds the refcount and the bytes.
    void* mem = ::operator new(sizeof(SharedFrame) + size);
    return new (mem) SharedFrame(static_cast<uint32_t>(size), kind);
  }
  uint8_t* bytes() { return external_ ? external_ : reinterpret_cast<uint8_t*>(this + 1); }
  void drop_external() {
    if (chunk_) {
      FrameArena::release(chunk_);
      chunk_ = nullptr;
      external_ = nullptr;
      bytes_gone_ = true;
    }
  }

  uint32_t refs_ = 1;
  uint32_t size_;
  int64_t born_ns_ = 0;
  uint32_t undelivered_ = 0;
  uint8_t* external_ = nullptr;         // arena bytes, or null: bytes follow this header
  FrameArena::Chunk* chunk_ = nullptr;  // the arena chunk external_ lies in
  FrameKind kind_;
  bool superseded_ = false;
  bool bytes_gone_ = false;
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
