// proto/message.h: the JSON codec for the protocol's messages (docs/protocol.md 4) (RapidJSON).
//
// Owns: a MessageDecoder owns one parse arena and one document; everything a decoded
// ClientMessage points into (string views, rapidjson values) stays valid until the next
// decode() on the same decoder. One decoder per loop thread; not thread-safe.
// Called by: the loop thread for every inbound text message and publish body (decode,
// core/worker.cpp and core/http_front.cpp), and by the room service to serialize every
// outbound message (encode_*), exactly once per message, before the payload becomes a
// shared frame. Decoding is in message_decode.cpp, encoding in message_encode.cpp.
// Promises: decode() answers every input with either a filled ClientMessage or a
// DecodeError whose code is the spec's stable string (docs/protocol.md 5); it never
// throws and never crashes on hostile JSON. Encoders emit compact JSON whose fields are
// exactly those of docs/protocol.md 4.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include "proto/json_reader.h"

namespace roomcast {

// Stable error codes carried in `error.code`.
enum class ErrorCode : uint8_t {
  BadJson,        // "bad_json": not parseable JSON
  BadMessage,     // "bad_message": not an object, missing/wrong-typed field
  UnknownType,    // "unknown_type"
  NotJoined,      // "not_joined": anything but join before join
  AlreadyJoined,  // "already_joined": a second join
  RateLimited,    // "rate_limited"
  RoomFull,       // "room_full": join refused, the room has --max-room-members sessions
  BadToken,       // "bad_token" (1.1): refresh with a token that does not verify or names another sub
  Forbidden,      // "forbidden" (1.1): refresh with a token whose rooms exclude the room;
                  // (1.2) a viewer's `edit` or `present`
  Unavailable,    // "unavailable" (1.1): the edit store cannot be reached; the edit was not applied
  Rejected,       // "rejected": the app's backend vetoed the edit (docs/protocol.md 5)
};
std::string_view to_string(ErrorCode code);

enum class MessageType : uint8_t { Join, Cursor, Select, Edit, Follow, Ping, Leave, Refresh, Present };

// 1.2: what a session may do in its room (docs/protocol.md 7.1-7.2).
enum class Role : uint8_t { Viewer, Editor };
std::string_view to_string(Role role);

// Sent in join; kept by the session; echoed in welcome, presence and peers.
struct User {
  std::string id;  // required, non-empty
  std::string name;
  std::string color;
  bool has_name = false;
  bool has_color = false;
};

// A camera as the client sent it; all numbers finite.
struct Camera {
  double position[3] = {0, 0, 0};
  double target[3] = {0, 0, 0};
  double up[3] = {0, 0, 0};
  double fov = 0;
  bool has_up = false;
  bool has_fov = false;
};

// One decoded client message. Only the fields of `type` are meaningful.
struct ClientMessage {
  MessageType type = MessageType::Ping;
  // join
  User user;
  bool has_since = false;
  uint64_t since = 0;
  std::string_view resume;  // 1.1: a session's resume token; empty if absent
  bool has_epoch = false;   // 1.1: the epoch the client's `since` belongs to
  std::string_view epoch;
  // join (1.1, in-band authentication) and refresh: a JWT; empty if absent
  std::string_view token;
  // join (1.2): cursors per second per sender this client wants (0.5 to 10)
  bool has_camera_rate = false;
  double camera_rate = 0;
  // present (1.2): `stop: true` ends the sender's presenting
  bool stop = false;
  // cursor
  Camera camera;
  // select (at most kMaxSelection)
  std::vector<std::string_view> ids;
  // edit
  std::string_view building;
  std::string_view op;
  const rapidjson::Value* data = nullptr;  // null if absent
  bool has_id = false;
  std::string_view id;
  // follow: has_follow_target=false means "session": null (stop following)
  bool has_follow_target = false;
  std::string_view follow_target;
  // ping
  const rapidjson::Value* t = nullptr;  // null if absent
};

inline constexpr size_t kMaxSelection = 1000;
// Edit ids of 1 to 64 characters are remembered for exactly-once edits (docs/protocol.md 3.2).
inline constexpr size_t kMaxRememberedIdChars = 64;
// A token is a compact JWT; anything longer is not one of ours.
inline constexpr size_t kMaxTokenBytes = 8192;

struct DecodeError {
  ErrorCode code;
  std::string message;  // human text naming the offending field
};

class MessageDecoder {
 public:
  MessageDecoder();
  MessageDecoder(const MessageDecoder&) = delete;
  MessageDecoder& operator=(const MessageDecoder&) = delete;

  // Decodes one text message. Returns true and fills `out`, or returns false and fills
  // `err`. Validation order: bad_json, then bad_message (not an object, `type` missing or
  // not a string), then unknown_type, then the fields of the type (bad_message).
  bool decode(std::string_view text, ClientMessage& out, DecodeError& err);

