#include "net/send_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace roomcast {
namespace {

std::string gathered(SendQueue& q) {
  iovec iov[256];
  size_t n = q.gather(iov, 256, 1 << 20);
  std::string out;
  for (size_t i = 0; i < n; ++i) out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return out;
}

FrameRef raw(std::string_view bytes) { return FrameRef::adopt(SharedFrame::raw(bytes)); }

// A latest-wins frame with a WebSocket-shaped head (net itself knows no framing).
FrameRef cursor(std::string_view bytes) {
  const std::string head{char(0x81), char(bytes.size())};
  return FrameRef::adopt(SharedFrame::make(head, bytes, DropPolicy::WhenSuperseded));
}

TEST(SendQueue, FramesLeaveInPushOrder) {
  DirtyList dirty;
  SendQueue q(&dirty, 7);
  q.push(raw("one").get());
  q.push(raw("two").get());
  q.push(raw("three").get());
  EXPECT_EQ(gathered(q), "onetwothree");
  q.complete(11);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pending_bytes(), 0u);
}

TEST(SendQueue, InsertPutsFramesBeforeTheOnesQueuedAfterThePosition) {
  DirtyList dirty;
  SendQueue q(&dirty, 7);
  q.push(raw("welcome").get());
  q.push(raw("live").get());
  FrameRef a = raw("r1"), b = raw("r2");
  SharedFrame* replay[] = {a.get(), b.get()};
  q.insert(1, replay, 2);
  EXPECT_EQ(q.frames(), 4u);
  EXPECT_EQ(q.pending_bytes(), 15u);
  EXPECT_EQ(gathered(q), "welcomer1r2live");
  q.complete(15);
  EXPECT_TRUE(q.empty());
}

TEST(SendQueue, InsertGrowsTheRingAndKeepsOrderAcrossItsWrap) {
  DirtyList dirty;
  SendQueue q(&dirty, 7);
  // Move the ring's head so the insertion wraps around its end.
  for (int i = 0; i < 6; ++i) q.push(raw("x").get());
  (void)gathered(q);
  q.complete(6);
  q.push(raw("w").get());
  for (int i = 0; i < 4; ++i) q.push(raw("L").get());
  std::vector<FrameRef> refs;
  std::vector<SharedFrame*> replay;
  for (int i = 0; i < 9; ++i) {
    refs.push_back(raw(std::string(1, char('a' + i))));
    replay.push_back(refs.back().get());
  }
  q.insert(1, replay.data(), replay.size());
  EXPECT_EQ(gathered(q), "wabcdefghiLLLL");
}

TEST(SendQueue, GatherTakesAtMostMaxFrames) {
  DirtyList dirty;
  SendQueue q(&dirty, 7);
  q.push(raw("one").get());
  q.push(raw("two").get());
  q.push(raw("three").get());
  iovec iov[8];
  const size_t n = q.gather(iov, 8, 1 << 20, 2);
  std::string out;
  for (size_t i = 0; i < n; ++i) out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  EXPECT_EQ(out, "onetwo");
  q.complete(6);
  EXPECT_EQ(gathered(q), "three");
}

TEST(SendQueue, FirstPushMarksOwnerDirtyOnce) {
  DirtyList dirty;
  SendQueue q(&dirty, 42);
  q.push(raw("a").get());
  q.push(raw("b").get());
  ASSERT_EQ(dirty.slots.size(), 1u);
  EXPECT_EQ(dirty.slots[0], 42u);
  q.clear_dirty();
  q.push(raw("c").get());
  EXPECT_EQ(dirty.slots.size(), 2u);
}

TEST(SendQueue, ShortSendResumesMidFrame) {
  DirtyList dirty;
  SendQueue q(&dirty, 0);
  q.push(raw("hello").get());
  q.push(raw("world").get());
  EXPECT_EQ(gathered(q), "helloworld");
  q.complete(3);  // the kernel took "hel"
  EXPECT_EQ(q.pending_bytes(), 7u);
  EXPECT_EQ(gathered(q), "loworld");
  q.complete(7);
  EXPECT_TRUE(q.empty());
}

