// core/disk/record.h: the framing of one record of a room log (docs/durability.md).
//
// Owns: the byte layout of a record, nothing else: [u32 payload length][u32 CRC][payload],
// little-endian, the CRC (zlib's crc32) taken over the four length bytes and the payload,
// so a flipped length is caught as surely as a flipped payload byte. The payload's first
// byte is the record kind; the fields after it are written with RecordWriter and read
// with RecordReader (u8/u64/i64 fixed width, strings as u32 length + bytes).
// Called by: room_log.cpp (encode and recover), disk_store.cpp (appends), the fuzzer.
// Promises: read_frame never reads outside `bytes` and tells a frame that ends past the
// end of the input (torn) from one whose checksum does not match (corrupt).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace roomcast::disk {

inline constexpr size_t kFrameHeaderBytes = 8;
// A record larger than this is garbage, not data: an edit frame is bounded far below it
// by the server's message limit, and the bound keeps a corrupt length from looking
// plausible.
inline constexpr uint32_t kMaxPayloadBytes = 64u << 20;

// Journal: one room's records of one group commit in the store's journal (journal.h),
// never in a room log.
enum class RecordKind : uint8_t { Header = 1, Append = 2, Ack = 3, Journal = 4 };

// Appends one framed record holding `payload` to `out`.
void append_frame(std::string& out, std::string_view payload);

enum class FrameStatus : uint8_t {
  Ok,       // a whole frame with a matching checksum
  Torn,     // the input ends inside the frame (header or payload)
  Corrupt,  // the length is impossible or the checksum does not match
};

struct Frame {
  FrameStatus status = FrameStatus::Torn;
  std::string_view payload;  // valid when status == Ok
  size_t size = 0;           // bytes the frame takes (header + payload) when Ok
};

// Reads the frame at the start of `bytes`.
Frame read_frame(std::string_view bytes);

// Builds a payload field by field.
class RecordWriter {
 public:
  explicit RecordWriter(RecordKind kind) { out_.push_back(char(kind)); }
  RecordWriter& u8(uint8_t v) {
    out_.push_back(char(v));
    return *this;
  }
  RecordWriter& u32(uint32_t v);
  RecordWriter& u64(uint64_t v);
  RecordWriter& i64(int64_t v) { return u64(uint64_t(v)); }
  RecordWriter& str(std::string_view s);
  const std::string& payload() const { return out_; }

 private:
  std::string out_;
};

// Reads a payload field by field; any read past the end sets failed() and returns zeros,
// so a decoder checks once at the end.
class RecordReader {
 public:
  explicit RecordReader(std::string_view payload) : in_(payload) {}
  uint8_t u8();
  uint32_t u32();
  uint64_t u64();
  int64_t i64() { return int64_t(u64()); }
  std::string_view str();
  bool failed() const { return failed_; }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  bool take(size_t n);
  std::string_view in_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace roomcast::disk
