// bench/load/message_scan.h: a hand-written scanner for the few server messages the load
// tool reads, so receiving millions of cursors per second costs no JSON DOM.
//
// Owns nothing; pure functions over one text frame's payload. It relies only on what
// protocol v1 promises (one JSON object per frame, a string `type`, numbers that compare
// numerically: `7` may come back as `7.0`) and not on field order, except as a fast path:
// a payload starting with {"type":" (or {"type":"cursor","session":"..","position":[ for
// cursors, with `fov` last) is read without searching. Keys are matched as `"key":` with
// no space before the colon (neither RapidJSON nor JSON.stringify writes one).
#pragma once

#include <cstdint>
#include <string_view>

namespace load {

enum class MessageType { Cursor, Edit, Ack, Welcome, Presence, Error, Pong, Other, NotJson };

MessageType scan_type(std::string_view payload);

// What the load tool put into a cursor it sent: position[0] = send time (µs since tool
// start), position[1] = sender index, fov = per-sender sequence number.
struct CursorProbe {
  int64_t sent_us = 0;
  int64_t sender = 0;
  int64_t seq = 0;
};

// Reads the probe from a relayed cursor payload; false if a field is missing or not a
// number.
bool scan_cursor(std::string_view payload, CursorProbe& out);

// Parses the JSON number at the start of `s` (e.g. "12", "12.0", "-3", "1.5e6") into an
// integer (truncated toward zero); returns the number of characters used, 0 if none.
size_t scan_integer_number(std::string_view s, int64_t& out);

// The integer value after `quoted_key_colon` (e.g. "\"seq\":"); false if absent or not a
// number.
bool scan_integer_field(std::string_view payload, std::string_view quoted_key_colon, int64_t& out);

// The string value of `"key":"..."` (no unescaping; empty view if absent).
std::string_view scan_string_field(std::string_view payload, std::string_view key);

}  // namespace load
