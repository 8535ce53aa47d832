#include "core/auth/jwks_slot.h"

#include <gtest/gtest.h>

#include <thread>

namespace roomcast {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(JwksSlot, UnknownKidRequestsWakeTheFetcherAtMostOncePerTenSeconds) {
  JwksSlot slot;
  const steady_clock::time_point t0 = steady_clock::now();
  EXPECT_TRUE(slot.request_fetch(t0));
  EXPECT_FALSE(slot.request_fetch(t0));
  EXPECT_FALSE(slot.request_fetch(t0 + milliseconds(9'999)));
  EXPECT_TRUE(slot.request_fetch(t0 + milliseconds(10'000)));
  EXPECT_FALSE(slot.request_fetch(t0 + milliseconds(10'001)));
}

TEST(JwksSlot, OneWinnerPerIntervalAcrossThreads) {
  JwksSlot slot;
  const steady_clock::time_point t0 = steady_clock::now();
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) winners += slot.request_fetch(t0 + milliseconds(j % 5)) ? 1 : 0;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

TEST(JwksSlot, ARequestWakesTheWaitingFetcherAndStopEndsTheWait) {
  JwksSlot slot;
  EXPECT_FALSE(slot.wait_for_request(milliseconds(1)));  // timeout
  slot.request_fetch(steady_clock::now());
  EXPECT_TRUE(slot.wait_for_request(milliseconds(5'000)));  // already asked: no wait
  EXPECT_FALSE(slot.wait_for_request(milliseconds(1)));     // consumed
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(20));
    slot.stop();
  });
  const auto start = steady_clock::now();
  EXPECT_FALSE(slot.wait_for_request(milliseconds(10'000)));
  EXPECT_LT(steady_clock::now() - start, milliseconds(5'000));
  EXPECT_TRUE(slot.stopping());
  stopper.join();
}

TEST(JwksSlot, ASetHeldByAReaderOutlivesItsReplacement) {
  JwksSlot slot;
  EXPECT_EQ(slot.current(), nullptr);
  auto first = std::make_shared<JwkSet>();
  slot.publish(first);
  std::shared_ptr<const JwkSet> held = slot.current();
  slot.publish(std::make_shared<JwkSet>());
  first.reset();
  EXPECT_NE(held, nullptr);
  EXPECT_NE(slot.current(), held);
}

}  // namespace
}  // namespace roomcast
