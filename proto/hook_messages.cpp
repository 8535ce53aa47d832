// proto/hook_messages.cpp: Writer-based encoders and json_reader-based answer readers.
#include "proto/hook_messages.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "proto/json_reader.h"
#include "proto/json_util.h"

namespace roomcast {

namespace {

using JsonWriter = json::Writer;
using json::write_key;
using json::write_string;

void write_raw(JsonWriter& w, std::string_view json) {
  if (json.empty()) {
    w.Null();  // a caller's bug must not break the document
    return;
  }
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

void write_optional_string(JsonWriter& w, std::optional<std::string_view> s) {
  if (s)
    write_string(w, *s);
  else
    w.Null();
}

std::string text_of(const rapidjson::StringBuffer& b) { return std::string(b.GetString(), b.GetSize()); }


bool is_blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  return true;
}

// Cut at most `n` bytes of UTF-8 text without splitting a character.
std::string cut_utf8(std::string_view s, size_t n) {
  if (s.size() <= n) return std::string(s);
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

bool string_array(const rapidjson::Value& v, std::vector<std::string>& out) {
  if (!v.IsArray()) return false;
  out.clear();
  for (const auto& e : v.GetArray()) {
    if (!e.IsString()) return false;
    out.emplace_back(e.GetString(), e.GetStringLength());
  }
  return true;
}

}  // namespace

std::string encode_auth_hook_request(std::string_view room, const AuthHookHeaders& headers,
                                     std::string_view remote_addr) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  write_key(w, "room");
  write_string(w, room);
  write_key(w, "headers");
  w.StartObject();
  const std::pair<std::string_view, std::string_view> fields[] = {{"cookie", headers.cookie},
                                                                  {"authorization", headers.authorization},
                                                                  {"origin", headers.origin},
                                                                  {"user-agent", headers.user_agent}};
  for (const auto& [name, value] : fields) {
    if (value.empty()) continue;
    write_key(w, name);
    write_string(w, value);
  }
  w.EndObject();
  write_key(w, "remote_addr");
  write_string(w, remote_addr);
  w.EndObject();
  return text_of(b);
}

std::string_view to_string(AuthHookVerdict verdict) {
  switch (verdict) {
    case AuthHookVerdict::Allow: return "allow";
    case AuthHookVerdict::Unauthorized: return "unauthorized";
    case AuthHookVerdict::Forbidden: return "forbidden";
    case AuthHookVerdict::Broken: return "broken";
    case AuthHookVerdict::Unavailable: return "unavailable";
  }
  return "broken";
}

AuthHookVerdict decide_auth_hook(long status, std::string_view body, std::string_view room, int64_t now_unix,
                                 JwtClaims& identity, std::string& why) {
  identity = JwtClaims{};
  if (status == 0 || (status >= 500 && status < 600)) {
    why = status == 0 ? "no answer" : "status " + std::to_string(status);
    return AuthHookVerdict::Unavailable;
  }
  if (status == 401) return AuthHookVerdict::Unauthorized;
  if (status == 403) return AuthHookVerdict::Forbidden;
  if (status < 200 || status >= 300) {
    why = "status " + std::to_string(status);
    return AuthHookVerdict::Broken;
  }
  rapidjson::Document doc;
  const JsonReadResult read = read_json(body, JsonLimits{}, doc);
  if (!read.ok() || !doc.IsObject()) {
    why = read.ok() ? "the answer is not a JSON object" : "the answer is not JSON: " + describe(read, JsonLimits{});
    return AuthHookVerdict::Broken;
  }
  const rapidjson::Value* user = json::member(doc, "user");
  if (!user || !user->IsObject()) {
    why = "the answer has no user object";
    return AuthHookVerdict::Broken;
  }
  const rapidjson::Value* id = json::member(*user, "id");
  if (!id || !id->IsString() || id->GetStringLength() == 0) {
    why = "the answer's user has no id";
    return AuthHookVerdict::Broken;
  }
  identity.sub.assign(id->GetString(), id->GetStringLength());
  const rapidjson::Value* name = json::member(*user, "name");
  if (name && name->IsString()) {
    identity.name.assign(name->GetString(), name->GetStringLength());
    identity.has_name = true;
  }
  for (auto [key, has, list] : {std::tuple{"rooms", &identity.has_rooms, &identity.rooms},
                                std::tuple{"edit", &identity.has_edit, &identity.edit}}) {
    const rapidjson::Value* m = json::member(doc, key);
    if (!m || m->IsNull()) continue;
    if (!string_array(*m, *list)) {
      why = std::string("the answer's ") + key + " is not an array of strings";
      identity = JwtClaims{};
      return AuthHookVerdict::Broken;
    }
    *has = true;
  }
  const rapidjson::Value* expires = json::member(doc, "expires_in");
  if (expires && !expires->IsNull()) {
    if (!expires->IsInt64() || expires->GetInt64() <= 0) {
      why = "the answer's expires_in is not a positive integer";
      identity = JwtClaims{};
      return AuthHookVerdict::Broken;
    }
    identity.exp = identity.usable_until = now_unix + expires->GetInt64();
  }
  if (!jwt_allows_room(identity, room)) return AuthHookVerdict::Forbidden;
  return AuthHookVerdict::Allow;
}

std::string edit_hook_webhook_id(std::string_view room, std::string_view session, std::string_view id_or_counter) {
  std::string out = "edit-hook:";
  out.append(room).append(":").append(session).append(":").append(id_or_counter);
  return out;
}

std::string encode_edit_hook_request(std::string_view room, std::string_view session, std::string_view user_json,
                                     std::optional<std::string_view> id, std::string_view building,
                                     std::string_view op, std::optional<std::string_view> data_json) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  write_key(w, "room");
  write_string(w, room);
  write_key(w, "session");
  write_string(w, session);
  write_key(w, "user");
  write_raw(w, user_json);
  write_key(w, "id");
  write_optional_string(w, id);
  write_key(w, "building");
  write_string(w, building);
  write_key(w, "op");
  write_string(w, op);
  if (data_json) {
    write_key(w, "data");
    write_raw(w, *data_json);
  }
  w.EndObject();
  return text_of(b);
}

