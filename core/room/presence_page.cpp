// core/room/presence_page.cpp: sort, skip, fill up to the byte limit.
#include "core/room/presence_page.h"

#include <algorithm>

namespace roomcast {

PresencePage presence_page(std::vector<PresenceEntry>& entries, std::string_view after, size_t max_bytes) {
  std::sort(entries.begin(), entries.end(),
            [](const PresenceEntry& a, const PresenceEntry& b) { return a.session < b.session; });
  PresencePage page;
  page.json.push_back('[');
  size_t taken = 0;
  auto it = entries.begin();
  if (!after.empty())
    it = std::upper_bound(entries.begin(), entries.end(), after,
                          [](std::string_view a, const PresenceEntry& e) { return a < e.session; });
  for (; it != entries.end(); ++it) {
    if (taken > 0 && page.json.size() + 1 + it->json.size() + 1 > max_bytes) {
      page.next = std::prev(it)->session;
      break;
    }
    if (taken++ > 0) page.json.push_back(',');
    page.json += it->json;
  }
  page.json.push_back(']');
  return page;
}

}  // namespace roomcast
