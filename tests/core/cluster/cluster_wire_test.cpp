// Unit tests for core/cluster/cluster_wire.h: what instances write to Redis and to each other.
// Netstrings must round-trip any bytes and refuse every malformed input without reading
// past the end; the parse helpers must read back exactly what the real encoders
// (proto/message.h) wrote, and answer false (never throw, never crash) on anything else.
#include "core/cluster/cluster_wire.h"

#include <gtest/gtest.h>

#include <span>
#include <string>
#include <vector>

#include <rapidjson/stringbuffer.h>

#include "proto/message.h"

namespace roomcast {
namespace {

std::string text(const rapidjson::StringBuffer& b) { return std::string(b.GetString(), b.GetSize()); }

// One presence-API entry, exactly as RoomService::session_record writes it into the hash.
std::string presence_entry(const PeerView& view) {
  rapidjson::StringBuffer b;
  encode_presence_list(b, std::span<const PeerView>(&view, 1));
  std::string list = text(b);
  return list.substr(1, list.size() - 2);
}

// ---- keys and channels ---------------------------------------------------------------

TEST(ClusterWire, KeysShareTheRoomsHashTagAndTheChannelNamesItsRoom) {
  EXPECT_EQ(wire::meta_key("r1"), "rc:{r1}:meta");
  EXPECT_EQ(wire::log_key("r1"), "rc:{r1}:log");
  EXPECT_EQ(wire::ids_key("r1"), "rc:{r1}:ids");
  EXPECT_EQ(wire::who_key("r1"), "rc:{r1}:who");
  EXPECT_EQ(wire::channel("r1"), "rc:{r1}");
  for (std::string room : {"r", "a b", "{x}", "with}brace", "", "ünï"})
    EXPECT_EQ(wire::room_of_channel(wire::channel(room)), room) << room;
}

TEST(ClusterWire, RoomOfChannelIsEmptyForChannelsThatAreNotOurs) {
  for (const char* ch : {"", "rc", "rc:", "rc:{", "rc:}", "rc:{r", "rc:{r}:meta", "xc:{r}", "rc{r}", "}", "{r}"})
    EXPECT_EQ(wire::room_of_channel(ch), "") << ch;
}

TEST(ClusterWire, ScriptsAreOnePerStepInTheirEnumOrder) {
  std::vector<std::string> s = wire::scripts();
  ASSERT_EQ(s.size(), size_t(wire::kScriptCount));
  for (const std::string& src : s) EXPECT_FALSE(src.empty());
  EXPECT_NE(s[wire::kSync].find("XRANGE"), std::string::npos);
  EXPECT_NE(s[wire::kEdit].find("HINCRBY"), std::string::npos);
  EXPECT_NE(s[wire::kEdit].find("PUBLISH"), std::string::npos);
  // The scripts that read presence records carry the Lua netstring helpers.
  EXPECT_NE(s[wire::kClaim].find("local function fields"), std::string::npos);
  EXPECT_NE(s[wire::kEnd].find("local function fields"), std::string::npos);
  EXPECT_NE(s[wire::kEnd].find("HDEL"), std::string::npos);
}

// ---- netstrings --------------------------------------------------------------------

TEST(ClusterWire, NetstringsRoundTripAnyBytesInOrder) {
  const std::vector<std::string> fields = {
      "inst1", "E", "", "12:34", std::string("a\0b", 3), std::string(100000, 'x'), ":", "0:", "\xff\xfe"};
  std::string out;
  for (const std::string& f : fields) wire::put(out, f);
  EXPECT_EQ(out.substr(0, 8), "5:inst11");
  size_t pos = 0;
  std::string_view field;
  for (const std::string& f : fields) {
    ASSERT_TRUE(wire::next(out, &pos, &field));
    EXPECT_EQ(field, f);
  }
  EXPECT_EQ(pos, out.size());
  EXPECT_FALSE(wire::next(out, &pos, &field)) << "nothing after the last field";
  EXPECT_EQ(pos, out.size());
}

TEST(ClusterWire, AnEmptyNetstringIsAField) {
  std::string out;
  wire::put(out, "");
  EXPECT_EQ(out, "0:");
  size_t pos = 0;
  std::string_view field = "unchanged";
  ASSERT_TRUE(wire::next(out, &pos, &field));
  EXPECT_EQ(field, "");
  EXPECT_EQ(pos, 2u);
}

TEST(ClusterWire, MalformedNetstringsAreRefusedAndNothingIsRead) {
  const std::vector<std::string> bad = {
      "",                        // nothing
      "abc",                     // no colon
      "3abc",                    // no colon
      ":abc",                    // no length
      "x:abc",                   // not a number
      "1x:abc",                  // not a number
      " 1:a",                    // a space
      "-1:a",                    // negative
      "+1:a",                    // a sign
      "4:abc",                   // one byte beyond the end
      "1:",                      // beyond the end
      "9999999999:a",            // ten digits, far beyond the end
      "4294967297:a",            // past 32 bits
      "18446744073709551615:a",  // SIZE_MAX: must not wrap around
      "18446744073709551616:a",  // past 64 bits
      std::string(5000, '9') + ":a",  // a huge digit string
      std::string(5000, '1'),         // a huge digit string, no colon
  };
  for (const std::string& in : bad) {
    size_t pos = 0;
    std::string_view field = "unchanged";
    EXPECT_FALSE(wire::next(in, &pos, &field)) << in.substr(0, 40);
    EXPECT_EQ(pos, 0u) << in.substr(0, 40);
    EXPECT_EQ(field, "unchanged") << in.substr(0, 40);
  }
}

TEST(ClusterWire, AMalformedFieldAfterGoodOnesStopsThereAndTheGoodOnesStand) {
  std::string in;
  wire::put(in, "inst2");
  wire::put(in, "c");
  in += "99:truncated";
  size_t pos = 0;
  std::string_view a, b, c;
  ASSERT_TRUE(wire::next(in, &pos, &a));
  ASSERT_TRUE(wire::next(in, &pos, &b));
  const size_t before = pos;
  EXPECT_FALSE(wire::next(in, &pos, &c));
  EXPECT_EQ(pos, before);
  EXPECT_EQ(a, "inst2");
  EXPECT_EQ(b, "c");
}

TEST(ClusterWire, APositionAtOrPastTheEndReadsNothing) {
  const std::string in = "1:a";
  for (size_t start : {size_t(3), size_t(4), size_t(1000), std::string::npos}) {
    size_t pos = start;
    std::string_view field;
    EXPECT_FALSE(wire::next(in, &pos, &field)) << start;
    EXPECT_EQ(pos, start);
  }
}

TEST(ClusterWire, ALengthOfMoreThanTenDigitsIsRefusedAndOneThatEndsExactlyAtTheEndIsRead) {
  std::string in = "12345678901" + std::string(":x");  // eleven digits: over the limit
  size_t pos = 0;
  std::string_view field;
  EXPECT_FALSE(wire::next(in, &pos, &field));
  // A length that fits exactly at the end.
  in = "3:abc";
  pos = 0;
  ASSERT_TRUE(wire::next(in, &pos, &field));
  EXPECT_EQ(field, "abc");
}

// ---- presence entries ------------------------------------------------------------------

TEST(ClusterWire, APresenceEntryFromTheEncoderParsesBackWhole) {
  User user;
  user.id = "u1";
  user.name = "Ann \"quoted\" ü";
  user.has_name = true;
  user.color = "#f00";
  user.has_color = true;
  Camera cam;
  cam.position[0] = 1.5;
  cam.position[1] = -2;
  cam.position[2] = 3e10;
  cam.target[2] = 7;
  cam.up[1] = 1;
  cam.has_up = true;
  cam.fov = 60;
  cam.has_fov = true;
  std::vector<std::string> sel = {"b-1", "b:2", ""};
  PeerView view{"inst2-0-7", &user, &cam, &sel, "inst3-1-1", false};

  wire::PeerState st;
  ASSERT_TRUE(wire::parse_peer_state(presence_entry(view), &st));
  EXPECT_EQ(st.session, "inst2-0-7");
  EXPECT_EQ(st.user.id, "u1");
  EXPECT_TRUE(st.user.has_name);
  EXPECT_EQ(st.user.name, user.name);
  EXPECT_TRUE(st.user.has_color);
  EXPECT_EQ(st.user.color, "#f00");
  ASSERT_TRUE(st.has_camera);
  EXPECT_EQ(st.camera.position[0], 1.5);
  EXPECT_EQ(st.camera.position[1], -2);
  EXPECT_EQ(st.camera.position[2], 3e10);
  EXPECT_EQ(st.camera.target[2], 7);
  EXPECT_TRUE(st.camera.has_up);
  EXPECT_EQ(st.camera.up[1], 1);
  EXPECT_TRUE(st.camera.has_fov);
  EXPECT_EQ(st.camera.fov, 60);
  EXPECT_EQ(st.selection, sel);
  EXPECT_EQ(st.following, "inst3-1-1");
}

TEST(ClusterWire, APresenceEntryWithoutCameraSelectionOrFollowParsesAsNone) {
  User user;
  user.id = "u2";
  std::vector<std::string> sel;
  PeerView view{"s2", &user, nullptr, &sel, "", true};
  wire::PeerState st;
  st.has_camera = true;
  st.selection = {"stale"};
  st.following = "stale";
  ASSERT_TRUE(wire::parse_peer_state(presence_entry(view), &st));
  EXPECT_EQ(st.session, "s2");
  EXPECT_EQ(st.user.id, "u2");
  EXPECT_FALSE(st.user.has_name);
  EXPECT_FALSE(st.user.has_color);
  EXPECT_FALSE(st.has_camera);
  EXPECT_TRUE(st.selection.empty());
  EXPECT_EQ(st.following, "");
}

TEST(ClusterWire, LuaCjsonsEmptyObjectIsAnEmptySelection) {
  // Lua's cjson cannot tell an empty array from an empty table: an entry or frame a
  // script re-encodes carries {} for [].
  wire::PeerState st;
  ASSERT_TRUE(wire::parse_peer_state(
      R"({"session":"s","user":{"id":"u"},"camera":null,"selection":{},"following":null,"connected":true})", &st));
  EXPECT_TRUE(st.selection.empty());
  std::vector<std::string> ids = {"stale"};
  ASSERT_TRUE(wire::parse_select_ids(R"({"type":"select","session":"s","ids":{}})", &ids));
  EXPECT_TRUE(ids.empty());
}

TEST(ClusterWire, GarbageIsNotAPresenceEntry) {
  const std::vector<std::string> bad = {
      "",
      "null",
      "[]",
      "{}",
      "42",
      "\"s\"",
      "{",
      R"({"session":"s"})",
      R"({"user":{"id":"u"}})",
      R"({"session":1,"user":{"id":"u"}})",
      R"({"session":"s","user":null})",
      R"({"session":"s","user":{}})",
      R"({"session":"s","user":{"id":5}})",
      R"({"session":"s","user":"u"})",
      R"({"session":"s","user":{"id":"u"})",   // truncated
      R"({"session":"s","user":{"id":"u"}}x)",  // trailing bytes
      R"([{"session":"s","user":{"id":"u"}}])",  // the list, not an entry
      std::string("{\"session\":\"s\0\",\"user\":{\"id\":\"u\"}", 34),
      "\xff\xfe{}",
  };
  for (const std::string& in : bad) {
    wire::PeerState st;
    st.session = "unchanged";
    EXPECT_FALSE(wire::parse_peer_state(in, &st)) << in;
    EXPECT_EQ(st.session, "unchanged") << in;
  }
}

TEST(ClusterWire, BadPartsOfAPresenceEntryAreDroppedNotFatal) {
  // session and user are what matter; a broken camera or selection is "none".
  wire::PeerState st;
  ASSERT_TRUE(wire::parse_peer_state(
      R"({"session":"s","user":{"id":"u","name":7,"color":null},"camera":{"position":[1,2],"target":[0,0,0]},)"
      R"("selection":"b1","following":5})",
      &st));
  EXPECT_EQ(st.session, "s");
  EXPECT_FALSE(st.user.has_name);
  EXPECT_FALSE(st.user.has_color);
  EXPECT_FALSE(st.has_camera);
  EXPECT_TRUE(st.selection.empty());
  EXPECT_EQ(st.following, "");
}

// ---- relayed frames ----------------------------------------------------------------

TEST(ClusterWire, TheCameraOfAnEncodedCursorParsesBack) {
  Camera cam;
  cam.position[0] = 1;
  cam.position[1] = 2.25;
  cam.position[2] = -3;
  cam.target[0] = 0.5;
  rapidjson::StringBuffer b;
  encode_cursor(b, "inst2-0-1", cam);
  Camera got;
  got.has_up = true;
  got.has_fov = true;
  ASSERT_TRUE(wire::parse_cursor_camera(text(b), &got));
  EXPECT_EQ(got.position[1], 2.25);
  EXPECT_EQ(got.position[2], -3);
  EXPECT_EQ(got.target[0], 0.5);
  EXPECT_FALSE(got.has_up);
  EXPECT_FALSE(got.has_fov);

  cam.up[2] = 1;
  cam.has_up = true;
  cam.fov = 45.5;
  cam.has_fov = true;
  encode_cursor(b, "inst2-0-1", cam);
  ASSERT_TRUE(wire::parse_cursor_camera(text(b), &got));
  EXPECT_TRUE(got.has_up);
  EXPECT_EQ(got.up[2], 1);
  EXPECT_TRUE(got.has_fov);
  EXPECT_EQ(got.fov, 45.5);
}

TEST(ClusterWire, TheIdsOfAnEncodedSelectParseBack) {
  rapidjson::StringBuffer b;
  std::vector<std::string> ids = {"b-1", "b-2", "ü\"x"};
  encode_select(b, "s", ids);
  std::vector<std::string> got = {"stale"};
  ASSERT_TRUE(wire::parse_select_ids(text(b), &got));
  EXPECT_EQ(got, ids);
  encode_select(b, "s", std::vector<std::string>{});
  ASSERT_TRUE(wire::parse_select_ids(text(b), &got));
  EXPECT_TRUE(got.empty());
}

TEST(ClusterWire, TheTargetOfAnEncodedFollowParsesBackAndNullIsNobody) {
  rapidjson::StringBuffer b;
  encode_follow(b, "s", "inst3-0-9");
  std::string got;
  ASSERT_TRUE(wire::parse_follow_target(text(b), &got));
  EXPECT_EQ(got, "inst3-0-9");
  encode_follow(b, "s", "");
  ASSERT_TRUE(wire::parse_follow_target(text(b), &got));
  EXPECT_EQ(got, "");
}

TEST(ClusterWire, TheUserOfAnEncodedPresenceJoinParsesBack) {
  User user;
  user.id = "u9";
  user.name = "Zed";
  user.has_name = true;
  rapidjson::StringBuffer b;
  encode_presence_join(b, "inst2-0-1", user);
  User got;
  ASSERT_TRUE(wire::parse_join_user(text(b), &got));
  EXPECT_EQ(got.id, "u9");
  EXPECT_TRUE(got.has_name);
  EXPECT_EQ(got.name, "Zed");
  EXPECT_FALSE(got.has_color);
  // A leave carries no user.
  encode_presence_leave(b, "inst2-0-1");
  EXPECT_FALSE(wire::parse_join_user(text(b), &got));
}

TEST(ClusterWire, GarbageFramesAreRefusedAndLeaveTheCameraFollowAndUserAlone) {
  const std::vector<std::string> bad = {
      "",
      "null",
      "[]",
      "{",
      "not json",
      "{}",
      R"({"position":[1,2,3]})",
      R"({"position":[1,2,3],"target":[1,2]})",
      R"({"position":[1,2,"3"],"target":[1,2,3]})",
      R"({"position":[1,2,3,4],"target":[1,2,3]})",
      R"({"position":{},"target":[1,2,3]})",
      R"({"position":[1e999,2,3],"target":[1,2,3]})",
      R"({"position":[NaN,2,3],"target":[1,2,3]})",
      R"({"ids":"b1"})",
      R"({"ids":{"a":"b"}})",
      R"({"target":[1,2,3]}trailing)",
      R"({"user":"u"})",
      R"({"user":{"name":"n"}})",
      R"({"user":{"id":null}})",
      "\x01\x02\x03",
  };
  for (const std::string& in : bad) {
    Camera cam;
    cam.position[0] = 42;
    EXPECT_FALSE(wire::parse_cursor_camera(in, &cam)) << in;
    EXPECT_EQ(cam.position[0], 42) << in;
    User user;
    user.id = "unchanged";
    EXPECT_FALSE(wire::parse_join_user(in, &user)) << in;
    EXPECT_EQ(user.id, "unchanged") << in;
  }
  for (const std::string& in : {std::string(""), std::string("[]"), std::string("{}"), std::string("{\"ids\":5}"),
                                std::string("{\"ids\":{\"a\":1}}"), std::string("{\"ids\":[\"a\"]")}) {
    std::vector<std::string> ids;
    EXPECT_FALSE(wire::parse_select_ids(in, &ids)) << in;
  }
  for (const std::string& in : {std::string(""), std::string("[]"), std::string("{}"), std::string("{\"target\":"),
                                std::string("{\"session\":\"s\"}")}) {
    std::string target = "unchanged";
    EXPECT_FALSE(wire::parse_follow_target(in, &target)) << in;
    EXPECT_EQ(target, "unchanged") << in;
  }
}

TEST(ClusterWire, NonStringIdsInASelectionAreSkipped) {
  std::vector<std::string> ids;
  ASSERT_TRUE(wire::parse_select_ids(R"({"ids":["a",1,null,"b",{}]})", &ids));
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b"}));
}

TEST(ClusterWire, DeeplyNestedGarbageIsRefusedWithoutCrashing) {
  // Modestly deep (what a broken or hostile peer could write); refused, no crash.
  const std::string deep = std::string(2000, '[') + std::string(2000, ']');
  const std::string deep_obj = R"({"session":"s","user":{"id":"u"},"camera":)" + deep + "}";
  wire::PeerState st;
  EXPECT_FALSE(wire::parse_peer_state(deep, &st));
  EXPECT_TRUE(wire::parse_peer_state(deep_obj, &st));
  EXPECT_FALSE(st.has_camera);
  Camera cam;
  EXPECT_FALSE(wire::parse_cursor_camera(deep, &cam));
  std::vector<std::string> ids;
  EXPECT_FALSE(wire::parse_select_ids(deep, &ids));
  std::string target;
  EXPECT_FALSE(wire::parse_follow_target(deep, &target));
  User user;
  EXPECT_FALSE(wire::parse_join_user(deep, &user));
}


// Was a bug (core/cluster/cluster_wire.cpp, parse()): the parse helpers use rapidjson's default,
// recursive parser, so JSON nested deeply enough overflows the C stack (about 100,000
// levels under ASan) instead of returning false. proto/json_reader.cpp parses client
// input with kParseIterativeFlag for exactly this reason. Low severity: what these
// helpers read comes from Redis (written by instances through the encoders), not from
// clients, so only a corrupt or hostile Redis writer can trigger it. Disabled because it
// crashes the test binary.
TEST(ClusterWire, HugelyNestedGarbageIsRefusedWithoutOverflowingTheStack) {
  const std::string deep(1'000'000, '[');
  wire::PeerState st;
  EXPECT_FALSE(wire::parse_peer_state(deep, &st));
  Camera cam;
  EXPECT_FALSE(wire::parse_cursor_camera(deep, &cam));
  std::vector<std::string> ids;
  EXPECT_FALSE(wire::parse_select_ids(deep, &ids));
  std::string target;
  EXPECT_FALSE(wire::parse_follow_target(deep, &target));
  User user;
  EXPECT_FALSE(wire::parse_join_user(deep, &user));
}

}  // namespace
}  // namespace roomcast
