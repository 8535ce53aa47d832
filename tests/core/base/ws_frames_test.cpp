// Unit tests for core/base/ws_frames.h: WebSocket framing around shared buffers.
#include "core/base/ws_frames.h"

#include <gtest/gtest.h>

#include <string>

namespace roomcast {
namespace {

TEST(WsFrame, TextFrameIsFinalUnmaskedHeaderPlusPayload) {
  FrameRef f = FrameRef::adopt(ws_frame(Opcode::Text, "hi"));
  ASSERT_EQ(f->size(), 4u);
  EXPECT_EQ(f->data()[0], 0x81);
  EXPECT_EQ(f->data()[1], 0x02);
  EXPECT_EQ(f->data()[2], 'h');
  EXPECT_EQ(f->data()[3], 'i');
}

TEST(WsFrame, LargePayloadUsesExtendedLength) {
  std::string payload(70000, 'x');
  FrameRef f = FrameRef::adopt(ws_frame(Opcode::Text, payload));
  ASSERT_EQ(f->size(), 10u + payload.size());
  EXPECT_EQ(f->data()[1], 127);
}

TEST(WsFrame, CameraFramesKeepTheirDropPolicyAndUseTheArena) {
  FrameArena arena;
  FrameRef a = FrameRef::adopt(ws_frame(Opcode::Text, "one", DropPolicy::WhenSuperseded, &arena));
  FrameRef b = FrameRef::adopt(ws_frame(Opcode::Text, "two", DropPolicy::WhenSuperseded, &arena));
  EXPECT_EQ(a->policy(), DropPolicy::WhenSuperseded);
  EXPECT_EQ(a->data() + a->size(), b->data()) << "consecutive frames of one arena are adjacent";
  arena.seal();
}

TEST(WsCloseFrame, CarriesCodeAndReason) {
  FrameRef f = FrameRef::adopt(ws_close_frame(1008, "slow"));
  ASSERT_EQ(f->size(), 2u + 2u + 4u);
  EXPECT_EQ(f->data()[0], 0x88);
  EXPECT_EQ((f->data()[2] << 8) | f->data()[3], 1008);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f->data()) + 4, 4), "slow");
}

TEST(WsCloseFrame, ReasonIsTruncatedToFitAControlFrameWithoutSplittingACharacter) {
  FrameRef f = FrameRef::adopt(ws_close_frame(1001, std::string(500, 'r')));
  EXPECT_EQ(f->data()[1], 125);  // control frames carry at most 125 bytes
  std::string accented;
  for (int i = 0; i < 100; ++i) accented += "\xc3\xa9";  // é, two bytes each
  FrameRef g = FrameRef::adopt(ws_close_frame(1001, accented));
  EXPECT_EQ(g->data()[1], 2 + 122) << "123 bytes would cut an é in half";
}

}  // namespace
}  // namespace roomcast
