#include "bench/load/client_frame.h"

#include <cstring>

namespace load {

size_t write_client_frame(char* out, uint8_t opcode, std::string_view payload, uint32_t mask_key) {
  auto* o = reinterpret_cast<uint8_t*>(out);
  size_t n = 0;
  o[n++] = uint8_t(0x80 | (opcode & 0x0F));
  const size_t len = payload.size();
  if (len < 126) {
    o[n++] = uint8_t(0x80 | len);
  } else if (len <= 0xFFFF) {
    o[n++] = 0x80 | 126;
    o[n++] = uint8_t(len >> 8);
    o[n++] = uint8_t(len);
  } else {
    o[n++] = 0x80 | 127;
    for (int i = 0; i < 8; ++i) o[n++] = uint8_t(uint64_t(len) >> (56 - 8 * i));
  }
  const uint8_t mask[4] = {uint8_t(mask_key >> 24), uint8_t(mask_key >> 16), uint8_t(mask_key >> 8),
                           uint8_t(mask_key)};
  std::memcpy(o + n, mask, 4);
  n += 4;
  for (size_t i = 0; i < len; ++i) o[n + i] = uint8_t(payload[i]) ^ mask[i & 3];
  return n + len;
}

void append_client_frame(std::string& out, uint8_t opcode, std::string_view payload,
                         uint32_t mask_key) {
  const size_t old = out.size();
  out.resize(old + payload.size() + 14);
  const size_t n = write_client_frame(out.data() + old, opcode, payload, mask_key);
  out.resize(old + n);
}

FrameResult next_server_frame(std::string_view data, ServerFrame& frame, size_t& consumed) {
  if (data.size() < 2) return FrameResult::NeedMore;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  if (p[1] & 0x80) return FrameResult::Malformed;  // servers never mask
  uint64_t len = p[1] & 0x7F;
  size_t header = 2;
  if (len == 126) {
    if (data.size() < 4) return FrameResult::NeedMore;
    len = (uint64_t(p[2]) << 8) | p[3];
    header = 4;
  } else if (len == 127) {
    if (data.size() < 10) return FrameResult::NeedMore;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    header = 10;
    if (len >> 40) return FrameResult::Malformed;  // > 1 TiB: not a frame from our server
  }
  if (data.size() - header < len) return FrameResult::NeedMore;
  frame.opcode = p[0] & 0x0F;
  frame.fin = (p[0] & 0x80) != 0;
  frame.payload = data.substr(header, size_t(len));
  consumed = header + size_t(len);
  return FrameResult::Complete;
}

}  // namespace load
