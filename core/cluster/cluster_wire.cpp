// core/cluster/cluster_wire.cpp: key names, netstrings, the Lua scripts, and reading back the
// frames and presence entries other instances wrote.
#include "core/cluster/cluster_wire.h"

#include <rapidjson/document.h>

#include <charconv>

namespace roomcast::wire {
namespace {

std::string key(std::string_view room, std::string_view suffix) {
  std::string k = "rc:{";
  k += room;
  k += '}';
  k += suffix;
  return k;
}

// Netstrings in Lua, shared by the scripts that read or write presence records.
constexpr const char* kLuaHelpers = R"lua(
local function ns(s) return #s .. ':' .. s end
local function fields(s)
  local out, p = {}, 1
  while p <= #s do
    local c = string.find(s, ':', p, true)
    if not c then return nil end
    local n = tonumber(string.sub(s, p, c - 1))
    if not n then return nil end
    out[#out + 1] = string.sub(s, c + 1, c + n)
    p = c + 1 + n
  end
  return out
end
)lua";

// A room's epoch, or a new history named `fresh` when Redis has none (docs/protocol.md
// 3.3): the log and the exactly-once ids of any older history go with it. Shared by the
// two scripts that may be the first to touch a room.
constexpr const char* kLuaEpoch = R"lua(
local function room_epoch(meta, log, ids, fresh)
  local epoch = redis.call('HGET', meta, 'epoch')
  if epoch then return epoch end
  redis.call('DEL', log, ids)
  redis.call('HSET', meta, 'epoch', fresh, 'seq', 0)
  return fresh
end
)lua";

// KEYS meta log who ids; ARGV epoch-if-new ttl-ms -> {seq, epoch, log entries, who}
constexpr const char* kLuaSync = R"lua(
local epoch = room_epoch(KEYS[1], KEYS[2], KEYS[4], ARGV[1])
local seq = redis.call('HGET', KEYS[1], 'seq')
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return {seq, epoch, redis.call('XRANGE', KEYS[2], '-', '+'), redis.call('HGETALL', KEYS[3])}
)lua";

// The room's webhook outbox (docs/integration.md 4, "Nothing lost"): an event appended to
// rc:{R}:hooks as entry "0-<n>" (n counts up for as long as the stream exists), the room
// put in the set of rooms with events, and the room's delivery lease taken if nobody
// holds it. Returns n and what this instance is now: 2 it already delivered the room,
// 1 it just became its deliverer (it must read the stream from the start), 0 another
// instance delivers it. Shared by the edit script and the join/leave script.
constexpr const char* kLuaKeepEvent = R"lua(
local function keep_event(hooks, lease, rooms, room, instance, id, body, created, lease_ms, ttl_ms)
  local entry = redis.call('XADD', hooks, '0-*', 'w', id, 'b', body, 't', created)
  redis.call('PEXPIRE', hooks, ttl_ms)
  redis.call('SADD', rooms, room)
  local own = 0
  local cur = redis.call('GET', lease)
  if cur == instance then
    redis.call('PEXPIRE', lease, lease_ms)
    own = 2
  elseif not cur then
    redis.call('SET', lease, instance, 'PX', lease_ms)
    own = 1
  end
  return tonumber(string.match(entry, '%-(%d+)$')), own
end
)lua";

// KEYS meta log ids [hooks lease rooms]; ARGV key prefix suffix limit origin epoch-if-new
// instance ttl-ms channel publish [room event-head event-tail id-prefix created-ms lease-ms
// hooks-ttl-ms] -> {seq, duplicate, epoch, frame, origin[, event n, deliverer]}
// With the bracketed parts (--webhook): the edit's webhook event is kept in the room's
// outbox in the same call, so an acked edit always has its event in Redis. Its body is
// head .. epoch .. '","seq":' .. seq .. tail, its webhook-id id-prefix .. epoch .. ':' .. seq
// (the epoch and the seq are only known here).
// publish "1": the E record goes out here, atomically with the seq (--redis-min-replicas
// 0). "0": the caller publishes it once WAIT confirmed the write, so no instance applies
// an edit a failover could still lose. Both paths write (PEXPIRE), so a WAIT after a
// duplicate covers the original's write too, whichever connection made it.
constexpr const char* kLuaEdit = R"lua(
local epoch = room_epoch(KEYS[1], KEYS[2], KEYS[3], ARGV[6])
local key = ARGV[1]
if key ~= '' then
  local s = redis.call('HGET', KEYS[3], key)
  if s then
    for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[8]) end
    local frame, origin = '', ''
    local e = redis.call('XRANGE', KEYS[2], s .. '-1', s .. '-1')
    if e[1] then
      local f = e[1][2]
      for j = 1, #f - 1, 2 do
        if f[j] == 'f' then frame = f[j + 1] end
        if f[j] == 's' then origin = f[j + 1] end
      end
    end
    return {tonumber(s), 1, epoch, frame, origin}
  end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local frame = ARGV[2] .. seq .. ARGV[3]
