// proto/message_encode.cpp: Writer-based encoders, one compact JSON object each.
#include <cmath>
#include <vector>

#include <rapidjson/writer.h>

#include "proto/json_util.h"
#include "proto/message.h"

namespace roomcast {
namespace {

using rapidjson::SizeType;
using rapidjson::Value;
using JsonWriter = json::Writer;
using json::write_key;
using json::write_string;

void write_number(JsonWriter& w, double d) {
  // Writer emits nothing for NaN/Inf (the document would be broken); decoded cameras are
  // always finite, so this only guards against a caller's bug.
  if (std::isfinite(d)) {
    w.Double(d);
  } else {
    w.Null();
  }
}

void write_vec3(JsonWriter& w, const double (&v)[3]) {
  w.StartArray();
  for (double d : v) write_number(w, d);
  w.EndArray();
}

void write_user(JsonWriter& w, const User& user) {
  w.StartObject();
  write_key(w, "id");
  write_string(w, user.id);
  if (user.has_name) {
    write_key(w, "name");
    write_string(w, user.name);
  }
  if (user.has_color) {
    write_key(w, "color");
    write_string(w, user.color);
  }
  w.EndObject();
}

// The camera's fields, inside an object the caller has opened.
void write_camera_fields(JsonWriter& w, const Camera& cam) {
  write_key(w, "position");
  write_vec3(w, cam.position);
  write_key(w, "target");
  write_vec3(w, cam.target);
  if (cam.has_up) {
    write_key(w, "up");
    write_vec3(w, cam.up);
  }
  if (cam.has_fov) {
    write_key(w, "fov");
    write_number(w, cam.fov);
  }
}

void write_scalar(JsonWriter& w, const Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType: w.Null(); break;
    case rapidjson::kFalseType: w.Bool(false); break;
    case rapidjson::kTrueType: w.Bool(true); break;
    case rapidjson::kStringType: w.String(v.GetString(), v.GetStringLength()); break;
    case rapidjson::kNumberType:
      // Same precedence as Value::Accept, so integers stay integers.
      if (v.IsDouble()) {
        write_number(w, v.GetDouble());
      } else if (v.IsInt()) {
        w.Int(v.GetInt());
      } else if (v.IsUint()) {
        w.Uint(v.GetUint());
      } else if (v.IsInt64()) {
        w.Int64(v.GetInt64());
      } else {
        w.Uint64(v.GetUint64());
      }
      break;
    case rapidjson::kObjectType:
    case rapidjson::kArrayType:
      break;  // handled by write_value
  }
}

// Value::Accept recurses once per nesting level, and `data` / `t` come from clients, so
// the tree is walked with an explicit stack instead.
void write_value(JsonWriter& w, const Value& root) {
  struct Level {
    const Value* container;
    SizeType next;
  };
  std::vector<Level> levels;
  const Value* pending = &root;
  while (true) {
    if (pending != nullptr) {
      if (pending->IsObject()) {
        w.StartObject();
        levels.push_back({pending, 0});
      } else if (pending->IsArray()) {
        w.StartArray();
        levels.push_back({pending, 0});
      } else {
        write_scalar(w, *pending);
      }
      pending = nullptr;
    }
    if (levels.empty()) return;
    Level& top = levels.back();
    if (top.container->IsObject()) {
      if (top.next < top.container->MemberCount()) {
        auto it = top.container->MemberBegin() + top.next++;
        w.Key(it->name.GetString(), it->name.GetStringLength());
        pending = &it->value;
      } else {
        w.EndObject();
        levels.pop_back();
      }
    } else {
      if (top.next < top.container->Size()) {
        pending = &(*top.container)[top.next++];
      } else {
        w.EndArray();
        levels.pop_back();
      }
    }
  }
}

// Opens the object and writes the leading "type" member every message starts with.
void begin_message(JsonWriter& w, std::string_view type) {
  w.StartObject();
  write_key(w, "type");
  write_string(w, type);
}

}  // namespace

static void write_peers(JsonWriter& w, std::span<const PeerView> peers) {
  w.StartArray();
  for (const PeerView& peer : peers) {
    w.StartObject();
    write_key(w, "session");
    write_string(w, peer.session);
    write_key(w, "user");
    if (peer.user != nullptr) {
      write_user(w, *peer.user);
    } else {
      write_user(w, User{});  // a caller bug; still emit the documented shape
    }
    write_key(w, "camera");
    if (peer.camera != nullptr) {
      w.StartObject();
      write_camera_fields(w, *peer.camera);
      w.EndObject();
    } else {
      w.Null();
    }
    write_key(w, "selection");
    w.StartArray();
    if (peer.selection != nullptr) {
      for (const std::string& id : *peer.selection) write_string(w, id);
    }
    w.EndArray();
    write_key(w, "following");
    if (peer.following.empty()) {
      w.Null();
    } else {
      write_string(w, peer.following);
    }
    write_key(w, "connected");
    w.Bool(peer.connected);
    write_key(w, "role");
    write_string(w, to_string(peer.role));
    if (peer.presenting) {
      write_key(w, "presenting");
      w.Bool(true);
    }
    w.EndObject();
  }
  w.EndArray();
}

