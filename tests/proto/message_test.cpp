// Unit tests for proto/message.h: the protocol's decoder and encoders (docs/protocol.md 4).
#include "proto/json_reader.h"
#include "proto/message.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace roomcast {
namespace {

using namespace std::string_literals;

// One decoder for the fixture, reused across decodes like a loop thread would.
class Decode : public ::testing::Test {
 protected:
  bool ok(const std::string& text) {
    text_ = text;
    bool result = decoder_.decode(text_, msg_, err_);
    EXPECT_TRUE(result) << text << " -> " << to_string(err_.code) << ": " << err_.message;
    return result;
  }

  // Asserts the decode fails with `code` and returns the human message.
  std::string fails(const std::string& text, ErrorCode code) {
    text_ = text;
    bool result = decoder_.decode(text_, msg_, err_);
    EXPECT_FALSE(result) << text;
    EXPECT_EQ(to_string(err_.code), to_string(code)) << text << " -> " << err_.message;
    EXPECT_FALSE(err_.message.empty());
    return err_.message;
  }

  MessageDecoder decoder_;
  ClientMessage msg_;
  DecodeError err_{ErrorCode::BadJson, {}};
  std::string text_;
};

rapidjson::Document parse(const rapidjson::StringBuffer& buffer) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(buffer.GetString(), buffer.GetSize());
  EXPECT_FALSE(doc.HasParseError()) << buffer.GetString();
  EXPECT_TRUE(doc.IsObject()) << buffer.GetString();
  return doc;
}

std::vector<std::string> keys(const rapidjson::Value& object) {
  std::vector<std::string> out;
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    out.emplace_back(it->name.GetString(), it->name.GetStringLength());
  }
  return out;
}

std::string str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

std::string text(const rapidjson::StringBuffer& b) { return {b.GetString(), b.GetSize()}; }

std::string ids_json(size_t n) {
  std::string s = R"({"type":"select","ids":[)";
  for (size_t i = 0; i < n; ++i) {
    if (i) s += ',';
    s += "\"b" + std::to_string(i) + "\"";
  }
  return s + "]}";
}

// ---------------------------------------------------------------- error codes

TEST(ErrorCodeNames, AreTheStableProtocolStrings) {
  EXPECT_EQ(to_string(ErrorCode::BadJson), "bad_json");
  EXPECT_EQ(to_string(ErrorCode::BadMessage), "bad_message");
  EXPECT_EQ(to_string(ErrorCode::UnknownType), "unknown_type");
  EXPECT_EQ(to_string(ErrorCode::NotJoined), "not_joined");
  EXPECT_EQ(to_string(ErrorCode::AlreadyJoined), "already_joined");
  EXPECT_EQ(to_string(ErrorCode::RateLimited), "rate_limited");
}

// ---------------------------------------------------------------- bad_json

TEST_F(Decode, EmptyInputIsBadJson) { fails("", ErrorCode::BadJson); }

TEST_F(Decode, NonJsonTextIsBadJson) {
  fails("hello", ErrorCode::BadJson);
  fails("{", ErrorCode::BadJson);
  fails(R"({"type":"ping",})", ErrorCode::BadJson);
  fails(R"({'type':'ping'})", ErrorCode::BadJson);
  fails(R"({"type":"ping"} // comment)", ErrorCode::BadJson);
}

TEST_F(Decode, TrailingGarbageAfterTheObjectIsBadJson) {
  fails(R"({"type":"leave"}x)", ErrorCode::BadJson);
  fails(R"({"type":"leave"} {"type":"leave"})", ErrorCode::BadJson);
  fails(R"({"type":"leave"}])", ErrorCode::BadJson);
}

TEST_F(Decode, TrailingWhitespaceIsAllowed) {
  ok(" \t\r\n{\"type\":\"leave\"} \n");
  EXPECT_EQ(msg_.type, MessageType::Leave);
}

TEST_F(Decode, NulByteAnywhereIsBadJsonEvenWhenItHidesTrailingGarbage) {
  fails("{\"type\":\"leave\"}\0garbage"s, ErrorCode::BadJson);
  fails("{\"type\":\"leave\"}\0"s, ErrorCode::BadJson);
  fails("{\"type\":\"le\0ave\"}"s, ErrorCode::BadJson);
}

TEST_F(Decode, NanAndInfinityLiteralsAreBadJson) {
  fails(R"({"type":"ping","t":NaN})", ErrorCode::BadJson);
  fails(R"({"type":"cursor","position":[Infinity,0,0],"target":[0,0,0]})", ErrorCode::BadJson);
  fails(R"({"type":"cursor","position":[-Infinity,0,0],"target":[0,0,0]})", ErrorCode::BadJson);
}

TEST_F(Decode, NumberOverflowingDoubleIsBadJson) {
  fails(R"({"type":"cursor","position":[1e400,0,0],"target":[0,0,0]})", ErrorCode::BadJson);
}

TEST_F(Decode, InvalidUtf8InsideAStringIsBadJson) {
  fails("{\"type\":\"ping\",\"t\":\"\xff\xfe\"}", ErrorCode::BadJson);
  fails("{\"type\":\"ping\",\"t\":\"\xc3\"}", ErrorCode::BadJson);
}

TEST_F(Decode, LoneSurrogateEscapeIsBadJson) {
  fails(R"({"type":"ping","t":"\ud800"})", ErrorCode::BadJson);
}

TEST_F(Decode, BadJsonWinsOverEveryOtherProblem) {
  fails(R"({"type":"nope","user":5)", ErrorCode::BadJson);
  fails(R"([1,2)", ErrorCode::BadJson);
}

// ---------------------------------------------------------------- envelope

TEST_F(Decode, NonObjectJsonIsBadMessage) {
  for (std::string t : {"[]", "42", "\"join\"", "null", "true", R"([{"type":"leave"}])"}) {
    fails(t, ErrorCode::BadMessage);
  }
}

TEST_F(Decode, MissingTypeIsBadMessage) {
  EXPECT_NE(fails(R"({"user":{"id":"u"}})", ErrorCode::BadMessage).find("type"), std::string::npos);
}

TEST_F(Decode, NonStringTypeIsBadMessage) {
  fails(R"({"type":1})", ErrorCode::BadMessage);
  fails(R"({"type":null})", ErrorCode::BadMessage);
  fails(R"({"type":["join"]})", ErrorCode::BadMessage);
}

TEST_F(Decode, UnknownTypeIsUnknownType) {
  fails(R"({"type":"dance"})", ErrorCode::UnknownType);
  fails(R"({"type":"JOIN","user":{"id":"u"}})", ErrorCode::UnknownType);
  fails(R"({"type":""})", ErrorCode::UnknownType);
  fails(R"({"type":"join\u0000","user":{"id":"u"}})", ErrorCode::UnknownType);
}

TEST_F(Decode, UnknownTypeIsReportedBeforeFieldProblems) {
  fails(R"({"type":"welcome","session":5})", ErrorCode::UnknownType);
}

TEST_F(Decode, UnknownExtraFieldsAreIgnored) {
  ok(R"({"type":"leave","extra":{"deep":[1,2,3]},"more":null})");
  EXPECT_EQ(msg_.type, MessageType::Leave);
}

// ---------------------------------------------------------------- join

