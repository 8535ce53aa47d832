// proto/json_reader.h: strict parsing of untrusted JSON text into a RapidJSON document.
//
// Owns nothing: it fills the caller's document (and uses the document's stack allocator
// for the reader's own parse stack).
// Called by: proto/message (every client message and publish body) and proto/jwt (token
// header and claims): every JSON text roomcast accepts from outside goes through here.
// Promises: a document is filled only if the text is one JSON value that every other
// JSON library would also read back the same way, and that the server can re-encode
// into text any client accepts:
//   - the bytes are valid UTF-8 and no string (key or value) decodes to a surrogate code
//     point: RapidJSON turns a lone `\udc00` escape into the bytes ED B0 80, which are
//     not UTF-8, so such a text is refused as BadEncoding;
//   - containers nest at most `max_depth` levels (the outermost value is level 1);
//   - every object key is at most `max_key_bytes` bytes and unique within its object
//     (RapidJSON keeps duplicates; other parsers keep the first or the last);
//   - nothing but whitespace follows the value, and there is no NUL byte anywhere.
// The parse is iterative (no stack frame per nesting level), never throws, and on
// refusal leaves the document null.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "proto/utf8.h"

namespace roomcast {

struct JsonLimits {
  size_t max_depth = 32;
  size_t max_key_bytes = 256;
};

enum class JsonReject : uint8_t {
  None,
  Syntax,        // not one JSON value (RapidJSON's parse error, or a NUL byte)
  BadEncoding,   // invalid UTF-8, or a string that decodes to a surrogate
  TooDeep,       // nesting deeper than max_depth
  LongKey,       // an object key longer than max_key_bytes
  DuplicateKey,  // the same key twice in one object
};

struct JsonReadResult {
  JsonReject reject = JsonReject::None;
  size_t offset = 0;  // where in the text the refusal was noticed (Syntax, BadEncoding, TooDeep, LongKey)
  rapidjson::ParseErrorCode syntax = rapidjson::kParseErrorNone;  // for Syntax / BadEncoding
  bool ok() const { return reject == JsonReject::None; }
};

// A document whose values and parse stack both live in memory pools (proto/message
// points them at fixed buffers, so an ordinary message never touches malloc).
using PooledJsonDocument = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                                      rapidjson::MemoryPoolAllocator<>>;

// `stack` holds the reader's parse stack (decoded strings on their way into `out`); the
// caller's pool, so that parsing allocates nothing either.
JsonReadResult read_json(std::string_view text, const JsonLimits& limits, PooledJsonDocument& out,
                         rapidjson::MemoryPoolAllocator<>* stack);
JsonReadResult read_json(std::string_view text, const JsonLimits& limits, rapidjson::Document& out);

// One line of English for a refusal, e.g. "nesting deeper than 32 levels at offset 40".
std::string describe(const JsonReadResult& result, const JsonLimits& limits);

// True if `s` is well-formed UTF-8 with no surrogate and no overlong form (RFC 3629).
// The check the fuzzers and tests apply to everything the server emits.


}  // namespace roomcast
