// proto/message_decode.cpp: RapidJSON DOM decoding into ClientMessage.
//
// Decoding parses into a Document whose value and stack allocators are memory pools over
// the decoder's own buffers; both pools are emptied at the start of every decode, so a
// message that fits the buffers parses without touching malloc, and one that does not
// only borrows heap chunks until the next decode.
#include <cmath>
#include <cstring>

#include "proto/json_reader.h"
#include "proto/json_util.h"
#include "proto/message.h"

namespace roomcast {

namespace {

using rapidjson::SizeType;
using rapidjson::Value;

// Client JSON is read strictly (proto/json_reader.h): valid UTF-8 with no surrogate
// escapes, at most 32 levels deep, keys of at most 256 bytes and never repeated. Every
// string a decoded message holds is relayed verbatim into other clients' text frames, so
// whatever passes here must be something every client's JSON parser accepts.
constexpr JsonLimits kClientJson{.max_depth = 32, .max_key_bytes = 256};

constexpr size_t kDocumentStackBytes = 1024;
constexpr size_t kMaxUserStringBytes = 256;

using json::member;
using json::view;

bool fail(DecodeError& err, ErrorCode code, std::string_view message) {
  err.code = code;
  err.message.assign(message);
  return false;
}

bool read_finite(const Value& v, double& out) {
  if (!v.IsNumber()) return false;
  double d = v.GetDouble();
  if (!std::isfinite(d)) return false;
  out = d;
  return true;
}

bool read_vec3(const Value& v, double (&out)[3]) {
  if (!v.IsArray() || v.Size() != 3) return false;
  for (SizeType i = 0; i < 3; ++i) {
    if (!read_finite(v[i], out[i])) return false;
  }
  return true;
}

// Every identifier-like string (user fields, building, op, edit id, selection ids,
// follow target) is capped like this; only `data` and `t` may carry longer strings.
bool is_short_string(const Value& v) {
  return v.IsString() && v.GetStringLength() <= kMaxUserStringBytes;
}

// Keeps the capacity of every string and vector in `out`, so a caller that reuses one
// ClientMessage does not allocate for ordinary messages either.
void reset(ClientMessage& out) {
  out.type = MessageType::Ping;
  out.user.id.clear();
  out.user.name.clear();
  out.user.color.clear();
  out.user.has_name = false;
  out.user.has_color = false;
  out.has_since = false;
  out.since = 0;
  out.resume = {};
  out.has_epoch = false;
  out.epoch = {};
  out.token = {};
  out.has_camera_rate = false;
  out.camera_rate = 0;
  out.stop = false;
  out.camera = Camera{};
  out.ids.clear();
  out.building = {};
  out.op = {};
  out.data = nullptr;
  out.has_id = false;
  out.id = {};
  out.has_follow_target = false;
  out.follow_target = {};
  out.t = nullptr;
}

// 1.1 `token` (join, refresh): a string of at most kMaxTokenBytes.
bool decode_token(const Value& msg, ClientMessage& out, DecodeError& err, const char* what) {
  const Value* token = member(msg, "token");
  if (token == nullptr) return true;
  if (!token->IsString() || token->GetStringLength() == 0 || token->GetStringLength() > kMaxTokenBytes) {
    return fail(err, ErrorCode::BadMessage, std::string(what) + ": `token` must be a non-empty string of at most 8192 bytes");
  }
  out.token = view(*token);
  return true;
}

bool decode_refresh(const Value& msg, ClientMessage& out, DecodeError& err) {
  if (!decode_token(msg, out, err, "refresh")) return false;
  if (out.token.empty()) return fail(err, ErrorCode::BadMessage, "refresh: `token` is required");
  return true;
}

bool decode_join(const Value& msg, ClientMessage& out, DecodeError& err) {
  const Value* user = member(msg, "user");
  if (user == nullptr || !user->IsObject()) {
    return fail(err, ErrorCode::BadMessage, "join: `user` must be an object");
  }
  const Value* id = member(*user, "id");
  if (id == nullptr || !is_short_string(*id) || id->GetStringLength() == 0) {
    return fail(err, ErrorCode::BadMessage,
                "join: `user.id` must be a non-empty string of at most 256 bytes");
  }
  out.user.id.assign(view(*id));
  if (const Value* name = member(*user, "name")) {
    if (!is_short_string(*name)) {
      return fail(err, ErrorCode::BadMessage,
                  "join: `user.name` must be a string of at most 256 bytes");
    }
    out.user.name.assign(view(*name));
    out.user.has_name = true;
  }
  if (const Value* color = member(*user, "color")) {
    if (!is_short_string(*color)) {
      return fail(err, ErrorCode::BadMessage,
                  "join: `user.color` must be a string of at most 256 bytes");
    }
    out.user.color.assign(view(*color));
    out.user.has_color = true;
  }
  if (const Value* since = member(msg, "since")) {
    // IsUint64 is false for negatives and for anything written with a fraction or an
    // exponent, which is exactly "a non-negative integer" as a client would send it.
    if (!since->IsUint64()) {
      return fail(err, ErrorCode::BadMessage, "join: `since` must be a non-negative integer");
    }
    out.since = since->GetUint64();
    out.has_since = true;
  }
  if (const Value* resume = member(msg, "resume")) {
    if (!is_short_string(*resume)) {
      return fail(err, ErrorCode::BadMessage, "join: `resume` must be a string of at most 256 bytes");
    }
    out.resume = view(*resume);
  }
  if (const Value* epoch = member(msg, "epoch")) {
    if (!is_short_string(*epoch)) {
      return fail(err, ErrorCode::BadMessage, "join: `epoch` must be a string of at most 256 bytes");
    }
    out.epoch = view(*epoch);
    out.has_epoch = true;
  }
  if (const Value* rate = member(msg, "camera_rate")) {
    // 1.2 (docs/protocol.md 7.3): cursors per second per sender, 0.5 to 10.
    double r = 0;
    if (!read_finite(*rate, r) || r < 0.5 || r > 10) {
      return fail(err, ErrorCode::BadMessage, "join: `camera_rate` must be a number from 0.5 to 10");
    }
    out.camera_rate = r;
    out.has_camera_rate = true;
  }
  return decode_token(msg, out, err, "join");
}

bool decode_present(const Value& msg, ClientMessage& out, DecodeError& err) {
  if (const Value* stop = member(msg, "stop")) {
    if (!stop->IsBool()) return fail(err, ErrorCode::BadMessage, "present: `stop` must be true or false");
    out.stop = stop->GetBool();
  }
  return true;
}

bool decode_cursor(const Value& msg, ClientMessage& out, DecodeError& err) {
  Camera& cam = out.camera;
  const Value* position = member(msg, "position");
  if (position == nullptr || !read_vec3(*position, cam.position)) {
    return fail(err, ErrorCode::BadMessage,
                "cursor: `position` must be an array of 3 finite numbers");
  }
  const Value* target = member(msg, "target");
  if (target == nullptr || !read_vec3(*target, cam.target)) {
    return fail(err, ErrorCode::BadMessage, "cursor: `target` must be an array of 3 finite numbers");
  }
  if (const Value* up = member(msg, "up")) {
    if (!read_vec3(*up, cam.up)) {
      return fail(err, ErrorCode::BadMessage, "cursor: `up` must be an array of 3 finite numbers");
    }
    cam.has_up = true;
  }
  if (const Value* fov = member(msg, "fov")) {
    if (!read_finite(*fov, cam.fov)) {
      return fail(err, ErrorCode::BadMessage, "cursor: `fov` must be a finite number");
    }
    cam.has_fov = true;
  }
  return true;
}

bool decode_select(const Value& msg, ClientMessage& out, DecodeError& err) {
  const Value* ids = member(msg, "ids");
  if (ids == nullptr || !ids->IsArray()) {
    return fail(err, ErrorCode::BadMessage, "select: `ids` must be an array of strings");
  }
  if (ids->Size() > kMaxSelection) {
    return fail(err, ErrorCode::BadMessage, "select: `ids` has more than 1000 entries");
  }
  for (const Value& id : ids->GetArray()) {
    if (!is_short_string(id)) {
      return fail(err, ErrorCode::BadMessage, "select: `ids` must be an array of strings of at most 256 bytes");
    }
    out.ids.push_back(view(id));
  }
  return true;
}

bool decode_edit(const Value& msg, ClientMessage& out, DecodeError& err) {
  const Value* building = member(msg, "building");
  if (building == nullptr || !is_short_string(*building)) {
    return fail(err, ErrorCode::BadMessage, "edit: `building` must be a string of at most 256 bytes");
  }
  const Value* op = member(msg, "op");
  if (op == nullptr || !is_short_string(*op)) {
    return fail(err, ErrorCode::BadMessage, "edit: `op` must be a string of at most 256 bytes");
  }
  out.building = view(*building);
  out.op = view(*op);
  out.data = member(msg, "data");
  if (const Value* id = member(msg, "id")) {
    if (!is_short_string(*id)) return fail(err, ErrorCode::BadMessage, "edit: `id` must be a string of at most 256 bytes");
    out.id = view(*id);
    out.has_id = true;
  }
  return true;
}

bool decode_follow(const Value& msg, ClientMessage& out, DecodeError& err) {
  const Value* session = member(msg, "session");
  if (session != nullptr && session->IsNull()) return true;
  if (session == nullptr || !is_short_string(*session) || session->GetStringLength() == 0) {
    return fail(err, ErrorCode::BadMessage, "follow: `session` must be a non-empty string or null");
  }
  out.follow_target = view(*session);
  out.has_follow_target = true;
  return true;
}

}  // namespace

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::BadJson: return "bad_json";
    case ErrorCode::BadMessage: return "bad_message";
    case ErrorCode::UnknownType: return "unknown_type";
    case ErrorCode::NotJoined: return "not_joined";
    case ErrorCode::AlreadyJoined: return "already_joined";
    case ErrorCode::RateLimited: return "rate_limited";
    case ErrorCode::RoomFull: return "room_full";
    case ErrorCode::BadToken: return "bad_token";
    case ErrorCode::Forbidden: return "forbidden";
    case ErrorCode::Unavailable: return "unavailable";
    case ErrorCode::Rejected: return "rejected";
  }
  return "bad_message";
}

