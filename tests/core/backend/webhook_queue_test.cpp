// The webhook delivery queue on a clock the test turns: order per room, one in flight per
// room, the concurrency bound, full-jitter waits, max-age drops and the memory bound.
#include "core/backend/webhook_queue.h"

#include <gtest/gtest.h>

#include <climits>
#include <map>

namespace roomcast {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;  // Unix ms

struct Recorder : WebhookQueueListener {
  std::vector<std::string> delivered_ids;
  std::vector<std::pair<std::string, WebhookDropReason>> dropped_ids;
  std::vector<uint64_t> delivered_tokens;
  void delivered(const WebhookEvent& e) override {
    delivered_ids.push_back(e.id);
    delivered_tokens.push_back(e.token);
  }
  void dropped(const WebhookEvent& e, WebhookDropReason why, unsigned) override { dropped_ids.emplace_back(e.id, why); }
};

WebhookEvent event(std::string room, int n, int64_t created = kT0) {
  return WebhookEvent{room, "edit:" + room + ":e:" + std::to_string(n), "{\"seq\":" + std::to_string(n) + "}", created,
                      uint64_t(n)};
}

std::vector<WebhookSend> poll(WebhookQueue& q, int64_t now) {
  std::vector<WebhookSend> out;
  q.poll(now, &out);
  return out;
}

TEST(WebhookQueue, DeliversOneRoomsEventsInOrderOneAtATime) {
  Recorder rec;
  WebhookQueue q({}, &rec);
  for (int n = 1; n <= 3; ++n) q.push(event("r", n), kT0);
  for (int n = 1; n <= 3; ++n) {
    auto sends = poll(q, kT0);
    ASSERT_EQ(sends.size(), 1u) << "only one event of a room is ever in flight";
    EXPECT_EQ(sends[0].event.id, "edit:r:e:" + std::to_string(n));
    EXPECT_TRUE(poll(q, kT0).empty()) << "the next waits for the answer";
    q.on_result(sends[0].ticket, true, kT0);
  }
  EXPECT_EQ(rec.delivered_ids, (std::vector<std::string>{"edit:r:e:1", "edit:r:e:2", "edit:r:e:3"}));
  EXPECT_EQ(rec.delivered_tokens, (std::vector<uint64_t>{1, 2, 3})) << "the store learns which event to mark acked";
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.rooms(), 0u);
  EXPECT_EQ(q.stats().delivered.load(), 3u);
}

TEST(WebhookQueue, RoomsGoInParallelUpToTheConcurrency) {
  Recorder rec;
  WebhookQueueOptions o;
  o.concurrency = 2;
  WebhookQueue q(o, &rec);
  for (const char* room : {"a", "b", "c"}) q.push(event(room, 1), kT0);
  auto sends = poll(q, kT0);
  ASSERT_EQ(sends.size(), 2u);
  EXPECT_EQ(sends[0].event.room, "a");
  EXPECT_EQ(sends[1].event.room, "b");
  EXPECT_TRUE(poll(q, kT0).empty()) << "the third room waits for a free slot";
  q.on_result(sends[1].ticket, true, kT0);
  auto third = poll(q, kT0);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].event.room, "c");
}

TEST(WebhookQueue, AFailedEventIsRetriedFirstAfterAFullJitterWaitThatDoublesUpToSixtySeconds) {
  Recorder rec;
  std::vector<int64_t> bounds;
  // The random source answers the top of its range: each wait is its bound.
  WebhookQueue q({}, &rec, [&](int64_t bound) {
    bounds.push_back(bound);
    return bound;
  });
  q.push(event("r", 1), kT0);
  q.push(event("r", 2), kT0);
  int64_t now = kT0;
  for (int attempt = 1; attempt <= 9; ++attempt) {
    auto sends = poll(q, now);
    ASSERT_EQ(sends.size(), 1u) << "attempt " << attempt;
    EXPECT_EQ(sends[0].event.id, "edit:r:e:1") << "the failed event stays first: its room's order holds";
    EXPECT_EQ(sends[0].attempt, unsigned(attempt));
    q.on_result(sends[0].ticket, false, now);
    const int64_t wait = bounds.back();
    EXPECT_EQ(q.next_wakeup_ms(now), now + wait);
    if (wait > 0) {
      EXPECT_TRUE(poll(q, now + wait - 1).empty()) << "not before the wait ends";
    }
    now += wait;
  }
  EXPECT_EQ(bounds, (std::vector<int64_t>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000}));
  auto sends = poll(q, now);
  ASSERT_EQ(sends.size(), 1u);
  q.on_result(sends[0].ticket, true, now);
  sends = poll(q, now);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].event.id, "edit:r:e:2");
  EXPECT_EQ(q.stats().retries.load(), 9u);
}