  // Decodes the body of POST /api/rooms/{room}/publish, `{building, op, data}`, into an
  // edit (type Edit). Errors are bad_json or bad_message, as for decode().
  bool decode_publish(std::string_view body, ClientMessage& out, DecodeError& err);

 private:
  // Parses `text` into document_ (an object); false with `err` filled otherwise.
  bool parse_object(std::string_view text, DecodeError& err);

  static constexpr size_t kArenaBytes = 16 * 1024;
  // Both buffers start with a MemoryPoolAllocator chunk header (size_t fields), so both
  // need word alignment.
  alignas(8) char arena_[kArenaBytes];
  alignas(8) char stack_arena_[4 * 1024];
  rapidjson::MemoryPoolAllocator<> value_allocator_;
  rapidjson::MemoryPoolAllocator<> stack_allocator_;
  // rapidjson::Document fixes its parse-stack allocator to CrtAllocator; this one takes the
  // pool. Its values are still rapidjson::Value, so ClientMessage's pointers are unchanged.
  PooledJsonDocument document_;
};

// What welcome.peers says about one other session.
struct PeerView {
  std::string_view session;
  const User* user = nullptr;
  const Camera* camera = nullptr;                   // null: never sent a cursor
  const std::vector<std::string>* selection = nullptr;  // null: an empty list
  std::string_view following;                       // empty: null
  bool connected = true;                            // 1.1: false while the session is held
  Role role = Role::Editor;                         // 1.2
  bool presenting = false;                          // 1.2: written only when true
};

// What welcome says besides the session, room, user, seq and peers (1.1).
struct WelcomeExtras {
  std::string_view resume;  // the session's resume token
  std::string_view epoch;   // the room's epoch
  bool has_exp = false;     // authentication on: the token's expiry, Unix seconds
  int64_t exp = 0;
  bool has_resumed = false;  // the join carried `resume`: say whether it was honoured
  bool resumed = false;
  Role role = Role::Editor;           // 1.2: the joiner's own
  std::string_view presenter;         // 1.2: the presenting session; empty: null
  bool has_camera_rate = false;       // 1.2: the join's camera_rate, echoed
  double camera_rate = 0;
};

// Encoders: each clears `out` and writes one compact JSON object.
void encode_welcome(rapidjson::StringBuffer& out, std::string_view session, std::string_view room,
                    const User& user, uint64_t seq, std::span<const PeerView> peers,
                    const WelcomeExtras& extras = {});
// The JSON array answered by GET /api/rooms/{room}/presence: one entry per session, in
// the shape of welcome.peers.
void encode_presence_list(rapidjson::StringBuffer& out, std::span<const PeerView> sessions);
void encode_presence_join(rapidjson::StringBuffer& out, std::string_view session, const User& user,
                          Role role = Role::Editor);
// 1.2: {"type":"presence","event":"role","session":S,"role":R}
void encode_presence_role(rapidjson::StringBuffer& out, std::string_view session, Role role);
// 1.2: {"type":"presenting","session":S,"user":{...}}; `session` empty (user ignored): null.
void encode_presenting(rapidjson::StringBuffer& out, std::string_view session, const User* user);
void encode_presence_leave(rapidjson::StringBuffer& out, std::string_view session);
void encode_cursor(rapidjson::StringBuffer& out, std::string_view session, const Camera& camera);
void encode_select(rapidjson::StringBuffer& out, std::string_view session,
                   std::span<const std::string> ids);
// `data` may be null (field omitted).
void encode_edit(rapidjson::StringBuffer& out, std::string_view session, uint64_t seq,
                 std::string_view building, std::string_view op, const rapidjson::Value* data);
// `id` is omitted when has_id is false; `duplicate` (1.1) and `rewritten` (the edit hook
// changed the edit: docs/integration.md 3) are written only when true.
void encode_ack(rapidjson::StringBuffer& out, bool has_id, std::string_view id, uint64_t seq,
                bool duplicate = false, bool rewritten = false);
// 1.1: {"type":"refreshed","exp":N}; 1.2 adds "role".
void encode_refreshed(rapidjson::StringBuffer& out, int64_t exp, Role role = Role::Editor);
// `target` empty means null.
void encode_follow(rapidjson::StringBuffer& out, std::string_view session, std::string_view target);
// `t` may be null (field omitted).
void encode_pong(rapidjson::StringBuffer& out, const rapidjson::Value* t);
void encode_resync(rapidjson::StringBuffer& out, uint64_t seq);
void encode_error(rapidjson::StringBuffer& out, ErrorCode code, std::string_view message);
// An error about one edit: `id` (omitted when has_id is false) and, if not empty,
// `reason` (the backend's words) beside `message`.
void encode_edit_error(rapidjson::StringBuffer& out, ErrorCode code, bool has_id, std::string_view id,
                       std::string_view message, std::string_view reason = {});

}  // namespace roomcast
