// proto/json_reader.cpp: RapidJSON's iterative reader, with a filtering handler between
// it and the document.
//
// The filter sees every SAX event before the document does, so depth, key length and
// surrogates are refused the moment they appear (a 32,000-deep array costs 33 levels of
// work, not a 32,000-level tree). Duplicate keys need a whole object's keys, so they are
// checked on the finished tree, which by then is at most max_depth deep: the walk may
// recurse.
#include "proto/json_reader.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace roomcast {
namespace {

using rapidjson::SizeType;

// kParseIterativeFlag: parser state lives on the (pooled) parse stack, not the C stack.
// kParseValidateEncodingFlag: raw bytes must be UTF-8 (this refuses raw surrogates and
// overlong forms); escapes are checked by the filter below. Default flags otherwise: one
// complete value, trailing whitespace only, no NaN/Infinity, no comments.
constexpr unsigned kParseFlags =
    rapidjson::kParseDefaultFlags | rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

// Input bytes are validated as UTF-8 by the reader, so the only way a decoded string can
// hold a surrogate is an escape, which RapidJSON encodes as ED A0..BF xx.
// Protocol strings are short: a plain loop beats a memchr call per string.
bool has_surrogate(const char* s, size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  for (size_t i = 0; i + 1 < n; ++i)
    if (p[i] == 0xED && p[i + 1] >= 0xA0) return true;
  return false;
}

template <typename Document>
class StrictHandler {
 public:
  using Ch = char;
  StrictHandler(Document& doc, const JsonLimits& limits) : doc_(doc), limits_(limits) {}

  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, SizeType n, bool copy) { return doc_.RawNumber(s, n, copy); }
  bool String(const char* s, SizeType n, bool copy) {
    if (has_surrogate(s, n)) return refuse(JsonReject::BadEncoding);
    return doc_.String(s, n, copy);
  }
  bool Key(const char* s, SizeType n, bool copy) {
    if (n > limits_.max_key_bytes) return refuse(JsonReject::LongKey);
    if (has_surrogate(s, n)) return refuse(JsonReject::BadEncoding);
    return doc_.Key(s, n, copy);
  }
  bool StartObject() { return enter() && doc_.StartObject(); }
  bool EndObject(SizeType members) {
    --depth_;
    return doc_.EndObject(members);
  }
  bool StartArray() { return enter() && doc_.StartArray(); }
  bool EndArray(SizeType elements) {
    --depth_;
    return doc_.EndArray(elements);
  }

  JsonReject reject() const { return reject_; }

 private:
  bool enter() {
    if (++depth_ > limits_.max_depth) return refuse(JsonReject::TooDeep);
    return true;
  }
  bool refuse(JsonReject why) {
    reject_ = why;
    return false;
  }

  Document& doc_;
  const JsonLimits& limits_;
  size_t depth_ = 0;
  JsonReject reject_ = JsonReject::None;
};

// Takes every event and keeps nothing: for the syntax-only second pass below.
struct NullSink {
  bool Null() { return true; }
  bool Bool(bool) { return true; }
  bool Int(int) { return true; }
  bool Uint(unsigned) { return true; }
  bool Int64(int64_t) { return true; }
  bool Uint64(uint64_t) { return true; }
  bool Double(double) { return true; }
  bool RawNumber(const char*, SizeType, bool) { return true; }
  bool String(const char*, SizeType, bool) { return true; }
  bool Key(const char*, SizeType, bool) { return true; }
  bool StartObject() { return true; }
  bool EndObject(SizeType) { return true; }
  bool StartArray() { return true; }
  bool EndArray(SizeType) { return true; }
};

std::string_view key_of(const rapidjson::Value::Member& m) { return {m.name.GetString(), m.name.GetStringLength()}; }

// Small objects (every protocol message) compare pairwise; large ones sort their keys.
bool has_duplicate_key(const rapidjson::Value& v, std::vector<std::string_view>& scratch) {
  if (v.IsObject()) {
    const SizeType n = v.MemberCount();
    auto first = v.MemberBegin();
    if (n <= 16) {
      for (SizeType i = 1; i < n; ++i) {
        const std::string_view ki = key_of(first[i]);
        for (SizeType j = 0; j < i; ++j) {
          const std::string_view kj = key_of(first[j]);
          // Lengths and first bytes settle almost every pair without a memcmp call.
          if (ki.size() == kj.size() && (ki.empty() || ki[0] == kj[0]) && ki == kj) return true;
        }
      }
    } else {
      scratch.clear();
      for (SizeType i = 0; i < n; ++i) scratch.push_back(key_of(first[i]));
      std::sort(scratch.begin(), scratch.end());
      if (std::adjacent_find(scratch.begin(), scratch.end()) != scratch.end()) return true;
    }
    for (SizeType i = 0; i < n; ++i) {
      const rapidjson::Value& child = first[i].value;
      if ((child.IsObject() || child.IsArray()) && has_duplicate_key(child, scratch)) return true;
    }
  } else if (v.IsArray()) {
    for (const rapidjson::Value& e : v.GetArray())
      if ((e.IsObject() || e.IsArray()) && has_duplicate_key(e, scratch)) return true;
  }
  return false;
}

