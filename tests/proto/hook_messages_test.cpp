// The bodies roomcast sends to the app's backend and what each kind of answer means
// (integration contract sections 2-4).
#include "proto/hook_messages.h"

#include <gtest/gtest.h>

namespace roomcast {
namespace {

TEST(HookMessages, AuthRequestCarriesOnlyThePresentHeadersEscaped) {
  AuthHookHeaders h;
  h.cookie = "session=abc; theme=\"dark\"";
  h.origin = "https://viewer.example";
  EXPECT_EQ(encode_auth_hook_request("project-7", h, "203.0.113.9"),
            R"({"room":"project-7","headers":{"cookie":"session=abc; theme=\"dark\"","origin":"https://viewer.example"},"remote_addr":"203.0.113.9"})");
}

TEST(HookMessages, AuthAnswerWithAUserIsAnIdentityWithRightsAndExpiry) {
  JwtClaims id;
  std::string why;
  const auto v = decide_auth_hook(
      200, R"({"user":{"id":"u1","name":"Ann"},"rooms":["project-*"],"edit":[],"expires_in":600})", "project-7",
      1000, id, why);
  EXPECT_EQ(v, AuthHookVerdict::Allow) << why;
  EXPECT_EQ(id.sub, "u1");
  EXPECT_EQ(id.name, "Ann");
  EXPECT_TRUE(id.has_rooms);
  EXPECT_TRUE(id.has_edit);
  EXPECT_TRUE(id.edit.empty()) << "edit [] is view only";
  EXPECT_EQ(id.exp, 1600);
  EXPECT_EQ(id.usable_until, 1600);
}

TEST(HookMessages, AuthAnswerWithoutRightsOrExpiryAllowsEveryRoomWithoutExpiry) {
  JwtClaims id;
  std::string why;
  EXPECT_EQ(decide_auth_hook(200, R"({"user":{"id":"u1"}})", "any", 1000, id, why), AuthHookVerdict::Allow);
  EXPECT_FALSE(id.has_rooms);
  EXPECT_FALSE(id.has_edit);
  EXPECT_FALSE(id.has_name);
  EXPECT_EQ(id.exp, 0);
}

TEST(HookMessages, AuthAnswersMapToTheUpgradesStatus) {
  JwtClaims id;
  std::string why;
  EXPECT_EQ(decide_auth_hook(401, "", "r", 0, id, why), AuthHookVerdict::Unauthorized);
  EXPECT_EQ(decide_auth_hook(403, "{}", "r", 0, id, why), AuthHookVerdict::Forbidden);
  EXPECT_EQ(decide_auth_hook(200, R"({"user":{"id":"u"},"rooms":["other"]})", "r", 0, id, why),
            AuthHookVerdict::Forbidden)
      << "a 200 whose rooms exclude the room is 403";
  EXPECT_EQ(decide_auth_hook(0, "", "r", 0, id, why), AuthHookVerdict::Unavailable) << "timeout, no connection";
  EXPECT_EQ(decide_auth_hook(502, "", "r", 0, id, why), AuthHookVerdict::Unavailable);
  EXPECT_EQ(decide_auth_hook(404, "", "r", 0, id, why), AuthHookVerdict::Broken);
  EXPECT_EQ(decide_auth_hook(302, "", "r", 0, id, why), AuthHookVerdict::Broken);
}

TEST(HookMessages, AnAuthAnswerWithoutAUsableIdentityIsNeverAnUpgrade) {
  JwtClaims id;
  std::string why;
  for (const char* body : {"", "not json", "[]", R"({"user":{}})", R"({"user":{"id":""}})", R"({"user":{"id":7}})",
                           R"({"user":"u1"})", R"({"user":{"id":"u"},"rooms":"r"})",
                           R"({"user":{"id":"u"},"edit":[1]})", R"({"user":{"id":"u"},"expires_in":-5})",
                           R"({"user":{"id":"u"},"expires_in":"60"})", R"({"user":{"id":"u","id":"v"}})"}) {
    EXPECT_EQ(decide_auth_hook(200, body, "r", 0, id, why), AuthHookVerdict::Broken) << body;
    EXPECT_FALSE(why.empty()) << body;
    EXPECT_TRUE(id.sub.empty()) << body;
  }
}

