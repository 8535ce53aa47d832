// tests/core/cluster/redis_hook_outbox_test.cpp: which events of a room's webhook outbox in
// Redis one thread pushes into the delivery, and when (core/cluster/redis_hook_outbox.h),
// with Redis's replies written by hand: order and no repeats when reads and the scripts'
// replies overlap, a full delivery read again after an acknowledgement, a lost lease
// forgotten, a scan claiming only this thread's rooms, an acknowledgement naming its event.
#include "core/cluster/redis_hook_outbox.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/cluster/cluster_wire.h"

namespace roomcast {
namespace {

using Step = RedisHookOutbox::Step;

struct Sink final : HookSink {
  bool push(std::string_view room, uint64_t n, const HookEvent& event) override {
    if (pushed.size() >= capacity) return false;
    pushed.push_back({std::string(room), n, event.id});
    return true;
  }
  void forget(std::string_view room) override { forgotten.emplace_back(room); }
  struct Pushed {
    std::string room;
    uint64_t n;
    std::string id;
  };
  std::vector<Pushed> pushed;
  std::vector<std::string> forgotten;
  size_t capacity = 1000;
};

RedisValue str(std::string s) {
  RedisValue v;
  v.kind = RedisValue::Kind::String;
  v.str = std::move(s);
  return v;
}
RedisValue integer(long long i) {
  RedisValue v;
  v.kind = RedisValue::Kind::Integer;
  v.integer = i;
  return v;
}
RedisValue array(std::vector<RedisValue> e) {
  RedisValue v;
  v.kind = RedisValue::Kind::Array;
  v.elements = std::move(e);
  return v;
}
// XRANGE's entries 0-from .. 0-to of room `r`.
RedisValue entries(const std::string& r, uint64_t from, uint64_t to) {
  std::vector<RedisValue> out;
  for (uint64_t n = from; n <= to; ++n)
    out.push_back(array({str("0-" + std::to_string(n)),
                         array({str("w"), str(r + "#" + std::to_string(n)), str("b"), str("{}"), str("t"), str("1")})}));
  return array(std::move(out));
}
HookEvent event(const std::string& r, uint64_t n) { return HookEvent{r + "#" + std::to_string(n), "{}", 1}; }

class RedisHookOutboxTest : public ::testing::Test {
 protected:
  Sink sink;
  RedisHookOutbox outbox{"me", 60'000, 600'000, sink, [](std::string_view r) { return r != "theirs"; }};
  std::vector<RedisHookOutbox::Call> Take() {
    std::vector<RedisHookOutbox::Call> out = std::move(outbox.calls());
    outbox.calls().clear();
    return out;
  }
  std::vector<uint64_t> Pushed() {
    std::vector<uint64_t> out;
    for (auto& p : sink.pushed) out.push_back(p.n);
    return out;
  }
};

TEST_F(RedisHookOutboxTest, ANewDelivererReadsFromTheOldestThenPushesEachNextEventOnceInOrder) {
  outbox.kept("r", 3, 1, nullptr);  // just became the deliverer: older events may wait
  auto calls = Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].step, Step::Load);
  EXPECT_EQ(calls[0].argv, (std::vector<std::string>{"XRANGE", wire::hooks_key("r"), "0-1", "+", "COUNT", "256"}));
  EXPECT_TRUE(sink.pushed.empty()) << "nothing before the oldest is read";
  outbox.on_reply(Step::Load, "r", true, entries("r", 1, 3));
  EXPECT_EQ(Pushed(), (std::vector<uint64_t>{1, 2, 3}));
  const HookEvent e3 = event("r", 3), e4 = event("r", 4), e6 = event("r", 6);
  outbox.kept("r", 3, 2, &e3);  // a reply behind the read that brought it: not again
  outbox.kept("r", 4, 2, &e4);  // the next one: straight in, no read
  EXPECT_EQ(Pushed(), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(Take().empty());
  outbox.kept("r", 6, 2, &e6);  // 5 (another instance's) is unread: read, never skip it
  EXPECT_EQ(Pushed(), (std::vector<uint64_t>{1, 2, 3, 4}));
  calls = Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].argv[2], "0-5");
  outbox.on_reply(Step::Load, "r", true, entries("r", 5, 6));
  EXPECT_EQ(Pushed(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(sink.pushed[4].id, "r#5");
}

TEST_F(RedisHookOutboxTest, EventsTheFullDeliveryRefusedAreReadAgainOnceItAcknowledgedOne) {
  sink.capacity = 2;
  outbox.kept("r", 1, 1, nullptr);
  Take();
  outbox.on_reply(Step::Load, "r", true, entries("r", 1, 4));
  EXPECT_EQ(Pushed(), (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(Take().empty()) << "no read while the delivery is full";
  sink.capacity = 3;
  outbox.done("r", 1);
  auto calls = Take();
  ASSERT_EQ(calls.size(), 2u);
  // The acknowledgement trims through 1, naming its event; then 3 onwards are read again.
  EXPECT_EQ(calls[0].script, wire::kHookAck);
  EXPECT_EQ(calls[0].argv, (std::vector<std::string>{wire::hooks_key("r"), "1", "r#1"}));
  EXPECT_FALSE(calls[0].wants_reply);
  EXPECT_EQ(calls[1].step, Step::Load);
  EXPECT_EQ(calls[1].argv[2], "0-3");
  outbox.on_reply(Step::Load, "r", true, entries("r", 3, 4));
  EXPECT_EQ(Pushed(), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(RedisHookOutboxTest, ALeaseFoundLostOrHeldByAnotherInstanceIsForgottenInTheDelivery) {
  outbox.kept("r", 1, 1, nullptr);
  outbox.kept("q", 1, 1, nullptr);
  Take();
  EXPECT_EQ(outbox.delivering(), 2u);
  outbox.tick(1);
  auto calls = Take();
  size_t renews = 0;
  for (auto& c : calls) renews += c.step == Step::Renew;
  EXPECT_EQ(renews, 2u);
  outbox.on_reply(Step::Renew, "r", true, array({integer(0), integer(0)}));  // lapsed meanwhile
  EXPECT_EQ(sink.forgotten, (std::vector<std::string>{"r"}));
  EXPECT_FALSE(outbox.delivers("r"));
  const HookEvent e = event("q", 2);
  outbox.kept("q", 2, 0, &e);  // an edit script found another instance delivering it
  EXPECT_EQ(sink.forgotten, (std::vector<std::string>{"r", "q"}));
  EXPECT_EQ(outbox.delivering(), 0u);
  EXPECT_TRUE(sink.pushed.empty());
}

TEST_F(RedisHookOutboxTest, AScanClaimsOnlyThisThreadsRoomsItDoesNotDeliverYet) {
  outbox.kept("mine-already", 1, 1, nullptr);
  Take();
  outbox.tick(1);
  auto calls = Take();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back().step, Step::Scan);
  EXPECT_EQ(calls.back().argv, (std::vector<std::string>{"SMEMBERS", wire::kHookRoomsKey}));
  outbox.on_reply(Step::Scan, "", true, array({str("theirs"), str("orphan"), str("mine-already")}));
  calls = Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].step, Step::Claim);
  EXPECT_EQ(calls[0].room, "orphan");
  outbox.on_reply(Step::Claim, "orphan", true, integer(1));  // the dead instance's lease lapsed
  EXPECT_TRUE(outbox.delivers("orphan"));
  calls = Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].step, Step::Load);
  EXPECT_EQ(calls[0].argv[2], "0-1") << "from the oldest unacknowledged event";
  outbox.tick(1 + RedisHookOutbox::kRoundNs / 2);
  EXPECT_TRUE(Take().empty()) << "one round per kRoundNs";
}

}  // namespace
}  // namespace roomcast
