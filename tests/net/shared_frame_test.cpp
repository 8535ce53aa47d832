#include "net/shared_frame.h"

#include <gtest/gtest.h>

#include <string>

namespace roomcast {
namespace {

TEST(SharedFrame, TextFrameIsFinalUnmaskedHeaderPlusPayload) {
  FrameRef f = FrameRef::adopt(SharedFrame::make(Opcode::Text, "hi"));
  ASSERT_EQ(f->size(), 4u);
  EXPECT_EQ(f->data()[0], 0x81);
  EXPECT_EQ(f->data()[1], 0x02);
  EXPECT_EQ(f->data()[2], 'h');
  EXPECT_EQ(f->data()[3], 'i');
}

TEST(SharedFrame, LargePayloadUsesExtendedLength) {
  std::string payload(70000, 'x');
  FrameRef f = FrameRef::adopt(SharedFrame::make(Opcode::Text, payload));
  ASSERT_EQ(f->size(), 10u + payload.size());
  EXPECT_EQ(f->data()[1], 127);
}

TEST(SharedFrame, CloseFrameCarriesCodeAndReason) {
  FrameRef f = FrameRef::adopt(SharedFrame::close(1008, "slow"));
  ASSERT_EQ(f->size(), 2u + 2u + 4u);
  EXPECT_EQ(f->data()[0], 0x88);
  EXPECT_EQ((f->data()[2] << 8) | f->data()[3], 1008);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f->data()) + 4, 4), "slow");
}

TEST(SharedFrame, CloseReasonIsTruncatedToFitAControlFrame) {
  FrameRef f = FrameRef::adopt(SharedFrame::close(1001, std::string(500, 'r')));
  EXPECT_EQ(f->data()[1], 125);  // control frames carry at most 125 bytes
}

TEST(SharedFrame, RefCountFollowsCopies) {
  FrameRef a = FrameRef::adopt(SharedFrame::raw("x"));
  {
    FrameRef b = a;
    FrameRef c = b;
    EXPECT_EQ(a->refs(), 3u);
  }
  EXPECT_EQ(a->refs(), 1u);
}

}  // namespace
}  // namespace roomcast
