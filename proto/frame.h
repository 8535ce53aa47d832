// proto/frame.h: the server side of RFC 6455 framing, as pure byte functions.
//
// Owns nothing. Called by core/ws_frames.h to put the header in front of the one immutable
// frame every recipient's send queue shares, and by tests to check bytes without sockets.
// Promises: server frames are final (FIN set), unfragmented and unmasked, so one
// serialized frame is byte-identical for every recipient (docs/protocol.md 1).
#pragma once

#include <cstddef>
#include <cstdint>

namespace roomcast {

enum class Opcode : uint8_t {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xA,
};

// Close codes the server sends (RFC 6455 section 7.4.1; docs/protocol.md 5).
enum CloseCode : uint16_t {
  kCloseNormal = 1000,
  kCloseNoStatus = 1005,  // never sent: "the peer's close frame had no code"
  kCloseGoingAway = 1001,
  kCloseProtocolError = 1002,
  kCloseUnsupportedData = 1003,
  kCloseInvalidPayload = 1007,
  kClosePolicyViolation = 1008,
  kCloseMessageTooBig = 1009,
  kCloseInternalError = 1011,
  kCloseTryAgainLater = 1013,  // 1.1: over capacity
  kCloseUnauthorized = 4001,   // 1.1: missing, bad or expired token
  kCloseForbidden = 4003,      // 1.1: the token does not grant the room
  kCloseReplaced = 4008,       // 1.1: the session was resumed on another connection
};

// The largest header a server frame can have: 2 bytes + 8-byte extended length.
inline constexpr size_t kMaxFrameHeader = 10;

// Header bytes for an unmasked frame carrying `payload_len` bytes.
constexpr size_t frame_header_size(size_t payload_len) {
  return payload_len < 126 ? 2 : payload_len <= 0xFFFF ? 4 : 10;
}

// Writes the header of a final, unmasked frame into `out` (at least
// frame_header_size(payload_len) bytes) and returns the number of bytes written.
inline size_t write_frame_header(uint8_t* out, Opcode op, size_t payload_len) {
  out[0] = static_cast<uint8_t>(0x80 | static_cast<uint8_t>(op));
  if (payload_len < 126) {
    out[1] = static_cast<uint8_t>(payload_len);
    return 2;
  }
  if (payload_len <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(payload_len >> 8);
    out[3] = static_cast<uint8_t>(payload_len);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(uint64_t(payload_len) >> (56 - 8 * i));
  return 10;
}

}  // namespace roomcast