TEST_F(Decode, JoinWithEveryFieldFillsUserAndSince) {
  ok(R"({"type":"join","user":{"id":"u-1","name":"Ada","color":"#ff0000","avatar":"x"},"since":42})");
  EXPECT_EQ(msg_.type, MessageType::Join);
  EXPECT_EQ(msg_.user.id, "u-1");
  EXPECT_TRUE(msg_.user.has_name);
  EXPECT_EQ(msg_.user.name, "Ada");
  EXPECT_TRUE(msg_.user.has_color);
  EXPECT_EQ(msg_.user.color, "#ff0000");
  EXPECT_TRUE(msg_.has_since);
  EXPECT_EQ(msg_.since, 42u);
}

TEST_F(Decode, JoinWithOnlyUserIdLeavesOptionalFieldsAbsent) {
  ok(R"({"type":"join","user":{"id":"u"}})");
  EXPECT_EQ(msg_.user.id, "u");
  EXPECT_FALSE(msg_.user.has_name);
  EXPECT_FALSE(msg_.user.has_color);
  EXPECT_FALSE(msg_.has_since);
}

TEST_F(Decode, JoinAcceptsSinceZeroAndTheLargestUint64) {
  ok(R"({"type":"join","user":{"id":"u"},"since":0})");
  EXPECT_TRUE(msg_.has_since);
  EXPECT_EQ(msg_.since, 0u);
  ok(R"({"type":"join","user":{"id":"u"},"since":18446744073709551615})");
  EXPECT_EQ(msg_.since, std::numeric_limits<uint64_t>::max());
}

TEST_F(Decode, JoinWithoutUserObjectIsBadMessageNamingUser) {
  EXPECT_NE(fails(R"({"type":"join"})", ErrorCode::BadMessage).find("user"), std::string::npos);
  fails(R"({"type":"join","user":"u"})", ErrorCode::BadMessage);
  fails(R"({"type":"join","user":null})", ErrorCode::BadMessage);
}

TEST_F(Decode, JoinWithMissingEmptyOrNonStringUserIdIsBadMessageNamingUserId) {
  for (std::string t : {R"({"type":"join","user":{}})", R"({"type":"join","user":{"id":""}})",
                        R"({"type":"join","user":{"id":7}})", R"({"type":"join","user":{"id":null}})"}) {
    EXPECT_NE(fails(t, ErrorCode::BadMessage).find("user.id"), std::string::npos) << t;
  }
}

TEST_F(Decode, JoinUserIdOf256BytesIsOkAnd257IsBadMessage) {
  ok(R"({"type":"join","user":{"id":")" + std::string(256, 'i') + "\"}}");
  EXPECT_EQ(msg_.user.id.size(), 256u);
  fails(R"({"type":"join","user":{"id":")" + std::string(257, 'i') + "\"}}", ErrorCode::BadMessage);
}

TEST_F(Decode, JoinWithBadNameOrColorIsBadMessageNamingTheField) {
  EXPECT_NE(fails(R"({"type":"join","user":{"id":"u","name":5}})", ErrorCode::BadMessage)
                .find("user.name"),
            std::string::npos);
  EXPECT_NE(fails(R"({"type":"join","user":{"id":"u","name":")" + std::string(257, 'n') + "\"}}",
                  ErrorCode::BadMessage)
                .find("user.name"),
            std::string::npos);
  EXPECT_NE(fails(R"({"type":"join","user":{"id":"u","color":[1]}})", ErrorCode::BadMessage)
                .find("user.color"),
            std::string::npos);
  EXPECT_NE(fails(R"({"type":"join","user":{"id":"u","color":")" + std::string(257, 'c') + "\"}}",
                  ErrorCode::BadMessage)
                .find("user.color"),
            std::string::npos);
}

TEST_F(Decode, JoinWithNegativeFractionalOrStringSinceIsBadMessageNamingSince) {
  for (std::string since : {"-1", "1.5", "\"3\"", "1e2", "null", "18446744073709551616"}) {
    std::string t = R"({"type":"join","user":{"id":"u"},"since":)" + since + "}";
    EXPECT_NE(fails(t, ErrorCode::BadMessage).find("since"), std::string::npos) << since;
  }
}

TEST_F(Decode, JoinDecodesUnicodeAndEscapesInUserStrings) {
  ok(R"({"type":"join","user":{"id":"a\"b\\c\/d\n","name":"Zo\u00eb \ud83d\ude80","color":"Zoë 🚀"}})");
  EXPECT_EQ(msg_.user.id, "a\"b\\c/d\n");
  EXPECT_EQ(msg_.user.name, "Zo\xc3\xab \xf0\x9f\x9a\x80");
  EXPECT_EQ(msg_.user.color, "Zo\xc3\xab \xf0\x9f\x9a\x80");
}

TEST_F(Decode, EscapedNulInsideAStringKeepsItsFullLength) {
  ok(R"({"type":"join","user":{"id":"a\u0000b"}})");
  EXPECT_EQ(msg_.user.id, "a\0b"s);
}

// ---------------------------------------------------------------- cursor

TEST_F(Decode, CursorWithEveryFieldFillsTheCamera) {
  ok(R"({"type":"cursor","position":[1,2.5,-3],"target":[0.1,0,1e10],"up":[0,1,0],"fov":60.5})");
  EXPECT_EQ(msg_.type, MessageType::Cursor);
  EXPECT_EQ(msg_.camera.position[0], 1.0);
  EXPECT_EQ(msg_.camera.position[1], 2.5);
  EXPECT_EQ(msg_.camera.position[2], -3.0);
  EXPECT_EQ(msg_.camera.target[0], 0.1);
  EXPECT_EQ(msg_.camera.target[2], 1e10);
  EXPECT_TRUE(msg_.camera.has_up);
  EXPECT_EQ(msg_.camera.up[1], 1.0);
  EXPECT_TRUE(msg_.camera.has_fov);
  EXPECT_EQ(msg_.camera.fov, 60.5);
}

TEST_F(Decode, CursorWithoutUpAndFovLeavesThemAbsent) {
  ok(R"({"type":"cursor","position":[0,0,0],"target":[1,1,1]})");
  EXPECT_FALSE(msg_.camera.has_up);
  EXPECT_FALSE(msg_.camera.has_fov);
}

TEST_F(Decode, CursorWithBadPositionIsBadMessageNamingPosition) {
  for (std::string p : {"", R"(,"position":[1,2])", R"(,"position":[1,2,3,4])",
                        R"(,"position":[1,"2",3])", R"(,"position":[1,null,3])",
                        R"(,"position":{"x":1})", R"(,"position":7)"}) {
    std::string t = R"({"type":"cursor","target":[0,0,0])" + p + "}";
    EXPECT_NE(fails(t, ErrorCode::BadMessage).find("position"), std::string::npos) << t;
  }
}

TEST_F(Decode, CursorWithBadTargetIsBadMessageNamingTarget) {
  EXPECT_NE(fails(R"({"type":"cursor","position":[0,0,0]})", ErrorCode::BadMessage).find("target"),
            std::string::npos);
  EXPECT_NE(fails(R"({"type":"cursor","position":[0,0,0],"target":[0,0]})", ErrorCode::BadMessage)
                .find("target"),
            std::string::npos);
}