std::string_view to_string(Role role) { return role == Role::Editor ? "editor" : "viewer"; }

MessageDecoder::MessageDecoder()
    : value_allocator_(arena_, sizeof(arena_)),
      stack_allocator_(stack_arena_, sizeof(stack_arena_)),
      document_(&value_allocator_, kDocumentStackBytes, &stack_allocator_) {}

bool MessageDecoder::decode(std::string_view text, ClientMessage& out, DecodeError& err) {
  reset(out);
  if (!parse_object(text, err)) return false;
  const Value* type = member(document_, "type");
  if (type == nullptr || !type->IsString()) {
    return fail(err, ErrorCode::BadMessage, "`type` must be a string");
  }
  std::string_view name = view(*type);
  if (name == "join") {
    out.type = MessageType::Join;
    return decode_join(document_, out, err);
  }
  if (name == "cursor") {
    out.type = MessageType::Cursor;
    return decode_cursor(document_, out, err);
  }
  if (name == "select") {
    out.type = MessageType::Select;
    return decode_select(document_, out, err);
  }
  if (name == "edit") {
    out.type = MessageType::Edit;
    return decode_edit(document_, out, err);
  }
  if (name == "follow") {
    out.type = MessageType::Follow;
    return decode_follow(document_, out, err);
  }
  if (name == "ping") {
    out.type = MessageType::Ping;
    out.t = member(document_, "t");
    return true;
  }
  if (name == "refresh") {
    out.type = MessageType::Refresh;
    return decode_refresh(document_, out, err);
  }
  if (name == "leave") {
    out.type = MessageType::Leave;
    return true;
  }
  if (name == "present") {
    out.type = MessageType::Present;
    return decode_present(document_, out, err);
  }
  return fail(err, ErrorCode::UnknownType, "unknown message `type`");
}