redis.call('XADD', KEYS[2], seq .. '-1', 'f', frame, 'k', key, 's', ARGV[5], 'i', ARGV[7])
if key ~= '' then redis.call('HSET', KEYS[3], key, seq) end
local limit = tonumber(ARGV[4])
local n = redis.call('XLEN', KEYS[2])
if n > limit then
  for _, e in ipairs(redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', n - limit)) do
    local f = e[2]
    for j = 1, #f - 1, 2 do
      if f[j] == 'k' and f[j + 1] ~= '' then
        local s = redis.call('HGET', KEYS[3], f[j + 1])
        if s and s .. '-1' == e[1] then redis.call('HDEL', KEYS[3], f[j + 1]) end
      end
    end
    redis.call('XDEL', KEYS[2], e[1])
  end
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[8]) end
if ARGV[10] == '1' then
  redis.call('PUBLISH', ARGV[9], ns(ARGV[7]) .. ns('E') .. ns(ARGV[5]) .. ns(tostring(seq)) .. ns(epoch) .. ns(key) .. ns(frame))
end
if #KEYS == 6 then
  local body = ARGV[12] .. epoch .. '","seq":' .. seq .. ARGV[13]
  local n, own = keep_event(KEYS[4], KEYS[5], KEYS[6], ARGV[11], ARGV[7], ARGV[14] .. epoch .. ':' .. seq, body,
                            ARGV[15], ARGV[16], ARGV[17])
  return {seq, 0, epoch, frame, ARGV[5], n, own}
end
return {seq, 0, epoch, frame, ARGV[5]}
)lua";

// KEYS hooks lease rooms; ARGV room instance webhook-id body created-ms lease-ms
// hooks-ttl-ms -> {event n, deliverer}: a join's or leave's event (docs/integration.md 4).
constexpr const char* kLuaHookAppend = R"lua(
local n, own = keep_event(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
return {n, own}
)lua";

// KEYS hooks lease rooms; ARGV room instance lease-ms -> 1 this instance just became the
// room's deliverer, 2 it already was, 0 not (another one is, or nothing is left: then the
// room leaves the set of rooms with events, unless someone delivers it).
constexpr const char* kLuaHookClaim = R"lua(
local cur = redis.call('GET', KEYS[2])
if redis.call('XLEN', KEYS[1]) == 0 then
  if not cur then redis.call('SREM', KEYS[3], ARGV[1]) end
  return 0
end
if cur == ARGV[2] then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 2
end
if cur then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
)lua";

// KEYS hooks lease rooms; ARGV room instance lease-ms release-if-empty -> {held, last n}:
// the deliverer renews its lease and learns the last event's n (another instance's
// events reach the outbox too). With release-if-empty "1" and nothing left, it lets the
// room go (held 0): the room leaves the set, the next event's instance delivers it.
constexpr const char* kLuaHookRenew = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {0, 0} end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if ARGV[4] == '1' and not last[1] then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[1])
  return {0, 0}
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local n = 0
if last[1] then n = tonumber(string.match(last[1][1], '%-(%d+)$')) end
return {1, n}
)lua";