TEST_F(Decode, CursorWithBadUpOrFovIsBadMessageNamingTheField) {
  EXPECT_NE(fails(R"({"type":"cursor","position":[0,0,0],"target":[0,0,0],"up":[0,1]})",
                  ErrorCode::BadMessage)
                .find("up"),
            std::string::npos);
  EXPECT_NE(fails(R"({"type":"cursor","position":[0,0,0],"target":[0,0,0],"up":null})",
                  ErrorCode::BadMessage)
                .find("up"),
            std::string::npos);
  EXPECT_NE(fails(R"({"type":"cursor","position":[0,0,0],"target":[0,0,0],"fov":"60"})",
                  ErrorCode::BadMessage)
                .find("fov"),
            std::string::npos);
}

// ---------------------------------------------------------------- select

TEST_F(Decode, SelectCollectsIdsInOrder) {
  ok(R"({"type":"select","ids":["b1","b2","caf\u00e9"]})");
  EXPECT_EQ(msg_.type, MessageType::Select);
  ASSERT_EQ(msg_.ids.size(), 3u);
  EXPECT_EQ(msg_.ids[0], "b1");
  EXPECT_EQ(msg_.ids[2], "caf\xc3\xa9");
}

TEST_F(Decode, SelectWithEmptyIdsClearsTheSelection) {
  ok(R"({"type":"select","ids":[]})");
  EXPECT_TRUE(msg_.ids.empty());
}

TEST_F(Decode, SelectWith1000IdsIsOk) {
  ok(ids_json(1000));
  ASSERT_EQ(msg_.ids.size(), 1000u);
  EXPECT_EQ(msg_.ids[999], "b999");
}

TEST_F(Decode, SelectWith1001IdsIsBadMessage) {
  EXPECT_NE(fails(ids_json(1001), ErrorCode::BadMessage).find("ids"), std::string::npos);
}

TEST_F(Decode, SelectWithMissingOrNonStringIdsIsBadMessageNamingIds) {
  for (std::string t : {R"({"type":"select"})", R"({"type":"select","ids":"b1"})",
                        R"({"type":"select","ids":["b1",2]})", R"({"type":"select","ids":[null]})"}) {
    EXPECT_NE(fails(t, ErrorCode::BadMessage).find("ids"), std::string::npos) << t;
  }
}

// ---------------------------------------------------------------- edit

TEST_F(Decode, EditWithEveryFieldPointsIntoTheDocument) {
  ok(R"({"type":"edit","building":"b7","op":"set-height","data":{"h":12.5,"tags":["a"]},"id":"m1"})");
  EXPECT_EQ(msg_.type, MessageType::Edit);
  EXPECT_EQ(msg_.building, "b7");
  EXPECT_EQ(msg_.op, "set-height");
  ASSERT_NE(msg_.data, nullptr);
  ASSERT_TRUE(msg_.data->IsObject());
  EXPECT_EQ((*msg_.data)["h"].GetDouble(), 12.5);
  EXPECT_EQ(str((*msg_.data)["tags"][0]), "a");
  EXPECT_TRUE(msg_.has_id);
  EXPECT_EQ(msg_.id, "m1");
}

TEST_F(Decode, EditWithoutDataOrIdLeavesThemAbsent) {
  ok(R"({"type":"edit","building":"b","op":"delete"})");
  EXPECT_EQ(msg_.data, nullptr);
  EXPECT_FALSE(msg_.has_id);
}

TEST_F(Decode, EditAcceptsAnyJsonValueAsData) {
  for (std::string data : {"null", "0", "\"s\"", "[1,[2]]", "true"}) {
    ok(R"({"type":"edit","building":"b","op":"o","data":)" + data + "}");
    ASSERT_NE(msg_.data, nullptr) << data;
  }
  ok(R"({"type":"edit","building":"b","op":"o","data":null})");
  EXPECT_TRUE(msg_.data->IsNull());
}

TEST_F(Decode, EditWithMissingOrNonStringBuildingOrOpIsBadMessageNamingTheField) {
  EXPECT_NE(fails(R"({"type":"edit","op":"o"})", ErrorCode::BadMessage).find("building"),
            std::string::npos);
  EXPECT_NE(fails(R"({"type":"edit","building":3,"op":"o"})", ErrorCode::BadMessage).find("building"),
            std::string::npos);
  EXPECT_NE(fails(R"({"type":"edit","building":"b"})", ErrorCode::BadMessage).find("op"),
            std::string::npos);
  EXPECT_NE(fails(R"({"type":"edit","building":"b","op":{}})", ErrorCode::BadMessage).find("op"),
            std::string::npos);
}

TEST_F(Decode, EditWithNonStringIdIsBadMessageNamingId) {
  EXPECT_NE(fails(R"({"type":"edit","building":"b","op":"o","id":1})", ErrorCode::BadMessage)
                .find("id"),
            std::string::npos);
}

// The message object is level 1, so `data` may open 31 more levels and not 32.
TEST_F(Decode, DataNested32LevelsDeepDecodesAnd33IsBadMessage) {
  auto edit_with_depth = [](size_t levels) {
    return R"({"type":"edit","building":"b","op":"o","data":)" + std::string(levels - 1, '[') +
           std::string(levels - 1, ']') + "}";
  };
  ok(edit_with_depth(32));
  ASSERT_NE(msg_.data, nullptr);
  EXPECT_TRUE(msg_.data->IsArray());
  EXPECT_NE(fails(edit_with_depth(33), ErrorCode::BadMessage).find("nesting deeper than 32"), std::string::npos);
}

TEST_F(Decode, NestingBeyondTheLimitIsRefusedInEveryPositionAndAtAnyDepth) {
  std::string objects;
  for (int i = 0; i < 40; ++i) objects += R"({"k":)";
  objects += "1" + std::string(40, '}');
  fails(R"({"type":"ping","t":)" + objects + "}", ErrorCode::BadMessage);
  fails(R"({"type":"join","user":{"id":"u","x":)" + std::string(40, '[') + std::string(40, ']') + "}}",
        ErrorCode::BadMessage);
  // A million levels (a --max-message of a few MiB) is refused as fast as 33.
  fails(R"({"type":"edit","building":"b","op":"o","data":)" + std::string(1000000, '[') +
            std::string(1000000, ']') + "}",
        ErrorCode::BadMessage);
}

// A lone surrogate escape (either half) decodes to bytes that are not UTF-8; relayed,
// they make every other member's WebSocket library drop the connection.
TEST_F(Decode, LoneSurrogateEscapeInEveryStringPositionIsBadJson) {
  const std::vector<std::string> templates = {
      R"({"type":"join","user":{"id":"@"}})",
      R"({"type":"join","user":{"id":"u","name":"@"}})",
      R"({"type":"join","user":{"id":"u","color":"@"}})",
      R"({"type":"edit","building":"@","op":"o"})",
      R"({"type":"edit","building":"b","op":"@"})",
      R"({"type":"edit","building":"b","op":"o","id":"@"})",
      R"({"type":"edit","building":"b","op":"o","data":{"@":1}})",
      R"({"type":"edit","building":"b","op":"o","data":{"k":"@"}})",
      R"({"type":"edit","building":"b","op":"o","data":[["@"]]})",
      R"({"type":"ping","t":"@"})",
      R"({"type":"ping","t":{"@":true}})",
      R"({"type":"select","ids":["a","@"]})",
      R"({"type":"follow","session":"@"})",
      R"({"@":1,"type":"ping"})",
      R"({"type":"@"})",
  };
  const std::vector<std::string> lone = {R"(\udc00)", R"(x\udfff)", R"(\udc00\ud800)", R"(\ud800)",
                                         R"(\udbff x)", R"(\ud800\u0041)", R"(\ude00\ude00)"};
  for (const std::string& tpl : templates) {
    for (const std::string& bad : lone) {
      std::string t = tpl;
      t.replace(t.find('@'), 1, bad);
      fails(t, ErrorCode::BadJson);
    }
    std::string good = tpl;
    good.replace(good.find('@'), 1, R"(ok\ud83d\ude80)");  // a proper pair is fine
    if (tpl != R"({"type":"@"})") {
      text_ = good;
      // It may fail for other reasons (a type name that is not one), never as bad_json.
      if (!decoder_.decode(text_, msg_, err_)) {
        EXPECT_NE(to_string(err_.code), "bad_json") << good << " -> " << err_.message;
      }
    }
  }
}

