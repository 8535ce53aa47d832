// core/room/presence_page.h: one page of the presence API's answer, bounded in bytes.
//
// Owns nothing: a pure function from a room's presence entries to the answer's body.
// Called by: RoomService, for the rooms it serves and for the rooms it only read from
// Redis (presence records already hold each entry's JSON).
// Why: a room of 5,000 sessions with large selections renders to hundreds of megabytes,
// and every request would hold its own copy until the client read it. A page holds at
// most kMaxBytes; the rest is one `after` away (docs/protocol.md "Presence API").
// Promises: entries come in session-id order (byte order), those with an id <= `after`
// skipped; a page holds at least one entry when any remains (so paging always advances),
// and otherwise never more than kMaxBytes; `next` is the last id on the page when more
// remain, else empty.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace roomcast {

struct PresencePage {
  std::string json;  // a JSON array
  std::string next;  // the `after` of the next page; empty: this was the last
};

struct PresenceEntry {
  std::string session;
  std::string json;  // one presence-API entry (an object)
};

inline constexpr size_t kPresencePageMaxBytes = 512 * 1024;

PresencePage presence_page(std::vector<PresenceEntry>& entries, std::string_view after,
                           size_t max_bytes = kPresencePageMaxBytes);

}  // namespace roomcast
