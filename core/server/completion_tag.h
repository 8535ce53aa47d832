// core/server/completion_tag.h: what a loop thread writes into an operation's user_data, the
// one place it is defined.
//
// Layout:
//   bits 56..63  the operation (Op)
//   bits 32..55  connection generation (low 24 bits): a completion for a slot that has
//                since been reused is recognised and ignored (cf. nginx's instance bit)
//   bits  0..31  connection slot
// Used by the worker (arming, dispatch), the connection table (cancel) and output (send).
#pragma once

#include <cstdint>

namespace roomcast {

enum class Op : uint8_t { Accept = 1, Recv, Send, Wake, Timer, Grace, Redis, Hook, Disk, Webhook };

constexpr uint64_t completion_tag(Op op, uint32_t slot = 0, uint32_t generation = 0) {
  return (uint64_t(op) << 56) | (uint64_t(generation & 0xFFFFFF) << 32) | slot;
}
constexpr Op op_of(uint64_t tag) { return static_cast<Op>(tag >> 56); }
constexpr uint32_t slot_of(uint64_t tag) { return static_cast<uint32_t>(tag); }
constexpr uint32_t generation_of(uint64_t tag) { return static_cast<uint32_t>(tag >> 32) & 0xFFFFFF; }

}  // namespace roomcast