TEST_F(Decode, DuplicateKeysAnywhereAreBadMessage) {
  fails(R"({"type":"ping","type":"leave"})", ErrorCode::BadMessage);
  fails(R"({"type":"join","user":{"id":"a","id":"b"}})", ErrorCode::BadMessage);
  fails(R"({"type":"edit","building":"b","op":"o","data":{"k":1,"k":2}})", ErrorCode::BadMessage);
  fails(R"({"type":"edit","building":"b","op":"o","data":[{"z":1},{"a":1,"a":1}]})", ErrorCode::BadMessage);
  // Large objects take the sorting path.
  std::string big = R"({"type":"ping","t":{)";
  for (int i = 0; i < 100; ++i) big += "\"k" + std::to_string(i) + "\":0,";
  ok(big.substr(0, big.size() - 1) + "}}");
  fails(big + R"("k57":1}})", ErrorCode::BadMessage);
  // Same text, different escapes: the decoded keys are what count.
  fails(R"({"type":"ping","t":{"a":1,"\u0061":2}})", ErrorCode::BadMessage);
}

TEST_F(Decode, KeysLongerThan256BytesAreBadMessage) {
  ok(R"({"type":"ping","t":{")" + std::string(256, 'k') + R"(":1}})");
  fails(R"({"type":"ping","t":{")" + std::string(257, 'k') + R"(":1}})", ErrorCode::BadMessage);
}

TEST_F(Decode, IdentifierStringsAreCappedAt256BytesLikeUserId) {
  const std::string max(256, 'x'), over(257, 'x');
  ok(R"({"type":"edit","building":")" + max + R"(","op":")" + max + R"(","id":")" + max + R"("})");
  EXPECT_NE(fails(R"({"type":"edit","building":")" + over + R"(","op":"o"})", ErrorCode::BadMessage).find("building"),
            std::string::npos);
  EXPECT_NE(fails(R"({"type":"edit","building":"b","op":")" + over + R"("})", ErrorCode::BadMessage).find("op"),
            std::string::npos);
  EXPECT_NE(fails(R"({"type":"edit","building":"b","op":"o","id":")" + over + R"("})", ErrorCode::BadMessage).find("id"),
            std::string::npos);
  ok(R"({"type":"select","ids":[")" + max + R"("]})");
  EXPECT_NE(fails(R"({"type":"select","ids":["a",")" + over + R"("]})", ErrorCode::BadMessage).find("ids"),
            std::string::npos);
  ok(R"({"type":"follow","session":")" + max + R"("})");
  fails(R"({"type":"follow","session":")" + over + R"("})", ErrorCode::BadMessage);
  // Free-form payloads are not identifiers: only --max-message bounds them.
  ok(R"({"type":"edit","building":"b","op":"o","data":")" + std::string(60000, 'd') + R"("})");
}

// ---------------------------------------------------------------- follow, ping, leave

TEST_F(Decode, FollowWithSessionStringSetsTheTarget) {
  ok(R"({"type":"follow","session":"s12"})");
  EXPECT_EQ(msg_.type, MessageType::Follow);
  EXPECT_TRUE(msg_.has_follow_target);
  EXPECT_EQ(msg_.follow_target, "s12");
}

TEST_F(Decode, FollowWithNullSessionStopsFollowing) {
  ok(R"({"type":"follow","session":null})");
  EXPECT_EQ(msg_.type, MessageType::Follow);
  EXPECT_FALSE(msg_.has_follow_target);
}

TEST_F(Decode, FollowWithMissingEmptyOrWrongTypedSessionIsBadMessageNamingSession) {
  for (std::string t : {R"({"type":"follow"})", R"({"type":"follow","session":""})",
                        R"({"type":"follow","session":5})", R"({"type":"follow","session":{}})"}) {
    EXPECT_NE(fails(t, ErrorCode::BadMessage).find("session"), std::string::npos) << t;
  }
}

TEST_F(Decode, PingKeepsAPointerToAnyT) {
  ok(R"({"type":"ping","t":{"sent":123,"k":[true]}})");
  EXPECT_EQ(msg_.type, MessageType::Ping);
  ASSERT_NE(msg_.t, nullptr);
  EXPECT_EQ((*msg_.t)["sent"].GetInt(), 123);
}

TEST_F(Decode, PingWithoutTHasNullPointerAndWithNullTHasNullValue) {
  ok(R"({"type":"ping"})");
  EXPECT_EQ(msg_.t, nullptr);
  ok(R"({"type":"ping","t":null})");
  ASSERT_NE(msg_.t, nullptr);
  EXPECT_TRUE(msg_.t->IsNull());
}

TEST_F(Decode, LeaveNeedsNoFields) {
  ok(R"({"type":"leave"})");
  EXPECT_EQ(msg_.type, MessageType::Leave);
}

// ---------------------------------------------------------------- reuse and arenas

TEST_F(Decode, FieldsOfThePreviousMessageDoNotLeakIntoTheNext) {
  ok(R"({"type":"join","user":{"id":"u","name":"n"},"since":3})");
  ok(R"({"type":"edit","building":"b","op":"o","id":"x","data":1})");
  ok(R"({"type":"join","user":{"id":"v"}})");
  EXPECT_FALSE(msg_.user.has_name);
  EXPECT_EQ(msg_.user.name, "");
  EXPECT_FALSE(msg_.has_since);
  EXPECT_EQ(msg_.data, nullptr);
  EXPECT_FALSE(msg_.has_id);
  ok(R"({"type":"select","ids":["a","b"]})");
  ok(R"({"type":"select","ids":[]})");
  EXPECT_TRUE(msg_.ids.empty());
}

TEST_F(Decode, NormalCursorDecodesCorrectlyAfterAHugeMessage) {
  std::string huge = R"({"type":"edit","building":"b","op":"o","data":{"blob":")" +
                     std::string(200000, 'x') + R"(","arr":[)";
  for (int i = 0; i < 20000; ++i) huge += (i ? ",1.5" : "1.5");
  huge += "]}}";
  ok(huge);
  ASSERT_NE(msg_.data, nullptr);
  EXPECT_EQ((*msg_.data)["blob"].GetStringLength(), 200000u);
  EXPECT_EQ((*msg_.data)["arr"].Size(), 20000u);

  ok(R"({"type":"cursor","position":[1,2,3],"target":[4,5,6],"fov":45})");
  EXPECT_EQ(msg_.type, MessageType::Cursor);
  EXPECT_EQ(msg_.camera.position[2], 3.0);
  EXPECT_EQ(msg_.camera.target[0], 4.0);
  EXPECT_EQ(msg_.camera.fov, 45.0);
}

