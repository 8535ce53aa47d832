// bench/load/client_frame.h: the client side of RFC 6455 framing, as byte functions.
//
// Owns nothing. Encoding: every client frame is final and masked (RFC 6455 5.3 requires
// clients to mask; the server closes 1002 otherwise). Decoding: server frames are final,
// unfragmented and unmasked (docs/protocol.md 1); next_server_frame() still accepts a
// masked or fragmented frame by reporting it as malformed rather than misreading it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace load {

// Appends a masked frame with opcode `opcode` (0x1 text, 0x8 close, 0xA pong) carrying
// `payload` to `out`, masking with `mask_key` (callers pass a fresh random 32-bit value).
void append_client_frame(std::string& out, uint8_t opcode, std::string_view payload,
                         uint32_t mask_key);

// Writes the same into `out` (capacity >= payload.size() + 14) and returns its length.
size_t write_client_frame(char* out, uint8_t opcode, std::string_view payload, uint32_t mask_key);

struct ServerFrame {
  uint8_t opcode = 0;
  bool fin = true;
  std::string_view payload;  // points into the buffer given to next_server_frame
};

enum class FrameResult {
  Complete,    // `frame` holds one frame; `consumed` bytes were used
  NeedMore,    // the buffer ends inside a frame; nothing consumed
  Malformed,   // masked server frame or a length that cannot be right
};

// Decodes the first frame at the start of `data`.
FrameResult next_server_frame(std::string_view data, ServerFrame& frame, size_t& consumed);

// A small, fast, non-cryptographic generator for mask keys (xorshift64*).
class MaskSource {
 public:
  explicit MaskSource(uint64_t seed) : state_(seed | 1) {}
  uint32_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return uint32_t((state_ * 2685821657736338717ULL) >> 32);
  }

 private:
  uint64_t state_;
};

}  // namespace load