// Why a reader stopped: what the filter refused, else RapidJSON's own error.
JsonReject reject_of(JsonReject filtered, rapidjson::ParseErrorCode code) {
  if (filtered != JsonReject::None) return filtered;
  const bool encoding = code == rapidjson::kParseErrorStringInvalidEncoding ||
                        code == rapidjson::kParseErrorStringUnicodeSurrogateInvalid;
  return encoding ? JsonReject::BadEncoding : JsonReject::Syntax;
}

template <typename Document, typename StackAllocator>
JsonReadResult read_into(std::string_view text, const JsonLimits& limits, Document& out, StackAllocator* stack) {
  JsonReadResult result;
  out.SetNull();
  // RapidJSON's stream signals its end as '\0', so an embedded NUL would end the parse
  // early and hide what follows. No JSON text contains a raw NUL.
  const void* nul = text.empty() ? nullptr : std::memchr(text.data(), '\0', text.size());
  if (text.empty() || nul != nullptr) {
    result.reject = JsonReject::Syntax;
    result.syntax = text.empty() ? rapidjson::kParseErrorDocumentEmpty : rapidjson::kParseErrorDocumentRootNotSingular;
    if (nul) result.offset = size_t(static_cast<const char*>(nul) - text.data());
    return result;
  }
  StrictHandler<Document> filter(out, limits);
  rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, StackAllocator> reader(stack);
  auto generate = [&](Document& doc) {
    (void)doc;  // events reach the document through the filter, which holds it
    rapidjson::MemoryStream ms(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
    return !reader.template Parse<kParseFlags>(is, filter).IsError();
  };
  out.Populate(generate);
  if (!reader.HasParseError()) {
    std::vector<std::string_view> scratch;
    if (has_duplicate_key(out, scratch)) {
      out.SetNull();
      result.reject = JsonReject::DuplicateKey;
    }
    return result;
  }
  out.SetNull();
  result.offset = reader.GetErrorOffset();
  result.syntax = reader.GetParseErrorCode();
  if (filter.reject() == JsonReject::TooDeep || filter.reject() == JsonReject::LongKey) {
    // A text that is also broken further on is bad JSON first (the order clients are
    // promised): read the rest for syntax and encoding only, keeping nothing.
    NullSink sink;
    const JsonLimits unlimited{.max_depth = SIZE_MAX, .max_key_bytes = SIZE_MAX};
    StrictHandler<NullSink> check(sink, unlimited);
    rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, StackAllocator> syntax_reader(stack);
    rapidjson::MemoryStream ms(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
    if (syntax_reader.template Parse<kParseFlags>(is, check).IsError()) {
      result.offset = syntax_reader.GetErrorOffset();
      result.syntax = syntax_reader.GetParseErrorCode();
      result.reject = reject_of(check.reject(), result.syntax);
      return result;
    }
  }
  result.reject = reject_of(filter.reject(), result.syntax);
  return result;
}

}  // namespace

JsonReadResult read_json(std::string_view text, const JsonLimits& limits, PooledJsonDocument& out,
                         rapidjson::MemoryPoolAllocator<>* stack) {
  return read_into(text, limits, out, stack);
}

JsonReadResult read_json(std::string_view text, const JsonLimits& limits, rapidjson::Document& out) {
  return read_into(text, limits, out, static_cast<rapidjson::CrtAllocator*>(nullptr));
}

std::string describe(const JsonReadResult& result, const JsonLimits& limits) {
  std::string out;
  switch (result.reject) {
    case JsonReject::None:
      return "valid JSON";
    case JsonReject::Syntax:
      out = "invalid JSON: ";
      out += rapidjson::GetParseError_En(result.syntax);
      break;
    case JsonReject::BadEncoding:
      out = "invalid JSON: a string is not valid UTF-8 (lone surrogate escape or bad bytes)";
      break;
    case JsonReject::TooDeep:
      out = "nesting deeper than " + std::to_string(limits.max_depth) + " levels";
      break;
    case JsonReject::LongKey:
      out = "an object key is longer than " + std::to_string(limits.max_key_bytes) + " bytes";
      break;
    case JsonReject::DuplicateKey:
      return "an object has the same key twice";
  }
  out += " at offset ";
  out += std::to_string(result.offset);
  return out;
}

}  // namespace roomcast
