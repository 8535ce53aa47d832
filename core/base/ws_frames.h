// core/base/ws_frames.h: WebSocket frames as shared output: proto's framing around net's buffer.
//
// Owns nothing. Called by the room service (every message it sends), the connection
// (upgrade responses, close frames, pings) and tests. This is where the layers meet:
// proto knows RFC 6455's header bytes, net knows immutable shared buffers, and neither
// knows the other.
// Promises: a server frame is final, unmasked and unfragmented, so the one buffer is
// byte-identical for every recipient (docs/protocol.md 1).
#pragma once

#include <cstdint>
#include <string_view>

#include "net/shared_frame.h"
#include "proto/frame.h"

namespace roomcast {

// One frame of `op` around `payload` (refcount 1, owned by the caller). With an arena, the
// bytes are laid out right after that arena's previous frame (see net/frame_arena.h).
inline SharedFrame* ws_frame(Opcode op, std::string_view payload, DropPolicy policy = DropPolicy::Never,
                             FrameArena* arena = nullptr) {
  uint8_t head[kMaxFrameHeader];
  const size_t n = write_frame_header(head, op, payload.size());
  return SharedFrame::make(arena, std::string_view(reinterpret_cast<const char*>(head), n), payload, policy);
}

// A close frame: 2-byte code + reason, the reason cut to fit a control frame (125 bytes)
// without splitting a UTF-8 sequence.
inline SharedFrame* ws_close_frame(uint16_t code, std::string_view reason) {
  char payload[125];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code & 0xFF);
  size_t n = reason.size() < 123 ? reason.size() : 123;
  while (n > 0 && n < reason.size() && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  for (size_t i = 0; i < n; ++i) payload[2 + i] = reason[i];
  return ws_frame(Opcode::Close, std::string_view(payload, n + 2));
}

}  // namespace roomcast
