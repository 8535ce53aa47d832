#include "net/frame_arena.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/send_queue.h"
#include "net/shared_frame.h"

namespace roomcast {
namespace {

// Leaks of chunks or frames are caught by LeakSanitizer in `make test`.

// Net does not know WebSocket; the tests give frames a WebSocket-shaped head themselves.
std::string head_for(size_t n) {
  if (n < 126) return {char(0x81), char(n)};
  return {char(0x81), char(126), char(n >> 8), char(n & 0xFF)};
}

FrameRef camera(FrameArena& arena, const std::string& payload) {
  return FrameRef::adopt(SharedFrame::make(&arena, head_for(payload.size()), payload, DropPolicy::WhenSuperseded));
}

std::string gathered(SendQueue& q, size_t* entries) {
  iovec iov[64];
  *entries = q.gather(iov, 64, 1 << 20);
  std::string out;
  for (size_t i = 0; i < *entries; ++i) out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return out;
}

std::string wire(const std::string& payload) {  // an unmasked final text frame, <126 bytes
  return std::string{char(0x81), char(payload.size())} + payload;
}

TEST(FrameArena, CamerasMadeOneAfterAnotherAreAdjacentInMemory) {
  FrameArena arena;
  FrameRef a = camera(arena, "first"), b = camera(arena, "second");
  EXPECT_EQ(a->data() + a->size(), b->data());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b->data()), b->size()), wire("second"));
}

TEST(FrameArena, SealedWindowKeepsItsChunkAndTheNextWindowStartsAnother) {
  FrameArena arena;
  FrameRef a = camera(arena, "window one");
  EXPECT_TRUE(arena.filling());
  EXPECT_TRUE(arena.seal());
  EXPECT_FALSE(arena.filling());
  FrameRef b = camera(arena, "window two");
  EXPECT_NE(a->data() + a->size(), b->data());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(a->data()), a->size()), wire("window one"));
  EXPECT_FALSE(FrameArena().seal()) << "nothing was being filled";
}

TEST(FrameArena, FrameLargerThanTheLimitGetsItsOwnAllocation) {
  FrameArena arena;
  FrameRef small = camera(arena, "x");
  FrameRef big = camera(arena, std::string(FrameArena::kMaxFrame + 10, 'y'));
  FrameRef after = camera(arena, "z");
  EXPECT_EQ(small->data() + small->size(), after->data()) << "the big frame did not use the arena";
  EXPECT_EQ(big->size(), FrameArena::kMaxFrame + 10 + 4u);
}

TEST(FrameArena, ChunkOutlivesTheArenaWhileFramesHoldIt) {
  FrameRef kept;
  {
    FrameArena arena;
    kept = camera(arena, "still readable");
  }
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(kept->data()), kept->size()), wire("still readable"));
}

TEST(FrameArena, FillingAChunkMovesOnToANewOneAndKeepsEveryFrameIntact) {
  FrameArena arena;
  std::vector<FrameRef> frames;
  for (int i = 0; i < 1000; ++i) frames.push_back(camera(arena, "camera " + std::to_string(i)));  // > 16 KiB
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(std::string(reinterpret_cast<const char*>(frames[i]->data()), frames[i]->size()),
              wire("camera " + std::to_string(i)));
}

TEST(FrameArena, RecipientGetsARunOfCamerasAsOneRangeAndItsOwnCameraSplitsIt) {
  FrameArena arena;
  DirtyList dirty;
  SendQueue sender(&dirty, 0), other(&dirty, 1);
  FrameRef a = camera(arena, "a"), b = camera(arena, "b"), c = camera(arena, "c");
  // `sender` sent b, so it gets a and c; `other` gets all three.
  sender.push(a.get());
  sender.push(c.get());
  other.push(a.get());
  other.push(b.get());
  other.push(c.get());
  size_t entries = 0;
  EXPECT_EQ(gathered(other, &entries), wire("a") + wire("b") + wire("c"));
  EXPECT_EQ(entries, 1u);
  EXPECT_EQ(gathered(sender, &entries), wire("a") + wire("c"));
  EXPECT_EQ(entries, 2u);
  // A short send that ends inside the merged range resumes in the right frame.
  other.complete(4);  // "a" (3 bytes) and 1 byte of "b"
  EXPECT_EQ(gathered(other, &entries), wire("b").substr(1) + wire("c"));
  other.complete(5);
  sender.complete(6);
  EXPECT_TRUE(other.empty());
  EXPECT_TRUE(sender.empty());
}

TEST(FrameArena, CameraGivesItsBytesBackOnceEveryRecipientSentOrDroppedIt) {
  FrameArena arena;
  DirtyList dirty;
  SendQueue first(&dirty, 0), second(&dirty, 1);
  FrameRef last_camera = camera(arena, "pos");  // as Session::last_cursor holds it
  first.push(last_camera.get());
  second.push(last_camera.get());
  last_camera->track_fanout(0, 2);
  size_t entries = 0;
  gathered(first, &entries);
  first.complete(wire("pos").size());
  EXPECT_TRUE(last_camera->has_bytes()) << "second still has it queued";
  second.clear();  // that recipient went away
  EXPECT_FALSE(last_camera->has_bytes()) << "nobody needs the bytes: the chunk must not stay pinned";
  last_camera->mark_superseded();  // the header lives on for latest-wins
  EXPECT_TRUE(last_camera->superseded());
}

TEST(FrameArena, CameraBroadcastToNobodyGivesItsBytesBackAtOnce) {
  FrameArena arena;
  FrameRef alone = camera(arena, "pos");
  alone->track_fanout(0, 0);
  EXPECT_FALSE(alone->has_bytes());
}

}  // namespace
}  // namespace roomcast