std::string_view to_string(EditHookVerdict verdict) {
  switch (verdict) {
    case EditHookVerdict::Accept: return "accept";
    case EditHookVerdict::Rewrite: return "rewrite";
    case EditHookVerdict::Reject: return "reject";
    case EditHookVerdict::Unavailable: return "unavailable";
  }
  return "unavailable";
}

EditHookVerdict decide_edit_hook(long status, std::string_view body, EditRewrite& rewrite, std::string& reason) {
  rewrite = EditRewrite{};
  reason.clear();
  if (status >= 400 && status < 500) {
    rapidjson::Document doc;
    if (read_json(body, JsonLimits{}, doc).ok() && doc.IsObject()) {
      const rapidjson::Value* r = json::member(doc, "reason");
      if (r && r->IsString())
        reason = cut_utf8(std::string_view(r->GetString(), r->GetStringLength()), kMaxReasonBytes);
    }
    return EditHookVerdict::Reject;
  }
  if (status < 200 || status >= 300) return EditHookVerdict::Unavailable;
  if (is_blank(body)) return EditHookVerdict::Accept;
  rapidjson::Document doc;
  if (!read_json(body, JsonLimits{}, doc).ok() || !doc.IsObject()) return EditHookVerdict::Unavailable;
  for (auto [key, slot] : {std::pair{"building", &rewrite.building}, std::pair{"op", &rewrite.op}}) {
    const rapidjson::Value* m = json::member(doc, key);
    if (!m) continue;
    if (!m->IsString()) {
      rewrite = EditRewrite{};
      return EditHookVerdict::Unavailable;
    }
    slot->emplace(m->GetString(), m->GetStringLength());
  }
  const rapidjson::Value* data = json::member(doc, "data");
  if (data) rewrite.data_json = json::text(*data);
  return rewrite.building || rewrite.op || rewrite.data_json ? EditHookVerdict::Rewrite : EditHookVerdict::Accept;
}

std::string edit_event_webhook_id(std::string_view room, std::string_view epoch, uint64_t seq) {
  std::string out = "edit:";
  out.append(room).append(":").append(epoch).append(":").append(std::to_string(seq));
  return out;
}

std::string join_event_webhook_id(std::string_view room, std::string_view session) {
  std::string out = "join:";
  out.append(room).append(":").append(session);
  return out;
}

std::string leave_event_webhook_id(std::string_view room, std::string_view session) {
  std::string out = "leave:";
  out.append(room).append(":").append(session);
  return out;
}

std::string encode_edit_event(std::string_view room, std::string_view epoch, uint64_t seq,
                              std::optional<std::string_view> id, std::optional<std::string_view> session,
                              std::optional<std::string_view> user_json, std::string_view building,
                              std::string_view op, std::optional<std::string_view> data_json, int64_t ts_ms) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  write_key(w, "type");
  write_string(w, "edit");
  write_key(w, "room");
  write_string(w, room);
  write_key(w, "epoch");
  write_string(w, epoch);
  write_key(w, "seq");
  w.Uint64(seq);
  write_key(w, "id");
  write_optional_string(w, id);
  write_key(w, "session");
  write_optional_string(w, session);
  write_key(w, "user");
  if (user_json)
    write_raw(w, *user_json);
  else
    w.Null();
  write_key(w, "building");
  write_string(w, building);
  write_key(w, "op");
  write_string(w, op);
  if (data_json) {
    write_key(w, "data");
    write_raw(w, *data_json);
  }
  write_key(w, "ts");
  w.Int64(ts_ms);
  w.EndObject();
  return text_of(b);
}

std::string encode_join_event(std::string_view room, std::string_view session, std::string_view user_json,
                              std::string_view role_json, int64_t ts_ms) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  write_key(w, "type");
  write_string(w, "join");
  write_key(w, "room");
  write_string(w, room);
  write_key(w, "session");
  write_string(w, session);
  write_key(w, "user");
  write_raw(w, user_json);
  write_key(w, "role");
  write_raw(w, role_json);
  write_key(w, "ts");
  w.Int64(ts_ms);
  w.EndObject();
  return text_of(b);
}

std::string encode_leave_event(std::string_view room, std::string_view session, std::string_view user_json,
                               int64_t ts_ms) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  write_key(w, "type");
  write_string(w, "leave");
  write_key(w, "room");
  write_string(w, room);
  write_key(w, "session");
  write_string(w, session);
  write_key(w, "user");
  write_raw(w, user_json);
  write_key(w, "ts");
  w.Int64(ts_ms);
  w.EndObject();
  return text_of(b);
}

}  // namespace roomcast