// KEYS hooks; ARGV n webhook-id -> 1 if the events through n left the outbox: the backend
// acknowledged event n (or it was dropped). Only if entry n is still that event: a stream
// that expired and started over is never trimmed by an old acknowledgement.
constexpr const char* kLuaHookAck = R"lua(
local e = redis.call('XRANGE', KEYS[1], '0-' .. ARGV[1], '0-' .. ARGV[1])
if not e[1] then return 0 end
local f = e[1][2]
for j = 1, #f - 1, 2 do
  if f[j] == 'w' and f[j + 1] == ARGV[2] then
    redis.call('XTRIM', KEYS[1], 'MINID', '0-' .. (tonumber(ARGV[1]) + 1))
    return 1
  end
end
return 0
)lua";

// KEYS who; ARGV token instance user-id-or-empty channel -> {session, state} or nil
constexpr const char* kLuaClaim = R"lua(
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local f = fields(all[i + 1])
  if f and #f == 5 and f[2] == ARGV[1] then
    if ARGV[3] ~= '' then
      local ok, st = pcall(cjson.decode, f[5])
      if not ok or type(st) ~= 'table' or type(st.user) ~= 'table' or st.user.id ~= ARGV[3] then return false end
    end
    redis.call('HSET', KEYS[1], all[i], ns(ARGV[2]) .. ns(f[2]) .. ns('1') .. ns('0') .. ns(f[5]))
    redis.call('PUBLISH', ARGV[4], ns(ARGV[2]) .. ns('r') .. ns(all[i]) .. ns(f[1]))
    return {all[i], f[5]}
  end
end
return false
)lua";

// KEYS who; ARGV session owner channel sender leave-frame -> 1 if this call ended it
constexpr const char* kLuaEnd = R"lua(
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
local f = fields(rec)
if not f or f[1] ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ns(ARGV[4]) .. ns('l') .. ns(ARGV[1]) .. ns(ARGV[5]))
return 1
)lua";

// KEYS who; ARGV instance {session record}... -> how many records were written
constexpr const char* kLuaRecord = R"lua(
local written = 0
for i = 2, #ARGV - 1, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local f = cur and fields(cur)
  if not cur or (f and f[1] == ARGV[1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    written = written + 1
  end
end
return written
)lua";

// KEYS meta log who ids; ARGV ttl-ms -> {seq, epoch} (nil, nil: the room's state is gone)
constexpr const char* kLuaPoll = R"lua(
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return {redis.call('HGET', KEYS[1], 'seq'), redis.call('HGET', KEYS[1], 'epoch')}
)lua";

using rapidjson::Value;

// A member of `obj`, or null (const iterators: clang's C++20 mode refuses rapidjson's
// non-const iterator comparisons as ambiguous).
const Value* field(const Value& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it)
    if (std::string_view(it->name.GetString(), it->name.GetStringLength()) == key) return &it->value;
  return nullptr;
}

bool parse(std::string_view json, rapidjson::Document* doc) {
  // Iterative: what another instance wrote is bounded by --max-message, not its depth.
  doc->Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  return !doc->HasParseError() && doc->IsObject();
}

bool read_vec3(const Value& v, double out[3]) {
  if (!v.IsArray() || v.Size() != 3) return false;
  for (unsigned i = 0; i < 3; ++i) {
    if (!v[i].IsNumber()) return false;
    out[i] = v[i].GetDouble();
  }
  return true;
}

// The camera fields of an object (a cursor frame, or a presence entry's "camera").
bool read_camera(const Value& obj, Camera* out) {
  if (!obj.IsObject()) return false;
  Camera cam;
  const Value* p = field(obj, "position");
  const Value* t = field(obj, "target");
  if (!p || !t) return false;
  if (!read_vec3(*p, cam.position) || !read_vec3(*t, cam.target)) return false;
  const Value* up = field(obj, "up");
  if (up) cam.has_up = read_vec3(*up, cam.up);
  const Value* fov = field(obj, "fov");
  if (fov && fov->IsNumber()) {
    cam.has_fov = true;
    cam.fov = fov->GetDouble();
  }
  *out = cam;
  return true;
}

