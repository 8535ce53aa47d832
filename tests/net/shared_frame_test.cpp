#include "net/shared_frame.h"

#include <gtest/gtest.h>

#include <string>

namespace roomcast {
namespace {

TEST(SharedFrame, HoldsHeadThenBodyInOneBuffer) {
  FrameRef f = FrameRef::adopt(SharedFrame::make("ab", "cde"));
  ASSERT_EQ(f->size(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f->data()), f->size()), "abcde");
  EXPECT_EQ(f->policy(), DropPolicy::Never);
}

TEST(SharedFrame, RawIsTheBytesVerbatim) {
  FrameRef f = FrameRef::adopt(SharedFrame::raw("HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f->data()), f->size()), "HTTP/1.1 200 OK\r\n\r\n");
}

TEST(SharedFrame, LargeBodiesAndEmptyPartsAreFine) {
  std::string body(70000, 'x');
  FrameRef f = FrameRef::adopt(SharedFrame::make({}, body, DropPolicy::WhenSuperseded));
  ASSERT_EQ(f->size(), body.size());
  EXPECT_EQ(f->policy(), DropPolicy::WhenSuperseded);
  FrameRef empty = FrameRef::adopt(SharedFrame::make({}, {}));
  EXPECT_EQ(empty->size(), 0u);
}

TEST(SharedFrame, SupersededIsAFlagTheProducerSets) {
  FrameRef f = FrameRef::adopt(SharedFrame::make({}, "cam", DropPolicy::WhenSuperseded));
  EXPECT_FALSE(f->superseded());
  f->mark_superseded();
  EXPECT_TRUE(f->superseded());
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