void encode_welcome(rapidjson::StringBuffer& out, std::string_view session, std::string_view room,
                    const User& user, uint64_t seq, std::span<const PeerView> peers,
                    const WelcomeExtras& extras) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "welcome");
  write_key(w, "protocol");
  write_string(w, "1.2");
  write_key(w, "session");
  write_string(w, session);
  write_key(w, "room");
  write_string(w, room);
  write_key(w, "user");
  write_user(w, user);
  write_key(w, "seq");
  w.Uint64(seq);
  write_key(w, "peers");
  write_peers(w, peers);
  if (!extras.resume.empty()) {
    write_key(w, "resume");
    write_string(w, extras.resume);
  }
  if (!extras.epoch.empty()) {
    write_key(w, "epoch");
    write_string(w, extras.epoch);
  }
  if (extras.has_exp) {
    write_key(w, "exp");
    w.Int64(extras.exp);
  }
  if (extras.has_resumed) {
    write_key(w, "resumed");
    w.Bool(extras.resumed);
  }
  write_key(w, "role");
  write_string(w, to_string(extras.role));
  write_key(w, "presenter");
  if (extras.presenter.empty()) {
    w.Null();
  } else {
    write_string(w, extras.presenter);
  }
  if (extras.has_camera_rate) {
    write_key(w, "camera_rate");
    write_number(w, extras.camera_rate);
  }
  w.EndObject();
}

void encode_presence_list(rapidjson::StringBuffer& out, std::span<const PeerView> sessions) {
  out.Clear();
  JsonWriter w(out);
  write_peers(w, sessions);
}

void encode_presence_join(rapidjson::StringBuffer& out, std::string_view session, const User& user, Role role) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "presence");
  write_key(w, "event");
  write_string(w, "join");
  write_key(w, "session");
  write_string(w, session);
  write_key(w, "user");
  write_user(w, user);
  write_key(w, "role");
  write_string(w, to_string(role));
  w.EndObject();
}

void encode_presence_role(rapidjson::StringBuffer& out, std::string_view session, Role role) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "presence");
  write_key(w, "event");
  write_string(w, "role");
  write_key(w, "session");
  write_string(w, session);
  write_key(w, "role");
  write_string(w, to_string(role));
  w.EndObject();
}

void encode_presenting(rapidjson::StringBuffer& out, std::string_view session, const User* user) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "presenting");
  write_key(w, "session");
  if (session.empty()) {
    w.Null();
  } else {
    write_string(w, session);
    write_key(w, "user");
    write_user(w, user ? *user : User{});
  }
  w.EndObject();
}

void encode_presence_leave(rapidjson::StringBuffer& out, std::string_view session) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "presence");
  write_key(w, "event");
  write_string(w, "leave");
  write_key(w, "session");
  write_string(w, session);
  w.EndObject();
}

void encode_cursor(rapidjson::StringBuffer& out, std::string_view session, const Camera& camera) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "cursor");
  write_key(w, "session");
  write_string(w, session);
  write_camera_fields(w, camera);
  w.EndObject();
}

void encode_select(rapidjson::StringBuffer& out, std::string_view session,
                   std::span<const std::string> ids) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "select");
  write_key(w, "session");
  write_string(w, session);
  write_key(w, "ids");
  w.StartArray();
  for (const std::string& id : ids) write_string(w, id);
  w.EndArray();
  w.EndObject();
}

void encode_edit(rapidjson::StringBuffer& out, std::string_view session, uint64_t seq,
                 std::string_view building, std::string_view op, const rapidjson::Value* data) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "edit");
  write_key(w, "session");
  write_string(w, session);
  write_key(w, "seq");
  w.Uint64(seq);
  write_key(w, "building");
  write_string(w, building);
  write_key(w, "op");
  write_string(w, op);
  if (data != nullptr) {
    write_key(w, "data");
    write_value(w, *data);
  }
  w.EndObject();
}

void encode_ack(rapidjson::StringBuffer& out, bool has_id, std::string_view id, uint64_t seq, bool duplicate,
                bool rewritten) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "ack");
  if (has_id) {
    write_key(w, "id");
    write_string(w, id);
  }
  write_key(w, "seq");
  w.Uint64(seq);
  if (duplicate) {
    write_key(w, "duplicate");
    w.Bool(true);
  }
  if (rewritten) {
    write_key(w, "rewritten");
    w.Bool(true);
  }
  w.EndObject();
}

void encode_refreshed(rapidjson::StringBuffer& out, int64_t exp, Role role) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "refreshed");
  write_key(w, "exp");
  w.Int64(exp);
  write_key(w, "role");
  write_string(w, to_string(role));
  w.EndObject();
}

void encode_follow(rapidjson::StringBuffer& out, std::string_view session, std::string_view target) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "follow");
  write_key(w, "session");
  write_string(w, session);
  write_key(w, "target");
  if (target.empty()) {
    w.Null();
  } else {
    write_string(w, target);
  }
  w.EndObject();
}

void encode_pong(rapidjson::StringBuffer& out, const rapidjson::Value* t) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "pong");
  if (t != nullptr) {
    write_key(w, "t");
    write_value(w, *t);
  }
  w.EndObject();
}

void encode_resync(rapidjson::StringBuffer& out, uint64_t seq) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "resync");
  write_key(w, "seq");
  w.Uint64(seq);
  w.EndObject();
}

void encode_error(rapidjson::StringBuffer& out, ErrorCode code, std::string_view message) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "error");
  write_key(w, "code");
  write_string(w, to_string(code));
  write_key(w, "message");
  write_string(w, message);
  w.EndObject();
}

void encode_edit_error(rapidjson::StringBuffer& out, ErrorCode code, bool has_id, std::string_view id,
                       std::string_view message, std::string_view reason) {
  out.Clear();
  JsonWriter w(out);
  begin_message(w, "error");
  write_key(w, "code");
  write_string(w, to_string(code));
  if (has_id) {
    write_key(w, "id");
    write_string(w, id);
  }
  write_key(w, "message");
  write_string(w, message);
  if (!reason.empty()) {
    write_key(w, "reason");
    write_string(w, reason);
  }
  w.EndObject();
}

}  // namespace roomcast