bool read_user(const Value& v, User* out) {
  if (!v.IsObject()) return false;
  const Value* id = field(v, "id");
  if (!id || !id->IsString()) return false;
  User u;
  u.id.assign(id->GetString(), id->GetStringLength());
  const Value* name = field(v, "name");
  if (name && name->IsString()) {
    u.has_name = true;
    u.name.assign(name->GetString(), name->GetStringLength());
  }
  const Value* color = field(v, "color");
  if (color && color->IsString()) {
    u.has_color = true;
    u.color.assign(color->GetString(), color->GetStringLength());
  }
  *out = std::move(u);
  return true;
}

bool read_strings(const Value& v, std::vector<std::string>* out) {
  out->clear();
  if (v.IsObject() && v.MemberCount() == 0) return true;  // an empty list as Lua's cjson writes it
  if (!v.IsArray()) return false;
  for (const Value& s : v.GetArray())
    if (s.IsString()) out->emplace_back(s.GetString(), s.GetStringLength());
  return true;
}

}  // namespace

std::string meta_key(std::string_view room) { return key(room, ":meta"); }
std::string log_key(std::string_view room) { return key(room, ":log"); }
std::string ids_key(std::string_view room) { return key(room, ":ids"); }
std::string who_key(std::string_view room) { return key(room, ":who"); }
std::string channel(std::string_view room) { return key(room, ""); }
std::string hooks_key(std::string_view room) { return key(room, ":hooks"); }
std::string hook_lease_key(std::string_view room) { return key(room, ":hookd"); }

std::string_view room_of_channel(std::string_view ch) {
  if (!ch.starts_with("rc:{") || !ch.ends_with("}")) return {};
  return ch.substr(4, ch.size() - 5);
}