TEST_F(Decode, DecodingAfterAParseErrorStillWorks) {
  fails(std::string(5000, '[') + "1", ErrorCode::BadJson);
  fails("{\"type\":\"join\",\"user\":{\"id\":\"" + std::string(100000, 'a'), ErrorCode::BadJson);
  ok(R"({"type":"follow","session":"s1"})");
  EXPECT_EQ(msg_.follow_target, "s1");
}

TEST_F(Decode, ManyDecodesOnOneDecoderStayCorrect) {
  for (int i = 0; i < 2000; ++i) {
    std::string id = "m" + std::to_string(i);
    ok(R"({"type":"edit","building":"b","op":"o","id":")" + id + R"(","data":[)" +
       std::to_string(i) + "]}");
    ASSERT_EQ(msg_.id, id);
    ASSERT_EQ((*msg_.data)[0].GetInt(), i);
  }
}

TEST_F(Decode, SurvivesRandomMutationsOfValidMessages) {
  const std::vector<std::string> seeds = {
      R"({"type":"join","user":{"id":"u","name":"n","color":"c"},"since":3})",
      R"({"type":"cursor","position":[1,2,3],"target":[4,5,6],"up":[0,1,0],"fov":45})",
      R"({"type":"select","ids":["a","b"]})",
      R"({"type":"edit","building":"b","op":"o","data":{"k":[1,{"z":null}]},"id":"m"})",
      R"({"type":"follow","session":null})",
      R"({"type":"ping","t":"\u00e9\ud83d\ude80"})",
  };
  const std::string alphabet = "{}[]\",:\\0123456789.eE+-tfnul \x80\xc3\xff"s;
  std::mt19937 rng(4242);
  rapidjson::StringBuffer out;
  for (int round = 0; round < 20000; ++round) {
    std::string t = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !t.empty(); ++e) {
      size_t at = rng() % t.size();
      switch (rng() % 3) {
        case 0: t[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: t.erase(at, 1); break;
        default: t.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    text_ = t;
    if (decoder_.decode(text_, msg_, err_)) {
      // Whatever decodes must re-encode to parseable JSON.
      switch (msg_.type) {
        case MessageType::Edit: encode_edit(out, "s", 1, msg_.building, msg_.op, msg_.data); break;
        case MessageType::Ping: encode_pong(out, msg_.t); break;
        case MessageType::Cursor: encode_cursor(out, "s", msg_.camera); break;
        case MessageType::Join: encode_presence_join(out, "s", msg_.user); break;
        case MessageType::Follow: encode_follow(out, "s", msg_.follow_target); break;
        case MessageType::Select: {
          std::vector<std::string> ids(msg_.ids.begin(), msg_.ids.end());
          encode_select(out, "s", ids);
          break;
        }
        case MessageType::Leave: encode_presence_leave(out, "s"); break;
        case MessageType::Refresh: encode_refreshed(out, 1); break;
        case MessageType::Present: encode_presenting(out, "s", &msg_.user); break;
      }
      ASSERT_TRUE(is_valid_utf8(text(out))) << t;
      rapidjson::Document d;
      d.Parse<rapidjson::kParseValidateEncodingFlag>(out.GetString(), out.GetSize());
      ASSERT_FALSE(d.HasParseError()) << t;
    } else {
      ASSERT_FALSE(err_.message.empty()) << t;
    }
  }
}

// Every frame built from whatever a client sent is valid UTF-8 JSON that a strict reader
// takes back. Strings are random mixes of ASCII, raw multi-byte UTF-8, invalid bytes and
// escapes (backslash-u) from every range, lone and paired surrogates included, in every string
// position a message has.
TEST_F(Decode, EveryFrameEncodedFromAnyDecodedMessageIsValidUtf8Json) {
  const std::vector<std::string> templates = {
      R"({"type":"join","user":{"id":"@","name":"@","color":"@"}})",
      R"({"type":"edit","building":"@","op":"@","id":"@","data":{"@":["@",{"@":"@"}]}})",
      R"({"type":"select","ids":["@","@","@"]})",
      R"({"type":"follow","session":"@"})",
      R"({"type":"ping","t":{"@":"@","x":["@"]}})",
  };
  std::mt19937 rng(9001);
  auto hex4 = [](unsigned v) {
    char b[8];
    std::snprintf(b, sizeof b, "\\u%04x", v & 0xFFFF);
    return std::string(b);
  };
  auto random_string = [&]() {
    std::string s;
    const int pieces = int(rng() % 4);
    for (int i = 0; i < pieces; ++i) {
      switch (rng() % 8) {
        case 0: s += char('a' + rng() % 26); break;
        case 1: s += "\xc3\xa9"; break;                              // é
        case 2: s += "\xf0\x9f\x9a\x80"; break;                      // 🚀
        case 3: s += hex4(0xD800 + rng() % 0x400); break;             // high surrogate escape
        case 4: s += hex4(0xDC00 + rng() % 0x400); break;             // low surrogate escape
        case 5: s += hex4(0xD800 + rng() % 0x400) + hex4(0xDC00 + rng() % 0x400); break;  // a pair
        case 6: s += hex4(rng() % 0x10000); break;                    // anything
        default: s += char(0x80 + rng() % 0x80); break;               // a stray byte
      }
    }
    return s;
  };
  rapidjson::StringBuffer out;
  int decoded = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string t = templates[rng() % templates.size()];
    for (size_t at; (at = t.find('@')) != std::string::npos;) t.replace(at, 1, random_string());
    text_ = t;
    if (!decoder_.decode(text_, msg_, err_)) continue;
    ++decoded;
    std::vector<std::string> frames;
    switch (msg_.type) {
      case MessageType::Join: {
        encode_presence_join(out, "s", msg_.user);
        frames.push_back(text(out));
        PeerView peer{"s", &msg_.user, nullptr, nullptr, {}};
        std::vector<std::string> none;
        peer.selection = &none;
        encode_welcome(out, "s", "r", msg_.user, 0, std::span<const PeerView>(&peer, 1));
        frames.push_back(text(out));
        encode_presence_list(out, std::span<const PeerView>(&peer, 1));
        frames.push_back(text(out));
        break;
      }
      case MessageType::Edit:
        encode_edit(out, "s", 1, msg_.building, msg_.op, msg_.data);
        frames.push_back(text(out));
        encode_ack(out, msg_.has_id, msg_.id, 1);
        frames.push_back(text(out));
        break;
      case MessageType::Select: {
        std::vector<std::string> ids(msg_.ids.begin(), msg_.ids.end());
        encode_select(out, "s", ids);
        frames.push_back(text(out));
        break;
      }
      case MessageType::Follow:
        encode_follow(out, "s", msg_.follow_target);
        frames.push_back(text(out));
        break;
      case MessageType::Ping:
        encode_pong(out, msg_.t);
        frames.push_back(text(out));
        break;
      default:
        break;
    }
    for (const std::string& f : frames) {
      ASSERT_TRUE(is_valid_utf8(f)) << "input " << t;
      rapidjson::Document d;
      ASSERT_TRUE(read_json(f, JsonLimits{.max_depth = 64, .max_key_bytes = 1024}, d).ok()) << f;
    }
  }
  EXPECT_GT(decoded, 1000);  // the property was exercised, not vacuously true
}

// ---------------------------------------------------------------- encoders

TEST(EncodeAck, WritesCompactJsonWithIdThenSeq) {
  rapidjson::StringBuffer out;
  encode_ack(out, true, "m1", 7);
  EXPECT_EQ(text(out), R"({"type":"ack","id":"m1","seq":7})");
}

TEST(EncodeAck, OmitsIdWhenTheClientSentNone) {
  rapidjson::StringBuffer out;
  encode_ack(out, false, "ignored", 18446744073709551615ull);
  EXPECT_EQ(text(out), R"({"type":"ack","seq":18446744073709551615})");
}

TEST(Encoders, ClearTheBufferBeforeWriting) {
  rapidjson::StringBuffer out;
  encode_resync(out, 1);
  encode_resync(out, 2);
  EXPECT_EQ(text(out), R"({"type":"resync","seq":2})");
}

TEST(EncodeResync, RoundTripsTheSeq) {
  rapidjson::StringBuffer out;
  encode_resync(out, 99);
  rapidjson::Document d = parse(out);
  EXPECT_EQ(keys(d), (std::vector<std::string>{"type", "seq"}));
  EXPECT_EQ(str(d["type"]), "resync");
  EXPECT_EQ(d["seq"].GetUint64(), 99u);
}

TEST(EncodeError, RoundTripsCodeAndMessage) {
  rapidjson::StringBuffer out;
  encode_error(out, ErrorCode::RateLimited, "slow down");
  EXPECT_EQ(text(out), R"({"type":"error","code":"rate_limited","message":"slow down"})");
  encode_error(out, ErrorCode::NotJoined, "join first");
  rapidjson::Document d = parse(out);
  EXPECT_EQ(keys(d), (std::vector<std::string>{"type", "code", "message"}));
  EXPECT_EQ(str(d["code"]), "not_joined");
  EXPECT_EQ(str(d["message"]), "join first");
}

TEST(EncodeError, EscapesQuotesBackslashesControlsAndNulAndKeepsUnicode) {
  const std::string nasty = "q\"b\\s/n\nt\tc\x01z\0e\xc3\xa9\xf0\x9f\x9a\x80"s;
  rapidjson::StringBuffer out;
  encode_error(out, ErrorCode::BadMessage, nasty);
  std::string json = text(out);
  for (char c : json) EXPECT_GE(static_cast<unsigned char>(c), 0x20u) << "raw control in " << json;
  EXPECT_NE(json.find(R"(\u0000)"), std::string::npos);
  rapidjson::Document d = parse(out);
  EXPECT_EQ(str(d["message"]), nasty);
}

TEST(EncodePresence, JoinCarriesSessionAndUser) {
  User user{"u1", "Ada \"the\" first", "", true, false};
  rapidjson::StringBuffer out;
  encode_presence_join(out, "s3", user);
  rapidjson::Document d = parse(out);
  EXPECT_EQ(keys(d), (std::vector<std::string>{"type", "event", "session", "user", "role"}));
  EXPECT_EQ(str(d["type"]), "presence");
  EXPECT_EQ(str(d["event"]), "join");
  EXPECT_EQ(str(d["role"]), "editor");
  EXPECT_EQ(str(d["session"]), "s3");
  EXPECT_EQ(keys(d["user"]), (std::vector<std::string>{"id", "name"}));
  EXPECT_EQ(str(d["user"]["id"]), "u1");
  EXPECT_EQ(str(d["user"]["name"]), "Ada \"the\" first");
}

TEST(EncodePresence, UserWithColorListsIdNameColor) {
  User user{"u1", "", "#00ff00", true, true};
  rapidjson::StringBuffer out;
  encode_presence_join(out, "s3", user);
  rapidjson::Document d = parse(out);
  EXPECT_EQ(keys(d["user"]), (std::vector<std::string>{"id", "name", "color"}));
  EXPECT_EQ(str(d["user"]["name"]), "");
  EXPECT_EQ(str(d["user"]["color"]), "#00ff00");
}

TEST(EncodePresence, LeaveCarriesOnlyTheSession) {
  rapidjson::StringBuffer out;
  encode_presence_leave(out, "s3");
  EXPECT_EQ(text(out), R"({"type":"presence","event":"leave","session":"s3"})");
}

TEST(EncodeCursor, RoundTripsEveryCameraFieldExactly) {
  Camera cam;
  cam.position[0] = 0.1;
  cam.position[1] = -1e-300;
  cam.position[2] = 123456.789;
  cam.target[0] = 1e300;
  cam.target[1] = 0;
  cam.target[2] = -7;
  cam.up[1] = 1;
  cam.has_up = true;
  cam.fov = 1.0 / 3.0;
  cam.has_fov = true;
  rapidjson::StringBuffer out;
  encode_cursor(out, "s1", cam);
  rapidjson::Document d = parse(out);
  EXPECT_EQ(keys(d), (std::vector<std::string>{"type", "session", "position", "target", "up", "fov"}));
  EXPECT_EQ(str(d["type"]), "cursor");
  EXPECT_EQ(str(d["session"]), "s1");
  for (rapidjson::SizeType i = 0; i < 3; ++i) {
    EXPECT_EQ(d["position"][i].GetDouble(), cam.position[i]);
    EXPECT_EQ(d["target"][i].GetDouble(), cam.target[i]);
    EXPECT_EQ(d["up"][i].GetDouble(), cam.up[i]);
  }
  EXPECT_EQ(d["fov"].GetDouble(), cam.fov);
}

TEST(EncodeCursor, OmitsUpAndFovWhenAbsent) {
  Camera cam;
  rapidjson::StringBuffer out;
  encode_cursor(out, "s1", cam);
  rapidjson::Document d = parse(out);
  EXPECT_EQ(keys(d), (std::vector<std::string>{"type", "session", "position", "target"}));
}

TEST(EncodeCursor, DecodedCursorReEncodesToTheSameCamera) {
  MessageDecoder decoder;
  ClientMessage msg;
  DecodeError err;
  ASSERT_TRUE(decoder.decode(R"({"type":"cursor","position":[1,2,3],"target":[0.5,0.25,0.125],"fov":50})",
                             msg, err));
  rapidjson::StringBuffer out;
  encode_cursor(out, "s9", msg.camera);
  EXPECT_EQ(text(out),
            R"({"type":"cursor","session":"s9","position":[1.0,2.0,3.0],"target":[0.5,0.25,0.125],"fov":50.0})");
}

TEST(EncodeCursor, NonFiniteNumbersBecomeNullSoTheOutputStaysJson) {
  Camera cam;
  cam.position[0] = std::numeric_limits<double>::quiet_NaN();
  cam.fov = std::numeric_limits<double>::infinity();
  cam.has_fov = true;
  rapidjson::StringBuffer out;
  encode_cursor(out, "s1", cam);
  rapidjson::Document d = parse(out);
  EXPECT_TRUE(d["position"][0].IsNull());
  EXPECT_TRUE(d["fov"].IsNull());
}

TEST(EncodeSelect, RoundTripsIdsInOrder) {
  std::vector<std::string> ids = {"b1", "caf\xc3\xa9", "q\"uote"};
  rapidjson::StringBuffer out;
  encode_select(out, "s2", ids);
  rapidjson::Document d = parse(out);
  EXPECT_EQ(keys(d), (std::vector<std::string>{"type", "session", "ids"}));
  EXPECT_EQ(str(d["type"]), "select");
  EXPECT_EQ(str(d["session"]), "s2");
  ASSERT_EQ(d["ids"].Size(), 3u);
  for (rapidjson::SizeType i = 0; i < 3; ++i) EXPECT_EQ(str(d["ids"][i]), ids[i]);
}

TEST(EncodeSelect, EmptySelectionIsAnEmptyArray) {
  rapidjson::StringBuffer out;
  encode_select(out, "s2", {});
  EXPECT_EQ(text(out), R"({"type":"select","session":"s2","ids":[]})");
}

TEST(EncodeEdit, RoundTripsFieldsAndCopiesDataVerbatim) {
  MessageDecoder decoder;
  ClientMessage msg;
  DecodeError err;
  const std::string data =
      R"({"h":12.5,"n":-3,"big":18446744073709551615,"small":-9223372036854775808,"s":"\u00e9\"","a":[true,false,null,[],{}]})";
  ASSERT_TRUE(decoder.decode(R"({"type":"edit","building":"b7","op":"set","data":)" + data + "}",
                             msg, err));
  rapidjson::StringBuffer out;
  encode_edit(out, "s1", 12, msg.building, msg.op, msg.data);
  EXPECT_EQ(text(out), R"({"type":"edit","session":"s1","seq":12,"building":"b7","op":"set","data":)" +
                           std::string(R"({"h":12.5,"n":-3,"big":18446744073709551615,"small":-9223372036854775808,"s":"é\"","a":[true,false,null,[],{}]})") +
                           "}");
  rapidjson::Document d = parse(out);
  EXPECT_EQ(keys(d), (std::vector<std::string>{"type", "session", "seq", "building", "op", "data"}));
  EXPECT_TRUE(d["data"] == *msg.data);
  EXPECT_EQ(d["data"]["big"].GetUint64(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(d["data"]["small"].GetInt64(), std::numeric_limits<int64_t>::min());
}

TEST(EncodeEdit, OmitsDataWhenNull) {
  rapidjson::StringBuffer out;
  encode_edit(out, "server", 1, "b", "delete", nullptr);
  EXPECT_EQ(text(out), R"({"type":"edit","session":"server","seq":1,"building":"b","op":"delete"})");
}

TEST(EncodeEdit, JsonNullDataIsWrittenAsNull) {
  rapidjson::Value null_value;
  rapidjson::StringBuffer out;
  encode_edit(out, "s", 1, "b", "o", &null_value);
  EXPECT_EQ(text(out), R"({"type":"edit","session":"s","seq":1,"building":"b","op":"o","data":null})");
}

TEST(EncodeEdit, DataAtTheDepthLimitReEncodesVerbatim) {
  const size_t depth = 31;  // below the message object
  MessageDecoder decoder;
  ClientMessage msg;
  DecodeError err;
  std::string nested = std::string(depth, '[') + "7" + std::string(depth, ']');
  ASSERT_TRUE(decoder.decode(R"({"type":"edit","building":"b","op":"o","data":)" + nested + "}", msg, err))
      << err.message;
  rapidjson::StringBuffer out;
  encode_edit(out, "s", 1, msg.building, msg.op, msg.data);
  std::string json = text(out);
  EXPECT_NE(json.find(nested), std::string::npos);
  parse(out);
}

TEST(EncodeFollow, WritesTargetSessionOrNull) {
  rapidjson::StringBuffer out;
  encode_follow(out, "s1", "s2");
  EXPECT_EQ(text(out), R"({"type":"follow","session":"s1","target":"s2"})");
  encode_follow(out, "s1", "");
  EXPECT_EQ(text(out), R"({"type":"follow","session":"s1","target":null})");
  rapidjson::Document d = parse(out);
  EXPECT_EQ(keys(d), (std::vector<std::string>{"type", "session", "target"}));
}

TEST(EncodePong, EchoesTVerbatimOrOmitsIt) {
  MessageDecoder decoder;
  ClientMessage msg;
  DecodeError err;
  rapidjson::StringBuffer out;

  ASSERT_TRUE(decoder.decode(R"({"type":"ping","t":{"x":[1,"two",3.5]}})", msg, err));
  encode_pong(out, msg.t);
  EXPECT_EQ(text(out), R"({"type":"pong","t":{"x":[1,"two",3.5]}})");

  ASSERT_TRUE(decoder.decode(R"({"type":"ping","t":null})", msg, err));
  encode_pong(out, msg.t);
  EXPECT_EQ(text(out), R"({"type":"pong","t":null})");

  ASSERT_TRUE(decoder.decode(R"({"type":"ping"})", msg, err));
  encode_pong(out, msg.t);
  EXPECT_EQ(text(out), R"({"type":"pong"})");
}

TEST(EncodeWelcome, ListsOwnIdentityAndEveryPeerWithTheDocumentedShape) {
  User me{"me", "Me", "#111", true, true};
  User ada{"ada", "Ada", "", true, false};
  User bob{"bob", "", "", false, false};
  Camera cam;
  cam.position[0] = 1;
  cam.target[2] = 2;
  cam.up[1] = 1;
  cam.has_up = true;
  cam.fov = 60;
  cam.has_fov = true;
  std::vector<std::string> ada_sel = {"b1", "b2"};
  std::vector<std::string> bob_sel;
  PeerView peers[] = {
      {"s1", &ada, &cam, &ada_sel, "s2"},
      {"s2", &bob, nullptr, &bob_sel, {}},
  };
  rapidjson::StringBuffer out;
  encode_welcome(out, "s3", "room-1", me, 41, peers);
  rapidjson::Document d = parse(out);

  EXPECT_EQ(keys(d), (std::vector<std::string>{"type", "protocol", "session", "room", "user", "seq", "peers", "role", "presenter"}));
  EXPECT_EQ(str(d["type"]), "welcome");
  EXPECT_EQ(str(d["session"]), "s3");
  EXPECT_EQ(str(d["room"]), "room-1");
  EXPECT_EQ(keys(d["user"]), (std::vector<std::string>{"id", "name", "color"}));
  EXPECT_EQ(str(d["user"]["color"]), "#111");
  EXPECT_EQ(d["seq"].GetUint64(), 41u);
  ASSERT_EQ(d["peers"].Size(), 2u);

  const rapidjson::Value& p0 = d["peers"][0];
  EXPECT_EQ(keys(p0), (std::vector<std::string>{"session", "user", "camera", "selection", "following", "connected", "role"}));
  EXPECT_EQ(str(p0["session"]), "s1");
  EXPECT_EQ(keys(p0["user"]), (std::vector<std::string>{"id", "name"}));
  EXPECT_EQ(keys(p0["camera"]), (std::vector<std::string>{"position", "target", "up", "fov"}));
  EXPECT_EQ(p0["camera"]["position"][0].GetDouble(), 1.0);
  EXPECT_EQ(p0["camera"]["target"][2].GetDouble(), 2.0);
  EXPECT_EQ(p0["camera"]["fov"].GetDouble(), 60.0);
  ASSERT_EQ(p0["selection"].Size(), 2u);
  EXPECT_EQ(str(p0["selection"][1]), "b2");
  EXPECT_EQ(str(p0["following"]), "s2");

  const rapidjson::Value& p1 = d["peers"][1];
  EXPECT_EQ(keys(p1["user"]), (std::vector<std::string>{"id"}));
  EXPECT_TRUE(p1["camera"].IsNull());
  EXPECT_TRUE(p1["selection"].IsArray());
  EXPECT_EQ(p1["selection"].Size(), 0u);
  EXPECT_TRUE(p1["following"].IsNull());
}

TEST(EncodeWelcome, CarriesTheProtocol11FieldsOnlyWhenGiven) {
  rapidjson::StringBuffer out;
  User me;
  me.id = "me";
  WelcomeExtras extras;
  extras.resume = "tok";
  extras.epoch = "ep";
  extras.has_exp = true;
  extras.exp = 1800000000;
  extras.has_resumed = true;
  extras.resumed = false;
  encode_welcome(out, "s1", "r", me, 3, {}, extras);
  EXPECT_EQ(text(out),
            R"({"type":"welcome","protocol":"1.2","session":"s1","room":"r","user":{"id":"me"},"seq":3,"peers":[],)"
            R"("resume":"tok","epoch":"ep","exp":1800000000,"resumed":false,"role":"editor","presenter":null})");
}

TEST(EncodeAck, MarksADuplicateAndRefreshedCarriesExp) {
  rapidjson::StringBuffer out;
  encode_ack(out, true, "e1", 4, true);
  EXPECT_EQ(text(out), R"({"type":"ack","id":"e1","seq":4,"duplicate":true})");
  encode_refreshed(out, 1800000600, Role::Viewer);
  EXPECT_EQ(text(out), R"({"type":"refreshed","exp":1800000600,"role":"viewer"})");
}

TEST_F(Decode, JoinCarriesResumeEpochAndTokenAndRefreshNeedsAToken) {
  ok(R"({"type":"join","user":{"id":"u"},"resume":"r1","since":4,"epoch":"e1","token":"a.b.c"})");
  EXPECT_EQ(msg_.resume, "r1");
  EXPECT_TRUE(msg_.has_epoch);
  EXPECT_EQ(msg_.epoch, "e1");
  EXPECT_EQ(msg_.token, "a.b.c");
  ok(R"({"type":"refresh","token":"a.b.c"})");
  EXPECT_EQ(msg_.type, MessageType::Refresh);
  fails(R"({"type":"refresh"})", ErrorCode::BadMessage);
  fails(R"({"type":"refresh","token":7})", ErrorCode::BadMessage);
  fails(R"({"type":"join","user":{"id":"u"},"resume":7})", ErrorCode::BadMessage);
  fails(R"({"type":"join","user":{"id":"u"},"epoch":null})", ErrorCode::BadMessage);
  fails(R"({"type":"join","user":{"id":"u"},"token":")" + std::string(8193, 't') + R"("})", ErrorCode::BadMessage);
}

TEST(EncodeWelcome, EmptyRoomHasEmptyPeers) {
  User me{"me", "", "", false, false};
  rapidjson::StringBuffer out;
  encode_welcome(out, "s1", "r", me, 0, {});
  EXPECT_EQ(text(out),
            R"({"type":"welcome","protocol":"1.2","session":"s1","room":"r","user":{"id":"me"},"seq":0,"peers":[],)"
            R"("role":"editor","presenter":null})");
}

TEST(Encoders, StartEveryMessageWithTheTypeField) {
  rapidjson::StringBuffer out;
  User u{"u", "", "", false, false};
  Camera cam;
  encode_welcome(out, "s", "r", u, 0, {});
  EXPECT_TRUE(text(out).starts_with(R"({"type":"welcome",)"));
  encode_presence_join(out, "s", u);
  EXPECT_TRUE(text(out).starts_with(R"({"type":"presence",)"));
  encode_cursor(out, "s", cam);
  EXPECT_TRUE(text(out).starts_with(R"({"type":"cursor",)"));
  encode_select(out, "s", {});
  EXPECT_TRUE(text(out).starts_with(R"({"type":"select",)"));
  encode_edit(out, "s", 1, "b", "o", nullptr);
  EXPECT_TRUE(text(out).starts_with(R"({"type":"edit",)"));
  encode_ack(out, false, {}, 1);
  EXPECT_TRUE(text(out).starts_with(R"({"type":"ack",)"));
  encode_follow(out, "s", {});
  EXPECT_TRUE(text(out).starts_with(R"({"type":"follow",)"));
  encode_pong(out, nullptr);
  EXPECT_TRUE(text(out).starts_with(R"({"type":"pong")"));
  encode_resync(out, 1);
  EXPECT_TRUE(text(out).starts_with(R"({"type":"resync",)"));
  encode_error(out, ErrorCode::BadJson, "x");
  EXPECT_TRUE(text(out).starts_with(R"({"type":"error",)"));
}

}  // namespace
// ---- protocol 1.2 (docs/protocol.md 7) ---------------------------------------------

