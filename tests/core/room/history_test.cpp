#include "core/room/history.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace roomcast {
namespace {

std::vector<std::string> replay(const History& h, uint64_t since, uint64_t latest, bool* complete) {
  std::vector<std::string> out;
  *complete = h.replay_since(since, latest, [&](SharedFrame* f) {
    out.emplace_back(reinterpret_cast<const char*>(f->data()), f->size());
  });
  return out;
}

History with_edits(size_t limit, int n) {
  History h(limit);
  for (int i = 1; i <= n; ++i) h.push(uint64_t(i), FrameRef::adopt(SharedFrame::raw("e" + std::to_string(i))).get());
  return h;
}

TEST(History, ReplaysEditsAfterSinceInOrder) {
  History h = with_edits(10, 5);
  bool complete = false;
  EXPECT_EQ(replay(h, 2, 5, &complete), (std::vector<std::string>{"e3", "e4", "e5"}));
  EXPECT_TRUE(complete);
}

TEST(History, UpToDateClientGetsNothingAndNoResync) {
  History h = with_edits(10, 5);
  bool complete = false;
  EXPECT_TRUE(replay(h, 5, 5, &complete).empty());
  EXPECT_TRUE(complete);
}

TEST(History, KeepsOnlyTheLastLimitEdits) {
  History h = with_edits(3, 10);
  EXPECT_EQ(h.size(), 3u);
  bool complete = false;
  EXPECT_EQ(replay(h, 7, 10, &complete), (std::vector<std::string>{"e8", "e9", "e10"}));
  EXPECT_TRUE(complete);
}

TEST(History, AskingForEvictedEditsMeansResync) {
  History h = with_edits(3, 10);
  bool complete = true;
  replay(h, 6, 10, &complete);  // e7 is gone
  EXPECT_FALSE(complete);
}

TEST(History, SinceAheadOfTheRoomMeansResync) {
  History h = with_edits(10, 2);
  bool complete = true;
  replay(h, 9, 2, &complete);  // e.g. the server restarted and the room began again
  EXPECT_FALSE(complete);
}

TEST(History, ZeroLimitKeepsNothingSoAnyGapResyncs) {
  History h = with_edits(0, 3);
  bool complete = true;
  replay(h, 1, 3, &complete);
  EXPECT_FALSE(complete);
}

}  // namespace
}  // namespace roomcast
