// Unit tests for proto/frame.h: server frame headers, byte for byte.
#include "proto/frame.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace roomcast {
namespace {

// Writes a header into a buffer pre-filled with a sentinel and returns exactly the
// bytes written, after checking that nothing past them was touched.
std::vector<uint8_t> header_bytes(Opcode op, size_t payload_len) {
  std::array<uint8_t, kMaxFrameHeader + 4> buf;
  buf.fill(0xEE);
  size_t n = write_frame_header(buf.data(), op, payload_len);
  EXPECT_EQ(n, frame_header_size(payload_len));
  EXPECT_LE(n, kMaxFrameHeader);
  for (size_t i = n; i < buf.size(); ++i) EXPECT_EQ(buf[i], 0xEE) << "byte " << i << " overwritten";
  return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n)};
}

TEST(FrameHeaderSize, UsesTwoBytesUpTo125) {
  EXPECT_EQ(frame_header_size(0), 2u);
  EXPECT_EQ(frame_header_size(1), 2u);
  EXPECT_EQ(frame_header_size(125), 2u);
}

TEST(FrameHeaderSize, UsesFourBytesFrom126To65535) {
  EXPECT_EQ(frame_header_size(126), 4u);
  EXPECT_EQ(frame_header_size(65535), 4u);
}

TEST(FrameHeaderSize, UsesTenBytesFrom65536) {
  EXPECT_EQ(frame_header_size(65536), 10u);
  EXPECT_EQ(frame_header_size(size_t{1} << 40), 10u);
}

TEST(FrameHeaderSize, IsUsableAtCompileTime) {
  static_assert(frame_header_size(125) == 2);
  static_assert(frame_header_size(126) == 4);
  static_assert(frame_header_size(65536) == kMaxFrameHeader);
}

TEST(WriteFrameHeader, EmptyTextFrameIsFinTextAndZeroLength) {
  EXPECT_EQ(header_bytes(Opcode::Text, 0), (std::vector<uint8_t>{0x81, 0x00}));
}

TEST(WriteFrameHeader, Length125FitsInTheSevenBitField) {
  EXPECT_EQ(header_bytes(Opcode::Text, 125), (std::vector<uint8_t>{0x81, 125}));
}

TEST(WriteFrameHeader, Length126SwitchesToSixteenBitBigEndianLength) {
  EXPECT_EQ(header_bytes(Opcode::Text, 126), (std::vector<uint8_t>{0x81, 126, 0x00, 0x7E}));
}

TEST(WriteFrameHeader, Length65535IsTheLargestSixteenBitLength) {
  EXPECT_EQ(header_bytes(Opcode::Text, 65535), (std::vector<uint8_t>{0x81, 126, 0xFF, 0xFF}));
}

TEST(WriteFrameHeader, Length65536SwitchesToSixtyFourBitBigEndianLength) {
  EXPECT_EQ(header_bytes(Opcode::Text, 65536),
            (std::vector<uint8_t>{0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}));
}

TEST(WriteFrameHeader, SixtyFourBitLengthKeepsEveryByteInOrder) {
  EXPECT_EQ(header_bytes(Opcode::Binary, 0x0102030405060708ull),
            (std::vector<uint8_t>{0x82, 127, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));
}

TEST(WriteFrameHeader, ControlOpcodesCarryFinAndTheirOpcode) {
  EXPECT_EQ(header_bytes(Opcode::Close, 2), (std::vector<uint8_t>{0x88, 2}));
  EXPECT_EQ(header_bytes(Opcode::Ping, 0), (std::vector<uint8_t>{0x89, 0}));
  EXPECT_EQ(header_bytes(Opcode::Pong, 4), (std::vector<uint8_t>{0x8A, 4}));
  EXPECT_EQ(header_bytes(Opcode::Binary, 1), (std::vector<uint8_t>{0x82, 1}));
}

TEST(WriteFrameHeader, NeverSetsTheMaskBitAtAnyBoundary) {
  for (size_t len : {size_t{0}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}}) {
    std::vector<uint8_t> bytes = header_bytes(Opcode::Text, len);
    EXPECT_EQ(bytes[1] & 0x80, 0) << "len " << len;
    EXPECT_EQ(bytes[0] & 0x70, 0) << "RSV bits set for len " << len;
  }
}

TEST(CloseCodes, MatchRfc6455Values) {
  EXPECT_EQ(kCloseNormal, 1000);
  EXPECT_EQ(kCloseProtocolError, 1002);
  EXPECT_EQ(kCloseUnsupportedData, 1003);
  EXPECT_EQ(kCloseInvalidPayload, 1007);
  EXPECT_EQ(kClosePolicyViolation, 1008);
  EXPECT_EQ(kCloseMessageTooBig, 1009);
}

}  // namespace
}  // namespace roomcast