TEST_F(Decode, PresentMayCarryABooleanStop) {
  ok(R"({"type":"present"})");
  EXPECT_EQ(msg_.type, MessageType::Present);
  EXPECT_FALSE(msg_.stop);
  ok(R"({"type":"present","stop":true})");
  EXPECT_TRUE(msg_.stop);
  ok(R"({"type":"present","stop":false})");
  EXPECT_FALSE(msg_.stop);
  fails(R"({"type":"present","stop":"yes"})", ErrorCode::BadMessage);
}

TEST_F(Decode, JoinCameraRateIsANumberFromHalfToTen) {
  ok(R"({"type":"join","user":{"id":"u"},"camera_rate":0.5})");
  EXPECT_TRUE(msg_.has_camera_rate);
  EXPECT_DOUBLE_EQ(msg_.camera_rate, 0.5);
  ok(R"({"type":"join","user":{"id":"u"},"camera_rate":10})");
  ok(R"({"type":"join","user":{"id":"u"}})");
  EXPECT_FALSE(msg_.has_camera_rate);
  fails(R"({"type":"join","user":{"id":"u"},"camera_rate":10.01})", ErrorCode::BadMessage);
  fails(R"({"type":"join","user":{"id":"u"},"camera_rate":0})", ErrorCode::BadMessage);
  fails(R"({"type":"join","user":{"id":"u"},"camera_rate":null})", ErrorCode::BadMessage);
  fails(R"({"type":"join","user":{"id":"u"},"camera_rate":"2"})", ErrorCode::BadMessage);
}

