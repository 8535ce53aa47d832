// core/cluster/cluster_wire.h: what instances write to Redis and to each other, byte for byte.
//
// Owns: the key names, the channel message format, the presence record format and the
// Lua scripts (one script per atomic step: load a room, store an edit, claim a session
// for a resume, end a session, keep a room alive). Pure functions: no Redis, no room.
// Called by core/cluster/cluster_store.cpp.
//
// Keys of room R, under one hash tag so a later move to Redis Cluster stays single-slot:
//   rc:{R}:meta  HASH  seq (last edit's seq), epoch (the history's name)
//   rc:{R}:log   STREAM entry id "<seq>-1", fields f (the edit frame), k (exactly-once
//                key or ""), s (sender's session id); capped at --history entries
//   rc:{R}:ids   HASH  exactly-once key -> seq, trimmed with the stream
//   rc:{R}:who   HASH  session id -> presence record (below)
//   rc:{R}:hooks STREAM (--webhook) the room's webhook outbox: entry id "0-<n>", fields w
//                (webhook-id), b (body), t (created, Unix ms); trimmed as the backend
//                acknowledges; expires max(--room-ttl, --webhook-max-age) + 60 s after
//                its last event
//   rc:{R}:hookd STRING (--webhook) the instance delivering the room's outbox, PX lease
//   channel rc:{R}
// and one key outside any room: rc:hooks, SET of the rooms whose outbox may hold events
// (the one key a Redis Cluster would need sharded; docs/integration.md 4).
// All four keys (meta, log, ids, who) expire --room-ttl (+60 s) after the last instance mirroring the room let
// go of it; a room whose meta is gone gets a new epoch (docs/protocol.md 3.3).
//
// A channel message is a run of netstrings ("<len>:<bytes>"): the sending instance's id,
// then records. A record is a kind and its fields:
//   E session seq epoch key frame   an edit: published by the edit script, atomically
//                                   with its seq; with --redis-min-replicas N > 0 by the
//                                   instance that stored it, once WAIT confirmed it (a
//                                   channel carries only edits no failover can lose)
//   c|s|f|j|l session frame         cursor, select, follow, presence join, presence leave:
//                                   the frame every member receives
//   p|o session frame               1.2: `presenting` (start, takeover, stop: sent by the
//                                   session that did it), presence `role`
//   h session until_ms              the session is held until until_ms (Redis clock)
//   r session old_instance          the session was resumed on the sending instance
// A presence record is netstrings: instance, resume token, connected (1/0), held until
// (ms, Redis clock; 0), then the session's state as one presence-API entry (JSON).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/cluster/redis_link.h"
#include "proto/message.h"

namespace roomcast::wire {

std::string meta_key(std::string_view room);
std::string log_key(std::string_view room);
std::string ids_key(std::string_view room);
std::string who_key(std::string_view room);
std::string channel(std::string_view room);
std::string hooks_key(std::string_view room);
std::string hook_lease_key(std::string_view room);
inline constexpr const char* kHookRoomsKey = "rc:hooks";
// The room a channel name belongs to; empty if it is not one of ours.
std::string_view room_of_channel(std::string_view channel);

// The kind of a channel record, as its one-letter field on the wire (above; the Lua
// scripts write 'E', 'r' and 'l' themselves).
enum class Record : char {
  Edit = 'E',
  Cursor = 'c',
  Select = 's',
  Follow = 'f',
  Join = 'j',
  Leave = 'l',
  Hold = 'h',
  Resume = 'r',
  Present = 'p',
  Role = 'o',
};
inline std::string_view letter(const Record& kind) { return {reinterpret_cast<const char*>(&kind), 1}; }

void put(std::string& out, std::string_view field);  // one netstring
// A whole channel message holding one E record, from `instance`.
std::string edit_message(std::string_view instance, std::string_view origin, uint64_t seq, std::string_view epoch,
                         std::string_view key, std::string_view frame);
// Numbers as the scripts return them: decimal strings or integers; 0 if neither.
uint64_t to_u64(std::string_view decimal);
uint64_t value_u64(const RedisValue& v);
// The seq of a stream entry id "<seq>-1".
inline uint64_t entry_seq(std::string_view id) { return to_u64(id.substr(0, id.find('-'))); }
// Reads the next netstring at *pos; false (and nothing read) if malformed.
bool next(std::string_view in, size_t* pos, std::string_view* field);

// One entry of rc:{R}:log as XRANGE returns it: [id, [field, value, ...]]. The views
// point into `entry`.
struct LogEntry {
  uint64_t seq = 0;
  std::string_view origin, key, frame;
  std::string_view instance;  // the instance whose edit script stored it (empty before hooks)
};
bool read_log_entry(const RedisValue& entry, LogEntry* out);

// One entry of rc:{R}:hooks as XRANGE returns it. The views point into `entry`.
struct HookEntry {
  uint64_t n = 0;
  std::string_view id, body;
  int64_t created_ms = 0;
};
bool read_hook_entry(const RedisValue& entry, HookEntry* out);

// Scripts, in RedisOptions::scripts order.
// kRecord: KEYS who; ARGV instance, then session/record pairs: each record is written
// unless another instance owns the session by now (it was claimed there, and what this
// instance still writes about it is older than what that one knows).
// kHookAppend, kHookClaim, kHookRenew, kHookAck: the webhook outbox (cluster_wire.cpp has
// each one's KEYS, ARGV and reply).
enum Script : int {
  kSync = 0, kEdit, kClaim, kEnd, kPoll, kRecord, kHookAppend, kHookClaim, kHookRenew, kHookAck, kScriptCount
};
std::vector<std::string> scripts();

// A session's state as a late joiner sees it (the presence-API entry), parsed back.
struct PeerState {
  std::string session;
  User user;
  bool has_camera = false;
  Camera camera;
  std::vector<std::string> selection;
  std::string following;
  Role role = Role::Editor;  // 1.2 (absent in a 1.1 instance's record: editor)
  bool presenting = false;   // 1.2: the room's presenter, when the record was written
};
bool parse_peer_state(std::string_view json, PeerState* out);

// The parts of relayed frames the mirror keeps.
bool parse_cursor_camera(std::string_view frame, Camera* out);
bool parse_select_ids(std::string_view frame, std::vector<std::string>* out);
bool parse_follow_target(std::string_view frame, std::string* out);
// A presence join's user and (1.2) role (editor if absent).
bool parse_join_user(std::string_view frame, User* out, Role* role = nullptr);
// 1.2: the session of a `presenting` frame (empty: null), the role of a presence `role` event.
bool parse_presenting(std::string_view frame, std::string* session);
bool parse_role(std::string_view frame, Role* role);

}  // namespace roomcast::wire
