#include "core/disk/record.h"

#include <zlib.h>

namespace roomcast::disk {
namespace {

void put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = char((v >> (8 * i)) & 0xFF);
}
uint32_t get32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(p[i])) << (8 * i);
  return v;
}

uint32_t frame_crc(const char* len_bytes, std::string_view payload) {
  uLong c = crc32(0L, Z_NULL, 0);
  c = crc32(c, reinterpret_cast<const Bytef*>(len_bytes), 4);
  // zlib takes a uInt length; payloads are bounded by kMaxPayloadBytes, far below it.
  c = crc32(c, reinterpret_cast<const Bytef*>(payload.data()), uInt(payload.size()));
  return uint32_t(c);
}

}  // namespace

void append_frame(std::string& out, std::string_view payload) {
  char header[kFrameHeaderBytes];
  put32(header, uint32_t(payload.size()));
  put32(header + 4, frame_crc(header, payload));
  out.append(header, kFrameHeaderBytes);
  out.append(payload);
}

Frame read_frame(std::string_view bytes) {
  Frame f;
  if (bytes.size() < kFrameHeaderBytes) return f;  // Torn
  uint32_t len = get32(bytes.data());
  if (len == 0 || len > kMaxPayloadBytes) {
    f.status = FrameStatus::Corrupt;
    return f;
  }
  if (bytes.size() - kFrameHeaderBytes < len) return f;  // Torn
  std::string_view payload = bytes.substr(kFrameHeaderBytes, len);
  if (get32(bytes.data() + 4) != frame_crc(bytes.data(), payload)) {
    f.status = FrameStatus::Corrupt;
    return f;
  }
  f.status = FrameStatus::Ok;
  f.payload = payload;
  f.size = kFrameHeaderBytes + len;
  return f;
}

RecordWriter& RecordWriter::u32(uint32_t v) {
  char b[4];
  put32(b, v);
  out_.append(b, 4);
  return *this;
}

RecordWriter& RecordWriter::u64(uint64_t v) {
  u32(uint32_t(v));
  return u32(uint32_t(v >> 32));
}

RecordWriter& RecordWriter::str(std::string_view s) {
  u32(uint32_t(s.size()));
  out_.append(s);
  return *this;
}

bool RecordReader::take(size_t n) {
  if (failed_ || in_.size() - pos_ < n) {
    failed_ = true;
    return false;
  }
  return true;
}

uint8_t RecordReader::u8() {
  if (!take(1)) return 0;
  return uint8_t(in_[pos_++]);
}

uint32_t RecordReader::u32() {
  if (!take(4)) return 0;
  uint32_t v = get32(in_.data() + pos_);
  pos_ += 4;
  return v;
}

uint64_t RecordReader::u64() {
  uint64_t lo = u32();
  uint64_t hi = u32();
  return lo | (hi << 32);
}

std::string_view RecordReader::str() {
  uint32_t n = u32();
  if (!take(n)) return {};
  std::string_view s = in_.substr(pos_, n);
  pos_ += n;
  return s;
}

}  // namespace roomcast::disk
