// Unit tests for proto/json_reader.h: the strict reader every outside JSON text goes through.
#include "proto/json_reader.h"

#include <gtest/gtest.h>

#include <string>

namespace roomcast {
namespace {

using namespace std::string_literals;

JsonReadResult read(const std::string& text, JsonLimits limits = {}) {
  rapidjson::Document d;
  JsonReadResult r = read_json(text, limits, d);
  if (!r.ok()) {
    EXPECT_TRUE(d.IsNull()) << "a refused text leaves the document null: " << text;
  }
  return r;
}

TEST(ReadJson, AcceptsOrdinaryDocumentsAndFillsTheTree) {
  rapidjson::Document d;
  ASSERT_TRUE(read_json(R"({"a":[1,2.5,"x",null,true],"b":{"c":"\u00e9\ud83d\ude80"}})", {}, d).ok());
  EXPECT_EQ(d["a"].Size(), 5u);
  EXPECT_EQ(std::string(d["b"]["c"].GetString()), "\xc3\xa9\xf0\x9f\x9a\x80");
}

TEST(ReadJson, LoneLowSurrogateEscapeIsBadEncodingNotBytesEDB080) {
  EXPECT_EQ(read(R"({"a":"\udc00"})").reject, JsonReject::BadEncoding);
  EXPECT_EQ(read(R"({"\udfff":1})").reject, JsonReject::BadEncoding);
  EXPECT_EQ(read(R"(["ok","x\udc00y"])").reject, JsonReject::BadEncoding);
}

TEST(ReadJson, LoneHighSurrogateEscapeIsBadEncoding) {
  EXPECT_EQ(read(R"({"a":"\ud800"})").reject, JsonReject::BadEncoding);
  EXPECT_EQ(read(R"({"a":"\ud800\u0041"})").reject, JsonReject::BadEncoding);
  EXPECT_EQ(read(R"({"a":"\udbff\udbff"})").reject, JsonReject::BadEncoding);
}

TEST(ReadJson, RawSurrogateOverlongAndStrayBytesAreBadEncoding) {
  EXPECT_EQ(read("{\"a\":\"\xed\xa0\x80\"}").reject, JsonReject::BadEncoding);
  EXPECT_EQ(read("{\"a\":\"\xc0\xaf\"}").reject, JsonReject::BadEncoding);
  EXPECT_EQ(read("{\"a\":\"\x80\"}").reject, JsonReject::BadEncoding);
  EXPECT_EQ(read("{\"a\":\"\xf4\x90\x80\x80\"}").reject, JsonReject::BadEncoding);
}

TEST(ReadJson, DepthIsCountedFromTheOutermostValue) {
  JsonLimits limits{.max_depth = 3, .max_key_bytes = 256};
  EXPECT_TRUE(read("[[[]]]", limits).ok());
  EXPECT_TRUE(read(R"({"a":{"b":[1]}})", limits).ok());
  EXPECT_EQ(read("[[[[]]]]", limits).reject, JsonReject::TooDeep);
  EXPECT_EQ(read(R"({"a":{"b":{"c":1}},"d":[[[[1]]]]})", limits).reject, JsonReject::TooDeep);
  // Siblings do not add up: depth returns as containers close.
  EXPECT_TRUE(read("[[[]],[[]],[[]]]", limits).ok());
}

TEST(ReadJson, AMillionLevelsAreRefusedWithoutRecursion) {
  JsonReadResult r = read(std::string(1000000, '[') + std::string(1000000, ']'));
  EXPECT_EQ(r.reject, JsonReject::TooDeep);
  EXPECT_EQ(r.offset, 32u) << "refused at the bracket opening level 33, not after building the tree";
}

TEST(ReadJson, KeysAreLimitedInLengthAndUniquePerObject) {
  JsonLimits limits{.max_depth = 32, .max_key_bytes = 4};
  EXPECT_TRUE(read(R"({"abcd":1})", limits).ok());
  EXPECT_EQ(read(R"({"abcde":1})", limits).reject, JsonReject::LongKey);
  EXPECT_EQ(read(R"({"a":1,"b":2,"a":3})").reject, JsonReject::DuplicateKey);
  EXPECT_EQ(read(R"({"a":{"x":1,"x":1}})").reject, JsonReject::DuplicateKey);
  EXPECT_EQ(read(R"([{"x":1},{"y":[{"q":1,"q":2}]}])").reject, JsonReject::DuplicateKey);
  // The same key in different objects is fine.
  EXPECT_TRUE(read(R"({"a":{"x":1},"b":{"x":1}})").ok());
}

TEST(ReadJson, DuplicatesInLargeObjectsAreFoundToo) {
  std::string big = "{";
  for (int i = 0; i < 500; ++i) big += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  EXPECT_TRUE(read(big.substr(0, big.size() - 1) + "}").ok());
  EXPECT_EQ(read(big + "\"k499\":0}").reject, JsonReject::DuplicateKey);
}

TEST(ReadJson, SyntaxErrorsTrailingBytesAndNulAreSyntax) {
  EXPECT_EQ(read("").reject, JsonReject::Syntax);
  EXPECT_EQ(read("{").reject, JsonReject::Syntax);
  EXPECT_EQ(read("{} {}").reject, JsonReject::Syntax);
  EXPECT_EQ(read("{}\0garbage"s).reject, JsonReject::Syntax);
  EXPECT_EQ(read("[NaN]").reject, JsonReject::Syntax);
  EXPECT_TRUE(read("  {}  \n").ok());
}

TEST(ReadJson, DescribeNamesTheLimitAndTheOffset) {
  JsonLimits limits{.max_depth = 2, .max_key_bytes = 256};
  rapidjson::Document d;
  JsonReadResult r = read_json("[[[1]]]", limits, d);
  EXPECT_EQ(describe(r, limits), "nesting deeper than 2 levels at offset 2");
}

TEST(ReadJson, ReusingOnePooledDocumentAfterARefusalStillWorks) {
  alignas(8) char values[4096];
  alignas(8) char stack[1024];
  rapidjson::MemoryPoolAllocator<> value_pool(values, sizeof values), stack_pool(stack, sizeof stack);
  PooledJsonDocument doc(&value_pool, 256, &stack_pool);
  for (int i = 0; i < 100; ++i) {
    doc.SetNull();
    value_pool.Clear();
    stack_pool.Clear();
    ASSERT_FALSE(read_json(R"({"a":"\udc00"})", {}, doc, &stack_pool).ok());
    doc.SetNull();
    value_pool.Clear();
    stack_pool.Clear();
    ASSERT_TRUE(read_json(R"({"a":[1,2,3],"i":)" + std::to_string(i) + "}", {}, doc, &stack_pool).ok());
    ASSERT_EQ(doc["i"].GetInt(), i);
  }
}

TEST(IsValidUtf8, AcceptsWellFormedAndRefusesEverythingRfc3629Forbids) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x9a\x80\xf4\x8f\xbf\xbf\xed\x9f\xbf"));
  EXPECT_FALSE(is_valid_utf8("\xed\xb0\x80"));      // U+DC00, the bytes of the bug
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // U+D800
  EXPECT_FALSE(is_valid_utf8("\xc0\x80"));          // overlong NUL
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xf0\x80\x80\xaf"));  // overlong
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));
  EXPECT_FALSE(is_valid_utf8("\xc3\x28"));          // bad continuation
}

}  // namespace
}  // namespace roomcast