TEST(WebhookQueue, TheDefaultRandomWaitStaysWithinItsBound) {
  Recorder rec;
  WebhookQueue q({}, &rec);
  for (int round = 0; round < 50; ++round) {
    q.push(event("r" + std::to_string(round), 1), kT0);
    auto sends = poll(q, kT0);
    ASSERT_EQ(sends.size(), 1u);
    q.on_result(sends[0].ticket, false, kT0);
    const int64_t due = q.next_wakeup_ms(kT0);
    EXPECT_GE(due, kT0);
    EXPECT_LE(due, kT0 + 1000) << "first retry waits at most 1 s";
    q.forget_room("r" + std::to_string(round));
  }
}

TEST(WebhookQueue, AnEventOlderThanMaxAgeIsDroppedAndTheRoomMovesOn) {
  Recorder rec;
  WebhookQueueOptions o;
  o.max_age_ms = 10'000;
  WebhookQueue q(o, &rec, [](int64_t bound) { return bound; });
  q.push(event("r", 1), kT0);
  q.push(event("r", 2, kT0 + 9'000), kT0 + 9'000);
  int64_t now = kT0;
  std::vector<int64_t> attempts_at;
  std::vector<WebhookSend> sends;
  for (int i = 0; i < 10 && rec.dropped_ids.empty(); ++i) {
    now = q.next_wakeup_ms(now);
    sends = poll(q, now);
    if (!sends.empty() && sends[0].event.id == "edit:r:e:1") {
      attempts_at.push_back(now - kT0);
      q.on_result(sends[0].ticket, false, now);
    }
  }
  ASSERT_EQ(rec.dropped_ids.size(), 1u);
  EXPECT_EQ(rec.dropped_ids[0].first, "edit:r:e:1");
  EXPECT_EQ(rec.dropped_ids[0].second, WebhookDropReason::MaxAge);
  EXPECT_EQ(q.stats().dropped_max_age.load(), 1u);
  // Attempts at 0, 1 s, 3 s, 7 s; the retry due at 15 s is past the 10 s max age.
  EXPECT_EQ(attempts_at, (std::vector<int64_t>{0, 1'000, 3'000, 7'000}));
  EXPECT_EQ(now, kT0 + 15'000);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].event.id, "edit:r:e:2") << "the room's next event goes out after a drop";
}

TEST(WebhookQueue, EventsThatAgedPastMaxAgeWhileWaitingAreDroppedWithoutAnAttempt) {
  Recorder rec;
  WebhookQueueOptions o;
  o.max_age_ms = 1'000;
  WebhookQueue q(o, &rec);
  q.push(event("r", 1), kT0);
  q.push(event("r", 2), kT0);
  q.push(event("r", 3, kT0 + 5'000), kT0 + 5'000);
  auto sends = poll(q, kT0 + 5'000);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].event.id, "edit:r:e:3");
  EXPECT_EQ(rec.dropped_ids.size(), 2u);
}

TEST(WebhookQueue, BeyondTheBoundTheOldestWaitingEventIsDroppedAndCounted) {
  Recorder rec;
  WebhookQueueOptions o;
  o.max_events = 3;
  WebhookQueue q(o, &rec);
  q.push(event("a", 1, kT0), kT0);
  auto sends = poll(q, kT0);  // a:1 in flight: never the one dropped
  q.push(event("b", 1, kT0 + 1), kT0 + 1);
  q.push(event("a", 2, kT0 + 2), kT0 + 2);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.push(event("c", 1, kT0 + 3), kT0 + 3), WebhookQueue::Push::Queued);
  EXPECT_EQ(q.size(), 3u);
  ASSERT_EQ(rec.dropped_ids.size(), 1u);
  EXPECT_EQ(rec.dropped_ids[0].first, "edit:b:e:1");
  EXPECT_EQ(rec.dropped_ids[0].second, WebhookDropReason::Overflow);
  EXPECT_EQ(q.stats().dropped_overflow.load(), 1u);
  std::string metrics;
  q.render_metrics(&metrics, kT0 + 3);
  EXPECT_NE(metrics.find("roomcast_webhook_dropped_total{reason=\"overflow\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("roomcast_webhook_queue_events 3\n"), std::string::npos) << metrics;
}

TEST(WebhookQueue, AStoreBackedQueueRefusesBeyondTheBoundInsteadOfDropping) {
  Recorder rec;
  WebhookQueueOptions o;
  o.max_events = 2;
  o.drop_oldest_when_full = false;
  WebhookQueue q(o, &rec);
  EXPECT_EQ(q.push(event("a", 1), kT0), WebhookQueue::Push::Queued);
  EXPECT_EQ(q.push(event("a", 2), kT0), WebhookQueue::Push::Queued);
  EXPECT_EQ(q.push(event("a", 3), kT0), WebhookQueue::Push::Refused);
  EXPECT_TRUE(rec.dropped_ids.empty());
}

TEST(WebhookQueue, OldestSecondsIsTheAgeOfTheOldestUndeliveredEventInFlightIncluded) {
  Recorder rec;
  WebhookQueue q({}, &rec);
  EXPECT_EQ(q.oldest_age_ms(kT0), 0);
  q.push(event("a", 1, kT0), kT0);
  q.push(event("b", 1, kT0 + 4'000), kT0 + 4'000);
  auto sends = poll(q, kT0 + 4'000);
  ASSERT_EQ(sends.size(), 2u);
  EXPECT_EQ(q.oldest_age_ms(kT0 + 10'000), 10'000);
  q.on_result(sends[0].ticket, true, kT0 + 10'000);
  EXPECT_EQ(q.oldest_age_ms(kT0 + 10'000), 6'000);
  q.on_result(sends[1].ticket, true, kT0 + 10'000);
  EXPECT_EQ(q.oldest_age_ms(kT0 + 10'000), 0);
}

TEST(WebhookQueue, AForgottenRoomsEventsLeaveSilentlyAndItsLateResultIsIgnored) {
  Recorder rec;
  WebhookQueue q({}, &rec);
  q.push(event("a", 1), kT0);
  q.push(event("a", 2), kT0);
  q.push(event("b", 1), kT0);
  auto sends = poll(q, kT0);
  ASSERT_EQ(sends.size(), 2u);
  EXPECT_EQ(q.forget_room("a"), 2u);
  EXPECT_EQ(q.size(), 1u);
  q.on_result(sends[0].ticket, true, kT0);
  EXPECT_TRUE(rec.delivered_ids.empty());
  EXPECT_TRUE(rec.dropped_ids.empty());
  q.push(event("a", 3), kT0);
  auto again = poll(q, kT0);
  ASSERT_EQ(again.size(), 1u) << "the room starts afresh when given events again";
  EXPECT_EQ(again[0].event.id, "edit:a:e:3");
}

TEST(WebhookQueue, AClockSteppingBackNeverDelaysARetryBeyondTheLongestWait) {
  Recorder rec;
  WebhookQueue q({}, &rec, [](int64_t bound) { return bound; });
  q.push(event("r", 1), kT0);
  auto sends = poll(q, kT0);
  q.on_result(sends[0].ticket, false, kT0);
  const int64_t back = kT0 - 3'600'000;  // an hour back
  EXPECT_EQ(q.next_wakeup_ms(back), back) << "a retry due further ahead than any wait is due now";
  EXPECT_EQ(poll(q, back).size(), 1u);
}

}  // namespace
}  // namespace roomcast