bool MessageDecoder::decode_publish(std::string_view body, ClientMessage& out, DecodeError& err) {
  reset(out);
  if (!parse_object(body, err)) return false;
  out.type = MessageType::Edit;
  return decode_edit(document_, out, err);
}

bool MessageDecoder::parse_object(std::string_view text, DecodeError& err) {
  // The previous document's values live in the pools about to be emptied; drop the
  // reference to them first. The parse stacks are already released (the reader and the
  // document give theirs back on every exit), so clearing the stack pool leaves no
  // dangling pointer. Clear() keeps the user buffer and frees only overflow chunks.
  document_.SetNull();
  value_allocator_.Clear();
  stack_allocator_.Clear();

  JsonReadResult read = read_json(text, kClientJson, document_, &stack_allocator_);
  if (!read.ok()) {
    // Broken text is bad_json; well-formed JSON beyond the limits is bad_message.
    const bool syntax = read.reject == JsonReject::Syntax || read.reject == JsonReject::BadEncoding;
    return fail(err, syntax ? ErrorCode::BadJson : ErrorCode::BadMessage, describe(read, kClientJson));
  }
  if (!document_.IsObject()) {
    return fail(err, ErrorCode::BadMessage, "message must be a JSON object");
  }
  return true;
}


}  // namespace roomcast