TEST(HookMessages, EditRequestHasTheEditsFieldsAsSent) {
  EXPECT_EQ(encode_edit_hook_request("r1", "s1", R"({"id":"u1","name":"Ann"})", "m7", "b7", "move",
                                     std::optional<std::string_view>(R"({"x":1.5})")),
            R"({"room":"r1","session":"s1","user":{"id":"u1","name":"Ann"},"id":"m7","building":"b7","op":"move","data":{"x":1.5}})");
  EXPECT_EQ(encode_edit_hook_request("r1", "s1", R"({"id":"u1"})", std::nullopt, "b7", "delete", std::nullopt),
            R"({"room":"r1","session":"s1","user":{"id":"u1"},"id":null,"building":"b7","op":"delete"})");
  EXPECT_EQ(edit_hook_webhook_id("r1", "s1", "m7"), "edit-hook:r1:s1:m7");
}

TEST(HookMessages, EditAnswersAcceptRewriteRejectOrUnavailable) {
  EditRewrite rw;
  std::string reason;
  EXPECT_EQ(decide_edit_hook(204, "", rw, reason), EditHookVerdict::Accept);
  EXPECT_EQ(decide_edit_hook(200, " {} ", rw, reason), EditHookVerdict::Accept);
  EXPECT_EQ(decide_edit_hook(200, R"({"data": {"name" : "Tower"}, "op":"rename"})", rw, reason), EditHookVerdict::Rewrite);
  EXPECT_EQ(rw.data_json, R"({"name":"Tower"})");
  EXPECT_EQ(rw.op, "rename");
  EXPECT_FALSE(rw.building);
  EXPECT_EQ(decide_edit_hook(200, R"({"data":null})", rw, reason), EditHookVerdict::Rewrite) << "data may become null";
  EXPECT_EQ(rw.data_json, "null");
  EXPECT_EQ(decide_edit_hook(409, R"({"reason":"building b7 is locked"})", rw, reason), EditHookVerdict::Reject);
  EXPECT_EQ(reason, "building b7 is locked");
  EXPECT_EQ(decide_edit_hook(422, "plain text", rw, reason), EditHookVerdict::Reject);
  EXPECT_EQ(reason, "");
  EXPECT_EQ(decide_edit_hook(503, "", rw, reason), EditHookVerdict::Unavailable);
  EXPECT_EQ(decide_edit_hook(0, "", rw, reason), EditHookVerdict::Unavailable);
  EXPECT_EQ(decide_edit_hook(200, "not json", rw, reason), EditHookVerdict::Unavailable);
  EXPECT_EQ(decide_edit_hook(200, R"({"op":5})", rw, reason), EditHookVerdict::Unavailable);
  EXPECT_FALSE(rw.op);
}

TEST(HookMessages, ALongRejectReasonIsCutAtACharacterBoundary) {
  EditRewrite rw;
  std::string reason;
  std::string text(kMaxReasonBytes - 1, 'a');
  text += "\xC3\xA9\xC3\xA9";  // two 2-byte characters straddling the limit
  EXPECT_EQ(decide_edit_hook(400, R"({"reason":")" + text + "\"}", rw, reason), EditHookVerdict::Reject);
  EXPECT_EQ(reason, std::string(kMaxReasonBytes - 1, 'a'));
}

TEST(HookMessages, WebhookEventsAndTheirStableIds) {
  EXPECT_EQ(encode_edit_event("r1", "e9", 42, "m7", "s1", R"({"id":"u1"})", "b7", "move", R"([1,2])", 1700000000123),
            R"({"type":"edit","room":"r1","epoch":"e9","seq":42,"id":"m7","session":"s1","user":{"id":"u1"},"building":"b7","op":"move","data":[1,2],"ts":1700000000123})");
  EXPECT_EQ(encode_edit_event("r1", "e9", 43, std::nullopt, std::nullopt, std::nullopt, "b7", "move", std::nullopt, 5),
            R"({"type":"edit","room":"r1","epoch":"e9","seq":43,"id":null,"session":null,"user":null,"building":"b7","op":"move","ts":5})");
  EXPECT_EQ(encode_join_event("r1", "s1", R"({"id":"u1"})", R"("editor")", 5),
            R"({"type":"join","room":"r1","session":"s1","user":{"id":"u1"},"role":"editor","ts":5})");
  EXPECT_EQ(encode_leave_event("r1", "s1", R"({"id":"u1"})", 6),
            R"({"type":"leave","room":"r1","session":"s1","user":{"id":"u1"},"ts":6})");
  EXPECT_EQ(edit_event_webhook_id("r1", "e9", 42), "edit:r1:e9:42");
  EXPECT_EQ(join_event_webhook_id("r1", "s1"), "join:r1:s1");
  EXPECT_EQ(leave_event_webhook_id("r1", "s1"), "leave:r1:s1");
}

}  // namespace
}  // namespace roomcast
