// fuzz/message_fuzz.cpp: MessageDecoder::decode on hostile text, then, for every message
// it accepts, the proto/message.h encoders a room would run on it. Invariants:
//   - decode never crashes and, on failure, gives a non-empty human message;
//   - every encoder output is one valid JSON object whose "type" is the expected string,
//     and is what any client library accepts: valid UTF-8 (no surrogate, checked byte by
//     byte, not only by RapidJSON), nested at most 32 levels, keys of at most 256 bytes
//     and never repeated (proto/json_reader.h reads it back);
//   - a relayed camera keeps its numbers exactly (the encoder prints shortest round-trip
//     doubles, read back with full precision);
//   - one decoder reused across inputs (as on a loop thread) behaves like a fresh one.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include "fuzz/fuzz_common.h"
#include "proto/json_reader.h"
#include "proto/message.h"

namespace roomcast_fuzz::message {

using namespace roomcast;


constexpr unsigned kStrict = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
                             rapidjson::kParseFullPrecisionFlag;

// Linear lookup on a const value (RapidJSON 1.1's non-const member iterators trip
// clang's C++20 -Wambiguous-reversed-operator).
const rapidjson::Value* find(const rapidjson::Value& obj, std::string_view key) {
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it)
    if (std::string_view(it->name.GetString(), it->name.GetStringLength()) == key) return &it->value;
  return nullptr;
}

rapidjson::Document parse_output(const rapidjson::StringBuffer& buf, std::string_view type) {
  const std::string_view out(buf.GetString(), buf.GetSize());
  check(is_valid_utf8(out), "encoder output is valid UTF-8");
  rapidjson::Document strict;
  check(read_json(out, JsonLimits{.max_depth = 32, .max_key_bytes = 256}, strict).ok(),
        "encoder output reads back strictly: <= 32 levels, short unique keys, no surrogates");
  rapidjson::Document d;
  d.Parse<kStrict>(buf.GetString(), buf.GetSize());
  check(!d.HasParseError(), "encoder output is valid JSON");
  check(d.IsObject(), "encoder output is an object");
  const rapidjson::Value* t = find(d, "type");
  check(t && t->IsString() && std::string_view(t->GetString(), t->GetStringLength()) == type,
        "encoder output has the expected type");
  return d;
}

void check_vec3(const rapidjson::Value& obj, const char* key, const double (&want)[3]) {
  const rapidjson::Value* v = find(obj, key);
  check(v && v->IsArray() && v->Size() == 3, "camera vector present");
  for (rapidjson::SizeType i = 0; i < 3; ++i) {
    check((*v)[i].IsNumber(), "camera component is a number");
    check((*v)[i].GetDouble() == want[i], "camera component round-trips exactly");
  }
}

