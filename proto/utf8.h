// proto/utf8.h: the one UTF-8 check of the protocol layer.
//
// Owns nothing: a pure function. Called by the WebSocket reader (close reasons; wslay
// checks text frames itself) and by the JSON reader and its tests (what the server sends
// must be valid UTF-8 for every client's decoder, README "Security").
// Promises: true exactly for RFC 3629 UTF-8: no overlong forms, no surrogates
// (U+D800-DFFF), nothing above U+10FFFF, no truncated sequence.
#pragma once

#include <string_view>

namespace roomcast {

bool is_valid_utf8(std::string_view s);

}  // namespace roomcast
