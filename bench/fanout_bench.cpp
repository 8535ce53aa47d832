// bench/fanout_bench.cpp: the per-recipient cost of a broadcast, and latest-wins coalescing.
#include <benchmark/benchmark.h>

#include <sys/uio.h>

#include <memory>
#include <string>
#include <vector>

#include "core/base/ws_frames.h"
#include "core/room/member.h"
#include "core/room/room.h"
#include "core/room/session.h"
#include "net/send_queue.h"
#include "net/shared_frame.h"

namespace {

using namespace roomcast;

struct Recipient {
  Recipient(DirtyList* dirty, uint32_t slot) : member(dirty, slot) {
    session.id = "s" + std::to_string(slot);
    session.member = &member;
  }
  Member member;
  SendQueue& out = member.out;
  Session session;
};

// Hands every dirty queue's frames to a pretend socket that takes everything, as the
// loop's flush step does after a broadcast.
void drain(std::vector<std::unique_ptr<Recipient>>& members, DirtyList& dirty) {
  iovec iov[16];
  for (uint32_t slot : dirty.slots) {
    SendQueue& q = members[slot]->out;
    size_t n = q.gather(iov, 16, size_t(1) << 20);
    size_t bytes = 0;
    for (size_t i = 0; i < n; ++i) bytes += iov[i].iov_len;
    q.complete(bytes);
    q.clear_dirty();
  }
  dirty.slots.clear();
}

// Room::broadcast of one cursor frame from member 0 to the N-1 others, then every
// recipient's queue drained (gather + complete). Queues are warmed first, so the loop
// allocates nothing. Items = deliveries.
void BM_RoomBroadcastAndDrain(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  DirtyList dirty;
  Room room("project-42", 100, "epoch");
  std::vector<std::unique_ptr<Recipient>> members;
  members.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    members.push_back(std::make_unique<Recipient>(&dirty, uint32_t(i)));
    room.add(&members.back()->session);
  }
  dirty.slots.reserve(n);
  std::string payload(150, 'x');
  FrameRef frame = FrameRef::adopt(ws_frame(Opcode::Text, payload, DropPolicy::WhenSuperseded));
  const Session* sender = &members[0]->session;
  for (int warm = 0; warm < 4; ++warm) {
    room.broadcast(frame.get(), sender);
    drain(members, dirty);
  }
  for (auto _ : state) {
    room.broadcast(frame.get(), sender);
    drain(members, dirty);
  }
  if (frame->refs() != 1) state.SkipWithError("a queue kept a reference");
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(n - 1));
}
BENCHMARK(BM_RoomBroadcastAndDrain)->Arg(10)->Arg(100)->Arg(1000);

// One slow recipient's queue holding `per_sender` cameras from each of 50 senders,
// interleaved as they arrived; all but each sender's newest are superseded.
// drop_superseded() leaves 50 frames. Items = frames examined.
void BM_DropSupersededCursors(benchmark::State& state) {
  constexpr size_t kSenders = 50;
  const size_t per_sender = size_t(state.range(0));
  std::string payload(150, 'c');
  std::vector<FrameRef> frames;  // arrival order
  frames.reserve(kSenders * per_sender);
  for (size_t round = 0; round < per_sender; ++round) {
    for (size_t s = 0; s < kSenders; ++s) {
      frames.push_back(FrameRef::adopt(ws_frame(Opcode::Text, payload, DropPolicy::WhenSuperseded)));
      if (round + 1 < per_sender) frames.back()->mark_superseded();
    }
  }
  DirtyList dirty;
  SendQueue q(&dirty, 0);
  for (auto _ : state) {
    state.PauseTiming();
    q.clear();
    for (const FrameRef& f : frames) q.push(f.get());
    dirty.slots.clear();
    q.clear_dirty();
    state.ResumeTiming();
    q.drop_superseded();
    benchmark::DoNotOptimize(q.frames());
  }
  if (q.frames() != kSenders) state.SkipWithError("wrong number of frames kept");
  q.clear();
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(frames.size()));
}
BENCHMARK(BM_DropSupersededCursors)->Arg(4)->Arg(20)->Arg(100);

}  // namespace
