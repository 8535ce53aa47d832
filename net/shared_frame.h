// net/shared_frame.h: one complete, immutable buffer of output shared by every recipient.
//
// Owns: its bytes (finished wire bytes: a WebSocket frame built above net, or an HTTP
// response), in the same allocation as the refcount, or, for a frame made with a
// FrameArena, a run of that arena's chunk, held only while some queue still holds the
// frame. Created once per outbound message by the loop thread that owns the sender's
// room; referenced from every recipient's SendQueue and from room history. Never crosses
// threads, so the refcount is a plain integer: fan-out costs one increment per
// recipient, no atomic, no copy, no re-encoding.
// Promises: bytes never change after make(); the memory is freed when the last
// FrameRef goes away. An arena frame's bytes go back to the arena as soon as every queue
// it was handed to has sent or dropped it (the fan-out count, track_fanout()); after
// that only its header (refcount, superseded flag) remains, and data() must not be used.
// Net knows nothing of what the bytes mean: a frame carries only a DropPolicy saying
// whether a queue may skip it once the producer marks it superseded.
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

namespace roomcast {

// Whether a queue may drop a frame it has not started to send.
enum class DropPolicy : uint8_t {
  Never,           // delivered in order, always (presence, edits, acks, control, HTTP)
  WhenSuperseded,  // latest wins: skipped once its producer marks it superseded()
};

class SharedFrame {
 public:
  // `head` followed by `body` in one buffer (a framing header and its payload, so the
  // caller need not concatenate first). Refcount starts at 1.
  static SharedFrame* make(std::string_view head, std::string_view body, DropPolicy policy = DropPolicy::Never) {
    return make(nullptr, head, body, policy);
  }
  // The same, with the bytes laid out in `arena` (when given and the frame is small),
  // right after the arena's previous frame. Only for frames that are handed to their
  // queues and then forgotten: the bytes are given back once every recipient is done.
  static SharedFrame* make(FrameArena* arena, std::string_view head, std::string_view body, DropPolicy policy) {
    const size_t total = head.size() + body.size();
    SharedFrame* f;
    FrameArena::Chunk* chunk = nullptr;
    uint8_t* bytes = arena ? arena->allocate(total, &chunk) : nullptr;
    if (bytes) {
      f = new (::operator new(sizeof(SharedFrame))) SharedFrame(static_cast<uint32_t>(total), policy);
      f->external_ = bytes;
      f->chunk_ = chunk;
    } else {
      f = allocate(total, policy);
    }
    if (!head.empty()) std::memcpy(f->bytes(), head.data(), head.size());
    if (!body.empty()) std::memcpy(f->bytes() + head.size(), body.data(), body.size());
    return f;
  }
  // Bytes sent verbatim.
  static SharedFrame* raw(std::string_view bytes) { return make({}, bytes); }

  const uint8_t* data() const {
    assert(!bytes_gone_);  // an arena frame every recipient is done with has no bytes
    return external_ ? external_ : reinterpret_cast<const uint8_t*>(this + 1);
  }
  uint32_t size() const { return size_; }
  // False once an arena frame has given its bytes back (every recipient done with it).
  bool has_bytes() const { return !bytes_gone_; }
  DropPolicy policy() const { return policy_; }
  uint32_t refs() const { return refs_; }

  // Set by the producer when a newer frame replaces this one: queues that have not
  // started sending a WhenSuperseded frame drop it (latest wins).
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
  SharedFrame(uint32_t size, DropPolicy policy) : size_(size), policy_(policy) {}
  static SharedFrame* allocate(size_t size, DropPolicy policy) {
    // One allocation holds the refcount and the bytes.
    void* mem = ::operator new(sizeof(SharedFrame) + size);
    return new (mem) SharedFrame(static_cast<uint32_t>(size), policy);
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
  DropPolicy policy_;
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