uint64_t to_u64(std::string_view s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

uint64_t value_u64(const RedisValue& v) {
  if (v.kind == RedisValue::Kind::Integer) return v.integer > 0 ? uint64_t(v.integer) : 0;
  if (v.kind == RedisValue::Kind::String) return to_u64(v.str);
  return 0;
}

bool read_hook_entry(const RedisValue& entry, HookEntry* out) {
  if (entry.kind != RedisValue::Kind::Array || entry.elements.size() != 2) return false;
  const std::string& id = entry.elements[0].str;
  const size_t dash = id.find('-');
  if (dash == std::string::npos) return false;
  HookEntry e;
  e.n = to_u64(std::string_view(id).substr(dash + 1));
  bool has_id = false, has_body = false;
  const auto& f = entry.elements[1].elements;
  for (size_t i = 0; i + 1 < f.size(); i += 2) {
    if (f[i].str == "w") {
      e.id = f[i + 1].str;
      has_id = true;
    }
    if (f[i].str == "b") {
      e.body = f[i + 1].str;
      has_body = true;
    }
    if (f[i].str == "t") e.created_ms = int64_t(to_u64(f[i + 1].str));
  }
  *out = e;
  return e.n != 0 && has_id && has_body;
}

bool read_log_entry(const RedisValue& entry, LogEntry* out) {
  if (entry.kind != RedisValue::Kind::Array || entry.elements.size() != 2) return false;
  LogEntry e;
  e.seq = entry_seq(entry.elements[0].str);
  const auto& f = entry.elements[1].elements;
  for (size_t i = 0; i + 1 < f.size(); i += 2) {
    if (f[i].str == "f") e.frame = f[i + 1].str;
    if (f[i].str == "k") e.key = f[i + 1].str;
    if (f[i].str == "s") e.origin = f[i + 1].str;
    if (f[i].str == "i") e.instance = f[i + 1].str;
  }
  *out = e;
  return e.seq != 0 && !e.frame.empty();
}

void put(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

std::string edit_message(std::string_view instance, std::string_view origin, uint64_t seq, std::string_view epoch,
                         std::string_view key, std::string_view frame) {
  std::string out;
  put(out, instance);
  put(out, letter(Record::Edit));
  put(out, origin);
  put(out, std::to_string(seq));
  put(out, epoch);
  put(out, key);
  put(out, frame);
  return out;
}

bool next(std::string_view in, size_t* pos, std::string_view* field) {
  size_t colon = in.find(':', *pos);
  if (colon == std::string_view::npos || colon == *pos || colon - *pos > 10) return false;
  size_t len = 0;
  auto [end, ec] = std::from_chars(in.data() + *pos, in.data() + colon, len);
  if (ec != std::errc() || end != in.data() + colon) return false;
  if (len > in.size() - colon - 1) return false;
  *field = in.substr(colon + 1, len);
  *pos = colon + 1 + len;
  return true;
}

std::vector<std::string> scripts() {
  std::vector<std::string> out(kScriptCount);
  out[kSync] = std::string(kLuaEpoch) + kLuaSync;
  out[kEdit] = std::string(kLuaHelpers) + kLuaEpoch + kLuaKeepEvent + kLuaEdit;
  out[kClaim] = std::string(kLuaHelpers) + kLuaClaim;
  out[kEnd] = std::string(kLuaHelpers) + kLuaEnd;
  out[kPoll] = kLuaPoll;
  out[kRecord] = std::string(kLuaHelpers) + kLuaRecord;
  out[kHookAppend] = std::string(kLuaKeepEvent) + kLuaHookAppend;
  out[kHookClaim] = kLuaHookClaim;
  out[kHookRenew] = kLuaHookRenew;
  out[kHookAck] = kLuaHookAck;
  return out;
}

bool parse_peer_state(std::string_view json, PeerState* out) {
  rapidjson::Document doc;
  if (!parse(json, &doc)) return false;
  const Value* session = field(doc, "session");
  const Value* user = field(doc, "user");
  if (!session || !session->IsString() || !user) return false;
  PeerState st;
  st.session.assign(session->GetString(), session->GetStringLength());
  if (!read_user(*user, &st.user)) return false;
  const Value* cam = field(doc, "camera");
  if (cam) st.has_camera = read_camera(*cam, &st.camera);
  const Value* sel = field(doc, "selection");
  if (sel) read_strings(*sel, &st.selection);
  const Value* following = field(doc, "following");
  if (following && following->IsString())
    st.following.assign(following->GetString(), following->GetStringLength());
  const Value* role = field(doc, "role");
  if (role && role->IsString() && std::string_view(role->GetString(), role->GetStringLength()) == "viewer")
    st.role = Role::Viewer;
  const Value* presenting = field(doc, "presenting");
  st.presenting = presenting && presenting->IsBool() && presenting->GetBool();
  *out = std::move(st);
  return true;
}

bool parse_cursor_camera(std::string_view frame, Camera* out) {
  rapidjson::Document doc;
  return parse(frame, &doc) && read_camera(doc, out);
}

bool parse_select_ids(std::string_view frame, std::vector<std::string>* out) {
  rapidjson::Document doc;
  if (!parse(frame, &doc)) return false;
  const Value* ids = field(doc, "ids");
  return ids && read_strings(*ids, out);
}

bool parse_follow_target(std::string_view frame, std::string* out) {
  rapidjson::Document doc;
  if (!parse(frame, &doc)) return false;
  const Value* target = field(doc, "target");
  if (!target) return false;
  if (target->IsString())
    out->assign(target->GetString(), target->GetStringLength());
  else
    out->clear();
  return true;
}

namespace {

Role role_field(const Value& doc) {
  const Value* role = field(doc, "role");
  if (role && role->IsString() && std::string_view(role->GetString(), role->GetStringLength()) == "viewer")
    return Role::Viewer;
  return Role::Editor;
}

}  // namespace

bool parse_join_user(std::string_view frame, User* out, Role* role) {
  rapidjson::Document doc;
  if (!parse(frame, &doc)) return false;
  const Value* user = field(doc, "user");
  if (!user || !read_user(*user, out)) return false;
  if (role) *role = role_field(doc);
  return true;
}

bool parse_presenting(std::string_view frame, std::string* session) {
  rapidjson::Document doc;
  if (!parse(frame, &doc)) return false;
  const Value* s = field(doc, "session");
  if (!s) return false;
  if (s->IsNull()) {
    session->clear();
    return true;
  }
  if (!s->IsString() || s->GetStringLength() == 0) return false;
  session->assign(s->GetString(), s->GetStringLength());
  return true;
}

bool parse_role(std::string_view frame, Role* role) {
  rapidjson::Document doc;
  if (!parse(frame, &doc) || !field(doc, "role")) return false;
  *role = role_field(doc);
  return true;
}

}  // namespace roomcast::wire
