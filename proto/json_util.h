// proto/json_util.h: the few RapidJSON helpers every reader and encoder in proto needs,
// written once.
//
// Owns nothing: inline functions over RapidJSON values and writers. Used by the message
// codec (proto/message_decode.cpp, proto/message_encode.cpp), the token readers
// (proto/jwt.cpp, proto/jwk.cpp), the hook bodies (proto/hook_messages.cpp) and the core
// where it keeps a JSON value as text.
// Promises: member() compares names by length, so a key with an embedded NUL never
// aliases another; write_string() never hands the Writer a null pointer.
#pragma once

#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace roomcast::json {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// A string value's bytes (call only on a string).
inline std::string_view view(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

// The member `name` of `object`, or null. A linear scan: it needs no temporary Value for
// the name, and objects here are small.
inline const rapidjson::Value* member(const rapidjson::Value& object, std::string_view name) {
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it)
    if (view(it->name) == name) return &it->value;
  return nullptr;
}

inline void write_string(Writer& w, std::string_view s) {
  // Writer asserts on a null pointer even for length 0, and an empty string_view may
  // have one.
  w.String(s.empty() ? "" : s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

inline void write_key(Writer& w, std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }

// `v` as compact JSON text.
inline std::string text(const rapidjson::Value& v) {
  rapidjson::StringBuffer b;
  Writer w(b);
  v.Accept(w);
  return std::string(b.GetString(), b.GetSize());
}

}  // namespace roomcast::json