TEST(SendQueue, HoldsAReferenceUntilTheFrameIsSent) {
  DirtyList dirty;
  SendQueue q(&dirty, 0);
  FrameRef f = raw("abc");
  q.push(f.get());
  EXPECT_EQ(f->refs(), 2u);
  gathered(q);
  q.complete(3);
  EXPECT_EQ(f->refs(), 1u);
}

TEST(SendQueue, SupersededCameraIsDroppedButReliableFramesStay) {
  DirtyList dirty;
  SendQueue q(&dirty, 0);
  FrameRef old_camera = cursor("c1");
  q.push(old_camera.get());
  q.push(raw("[edit]").get());
  FrameRef new_camera = cursor("c2");
  old_camera->mark_superseded();
  q.push(new_camera.get());
  q.drop_superseded();
  std::string bytes = gathered(q);
  EXPECT_EQ(bytes.find("c1"), std::string::npos);
  EXPECT_NE(bytes.find("[edit]"), std::string::npos);
  EXPECT_LT(bytes.find("[edit]"), bytes.find("c2"));  // order of what remains is kept
}

TEST(SendQueue, HalfSentCameraIsFinishedEvenIfSuperseded) {
  DirtyList dirty;
  SendQueue q(&dirty, 0);
  FrameRef camera = cursor("0123456789");
  q.push(camera.get());
  gathered(q);
  q.complete(4);
  camera->mark_superseded();
  q.drop_superseded();
  EXPECT_EQ(q.frames(), 1u);  // dropping it now would corrupt the byte stream
}

TEST(SendQueue, DropUnstartedKeepsOnlyTheFrameInFlight) {
  DirtyList dirty;
  SendQueue q(&dirty, 0);
  q.push(raw("first").get());
  q.push(raw("second").get());
  iovec iov[1];
  ASSERT_EQ(q.gather(iov, 1, 1 << 20), 1u);
  q.drop_unstarted();
  EXPECT_EQ(q.frames(), 1u);
  q.complete(5);
  EXPECT_TRUE(q.empty());
}

TEST(SendQueue, GrowsPastItsInitialCapacityKeepingOrder) {
  DirtyList dirty;
  SendQueue q(&dirty, 0);
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    std::string s = std::to_string(i) + ",";
    expected += s;
    q.push(raw(s).get());
    if (i == 5) {  // wrap the ring: send some, then keep pushing
      std::string head = gathered(q);
      q.complete(head.size());
      expected.clear();
    }
  }
  EXPECT_EQ(gathered(q), expected);
}

TEST(SendQueue, ReleasesItsStorageOnlyWhenEmptyAndWorksAgainAfterwards) {
  DirtyList dirty;
  SendQueue q(&dirty, 0);
  FrameRef a = raw("a");
  q.push(a.get());
  EXPECT_FALSE(q.release_storage()) << "a queued frame must survive";
  EXPECT_EQ(gathered(q), "a");
  q.complete(1);
  EXPECT_TRUE(q.release_storage());
  EXPECT_FALSE(q.release_storage()) << "nothing left to give back";
  // Quiet, then traffic again: order and contents as before.
  q.clear_dirty();
  q.push(raw("b").get());
  q.push(raw("c").get());
  EXPECT_TRUE(q.dirty());
  EXPECT_EQ(gathered(q), "bc");
  q.complete(2);
  EXPECT_TRUE(q.empty());
}

TEST(SendQueue, GatherRespectsTheIovecLimit) {
  DirtyList dirty;
  SendQueue q(&dirty, 0);
  for (int i = 0; i < 10; ++i) q.push(raw("x").get());
  iovec iov[4];
  EXPECT_EQ(q.gather(iov, 4, 1 << 20), 4u);
  q.complete(4);
  EXPECT_EQ(q.frames(), 6u);
}

}  // namespace
}  // namespace roomcast

namespace roomcast {
namespace {

TEST(SendQueue, ShortSendMeansBackedUpAndFullSendClearsIt) {
  DirtyList dirty;
  SendQueue q(&dirty, 0);
  q.push(FrameRef::adopt(SharedFrame::raw("0123456789")).get());
  iovec iov[4];
  q.gather(iov, 4, 1 << 20);
  q.complete(4);
  EXPECT_TRUE(q.backed_up());
  q.gather(iov, 4, 1 << 20);
  q.complete(6);
  EXPECT_FALSE(q.backed_up());
}

}  // namespace
}  // namespace roomcast
