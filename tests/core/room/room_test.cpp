#include "core/room/room.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include <rapidjson/stringbuffer.h>

#include "core/base/ws_frames.h"
#include "core/room/member.h"
#include "proto/message.h"

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Counts every operator new in this test binary, so a test can prove how many
// allocations a broadcast costs. (SharedFrame allocates through operator new.)
namespace {
thread_local size_t g_allocations = 0;
}
void* operator new(size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace roomcast {
namespace {

struct Recipient {
  Recipient(DirtyList* dirty, uint32_t slot) : member(dirty, slot) {
    session.id = "s" + std::to_string(slot);
    session.member = &member;
  }
  Member member;
  SendQueue& out = member.out;
  Session session;
};

struct RoomOf {
  explicit RoomOf(size_t n, size_t history = 100) : room("project", history, "e1") {
    for (size_t i = 0; i < n; ++i) {
      members.push_back(std::make_unique<Recipient>(&dirty, uint32_t(i)));
      room.add(&members.back()->session);
    }
  }
  DirtyList dirty;
  Room room;
  std::vector<std::unique_ptr<Recipient>> members;
};

SharedFrame* front_frame(SendQueue& q) {
  iovec iov[1];
  if (q.gather(iov, 1, 1 << 20) != 1) return nullptr;
  return reinterpret_cast<SharedFrame*>(static_cast<uint8_t*>(iov[0].iov_base)) - 1;
}

TEST(Room, BroadcastSharesOneBufferAcrossEveryRecipientWithOneAllocation) {
  RoomOf r(100);
  // Warm the queues so the measurement sees steady state (ring capacity exists).
  FrameRef warm = FrameRef::adopt(SharedFrame::raw("warm"));
  r.room.broadcast(warm.get(), nullptr);
  for (auto& m : r.members) {
    iovec iov[1];
    m->out.gather(iov, 1, 1 << 20);
    m->out.complete(4);
  }
  r.dirty.slots.clear();
  r.dirty.slots.reserve(256);
  for (auto& m : r.members) m->out.clear_dirty();

  rapidjson::StringBuffer scratch;
  Camera camera;
  camera.position[0] = 1;
  encode_cursor(scratch, r.members[0]->session.id, camera);  // warms scratch capacity
  encode_cursor(scratch, r.members[0]->session.id, camera);

  size_t before = g_allocations;
  SharedFrame* frame = ws_frame(Opcode::Text, {scratch.GetString(), scratch.GetSize()}, DropPolicy::WhenSuperseded);
  r.room.broadcast(frame, &r.members[0]->session);
  size_t allocations = g_allocations - before;

  EXPECT_EQ(allocations, 1u);  // the frame itself; nothing per recipient
  EXPECT_EQ(frame->refs(), 1u + 99u);
  for (size_t i = 1; i < r.members.size(); ++i) EXPECT_EQ(front_frame(r.members[i]->out), frame);
  frame->release();
}

TEST(Room, BroadcastSkipsTheSender) {
  RoomOf r(3);
  FrameRef f = FrameRef::adopt(SharedFrame::raw("x"));
  r.room.broadcast(f.get(), &r.members[1]->session);
  EXPECT_EQ(r.members[0]->out.frames(), 1u);
  EXPECT_EQ(r.members[1]->out.frames(), 0u);
  EXPECT_EQ(r.members[2]->out.frames(), 1u);
}

TEST(Room, RemovedMemberGetsNothingAndOthersStillDo) {
  RoomOf r(4);
  r.room.remove(&r.members[1]->session);
  EXPECT_EQ(r.room.members().size(), 3u);
  EXPECT_EQ(r.room.find("s1"), nullptr);
  EXPECT_NE(r.room.find("s3"), nullptr);
  FrameRef f = FrameRef::adopt(SharedFrame::raw("x"));
  r.room.broadcast(f.get(), nullptr);
  EXPECT_EQ(r.members[1]->out.frames(), 0u);
  EXPECT_EQ(r.members[0]->out.frames(), 1u);
  EXPECT_EQ(r.members[2]->out.frames(), 1u);
  EXPECT_EQ(r.members[3]->out.frames(), 1u);
}

TEST(Room, EditsGetGapFreeSequenceNumbers) {
  RoomOf r(1);
  for (uint64_t i = 1; i <= 5; ++i) {
    EXPECT_EQ(r.room.next_seq(), i);
    r.room.commit_edit(FrameRef::adopt(SharedFrame::raw("e")).get());
    EXPECT_EQ(r.room.seq(), i);
  }
}

// 1.2 (core/room/attention.h): members without camera_rate stay a contiguous run at the
// front, whatever order members come and go in, and every member's index is its place.
TEST(Room, MembersWithoutCameraRateStayInFrontThroughAnyAddsAndRemoves) {
  DirtyList dirty;
  Room room("project", 10, "e1");
  std::vector<std::unique_ptr<Recipient>> all;
  for (uint32_t i = 0; i < 12; ++i) {
    all.push_back(std::make_unique<Recipient>(&dirty, i));
    if (i % 3 == 0) all.back()->member.camera_rate = 2;
  }
  auto check = [&](const char* when) {
    bool reduced_seen = false;
    for (size_t i = 0; i < room.members().size(); ++i) {
      Session* s = room.members()[i];
      EXPECT_EQ(s->member_index, i) << when;
      const bool reduced = s->member->camera_rate > 0;
      EXPECT_FALSE(reduced_seen && !reduced) << when << ": a full-rate member after a reduced one";
      reduced_seen |= reduced;
    }
  };
  for (auto& r : all) {
    room.add(&r->session);
    check("adding");
  }
  EXPECT_TRUE(room.attention().any());
  for (size_t k : {4u, 0u, 11u, 1u, 6u, 2u, 10u, 3u, 9u, 5u, 8u, 7u}) {
    room.remove(&all[k]->session);
    check("removing");
    if (k == 8) room.add(&all[0]->session);  // and one comes back
  }
  EXPECT_EQ(room.members().size(), 1u);
  room.remove(&all[0]->session);
  EXPECT_FALSE(room.attention().any()) << "no reduced member left";
}

}  // namespace
}  // namespace roomcast