void encode_accepted(const ClientMessage& m, rapidjson::StringBuffer& buf) {
  const std::string_view session = "s-42";
  switch (m.type) {
    case MessageType::Join: {
      encode_presence_join(buf, session, m.user);
      parse_output(buf, "presence");
      // A welcome that lists this user as a peer too, with and without a camera.
      std::vector<std::string> selection = {"b1", "b2"};
      Camera cam;
      PeerView peers[2];
      peers[0].session = "s-1";
      peers[0].user = &m.user;
      peers[0].selection = &selection;
      peers[1].session = "s-2";
      peers[1].user = &m.user;
      peers[1].camera = &cam;
      peers[1].selection = &selection;
      peers[1].following = "s-1";
      WelcomeExtras extras;
      extras.resume = "token";
      extras.epoch = m.has_epoch ? m.epoch : std::string_view("epoch");
      extras.has_resumed = !m.resume.empty();
      encode_welcome(buf, session, "room", m.user, m.has_since ? m.since : 0, peers, extras);
      parse_output(buf, "welcome");
      if (m.has_since) {
        encode_resync(buf, m.since);
        parse_output(buf, "resync");
      }
      break;
    }
    case MessageType::Cursor: {
      encode_cursor(buf, session, m.camera);
      rapidjson::Document d = parse_output(buf, "cursor");
      check_vec3(d, "position", m.camera.position);
      check_vec3(d, "target", m.camera.target);
      if (m.camera.has_up) check_vec3(d, "up", m.camera.up);
      if (m.camera.has_fov) {
        const rapidjson::Value* fov = find(d, "fov");
        check(fov && fov->IsNumber() && fov->GetDouble() == m.camera.fov,
              "fov round-trips exactly");
      }
      break;
    }
    case MessageType::Select: {
      check(m.ids.size() <= kMaxSelection, "selection bounded");
      std::vector<std::string> ids(m.ids.begin(), m.ids.end());
      encode_select(buf, session, ids);
      rapidjson::Document d = parse_output(buf, "select");
      const rapidjson::Value* got = find(d, "ids");
      check(got && got->IsArray() && got->Size() == ids.size(), "ids relayed");
      for (rapidjson::SizeType i = 0; i < ids.size(); ++i) {
        const rapidjson::Value& id = (*got)[i];
        check(id.IsString() && std::string_view(id.GetString(), id.GetStringLength()) == ids[i],
              "id relayed byte for byte");
      }
      break;
    }
    case MessageType::Edit:
      encode_edit(buf, session, 7, m.building, m.op, m.data);
      parse_output(buf, "edit");
      encode_ack(buf, m.has_id, m.id, 7);
      parse_output(buf, "ack");
      break;
    case MessageType::Follow:
      encode_follow(buf, session, m.has_follow_target ? m.follow_target : std::string_view{});
      parse_output(buf, "follow");
      break;
    case MessageType::Ping:
      encode_pong(buf, m.t);
      parse_output(buf, "pong");
      break;
    case MessageType::Leave:
      encode_presence_leave(buf, session);
      parse_output(buf, "presence");
      break;
    case MessageType::Refresh:
      check(!m.token.empty() && m.token.size() <= kMaxTokenBytes, "a refresh carries a bounded token");
      encode_refreshed(buf, 1800000000);
      parse_output(buf, "refreshed");
      break;
    case MessageType::Present:
      encode_presenting(buf, m.stop ? std::string_view() : session, &m.user);
      parse_output(buf, "presenting");
      break;
  }
}

// A fingerprint of a decode, to compare a reused decoder with a fresh one.
std::string summarize(bool ok, const ClientMessage& m, const DecodeError& e) {
  if (!ok) return "E" + std::string(to_string(e.code)) + ":" + e.message;
  std::string s = "T" + std::to_string(int(m.type));
  s += "|" + m.user.id + "|" + std::to_string(m.ids.size()) + "|" + std::string(m.building) + "|" +
       std::string(m.op) + "|" + std::string(m.follow_target) + "|" + std::to_string(m.since);
  return s;
}

void one_input(const uint8_t* data, size_t size) {
  static MessageDecoder* reused = new MessageDecoder();  // lives for the process, as on a loop
  static rapidjson::StringBuffer* buf = new rapidjson::StringBuffer();
  std::string_view text(reinterpret_cast<const char*>(data), size);

  ClientMessage m;
  DecodeError err;
  bool ok = reused->decode(text, m, err);
  if (!ok) {
    check(!err.message.empty(), "an error names what is wrong");
    encode_error(*buf, err.code, err.message);
    parse_output(*buf, "error");
  } else {
    encode_accepted(m, *buf);
  }
  std::string first = summarize(ok, m, err);

  // A fresh decoder must agree with the one that has seen every previous input.
  auto fresh = std::make_unique<MessageDecoder>();
  ClientMessage m2;
  DecodeError err2;
  bool ok2 = fresh->decode(text, m2, err2);
  check(ok == ok2 && first == summarize(ok2, m2, err2), "reused decoder agrees with a fresh one");
}

}  // namespace roomcast_fuzz::message

#ifndef ROOMCAST_FUZZ_NO_ENTRY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  roomcast_fuzz::message::one_input(data, size);
  return 0;
}
#endif
