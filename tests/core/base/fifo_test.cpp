#include "core/base/fifo.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace roomcast {
namespace {

TEST(FifoTest, KeepsOrderAcrossGrowthAndWrapAround) {
  Fifo<int> q;
  int next_in = 0, next_out = 0;
  // Interleave pushes and pops so the ring wraps before each doubling.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 3; ++i) q.push_back(next_in++);
    q.pop_front();
    ++next_out;
    ASSERT_EQ(q.front(), next_out);
    ASSERT_EQ(q.size(), size_t(next_in - next_out));
  }
  for (size_t i = 0; i < q.size(); ++i) ASSERT_EQ(q[i], next_out + int(i));
}

TEST(FifoTest, PopReleasesTheElementAtOnce) {
  Fifo<std::shared_ptr<int>> q;
  auto value = std::make_shared<int>(7);
  q.push_back(value);
  q.push_back(std::make_shared<int>(8));
  EXPECT_EQ(value.use_count(), 2);
  q.pop_front();
  EXPECT_EQ(value.use_count(), 1);
  EXPECT_EQ(*q.front(), 8);
}

TEST(FifoTest, ClearEmptiesAndTheQueueIsUsableAgain) {
  Fifo<std::string> q;
  for (int i = 0; i < 10; ++i) q.push_back(std::to_string(i));
  q.clear();
  EXPECT_TRUE(q.empty());
  q.push_back("again");
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.front(), "again");
}

TEST(FifoTest, AMovedQueueKeepsItsElementsAndTheSourceIsEmpty) {
  Fifo<int> a;
  for (int i = 0; i < 5; ++i) a.push_back(i);
  Fifo<int> b(std::move(a));
  EXPECT_TRUE(a.empty());
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b[4], 4);
  a.push_back(9);  // the source is usable again
  EXPECT_EQ(a.front(), 9);
}

}  // namespace
}  // namespace roomcast
