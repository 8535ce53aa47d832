// Unit tests for core/room/presence_page.h: the presence API's pages.
#include "core/room/presence_page.h"

#include <gtest/gtest.h>

namespace roomcast {
namespace {

std::vector<PresenceEntry> entries(int n, size_t entry_bytes) {
  std::vector<PresenceEntry> out;
  for (int i = n - 1; i >= 0; --i) {
    std::string id = "s" + std::to_string(10 + i);
    std::string json = R"({"session":")" + id + R"(","pad":")";
    json += std::string(entry_bytes > json.size() + 2 ? entry_bytes - json.size() - 2 : 0, 'x') + "\"}";
    out.push_back({id, json});
  }
  return out;
}

TEST(PresencePage, ASmallRoomIsOnePageInSessionOrderWithNoNext) {
  auto e = entries(3, 40);
  PresencePage p = presence_page(e, "");
  EXPECT_TRUE(p.next.empty());
  EXPECT_EQ(p.json.find("s10"), 13u);
  EXPECT_LT(p.json.find("s11"), p.json.find("s12"));
  EXPECT_EQ(p.json.front(), '[');
  EXPECT_EQ(p.json.back(), ']');
}

TEST(PresencePage, PagesStayWithinTheLimitAndTogetherListEverySessionOnce) {
  auto all = entries(25, 100);
  std::string after;
  std::string listed;
  int pages = 0;
  for (; pages < 30; ++pages) {
    auto e = all;
    PresencePage p = presence_page(e, after, 1000);
    EXPECT_LE(p.json.size(), 1000u);
    listed += p.json;
    if (p.next.empty()) break;
    after = p.next;
  }
  EXPECT_EQ(pages, 2) << "9 entries of 100 bytes per 1000-byte page: 3 pages";
  for (int i = 0; i < 25; ++i) {
    const std::string id = "\"s" + std::to_string(10 + i) + "\"";
    const size_t at = listed.find(id);
    EXPECT_NE(at, std::string::npos) << id;
    EXPECT_EQ(listed.find(id, at + 1), std::string::npos) << id << " listed twice";
  }
}

TEST(PresencePage, AnEntryLargerThanAPageIsStillListedAloneSoPagingAdvances) {
  auto e = entries(2, 5000);
  PresencePage p = presence_page(e, "", 1000);
  EXPECT_EQ(p.next, "s10");
  EXPECT_GT(p.json.size(), 1000u);
  auto rest = entries(2, 5000);
  EXPECT_TRUE(presence_page(rest, p.next, 1000).next.empty());
}

}  // namespace
}  // namespace roomcast