TEST(Encode12, PresentingRoleEventAndWelcomeFields) {
  rapidjson::StringBuffer out;
  User u{"u1", "Ana", "", true, false};
  encode_presenting(out, "s1", &u);
  EXPECT_EQ(text(out), R"({"type":"presenting","session":"s1","user":{"id":"u1","name":"Ana"}})");
  encode_presenting(out, "", nullptr);
  EXPECT_EQ(text(out), R"({"type":"presenting","session":null})");
  encode_presence_role(out, "s1", Role::Viewer);
  EXPECT_EQ(text(out), R"({"type":"presence","event":"role","session":"s1","role":"viewer"})");
  WelcomeExtras extras;
  extras.role = Role::Viewer;
  extras.presenter = "s9";
  extras.has_camera_rate = true;
  extras.camera_rate = 2;
  PeerView peer{"s9", &u, nullptr, nullptr, "", true, Role::Editor, true};
  encode_welcome(out, "s1", "r", u, 0, std::span<const PeerView>(&peer, 1), extras);
  EXPECT_EQ(text(out),
            R"({"type":"welcome","protocol":"1.2","session":"s1","room":"r","user":{"id":"u1","name":"Ana"},"seq":0,)"
            R"("peers":[{"session":"s9","user":{"id":"u1","name":"Ana"},"camera":null,"selection":[],"following":null,)"
            R"("connected":true,"role":"editor","presenting":true}],"role":"viewer","presenter":"s9","camera_rate":2.0})");
}

}  // namespace roomcast
