// Unit tests for the ClusterStore (core/cluster/cluster_store.h) under a RoomService: no sockets, no
// Redis. A FakeClusterPort records what the service asks of Redis (calls with their
// script and argv, subscriptions, room_ready, published); the test plays Redis and the
// other instances by feeding RedisEvents built in the documented formats
// (core/cluster/cluster_wire.h). Members are plain SendQueues, as in room_service_test.cpp; what
// a member "receives" is read back from its queue as the bytes a socket would get.
#include <functional>

#include <gtest/gtest.h>
#include <sys/uio.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "core/cluster/cluster_port.h"
#include "core/cluster/cluster_store.h"
#include "core/cluster/cluster_wire.h"
#include "core/room/room_service.h"

#include "tests/core/room/fake_client.h"

namespace roomcast {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

// ---- the fake Redis side -------------------------------------------------------------

struct FakeClusterPort : ClusterPort {
  void submit(std::vector<RedisCall>& batch) override {
    ++submits;
    for (RedisCall& c : batch) calls.push_back(std::move(c));
    batch.clear();
  }
  void subscribe(const std::string& channel) override { subscribed.push_back(channel); }
  void unsubscribe(const std::string& channel) override { unsubscribed.push_back(channel); }
  void room_ready(std::string_view room, bool ok) override {
    ready.emplace_back(std::string(room), ok);
    if (on_ready) on_ready(room);
  }
  void published(uint64_t ticket, bool ok, uint64_t seq) override { answers.push_back({ticket, ok, seq}); }

  struct Published {
    uint64_t ticket;
    bool ok;
    uint64_t seq;
  };
  size_t submits = 0;
  std::vector<RedisCall> calls;  // every call submitted, in order
  std::vector<std::string> subscribed;
  std::vector<std::string> unsubscribed;
  std::vector<std::pair<std::string, bool>> ready;
  std::function<void(std::string_view)> on_ready;  // what the worker does: answer the requests waiting
  std::vector<Published> answers;
};

RedisValue S(std::string s) {
  RedisValue v;
  v.kind = RedisValue::Kind::String;
  v.str = std::move(s);
  return v;
}
RedisValue I(long long n) {
  RedisValue v;
  v.kind = RedisValue::Kind::Integer;
  v.integer = n;
  return v;
}
RedisValue A(std::vector<RedisValue> elements) {
  RedisValue v;
  v.kind = RedisValue::Kind::Array;
  v.elements = std::move(elements);
  return v;
}
RedisValue Err(std::string s) {
  RedisValue v;
  v.kind = RedisValue::Kind::Error;
  v.str = std::move(s);
  return v;
}

// A run of netstrings: a channel message or a presence record.
std::string ns(std::initializer_list<std::string_view> fields) {
  std::string out;
  for (std::string_view f : fields) wire::put(out, f);
  return out;
}
// The fields of a run of netstrings (a failure if it does not parse to the end).
std::vector<std::string> fields_of(std::string_view in) {
  std::vector<std::string> out;
  size_t pos = 0;
  std::string_view f;
  while (wire::next(in, &pos, &f)) out.emplace_back(f);
  EXPECT_EQ(pos, in.size()) << "a malformed run of netstrings";
  return out;
}

std::string text(const rapidjson::StringBuffer& b) { return std::string(b.GetString(), b.GetSize()); }
User user_named(std::string id, std::string name = "") {
  User u;
  u.id = std::move(id);
  if (!name.empty()) {
    u.name = std::move(name);
    u.has_name = true;
  }
  return u;
}
std::string join_frame(std::string_view session, const User& u) {
  rapidjson::StringBuffer b;
  encode_presence_join(b, session, u);
  return text(b);
}
std::string leave_frame(std::string_view session) {
  rapidjson::StringBuffer b;
  encode_presence_leave(b, session);
  return text(b);
}
std::string cursor_frame(std::string_view session, double x) {
  Camera cam;
  cam.position[0] = x;
  rapidjson::StringBuffer b;
  encode_cursor(b, session, cam);
  return text(b);
}
std::string select_frame(std::string_view session, std::vector<std::string> ids) {
  rapidjson::StringBuffer b;
  encode_select(b, session, ids);
  return text(b);
}
std::string edit_frame(std::string_view session, uint64_t seq) {
  rapidjson::StringBuffer b;
  encode_edit(b, session, seq, "b-x", "move", nullptr);
  return text(b);
}
// A presence-hash record as an instance writes it (ClusterStore::session_record).
std::string peer_record(std::string_view instance, std::string_view session, const User& u, bool connected,
                        int64_t held_until_ms, std::vector<std::string> selection = {}) {
  PeerView view{session, &u, nullptr, &selection, "", connected};
  rapidjson::StringBuffer b;
  encode_presence_list(b, std::span<const PeerView>(&view, 1));
  std::string list = text(b);
  return ns({instance, "tok-" + std::string(session), connected ? "1" : "0", std::to_string(held_until_ms),
             list.substr(1, list.size() - 2)});
}
// A stream entry as XRANGE returns it.
RedisValue log_entry(uint64_t seq, std::string frame, std::string key, std::string origin) {
  return A({S(std::to_string(seq) + "-1"), A({S("f"), S(std::move(frame)), S("k"), S(std::move(key)), S("s"),
                                                S(std::move(origin))})});
}
// What the sync script answers: {seq, epoch, log entries, who (flat id/record pairs)}.
RedisValue sync_value(uint64_t seq, std::string epoch, std::vector<RedisValue> log = {},
                      std::vector<RedisValue> who = {}) {
  return A({S(std::to_string(seq)), S(std::move(epoch)), A(std::move(log)), A(std::move(who))});
}
// What the edit script answers: {seq, duplicate, epoch} (then frame and origin, which
// only --redis-min-replicas reads).
RedisValue edit_value(uint64_t seq, std::string epoch, bool duplicate = false) {
  return A({I(static_cast<long long>(seq)), I(duplicate ? 1 : 0), S(std::move(epoch))});
}

// ---- fake members: tests/core/room/fake_client.h ----------------------------------------

using testing_support::FakeClient;

std::string str(const rapidjson::Value& v, const char* key) {
  return v.IsObject() && v.HasMember(key) && v[key].IsString() ? v[key].GetString() : "<missing>";
}
uint64_t u64(const rapidjson::Value& v, const char* key) {
  return v.IsObject() && v.HasMember(key) && v[key].IsUint64() ? v[key].GetUint64() : ~uint64_t(0);
}
rapidjson::Document parse(std::string_view json) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  return d;
}
// The entry of `session` in a presence list or welcome.peers; null if absent.
const rapidjson::Value* peer_in(const rapidjson::Value& list, std::string_view session) {
  if (!list.IsArray()) return nullptr;
  for (const rapidjson::Value& p : list.GetArray())
    if (str(p, "session") == session) return &p;
  return nullptr;
}

std::string join_json(const std::string& user) { return R"({"type":"join","user":{"id":")" + user + R"("}})"; }

class RoomCluster : public ::testing::Test {
 protected:

  FakeClient& client(const std::string& room = "r") {
    clients_.push_back(std::make_unique<FakeClient>(&dirty_, uint32_t(clients_.size()), room, &service_));
    return *clients_.back();
  }
  // Sends `json` from `c` as the worker does: behind a waiting join or edit it is
  // deferred; otherwise decoded once, then handled (with its text) or refused.
  Verdict send(FakeClient& c, const std::string& json) { return service_.receive(c.member, json, now_ns_); }
  void feed(RedisEvent e) { store_.on_redis(e, now_ns_); }
  void reply(uint64_t cookie, bool ok, RedisValue value) {
    RedisEvent e;
    e.kind = RedisEvent::Kind::Reply;
    e.cookie = cookie;
    e.ok = ok;
    e.value = std::move(value);
    feed(std::move(e));
  }
  void message(std::string payload, std::string channel = "rc:{r}") {
    RedisEvent e;
    e.kind = RedisEvent::Kind::Message;
    e.channel = std::move(channel);
    e.payload = std::move(payload);
    feed(std::move(e));
  }
  void subscribed(std::string channel = "rc:{r}") {
    RedisEvent e;
    e.kind = RedisEvent::Kind::Subscribed;
    e.channel = std::move(channel);
    feed(std::move(e));
  }
  void instances(int64_t redis_now_ms, std::vector<InstanceLease> alive, std::vector<InstanceLease> dead) {
    RedisEvent e;
    e.kind = RedisEvent::Kind::Instances;
    e.redis_now_ms = redis_now_ms;
    e.alive = std::move(alive);
    e.dead = std::move(dead);
    feed(std::move(e));
  }

  // The calls submitted so far with `script` (-1: plain commands).
  std::vector<RedisCall> calls_of(int script) const {
    std::vector<RedisCall> out;
    for (const RedisCall& c : port_.calls)
      if (c.script == script) out.push_back(c);
    return out;
  }
  // The one call submitted so far with `script` (a failure if not exactly one).
  RedisCall only(int script) const {
    std::vector<RedisCall> found = calls_of(script);
    EXPECT_EQ(found.size(), 1u) << "calls of script " << script;
    return found.empty() ? RedisCall{} : found.front();
  }
  // The payloads of the PUBLISH commands submitted so far.
  std::vector<std::string> publishes() const {
    std::vector<std::string> out;
    for (const RedisCall& c : port_.calls)
      if (c.script == -1 && !c.argv.empty() && c.argv[0] == "PUBLISH") {
        EXPECT_EQ(c.cookie, 0u) << "relays want no reply";
        EXPECT_EQ(c.argv.size(), 3u);
        EXPECT_EQ(c.argv[1], "rc:{r}");
        out.push_back(c.argv.size() > 2 ? c.argv[2] : "");
      }
    return out;
  }
  size_t commands(std::string_view name) const {
    size_t n = 0;
    for (const RedisCall& c : port_.calls)
      if (c.script == -1 && !c.argv.empty() && c.argv[0] == name) ++n;
    return n;
  }

  // Joins `cs` (users u0, u1, ...) to room "r" whose Redis state is seq/epoch/who, plays
  // the subscription and the first load, drains what everyone got and what was
  // submitted (the window included). Returns their session ids.
  std::vector<std::string> ready_room(std::vector<FakeClient*> cs, uint64_t seq = 3, std::string epoch = "EP1",
                                      std::vector<RedisValue> who = {}) {
    for (size_t i = 0; i < cs.size(); ++i) send(*cs[i], join_json("u" + std::to_string(i)));
    subscribed();
    reply(only(wire::kSync).cookie, true, sync_value(seq, std::move(epoch), {}, std::move(who)));
    std::vector<std::string> ids;
    for (FakeClient* c : cs) {
      rapidjson::Document w = c->next();
      EXPECT_EQ(str(w, "type"), "welcome");
      ids.push_back(str(w, "session"));
    }
    for (FakeClient* c : cs) c->drain();
    service_.end_window();
    port_.calls.clear();
    return ids;
  }
  // A join to an already mirrored room; returns the session id.
  std::string join(FakeClient& c, const std::string& user) {
    send(c, join_json(user));
    rapidjson::Document w = c.next();
    EXPECT_EQ(str(w, "type"), "welcome");
    return str(w, "session");
  }
  rapidjson::Document presence() { return parse(service_.presence_json("r")); }
  // The edit frame the edit script writes for `call` with `seq` (the prefix, the seq, the suffix).
  static std::string stored_frame(const RedisCall& call, uint64_t seq) {
    if (call.argv.size() < 6) return {};
    return call.argv[4] + std::to_string(seq) + call.argv[5];
  }
  // The E record the edit script publishes for `call` (stored as `seq` in `epoch`).
  static std::string e_record(const RedisCall& call, uint64_t seq, std::string_view epoch) {
    if (call.argv.size() < 10) return {};
    return ns({call.argv[9], "E", call.argv[7], std::to_string(seq), epoch, call.argv[3], stored_frame(call, seq)});
  }

  Config config_;
  Metrics metrics_;
  FakeClusterPort port_;
  RoomService service_{config_, 3, metrics_};
  ClusterStore store_{service_, port_, "inst1", config_, metrics_};
  DirtyList dirty_;
  std::vector<std::unique_ptr<FakeClient>> clients_;
  int64_t now_ns_ = 5 * kSec;
};

// ---- 1. the first join waits for the room's load ------------------------------------

TEST_F(RoomCluster, TheFirstJoinSubscribesAndIsWelcomedOnlyAfterSubscribedAndTheLoadWithItsSeqEpochAndPeers) {
  FakeClient& a = client();
  FakeClient& b = client();
  send(a, join_json("ua"));
  EXPECT_EQ(port_.subscribed, std::vector<std::string>{"rc:{r}"});
  EXPECT_TRUE(port_.calls.empty()) << "nothing is loaded before the subscription is active";
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_TRUE(service_.busy(a.member));
  send(b, join_json("ub"));
  EXPECT_EQ(port_.subscribed.size(), 1u) << "one subscription per room";
  EXPECT_TRUE(b.nothing_queued());

  subscribed();
  const RedisCall sync = only(wire::kSync);
  EXPECT_NE(sync.cookie, 0u);
  EXPECT_EQ(sync.keys, 4u);
  ASSERT_EQ(sync.argv.size(), 6u);
  EXPECT_EQ(sync.argv[0], "rc:{r}:meta");
  EXPECT_EQ(sync.argv[1], "rc:{r}:log");
  EXPECT_EQ(sync.argv[2], "rc:{r}:who");
  EXPECT_EQ(sync.argv[3], "rc:{r}:ids");
  EXPECT_FALSE(sync.argv[4].empty()) << "an epoch for a room Redis does not know";
  EXPECT_TRUE(a.nothing_queued()) << "subscribed is not enough: the load must answer";
  EXPECT_TRUE(b.nothing_queued());
  port_.calls.clear();

  const User zed = user_named("uz", "Zed");
  reply(sync.cookie, true,
        sync_value(7, "EP7", {}, {S("inst2-0-1"), S(peer_record("inst2", "inst2-0-1", zed, true, 0, {"b1"}))}));
  rapidjson::Document wa = a.next();
  ASSERT_EQ(str(wa, "type"), "welcome");
  EXPECT_EQ(u64(wa, "seq"), 7u);
  EXPECT_EQ(str(wa, "epoch"), "EP7");
  // 72 random bits, base64url: nothing in it names the instance.
  EXPECT_EQ(str(wa, "session").size(), 12u);
  EXPECT_EQ(str(wa, "session").find("inst1"), std::string::npos) << "a session id must not name its instance";
  ASSERT_TRUE(wa["peers"].IsArray());
  EXPECT_EQ(wa["peers"].Size(), 1u);
  const rapidjson::Value* zp = peer_in(wa["peers"], "inst2-0-1");
  ASSERT_NE(zp, nullptr);
  EXPECT_EQ(str((*zp)["user"], "name"), "Zed");
  EXPECT_TRUE((*zp)["connected"].GetBool());
  ASSERT_EQ((*zp)["selection"].Size(), 1u);
  EXPECT_STREQ((*zp)["selection"][0].GetString(), "b1");

  rapidjson::Document wb = b.next();
  ASSERT_EQ(str(wb, "type"), "welcome");
  EXPECT_EQ(u64(wb, "seq"), 7u);
  EXPECT_EQ(str(wb, "epoch"), "EP7");
  EXPECT_EQ(wb["peers"].Size(), 2u);
  EXPECT_NE(peer_in(wb["peers"], str(wa, "session")), nullptr);
  EXPECT_NE(peer_in(wb["peers"], "inst2-0-1"), nullptr);
  rapidjson::Document pj = a.next();
  EXPECT_EQ(str(pj, "type"), "presence");
  EXPECT_EQ(str(pj, "event"), "join");
  EXPECT_EQ(str(pj, "session"), str(wb, "session"));
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_TRUE(b.nothing_queued());
  EXPECT_FALSE(service_.busy(a.member));
  EXPECT_FALSE(service_.busy(b.member));

  // Both are announced to the other instances: a presence record each (written unless
  // another instance owns the session), and one publish with a `j` record each at the
  // end of the window.
  std::vector<RedisCall> records = calls_of(wire::kRecord);
  ASSERT_EQ(records.size(), 2u);
  for (const RedisCall& r : records) {
    EXPECT_EQ(r.cookie, 0u);
    EXPECT_EQ(r.keys, 1u);
    ASSERT_EQ(r.argv.size(), 4u);
    EXPECT_EQ(r.argv[0], "rc:{r}:who");
    EXPECT_EQ(r.argv[1], "inst1");
  }
  EXPECT_TRUE(publishes().empty());
  service_.end_window();
  std::vector<std::string> pubs = publishes();
  ASSERT_EQ(pubs.size(), 1u);
  std::vector<std::string> f = fields_of(pubs[0]);
  ASSERT_EQ(f.size(), 7u);
  EXPECT_EQ(f[0], "inst1");
  EXPECT_EQ(f[1], "j");
  EXPECT_EQ(f[2], str(wa, "session"));
  EXPECT_EQ(f[4], "j");
  EXPECT_EQ(f[5], str(wb, "session"));

  // A later join is served from the mirror at once.
  FakeClient& c = client();
  send(c, join_json("uc"));
  EXPECT_EQ(str(c.next(), "type"), "welcome");
  EXPECT_EQ(port_.subscribed.size(), 1u);
}

TEST_F(RoomCluster, AnEditPublishedWhileTheFirstLoadRunsIsAppliedBeforeTheWaitingJoinIsWelcomed) {
  FakeClient& a = client();
  send(a, join_json("ua"));
  subscribed();
  const RedisCall sync = only(wire::kSync);
  message(ns({"inst2", "E", "inst2-0-1", "8", "EP7", "", edit_frame("inst2-0-1", 8)}));
  EXPECT_TRUE(a.nothing_queued());
  reply(sync.cookie, true, sync_value(7, "EP7"));
  rapidjson::Document w = a.next();
  EXPECT_EQ(str(w, "type"), "welcome");
  EXPECT_EQ(u64(w, "seq"), 8u) << "the early edit counts; the joiner has it in its state";
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_EQ(service_.find_room("r")->seq(), 8u);
}

TEST_F(RoomCluster, TheFirstLoadFailingClosesTheWaitingJoinsWith1013AndUnsubscribes) {
  FakeClient& a = client();
  send(a, join_json("ua"));
  send(a, R"({"type":"ping","t":1})");
  subscribed();
  reply(only(wire::kSync).cookie, false, RedisValue{});
  EXPECT_EQ(a.closed_with, 1013);
  EXPECT_EQ(a.close_reason, "store unavailable");
  EXPECT_TRUE(a.nothing_queued()) << "no welcome from a guess, and the waiting ping is dropped";
  EXPECT_EQ(port_.unsubscribed, std::vector<std::string>{"rc:{r}"});
  EXPECT_FALSE(service_.busy(a.member));
}

// Was a bug (the store split): the subscription's start was stamped with the store's
// clock of its last Redis event, not the join's, so a join long after the last event
// was closed 1013 at the next tick instead of after kSubscribeWaitNs.
TEST_F(RoomCluster, AJoinWhoseSubscriptionRedisNeverConfirmsWaitsTheFullSubscribeTimeThen1013) {
  store_.tick(now_ns_);  // the store's last own event, long before the join
  now_ns_ += 60 * kSec;
  FakeClient& a = client();
  send(a, join_json("ua"));
  store_.tick(now_ns_ + 100 * kMs);
  store_.tick(now_ns_ + link_timing::kSubscribeWaitNs - 100 * kMs);
  EXPECT_EQ(a.closed_with, 0) << "closed before the subscribe timeout";
  store_.tick(now_ns_ + link_timing::kSubscribeWaitNs + 100 * kMs);
  EXPECT_EQ(a.closed_with, 1013);
}

TEST_F(RoomCluster, ThePresenceApiReadsARoomNotServedHereWithoutMakingSubscribingOrWritingIt) {
  EXPECT_FALSE(service_.presence_ready("r", now_ns_));
  EXPECT_FALSE(service_.presence_ready("r", now_ns_)) << "a second request waits for the same read";
  EXPECT_TRUE(port_.subscribed.empty());
  EXPECT_EQ(service_.room_count(), 0u);
  ASSERT_EQ(port_.calls.size(), 1u) << "one read, and nothing else";
  const RedisCall read = port_.calls[0];
  EXPECT_EQ(read.script, -1);
  EXPECT_EQ(read.argv, (std::vector<std::string>{"HGETALL", "rc:{r}:who"}));
  std::string answer;
  port_.on_ready = [&](std::string_view room) { answer = service_.presence_json(room); };
  const User zed = user_named("uz", "Zed");
  RedisValue hash;
  hash.kind = RedisValue::Kind::Array;
  hash.elements = {S("inst2-0-1"), S(peer_record("inst2", "inst2-0-1", zed, true, 0))};
  reply(read.cookie, true, std::move(hash));
  ASSERT_EQ(port_.ready.size(), 1u);
  EXPECT_EQ(port_.ready[0].first, "r");
  EXPECT_TRUE(port_.ready[0].second);
  rapidjson::Document d = parse(answer);
  ASSERT_TRUE(d.IsArray() && d.Size() == 1) << answer;
  EXPECT_EQ(str(d[0], "session"), "inst2-0-1");
  EXPECT_EQ(service_.room_count(), 0u) << "nothing is kept after the answer";
  EXPECT_EQ(service_.presence_json("r"), "[]");
  EXPECT_TRUE(port_.subscribed.empty());
}

TEST_F(RoomCluster, ThePresenceApiForARoomBeingLoadedWaitsForTheLoadAndIsToldThroughRoomReady) {
  FakeClient& a = client();
  send(a, join_json("ua"));  // the room starts loading
  EXPECT_FALSE(service_.presence_ready("r", now_ns_));
  EXPECT_EQ(calls_of(-1).size(), 0u) << "no separate read while the room loads";
  subscribed();
  const User zed = user_named("uz", "Zed");
  reply(only(wire::kSync).cookie, true,
        sync_value(2, "EP", {}, {S("inst2-0-1"), S(peer_record("inst2", "inst2-0-1", zed, true, 0))}));
  ASSERT_EQ(port_.ready.size(), 1u);
  EXPECT_EQ(port_.ready[0].first, "r");
  EXPECT_TRUE(port_.ready[0].second);
  EXPECT_TRUE(service_.presence_ready("r", now_ns_));
  EXPECT_NE(peer_in(presence(), "inst2-0-1"), nullptr);
}

// ---- 2. cameras, selections, follows ------------------------------------------------

TEST_F(RoomCluster, ACursorOrSelectReachesLocalMembersAtOnceAndIsPublishedOncePerWindowAsOnePublishPrefixedByTheInstance) {
  FakeClient& a = client();
  FakeClient& b = client();
  std::vector<std::string> ids = ready_room({&a, &b});
  const std::string sa = ids[0], sb = ids[1];

  send(a, R"({"type":"cursor","position":[1,2,3],"target":[0,0,0]})");
  std::vector<std::string> got = b.all();
  ASSERT_EQ(got.size(), 1u) << "the local member has it at once";
  const std::string cursor = got[0];
  EXPECT_EQ(str(parse(cursor), "type"), "cursor");
  EXPECT_TRUE(port_.calls.empty()) << "nothing goes to Redis before the window ends";

  send(a, R"({"type":"select","ids":["b1","b2"]})");
  got = b.all();
  ASSERT_EQ(got.size(), 1u);
  const std::string select = got[0];
  send(a, R"({"type":"follow","session":")" + sb + R"("})");
  got = b.all();
  ASSERT_EQ(got.size(), 1u);
  const std::string follow = got[0];
  EXPECT_TRUE(a.nothing_queued()) << "never the sender";
  EXPECT_TRUE(port_.calls.empty());

  service_.end_window();
  std::vector<std::string> pubs = publishes();
  ASSERT_EQ(pubs.size(), 1u) << "one PUBLISH per room per window";
  EXPECT_EQ(port_.calls.size(), 1u);
  std::vector<std::string> f = fields_of(pubs[0]);
  ASSERT_EQ(f.size(), 10u);
  EXPECT_EQ(f[0], "inst1");
  EXPECT_EQ(f[1], "c");
  EXPECT_EQ(f[2], sa);
  EXPECT_EQ(f[3], cursor) << "the very frame local members got";
  EXPECT_EQ(f[4], "s");
  EXPECT_EQ(f[5], sa);
  EXPECT_EQ(f[6], select);
  EXPECT_EQ(f[7], "f");
  EXPECT_EQ(f[8], sa);
  EXPECT_EQ(f[9], follow);

  port_.calls.clear();
  service_.end_window();
  EXPECT_TRUE(port_.calls.empty()) << "a quiet window publishes nothing";

  // The next window starts a new publish.
  send(a, R"({"type":"cursor","position":[4,5,6],"target":[0,0,0]})");
  service_.end_window();
  pubs = publishes();
  ASSERT_EQ(pubs.size(), 1u);
  f = fields_of(pubs[0]);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0], "inst1");
  EXPECT_EQ(f[1], "c");
}

TEST_F(RoomCluster, WhatASenderRelayedBeforeAnEditIsPublishedBeforeTheEditScriptRuns) {
  FakeClient& a = client();
  FakeClient& b = client();
  ready_room({&a, &b});
  send(a, R"({"type":"select","ids":["b1"]})");
  send(a, R"({"type":"edit","building":"b1","op":"set"})");
  ASSERT_EQ(port_.calls.size(), 2u);
  EXPECT_EQ(port_.calls[0].argv[0], "PUBLISH");
  EXPECT_EQ(port_.calls[1].script, wire::kEdit);
  service_.end_window();
  EXPECT_EQ(publishes().size(), 1u) << "the select is not published twice";
}

// ---- 3. edits: stored by Redis, applied from the channel in seq order ---------------

TEST_F(RoomCluster, AnEditIsNeitherRelayedNorAckedUntilRedisAnswersAndItsSeqArrivesOnTheChannel) {
  FakeClient& a = client();
  FakeClient& b = client();
  std::vector<std::string> ids = ready_room({&a, &b}, 3, "EP1");
  const std::string sa = ids[0];

  send(a, R"({"type":"edit","building":"b1","op":"set","data":{"h":3},"id":"m1"})");
  const RedisCall edit = only(wire::kEdit);
  EXPECT_NE(edit.cookie, 0u);
  EXPECT_EQ(edit.keys, 3u);
  ASSERT_EQ(edit.argv.size(), 13u);
  EXPECT_EQ(edit.argv[12], "1") << "without --redis-min-replicas the script publishes the edit itself";
  EXPECT_EQ(edit.argv[0], "rc:{r}:meta");
  EXPECT_EQ(edit.argv[1], "rc:{r}:log");
  EXPECT_EQ(edit.argv[2], "rc:{r}:ids");
  EXPECT_FALSE(edit.argv[3].empty()) << "an id of 1-64 characters is an exactly-once key";
  EXPECT_EQ(edit.argv[7], sa);
  EXPECT_EQ(edit.argv[9], "inst1");
  EXPECT_EQ(edit.argv[11], "rc:{r}");
  rapidjson::Document stored = parse(stored_frame(edit, 4));
  ASSERT_FALSE(stored.HasParseError()) << stored_frame(edit, 4);
  EXPECT_EQ(u64(stored, "seq"), 4u);
  EXPECT_EQ(str(stored, "session"), sa);
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_TRUE(b.nothing_queued()) << "not relayed before Redis stored it";
  EXPECT_TRUE(service_.busy(a.member));

  reply(edit.cookie, true, edit_value(4, "EP1"));
  EXPECT_TRUE(a.nothing_queued()) << "no ack before this instance applied seq 4";
  EXPECT_TRUE(b.nothing_queued());
  EXPECT_EQ(service_.find_room("r")->seq(), 3u);

  message(e_record(edit, 4, "EP1"));  // the script's publish: E from our own instance is applied
  rapidjson::Document e = b.next();
  EXPECT_EQ(str(e, "type"), "edit");
  EXPECT_EQ(u64(e, "seq"), 4u);
  EXPECT_EQ(str(e, "session"), sa);
  EXPECT_EQ(e["data"]["h"].GetInt(), 3);
  rapidjson::Document ack = a.next();
  EXPECT_EQ(str(ack, "type"), "ack");
  EXPECT_EQ(str(ack, "id"), "m1");
  EXPECT_EQ(u64(ack, "seq"), 4u);
  EXPECT_TRUE(a.nothing_queued()) << "the sender never gets its own edit";
  EXPECT_TRUE(b.nothing_queued());
  EXPECT_FALSE(service_.busy(a.member));
  EXPECT_EQ(service_.find_room("r")->seq(), 4u);

  // The channel and the stream overlap: the same seq again changes nothing.
  message(e_record(edit, 4, "EP1"));
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_TRUE(b.nothing_queued());
}

TEST_F(RoomCluster, AnAckForSeq5WhileTheRoomIsAt3WaitsFor4And5AndTheSendersCursorFollowsItsEdit) {
  FakeClient& a = client();
  FakeClient& b = client();
  std::vector<std::string> ids = ready_room({&a, &b}, 3, "EP1");
  const std::string sa = ids[0];

  send(a, R"({"type":"edit","building":"b1","op":"set","id":"m1"})");
  const RedisCall edit = only(wire::kEdit);
  reply(edit.cookie, true, edit_value(5, "EP1"));
  send(a, R"({"type":"cursor","position":[9,9,9],"target":[0,0,0]})");  // waits behind the edit
  EXPECT_TRUE(b.nothing_queued()) << "the cursor waits behind its sender's edit";
  service_.end_window();
  EXPECT_TRUE(publishes().empty());

  message(e_record(edit, 5, "EP1"));  // 5 before 4: held
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_TRUE(b.nothing_queued()) << "seq 5 is held until seq 4 arrived";
  EXPECT_EQ(service_.find_room("r")->seq(), 3u);

  message(ns({"inst2", "E", "inst2-0-1", "4", "EP1", "", edit_frame("inst2-0-1", 4)}));
  std::vector<std::string> at_b = b.all();
  ASSERT_EQ(at_b.size(), 3u);
  EXPECT_EQ(u64(parse(at_b[0]), "seq"), 4u);
  EXPECT_EQ(str(parse(at_b[1]), "session"), sa);
  EXPECT_EQ(u64(parse(at_b[1]), "seq"), 5u);
  EXPECT_EQ(str(parse(at_b[2]), "type"), "cursor") << "the cursor comes after its sender's edit";
  std::vector<std::string> at_a = a.all();
  ASSERT_EQ(at_a.size(), 2u);
  EXPECT_EQ(str(parse(at_a[0]), "type"), "edit");
  EXPECT_EQ(u64(parse(at_a[0]), "seq"), 4u);
  EXPECT_EQ(str(parse(at_a[1]), "type"), "ack") << "the ack comes after every lower seq";
  EXPECT_EQ(u64(parse(at_a[1]), "seq"), 5u);
  EXPECT_EQ(service_.find_room("r")->seq(), 5u);

  service_.end_window();
  std::vector<std::string> pubs = publishes();
  ASSERT_EQ(pubs.size(), 1u);
  std::vector<std::string> f = fields_of(pubs[0]);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[1], "c");
}

TEST_F(RoomCluster, AnEditArrivingBeforeItsReplyIsAckedAsItIsAppliedBeforeAnyLaterEdit) {
  // The reply and the publish travel on different connections: either may come first.
  // The E record proves the edit is stored (the script publishes after XADD), so the ack
  // goes out as it is applied: an edit with a higher seq arriving before the reply must
  // not reach the sender before its ack (docs/protocol.md 3.2).
  FakeClient& a = client();
  FakeClient& b = client();
  ready_room({&a, &b}, 3, "EP1");
  send(a, R"({"type":"edit","building":"b1","op":"set","id":"m1"})");
  const RedisCall edit = only(wire::kEdit);
  message(e_record(edit, 4, "EP1"));
  EXPECT_EQ(u64(b.next(), "seq"), 4u);
  rapidjson::Document ack = a.next();
  EXPECT_EQ(str(ack, "type"), "ack");
  EXPECT_EQ(u64(ack, "seq"), 4u);
  EXPECT_EQ(str(ack, "id"), "m1");
  EXPECT_FALSE(service_.busy(a.member));
  reply(edit.cookie, true, edit_value(4, "EP1"));
  EXPECT_TRUE(a.nothing_queued()) << "the late reply must not ack twice";
}

TEST_F(RoomCluster, ADuplicateEditIsAckedWithTheOriginalSeqAndDuplicateTrue) {
  FakeClient& a = client();
  FakeClient& b = client();
  ready_room({&a, &b}, 3, "EP1");
  send(a, R"({"type":"edit","building":"b1","op":"set","id":"m1"})");
  reply(only(wire::kEdit).cookie, true, edit_value(2, "EP1", true));
  rapidjson::Document ack = a.next();
  EXPECT_EQ(str(ack, "type"), "ack");
  EXPECT_EQ(u64(ack, "seq"), 2u);
  ASSERT_TRUE(ack.HasMember("duplicate"));
  EXPECT_TRUE(ack["duplicate"].GetBool());
  EXPECT_TRUE(b.nothing_queued());
  EXPECT_EQ(metrics_.duplicate_edits.get(), 1u);
}

// --redis-min-replicas N > 0: the script's reply comes back only once WAIT confirmed the
// write, so an edit becomes visible anywhere only then: the sender's instance applies it,
// acks it and publishes it itself (the script does not).
TEST_F(RoomCluster, WithMinReplicasAnEditIsSeenAckedAndPublishedOnlyOnceItsConfirmedReplyCameBack) {
  config_.redis_min_replicas = 1;
  FakeClient& a = client();
  FakeClient& b = client();
  std::vector<std::string> ids = ready_room({&a, &b}, 3, "EP1");
  const std::string sa = ids[0];

  send(a, R"({"type":"edit","building":"b1","op":"set","id":"m1"})");
  RedisCall edit = only(wire::kEdit);
  ASSERT_EQ(edit.argv.size(), 13u);
  EXPECT_EQ(edit.argv[12], "0") << "the script must not publish before WAIT confirmed it";
  reply(edit.cookie, false, RedisValue{});  // stored but not confirmed (or not stored)
  EXPECT_EQ(str(a.next(), "code"), "unavailable");
  EXPECT_TRUE(b.nothing_queued());
  EXPECT_TRUE(publishes().empty()) << "nothing unconfirmed is relayed";
  EXPECT_EQ(service_.find_room("r")->seq(), 3u);
  port_.calls.clear();

  send(a, R"({"type":"edit","building":"b1","op":"set","id":"m1"})");  // resent with its id
  edit = only(wire::kEdit);
  reply(edit.cookie, true, A({I(4), I(1), S("EP1"), S(stored_frame(edit, 4)), S(sa)}));  // the first one, confirmed now
  rapidjson::Document e = b.next();
  EXPECT_EQ(str(e, "type"), "edit");
  EXPECT_EQ(u64(e, "seq"), 4u);
  rapidjson::Document ack = a.next();
  EXPECT_EQ(str(ack, "type"), "ack");
  EXPECT_EQ(u64(ack, "seq"), 4u);
  EXPECT_FALSE(service_.busy(a.member));
  std::vector<std::string> pubs = publishes();
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(fields_of(pubs[0]), (std::vector<std::string>{"inst1", "E", sa, "4", "EP1", edit.argv[3], stored_frame(edit, 4)}));
  message(pubs[0]);  // our own publish coming back changes nothing
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_TRUE(b.nothing_queued());
  EXPECT_EQ(service_.find_room("r")->seq(), 4u);
}

// A failover that promoted a replica lacking edits this room applied: Redis's next edits
// would reuse their seqs, which the mirror would skip as applied while acking them.
// Members reload what Redis holds instead, and the loss is logged.
TEST_F(RoomCluster, ALoadFindingFewerEditsThanTheRoomAppliedMakesMembersReloadWhatRedisHolds) {
  FakeClient& a = client();
  ready_room({&a}, 5, "EP1");
  subscribed();  // a reconnect: the room loads again
  reply(only(wire::kSync).cookie, true, sync_value(3, "EP1", {log_entry(3, edit_frame("inst2-0-1", 3), "", "inst2-0-1")}));
  std::vector<std::string> got = a.all();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(str(parse(got[0]), "type"), "resync");
  EXPECT_EQ(u64(parse(got[1]), "seq"), 3u);
  EXPECT_EQ(service_.find_room("r")->seq(), 3u);
  port_.calls.clear();
  // Seq 4 again, from Redis's new history: applied, not skipped.
  message(ns({"inst2", "E", "inst2-0-1", "4", "EP1", "", edit_frame("inst2-0-1", 4)}));
  EXPECT_EQ(u64(a.next(), "seq"), 4u);
}

TEST_F(RoomCluster, AGapOlderThanTheWaitIsFilledFromTheStreamInOrder) {
  FakeClient& a = client();
  ready_room({&a}, 3, "EP1");
  message(ns({"inst2", "E", "inst2-0-1", "5", "EP1", "", edit_frame("inst2-0-1", 5)}));
  EXPECT_TRUE(a.nothing_queued());
  store_.tick(now_ns_ + 100 * kMs);
  EXPECT_EQ(commands("XRANGE"), 0u) << "a young gap may still close by itself";
  store_.tick(now_ns_ + 200 * kMs);
  ASSERT_EQ(commands("XRANGE"), 1u);
  RedisCall fill;
  for (const RedisCall& c : port_.calls)
    if (!c.argv.empty() && c.argv[0] == "XRANGE") fill = c;
  EXPECT_NE(fill.cookie, 0u);
  EXPECT_EQ(fill.argv, (std::vector<std::string>{"XRANGE", "rc:{r}:log", "4-0", "5-1"}))
      << "no further than the highest seq known stored";
  reply(fill.cookie, true,
        A({log_entry(4, edit_frame("inst3-0-1", 4), "", "inst3-0-1"),
           log_entry(5, edit_frame("inst2-0-1", 5), "", "inst2-0-1")}));
  std::vector<std::string> got = a.all();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(u64(parse(got[0]), "seq"), 4u);
  EXPECT_EQ(u64(parse(got[1]), "seq"), 5u);
  EXPECT_EQ(service_.find_room("r")->seq(), 5u);
}

TEST_F(RoomCluster, AnEditSentWhileAnotherWaitsIsStoredOnlyAfterTheFirstIsAcked) {
  FakeClient& a = client();
  FakeClient& b = client();
  ready_room({&a, &b}, 3, "EP1");
  send(a, R"({"type":"edit","building":"b1","op":"first","id":"m1"})");
  send(a, R"({"type":"edit","building":"b1","op":"second","id":"m2"})");
  const RedisCall first = only(wire::kEdit);
  reply(first.cookie, true, edit_value(4, "EP1"));
  EXPECT_EQ(calls_of(wire::kEdit).size(), 1u) << "one edit of a sender in flight at a time";
  message(e_record(first, 4, "EP1"));
  EXPECT_EQ(str(a.next(), "id"), "m1");
  std::vector<RedisCall> edits = calls_of(wire::kEdit);
  ASSERT_EQ(edits.size(), 2u) << "the second goes to Redis once the first is acked";
  EXPECT_NE(stored_frame(edits[1], 5).find("\"op\":\"second\""), std::string::npos);
  reply(edits[1].cookie, true, edit_value(5, "EP1"));
  message(e_record(edits[1], 5, "EP1"));
  rapidjson::Document ack = a.next();
  EXPECT_EQ(str(ack, "id"), "m2");
  EXPECT_EQ(u64(ack, "seq"), 5u);
  std::vector<std::string> at_b = b.all();
  ASSERT_EQ(at_b.size(), 2u);
  EXPECT_EQ(str(parse(at_b[0]), "op"), "first");
  EXPECT_EQ(str(parse(at_b[1]), "op"), "second");
}

// ---- 4. an edit Redis did not store -------------------------------------------------

TEST_F(RoomCluster, AFailedEditReplyGivesTheSenderUnavailableAndItsDeferredMessagesThenProceed) {
  FakeClient& a = client();
  FakeClient& b = client();
  std::vector<std::string> ids = ready_room({&a, &b}, 3, "EP1");
  send(a, R"({"type":"edit","building":"b1","op":"set","id":"m1"})");
  send(a, R"({"type":"ping","t":1})");
  send(a, R"({"type":"cursor","position":[1,1,1],"target":[0,0,0]})");
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_TRUE(b.nothing_queued());
  reply(only(wire::kEdit).cookie, false, RedisValue{});
  rapidjson::Document err = a.next();
  EXPECT_EQ(str(err, "type"), "error");
  EXPECT_EQ(str(err, "code"), "unavailable");
  rapidjson::Document pong = a.next();
  EXPECT_EQ(str(pong, "type"), "pong");
  EXPECT_EQ(pong["t"].GetInt(), 1);
  EXPECT_TRUE(a.nothing_queued());
  rapidjson::Document cur = b.next();
  EXPECT_EQ(str(cur, "type"), "cursor") << "the deferred cursor proceeds";
  EXPECT_EQ(str(cur, "session"), ids[0]);
  EXPECT_TRUE(b.nothing_queued()) << "the edit was not applied";
  EXPECT_FALSE(service_.busy(a.member));
  EXPECT_EQ(service_.find_room("r")->seq(), 3u);

  // An error reply from Redis (ok, but an error value) is the same.
  port_.calls.clear();
  send(a, R"({"type":"edit","building":"b1","op":"set"})");
  reply(only(wire::kEdit).cookie, true, Err("ERR something"));
  EXPECT_EQ(str(a.next(), "code"), "unavailable");
  EXPECT_FALSE(service_.busy(a.member));
  EXPECT_TRUE(b.nothing_queued());
}

TEST_F(RoomCluster, ThePublishApiIsStoredByTheEditScriptAndAnsweredThroughThePort) {
  FakeClient& a = client();
  ready_room({&a}, 3, "EP1");
  MessageDecoder d;
  ClientMessage edit;
  DecodeError error;
  ASSERT_TRUE(d.decode_publish(R"({"building":"b1","op":"set"})", edit, error));
  service_.publish_stored("r", edit, 77, now_ns_);
  RedisCall call = only(wire::kEdit);
  EXPECT_EQ(call.argv[7], "server");
  EXPECT_TRUE(a.nothing_queued());
  reply(call.cookie, true, edit_value(4, "EP1"));
  ASSERT_EQ(port_.answers.size(), 1u);
  EXPECT_EQ(port_.answers[0].ticket, 77u);
  EXPECT_TRUE(port_.answers[0].ok);
  EXPECT_EQ(port_.answers[0].seq, 4u);
  message(e_record(call, 4, "EP1"));
  EXPECT_EQ(str(a.next(), "session"), "server");

  port_.calls.clear();
  service_.publish_stored("r", edit, 78, now_ns_);
  reply(only(wire::kEdit).cookie, false, RedisValue{});
  ASSERT_EQ(port_.answers.size(), 2u);
  EXPECT_EQ(port_.answers[1].ticket, 78u);
  EXPECT_FALSE(port_.answers[1].ok);
}

// ---- 5. other instances' sessions -----------------------------------------------------

TEST_F(RoomCluster, RemoteJoinHoldAndLeaveRecordsMirrorAPeerAndOwnRecordsAreIgnoredExceptEdits) {
  FakeClient& a = client();
  std::vector<std::string> ids = ready_room({&a}, 3, "EP1");
  const std::string sa = ids[0];
  const User zed = user_named("uz", "Zed");
  const std::string zj = join_frame("inst2-0-1", zed);

  message(ns({"inst2", "j", "inst2-0-1", zj}));
  std::vector<std::string> got = a.all();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], zj) << "presence join, the very frame the other instance relayed";

  FakeClient& c = client();
  send(c, join_json("uc"));
  rapidjson::Document w = c.next();
  const rapidjson::Value* zp = peer_in(w["peers"], "inst2-0-1");
  ASSERT_NE(zp, nullptr) << "a later welcome lists the remote peer";
  EXPECT_EQ(str((*zp)["user"], "name"), "Zed");
  EXPECT_TRUE((*zp)["connected"].GetBool());
  a.drain();

  // Its camera and selection reach local members and the mirror.
  message(ns({"inst2", "c", "inst2-0-1", cursor_frame("inst2-0-1", 7), "s", "inst2-0-1",
              select_frame("inst2-0-1", {"b7"})}));
  for (FakeClient* x : {&a, &c}) {
    got = x->all();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(str(parse(got[0]), "type"), "cursor");
    EXPECT_EQ(str(parse(got[1]), "type"), "select");
  }
  rapidjson::Document p = presence();
  zp = peer_in(p, "inst2-0-1");
  ASSERT_NE(zp, nullptr);
  ASSERT_TRUE((*zp)["camera"].IsObject());
  EXPECT_EQ((*zp)["camera"]["position"][0].GetDouble(), 7);
  ASSERT_EQ((*zp)["selection"].Size(), 1u);

  // h: held there; connected:false here, nobody told.
  message(ns({"inst2", "h", "inst2-0-1", "123456789"}));
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_TRUE(c.nothing_queued());
  p = presence();
  zp = peer_in(p, "inst2-0-1");
  ASSERT_NE(zp, nullptr);
  EXPECT_FALSE((*zp)["connected"].GetBool());

  // l: gone, with presence leave.
  message(ns({"inst2", "l", "inst2-0-1", leave_frame("inst2-0-1")}));
  for (FakeClient* x : {&a, &c}) {
    rapidjson::Document leave = x->next();
    EXPECT_EQ(str(leave, "event"), "leave");
    EXPECT_EQ(str(leave, "session"), "inst2-0-1");
    EXPECT_TRUE(x->nothing_queued());
  }
  EXPECT_EQ(peer_in(presence(), "inst2-0-1"), nullptr);

  // Our own relays come back from the channel: local members had them already.
  message(ns({"inst1", "j", "inst1-9-9", join_frame("inst1-9-9", zed), "c", sa, cursor_frame(sa, 1), "l", sa,
              leave_frame(sa)}));
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_TRUE(c.nothing_queued());
  EXPECT_EQ(peer_in(presence(), "inst1-9-9"), nullptr);
  EXPECT_NE(peer_in(presence(), sa), nullptr);

  // ...except edits: every instance, the sender's included, applies them from the channel.
  message(ns({"inst1", "E", "inst1-9-9", "4", "EP1", "", edit_frame("inst1-9-9", 4)}));
  EXPECT_EQ(u64(a.next(), "seq"), 4u);
  EXPECT_EQ(u64(c.next(), "seq"), 4u);
  EXPECT_EQ(service_.find_room("r")->seq(), 4u);
}

TEST_F(RoomCluster, MalformedChannelMessagesChangeNothing) {
  FakeClient& a = client();
  ready_room({&a}, 3, "EP1");
  const User zed = user_named("uz");
  for (std::string payload :
       {std::string(), std::string("garbage"), std::string("99:x"), ns({"inst2"}), ns({"inst2", "j"}),
        ns({"inst2", "j", "inst2-0-1"}), ns({"inst2", "j", "inst2-0-1", "not json"}),
        ns({"inst2", "jj", "inst2-0-1", join_frame("inst2-0-1", zed)}),
        ns({"inst2", "E", "inst2-0-1", "4", "EP1"}), ns({"inst2", "E", "inst2-0-1", "x", "EP1", "", "{}"}),
        ns({"inst2", "E", "inst2-0-1", "0", "EP1", "", edit_frame("inst2-0-1", 0)}),
        ns({"inst2", "c", "nobody", cursor_frame("nobody", 1)}), ns({"inst2", "h", "nobody", "1"}),
        ns({"inst2", "l", "nobody", leave_frame("nobody")}), ns({"inst2", "r", "nobody", "inst1"})}) {
    message(payload);
    EXPECT_TRUE(a.nothing_queued()) << payload;
  }
  message(ns({"inst2", "E", "inst2-0-1", "4", "EP1", "", edit_frame("inst2-0-1", 4)}), "rc:{other}");
  message(ns({"inst2", "E", "inst2-0-1", "4", "EP1", "", edit_frame("inst2-0-1", 4)}), "not-ours");
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_EQ(service_.find_room("r")->seq(), 3u);
  rapidjson::Document p = presence();
  EXPECT_EQ(p.Size(), 1u);
}

// ---- 6. a dead instance's sessions ---------------------------------------------------

TEST_F(RoomCluster, APeerOfAnInstanceWhoseLeaseLapsedIsHeldAndAfterTheGraceEndedOnceByTheEndScript) {
  FakeClient& a = client();
  ready_room({&a}, 3, "EP1");
  message(ns({"inst2", "j", "inst2-0-1", join_frame("inst2-0-1", user_named("uz"))}));
  a.drain();

  const int64_t t0 = now_ns_;
  const int64_t grace_ns = int64_t(config_.resume_grace_s) * kSec;
  // inst2 last renewed 1 s before this round: it counts as alive until its next renewal
  // was due, so the grace runs from this round's time.
  instances(1'000'000, {{"inst1", 999'900}}, {{"inst2", 999'000}});
  EXPECT_TRUE(a.nothing_queued()) << "held: nobody is told";
  rapidjson::Document p = presence();
  const rapidjson::Value* zp = peer_in(p, "inst2-0-1");
  ASSERT_NE(zp, nullptr);
  EXPECT_FALSE((*zp)["connected"].GetBool());

  port_.calls.clear();
  store_.tick(t0 + grace_ns - 100 * kMs);
  EXPECT_TRUE(calls_of(wire::kEnd).empty()) << "not before the grace is over";
  store_.tick(t0 + grace_ns);
  const RedisCall end = only(wire::kEnd);
  EXPECT_NE(end.cookie, 0u);
  EXPECT_EQ(end.keys, 1u);
  ASSERT_EQ(end.argv.size(), 6u);
  EXPECT_EQ(end.argv[0], "rc:{r}:who");
  EXPECT_EQ(end.argv[1], "inst2-0-1");
  EXPECT_EQ(end.argv[2], "inst2") << "ended only if still owned by the dead instance";
  EXPECT_EQ(end.argv[3], "rc:{r}");
  EXPECT_EQ(end.argv[5], leave_frame("inst2-0-1"));
  EXPECT_TRUE(a.nothing_queued()) << "the leave comes from the end script's publish";

  now_ns_ = t0 + grace_ns + 50 * kMs;
  instances(1'000'000 + 10'050, {{"inst1", 1'010'000}}, {{"inst2", 999'000}});
  for (int64_t t = t0 + grace_ns + 100 * kMs; t <= t0 + grace_ns + 3 * kSec; t += 100 * kMs)
    store_.tick(t);
  EXPECT_EQ(calls_of(wire::kEnd).size(), 1u) << "exactly once";
  reply(end.cookie, true, I(1));
  EXPECT_EQ(calls_of(wire::kEnd).size(), 1u);

  // The end script's publish reaches every instance, this one included.
  message(ns({end.argv[4], "l", "inst2-0-1", end.argv[5]}));
  rapidjson::Document leave = a.next();
  EXPECT_EQ(str(leave, "event"), "leave");
  EXPECT_EQ(str(leave, "session"), "inst2-0-1");
  EXPECT_EQ(peer_in(presence(), "inst2-0-1"), nullptr);
}

TEST_F(RoomCluster, AFailedEndScriptIsRunAgainOnALaterTick) {
  FakeClient& a = client();
  ready_room({&a}, 3, "EP1");
  message(ns({"inst2", "j", "inst2-0-1", join_frame("inst2-0-1", user_named("uz"))}));
  const int64_t t0 = now_ns_;
  instances(1'000'000, {{"inst1", 999'900}}, {{"inst2", 999'000}});
  const int64_t after = t0 + int64_t(config_.resume_grace_s) * kSec;
  store_.tick(after);
  const RedisCall end = only(wire::kEnd);
  reply(end.cookie, false, RedisValue{});
  store_.tick(after + 100 * kMs);
  EXPECT_EQ(calls_of(wire::kEnd).size(), 2u);
}

TEST_F(RoomCluster, AnInstanceWithoutAnyLeaseIsTakenForDeadOnlyWhenMissingTwoRoundsRunning) {
  FakeClient& a = client();
  ready_room({&a}, 3, "EP1");
  message(ns({"inst2", "j", "inst2-0-1", join_frame("inst2-0-1", user_named("uz"))}));
  instances(1'000'000, {{"inst1", 999'900}}, {});
  rapidjson::Document p = presence();
  ASSERT_NE(peer_in(p, "inst2-0-1"), nullptr);
  EXPECT_TRUE((*peer_in(p, "inst2-0-1"))["connected"].GetBool()) << "a new instance may miss one round";
  instances(1'001'000, {{"inst1", 1'000'900}}, {});
  p = presence();
  ASSERT_NE(peer_in(p, "inst2-0-1"), nullptr);
  EXPECT_FALSE((*peer_in(p, "inst2-0-1"))["connected"].GetBool());
  store_.tick(now_ns_ + int64_t(config_.resume_grace_s) * kSec);
  EXPECT_EQ(calls_of(wire::kEnd).size(), 1u);
}

// ---- 7. Redis lost the room --------------------------------------------------------

TEST_F(RoomCluster, ASyncWithAnotherEpochSendsResyncAndTheNewEpochsAckArrivesAfterIt) {
  FakeClient& a = client();
  FakeClient& b = client();
  std::vector<std::string> ids = ready_room({&a, &b}, 3, "EP1");
  const std::string sa = ids[0];

  send(a, R"({"type":"edit","building":"b1","op":"set","id":"m1"})");
  const RedisCall edit = only(wire::kEdit);
  port_.calls.clear();
  // Redis lost the room: the edit script made a new history, whose seq 1 is this edit.
  reply(edit.cookie, true, edit_value(1, "EP2"));
  EXPECT_TRUE(a.nothing_queued()) << "no ack of a history the room has not switched to";
  EXPECT_TRUE(b.nothing_queued());
  const RedisCall sync = only(wire::kSync);  // the room is loaded again

  reply(sync.cookie, true, sync_value(1, "EP2", {log_entry(1, stored_frame(edit, 1), edit.argv[3], sa)}));
  std::vector<std::string> at_a = a.all();
  ASSERT_EQ(at_a.size(), 2u);
  rapidjson::Document r = parse(at_a[0]);
  EXPECT_EQ(str(r, "type"), "resync");
  EXPECT_EQ(u64(r, "seq"), 0u);
  rapidjson::Document ack = parse(at_a[1]);
  EXPECT_EQ(str(ack, "type"), "ack") << "the ack of the new history comes after the resync";
  EXPECT_EQ(str(ack, "id"), "m1");
  EXPECT_EQ(u64(ack, "seq"), 1u);
  std::vector<std::string> at_b = b.all();
  ASSERT_EQ(at_b.size(), 2u);
  EXPECT_EQ(str(parse(at_b[0]), "type"), "resync");
  EXPECT_EQ(str(parse(at_b[1]), "type"), "edit");
  EXPECT_EQ(u64(parse(at_b[1]), "seq"), 1u);
  EXPECT_EQ(service_.find_room("r")->epoch(), "EP2");
  EXPECT_EQ(service_.find_room("r")->seq(), 1u);
  EXPECT_FALSE(service_.busy(a.member));

  FakeClient& c = client();
  send(c, join_json("uc"));
  rapidjson::Document w = c.next();
  EXPECT_EQ(str(w, "epoch"), "EP2");
  EXPECT_EQ(u64(w, "seq"), 1u);
}

TEST_F(RoomCluster, ANewEpochOnTheChannelSendsResyncBeforeItsFirstEditAndAck) {
  FakeClient& a = client();
  FakeClient& b = client();
  ready_room({&a, &b}, 3, "EP1");
  send(a, R"({"type":"edit","building":"b1","op":"set","id":"m1"})");
  const RedisCall edit = only(wire::kEdit);
  reply(edit.cookie, true, edit_value(1, "EP2"));
  message(e_record(edit, 1, "EP2"));
  std::vector<std::string> at_a = a.all();
  ASSERT_EQ(at_a.size(), 2u);
  EXPECT_EQ(str(parse(at_a[0]), "type"), "resync");
  EXPECT_EQ(str(parse(at_a[1]), "type"), "ack");
  std::vector<std::string> at_b = b.all();
  ASSERT_EQ(at_b.size(), 2u);
  EXPECT_EQ(str(parse(at_b[0]), "type"), "resync");
  EXPECT_EQ(u64(parse(at_b[1]), "seq"), 1u);
}

TEST_F(RoomCluster, AnEditWaitingInTheLostHistoryGetsUnavailableAndTheMembersResync) {
  FakeClient& a = client();
  FakeClient& b = client();
  ready_room({&a, &b}, 3, "EP1");
  send(a, R"({"type":"edit","building":"b1","op":"set","id":"m1"})");
  send(a, R"({"type":"ping","t":2})");
  reply(only(wire::kEdit).cookie, true, edit_value(5, "EP1"));  // waits for 4 and 5
  port_.calls.clear();
  subscribed();  // the subscriber reconnected: load again
  reply(only(wire::kSync).cookie, true, sync_value(0, "EP2"));
  std::vector<std::string> at_a = a.all();
  ASSERT_EQ(at_a.size(), 3u);
  EXPECT_EQ(str(parse(at_a[0]), "code"), "unavailable");
  EXPECT_EQ(str(parse(at_a[1]), "type"), "pong");
  EXPECT_EQ(str(parse(at_a[2]), "type"), "resync");
  std::vector<std::string> at_b = b.all();
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(str(parse(at_b[0]), "type"), "resync");
  EXPECT_EQ(u64(parse(at_b[0]), "seq"), 0u);
  EXPECT_FALSE(service_.busy(a.member));
  EXPECT_EQ(metrics_.resyncs.get(), 1u);
}

// ---- 8. a session resumed on another instance --------------------------------------

TEST_F(RoomCluster, AResumeElsewhereMovesAHeldSessionToTheMirrorSilentlyAndClosesAConnectedOneWith4008) {
  FakeClient& a = client();
  FakeClient& b = client();
  FakeClient& c = client();
  std::vector<std::string> ids = ready_room({&a, &b, &c}, 3, "EP1");
  const std::string sb = ids[1], sc = ids[2];

  service_.leave(b.member, now_ns_, Departure::Dropped);
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_EQ(metrics_.held_sessions.get(), 1u);

  message(ns({"inst2", "r", sb, "inst1"}));
  EXPECT_TRUE(a.nothing_queued()) << "a resume is silent";
  EXPECT_TRUE(c.nothing_queued());
  rapidjson::Document p = presence();
  const rapidjson::Value* bp = peer_in(p, sb);
  ASSERT_NE(bp, nullptr);
  EXPECT_TRUE((*bp)["connected"].GetBool()) << "connected on inst2 now";
  EXPECT_EQ(metrics_.held_sessions.get(), 0u);
  // Its old hold here ends without a leave: the session lives on inst2.
  service_.expire_held(now_ns_ + int64_t(config_.resume_grace_s + 1) * kSec);
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_NE(peer_in(presence(), sb), nullptr);

  message(ns({"inst2", "r", sc, "inst1"}));
  EXPECT_EQ(c.closed_with, 4008);
  EXPECT_EQ(c.close_reason, "replaced");
  EXPECT_FALSE(c.member.joined());
  EXPECT_TRUE(a.nothing_queued());
  // The transport then ends the old connection: nothing more happens.
  EXPECT_FALSE(service_.leave(c.member, now_ns_, Departure::Dropped));
  EXPECT_TRUE(a.nothing_queued());
  p = presence();
  const rapidjson::Value* cp = peer_in(p, sc);
  ASSERT_NE(cp, nullptr);
  EXPECT_TRUE((*cp)["connected"].GetBool());
  EXPECT_EQ(p.Size(), 3u);

  // It is a remote peer now: its leave comes from inst2.
  message(ns({"inst2", "l", sc, leave_frame(sc)}));
  rapidjson::Document leave = a.next();
  EXPECT_EQ(str(leave, "event"), "leave");
  EXPECT_EQ(str(leave, "session"), sc);
}

// docs/protocol.md "Several instances": a session that moved here keeps its state as last
// sent, whichever instance it was sent on. The claim starts from the mirror (the record
// lags); what the old instance relayed after the move still counts, except for a field
// the client has sent here since; and the record is rewritten at once, by its owner only.
TEST_F(RoomCluster, AClaimedSessionKeepsTheStateItLastSentAndLateRelaysOnlyFillWhatItHasNotSentHere) {
  FakeClient& a = client();
  ready_room({&a}, 3, "EP1");
  const User zed = user_named("uz", "Zed");
  message(ns({"inst2", "j", "inst2-0-1", join_frame("inst2-0-1", zed), "c", "inst2-0-1",
              cursor_frame("inst2-0-1", 42), "s", "inst2-0-1", select_frame("inst2-0-1", {"b-2"})}));
  a.drain();

  FakeClient& d = client();
  const std::string token = "abcdefghijklmnopqrstuvwx";
  send(d, R"({"type":"join","user":{"id":"uz"},"resume":")" + token + R"("})");
  // The record still has what the session had before it moved to inst2 (x 10, b-1).
  PeerView stale{"inst2-0-1", &zed, nullptr, nullptr, "", true};
  Camera old_cam;
  old_cam.position[0] = 10;
  std::vector<std::string> old_sel{"b-1"};
  stale.camera = &old_cam;
  stale.selection = &old_sel;
  rapidjson::StringBuffer b;
  encode_presence_list(b, std::span<const PeerView>(&stale, 1));
  std::string list(b.GetString(), b.GetSize());
  const uint64_t claim = only(wire::kClaim).cookie;
  port_.calls.clear();
  reply(claim, true, A({S("inst2-0-1"), S(list.substr(1, list.size() - 2))}));
  rapidjson::Document w = d.next();
  EXPECT_TRUE(w["resumed"].GetBool());
  rapidjson::Document p = presence();
  const rapidjson::Value* zp = peer_in(p, "inst2-0-1");
  ASSERT_NE(zp, nullptr);
  EXPECT_EQ((*zp)["camera"]["position"][0].GetDouble(), 42.0) << "the mirror's camera, not the lagging record's";
  EXPECT_EQ(std::string((*zp)["selection"][0].GetString()), "b-2");
  // Its record is written by its new owner, and no `r` from here: the claim script said it.
  std::vector<RedisCall> records = calls_of(wire::kRecord);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].argv[1], "inst1");
  service_.end_window();
  for (const std::string& pub : publishes()) EXPECT_EQ(pub.find("1:r"), std::string::npos) << pub;

  // Here the client sends a selection; inst2's relays from before the move arrive late.
  send(d, R"({"type":"select","ids":["b-9"]})");
  a.drain();
  port_.calls.clear();
  message(ns({"inst2", "c", "inst2-0-1", cursor_frame("inst2-0-1", 43), "s", "inst2-0-1",
              select_frame("inst2-0-1", {"b-3"})}));
  rapidjson::Document cur = a.next();
  EXPECT_EQ(str(cur, "type"), "cursor") << "the members here had not seen it";
  EXPECT_TRUE(a.nothing_queued()) << "the older selection is not shown";
  EXPECT_TRUE(d.nothing_queued()) << "never echoed to the session itself";
  p = presence();
  zp = peer_in(p, "inst2-0-1");
  ASSERT_NE(zp, nullptr);
  EXPECT_EQ((*zp)["camera"]["position"][0].GetDouble(), 43.0);
  EXPECT_EQ(std::string((*zp)["selection"][0].GetString()), "b-9") << "sent here, so newer than inst2's";
  EXPECT_EQ(calls_of(wire::kRecord).size(), 1u) << "the record is rewritten at once";
}

TEST_F(RoomCluster, ASessionOfAnotherInstanceResumedHereIsClaimedFromRedisAndNobodyIsTold) {
  FakeClient& a = client();
  std::vector<std::string> ids = ready_room({&a}, 3, "EP1");
  const User zed = user_named("uz", "Zed");
  message(ns({"inst2", "j", "inst2-0-1", join_frame("inst2-0-1", zed)}));
  a.drain();

  FakeClient& d = client();
  const std::string token = "abcdefghijklmnopqrstuvwx";
  send(d, R"({"type":"join","user":{"id":"uz"},"resume":")" + token + R"("})");
  EXPECT_TRUE(d.nothing_queued()) << "an unknown token is asked of Redis first";
  const RedisCall claim = only(wire::kClaim);
  EXPECT_NE(claim.cookie, 0u);
  EXPECT_EQ(claim.keys, 1u);
  EXPECT_EQ(claim.argv, (std::vector<std::string>{"rc:{r}:who", token, "inst1", "", "rc:{r}"}));
  send(d, R"({"type":"ping","t":5})");  // waits behind the claim

  std::string entry = fields_of(peer_record("inst2", "inst2-0-1", zed, false, 0, {"b3"}))[4];
  reply(claim.cookie, true, A({S("inst2-0-1"), S(entry)}));
  rapidjson::Document w = d.next();
  EXPECT_EQ(str(w, "type"), "welcome");
  EXPECT_EQ(str(w, "session"), "inst2-0-1");
  ASSERT_TRUE(w.HasMember("resumed"));
  EXPECT_TRUE(w["resumed"].GetBool());
  EXPECT_EQ(str(w["user"], "name"), "Zed");
  EXPECT_EQ(str(d.next(), "type"), "pong");
  EXPECT_TRUE(a.nothing_queued()) << "a resume is silent";
  rapidjson::Document p = presence();
  EXPECT_EQ(p.Size(), 2u) << "the peer moved from the mirror to here, not copied";
  const rapidjson::Value* zp = peer_in(p, "inst2-0-1");
  ASSERT_NE(zp, nullptr);
  EXPECT_TRUE((*zp)["connected"].GetBool());
  ASSERT_EQ((*zp)["selection"].Size(), 1u) << "its state came with the claim";

  // The claim script announced it; our own `r` coming back changes nothing.
  message(ns({"inst1", "r", "inst2-0-1", "inst2"}));
  EXPECT_TRUE(a.nothing_queued());
  EXPECT_EQ(d.closed_with, 0);
  EXPECT_TRUE(d.member.joined());
}

TEST_F(RoomCluster, ATokenTheClaimDoesNotFindGivesAFreshSessionAnnouncedAsUsual) {
  FakeClient& a = client();
  ready_room({&a}, 3, "EP1");
  FakeClient& d = client();
  send(d, R"({"type":"join","user":{"id":"ud"},"resume":"nosuchtokennosuchtokenxx"})");
  reply(only(wire::kClaim).cookie, true, RedisValue{});  // the script's false is nil
  rapidjson::Document w = d.next();
  EXPECT_EQ(str(w, "type"), "welcome");
  EXPECT_FALSE(w["resumed"].GetBool());
  rapidjson::Document pj = a.next();
  EXPECT_EQ(str(pj, "event"), "join");
  EXPECT_EQ(str(pj, "session"), str(w, "session"));
}

// ---- 9. what waits is bounded ------------------------------------------------------

TEST_F(RoomCluster, DeferredMessagesAreBoundedInCountBeyondThatRateLimitedAndTheRestProceedInOrder) {
  FakeClient& a = client();
  FakeClient& b = client();
  ready_room({&a, &b}, 3, "EP1");
  send(a, R"({"type":"edit","building":"b1","op":"set"})");
  for (size_t i = 0; i < RoomService::kMaxDeferred; ++i)
    send(a, R"({"type":"ping","t":)" + std::to_string(i) + "}");
  EXPECT_TRUE(a.nothing_queued());
  send(a, R"({"type":"ping","t":-1})");
  rapidjson::Document err = a.next();
  EXPECT_EQ(str(err, "type"), "error");
  EXPECT_EQ(str(err, "code"), "rate_limited");
  EXPECT_TRUE(a.nothing_queued());

  reply(only(wire::kEdit).cookie, false, RedisValue{});
  std::vector<std::string> got = a.all();
  ASSERT_EQ(got.size(), RoomService::kMaxDeferred + 1);
  EXPECT_EQ(str(parse(got[0]), "code"), "unavailable");
  for (size_t i = 0; i < RoomService::kMaxDeferred; ++i) {
    rapidjson::Document pong = parse(got[i + 1]);
    ASSERT_EQ(str(pong, "type"), "pong");
    EXPECT_EQ(pong["t"].GetInt64(), int64_t(i));
  }
  EXPECT_FALSE(service_.busy(a.member));
}

TEST_F(RoomCluster, DeferredMessagesAreBoundedInBytesBeyondThatRateLimited) {
  FakeClient& a = client();
  FakeClient& b = client();
  ready_room({&a, &b}, 3, "EP1");
  send(a, R"({"type":"edit","building":"b1","op":"set"})");
  const std::string big = R"({"type":"ping","t":")" + std::string(20000, 'x') + "\"}";
  const size_t fit = RoomService::kMaxDeferredBytes / big.size();
  ASSERT_LT(fit, RoomService::kMaxDeferred) << "the byte bound must bite first";
  for (size_t i = 0; i < fit; ++i) send(a, big);
  EXPECT_TRUE(a.nothing_queued());
  send(a, big);
  EXPECT_EQ(str(a.next(), "code"), "rate_limited");
  // What fits in the remaining bytes is still taken.
  send(a, R"({"type":"ping","t":"small"})");
  EXPECT_TRUE(a.nothing_queued());

  reply(only(wire::kEdit).cookie, false, RedisValue{});
  std::vector<std::string> got = a.all();
  ASSERT_EQ(got.size(), fit + 2);
  EXPECT_EQ(str(parse(got[0]), "code"), "unavailable");
  EXPECT_EQ(str(parse(got.back()), "t"), "small");
  EXPECT_FALSE(service_.busy(a.member));

  // The bound is per wait: freed once handled.
  send(a, R"({"type":"edit","building":"b1","op":"set"})");
  for (size_t i = 0; i < fit; ++i) send(a, big);
  EXPECT_TRUE(a.nothing_queued());
}

TEST_F(RoomCluster, MessagesWaitingBehindTheFirstLoadAreBoundedToo) {
  FakeClient& a = client();
  send(a, join_json("ua"));
  for (size_t i = 0; i < RoomService::kMaxDeferred - 1; ++i) send(a, R"({"type":"ping"})");
  EXPECT_TRUE(a.nothing_queued());
  send(a, R"({"type":"ping"})");
  send(a, R"({"type":"ping"})");
  std::vector<std::string> got = a.all();
  ASSERT_FALSE(got.empty()) << "the join and its followers are bounded together";
  for (const std::string& g : got) EXPECT_EQ(str(parse(g), "code"), "rate_limited");
}

// ---- regressions: bugs these tests found (fixed) -----------------------------------

// Was a bug (core/room/room_service.cpp, RoomService::release): a deferred message is charged
// to the rate limiter twice, once by defer() when it arrives and again when it is
// replayed, because resume_member calls handle() (which runs the limiter) instead of
// dispatch() (room_service.h: "handle() without the rate limiter (messages that waited
// were let in once already)"). A member near its limit whose messages waited behind an
// edit gets `rate_limited` for messages defer() already accepted; a waited cursor is
// dropped silently.
TEST_F(RoomCluster, AMessageThatWaitedSpendsOneRateTokenNotTwo) {
  FakeClient& a = client();
  FakeClient& b = client();
  ready_room({&a, &b}, 3, "EP1");
  a.member.rate = RateLimiter(0, 3, now_ns_);  // three messages, no refill
  send(a, R"({"type":"edit","building":"b1","op":"set"})");  // token 1
  send(a, R"({"type":"ping","t":1})");                       // token 2 (deferred)
  send(a, R"({"type":"ping","t":2})");                       // token 3 (deferred)
  EXPECT_TRUE(a.nothing_queued()) << "all three were let in";
  const RedisCall edit = only(wire::kEdit);
  reply(edit.cookie, true, edit_value(4, "EP1"));
  message(e_record(edit, 4, "EP1"));
  std::vector<std::string> got = a.all();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(str(parse(got[0]), "type"), "ack");
  EXPECT_EQ(str(parse(got[1]), "type"), "pong") << got[1];
  EXPECT_EQ(str(parse(got[2]), "type"), "pong") << got[2];
}

// Was a bug (core/cluster/cluster_store_load.cpp, ClusterStore::apply_sync, the "missed more than history
// keeps" branch): restart_room() already sends `resync` with first_kept - 1, then the
// branch sends a second `resync` with the newest seq, and then the kept edits
// first_kept..seq are fanned out. Members get two resyncs, and after `resync seq:10`
// edits with seq 8, 9, 10, i.e. at or below the seq they were told to reload at.
TEST_F(RoomCluster, AReloadThatMissedMoreThanTheHistorySendsOneResyncAndThenOnlyNewerEdits) {
  FakeClient& a = client();
  ready_room({&a}, 3, "EP1");
  subscribed();  // the subscriber reconnected: what was published meanwhile is lost
  reply(only(wire::kSync).cookie, true,
        sync_value(10, "EP1",
                   {log_entry(8, edit_frame("inst2-0-1", 8), "", "inst2-0-1"),
                    log_entry(9, edit_frame("inst2-0-1", 9), "", "inst2-0-1"),
                    log_entry(10, edit_frame("inst2-0-1", 10), "", "inst2-0-1")}));
  std::vector<std::string> got = a.all();
  size_t resyncs = 0;
  uint64_t resync_seq = 0;
  for (const std::string& g : got) {
    rapidjson::Document d = parse(g);
    if (str(d, "type") == "resync") {
      ++resyncs;
      resync_seq = u64(d, "seq");
    } else if (str(d, "type") == "edit") {
      EXPECT_EQ(resyncs, 1u) << "edits come after the resync";
      EXPECT_GT(u64(d, "seq"), resync_seq) << "an edit at or below the resync's seq: " << g;
    }
  }
  EXPECT_EQ(resyncs, 1u);
  EXPECT_EQ(service_.find_room("r")->seq(), 10u);
}


// Was a bug (core/cluster/cluster_store_load.cpp, ClusterStore::apply_sync): a presence record naming THIS
// instance for a session it no longer has becomes a remote peer of this very instance.
// `if (inst == instance_id_) continue;` is only reached when the session is still local.
// It happens when a session ends while a reload's sync script is in flight (the sync read
// the hash before the end script's HDEL; the end script's `l` then comes from our own
// instance id and is ignored as an echo), or when the end script failed (Redis down) and
// the room is reloaded after Redis is back. Local members then get a `presence join` for
// a session that left, and the ghost stays in welcome.peers and the presence API: our
// own instance never dies, so it is never orphaned, and no `l` removes it.
TEST_F(RoomCluster, ARecordOfOurOwnEndedSessionInAReloadedHashIsNoGhost) {
  FakeClient& a = client();
  FakeClient& b = client();
  std::vector<std::string> ids = ready_room({&a, &b}, 3, "EP1");
  const std::string sb = ids[1];
  subscribed();  // a reload starts (here: the subscriber reconnected)
  const RedisCall sync = only(wire::kSync);
  service_.leave(b.member, now_ns_, Departure::Final);  // b leaves while the sync runs
  EXPECT_EQ(str(a.next(), "event"), "leave");
  const RedisCall end = only(wire::kEnd);
  // Redis ran the sync first: its reply still lists b, as this instance wrote it.
  reply(sync.cookie, true,
        sync_value(3, "EP1", {}, {S(sb), S(peer_record("inst1", sb, user_named("u1"), true, 0))}));
  reply(end.cookie, true, I(1));
  message(ns({"inst1", "l", sb, leave_frame(sb)}));  // the end script's publish
  EXPECT_TRUE(a.nothing_queued()) << "no presence join for a session that left";
  EXPECT_EQ(peer_in(presence(), sb), nullptr) << "no ghost";
}

// Was a bug (core/room/room_service.cpp, RoomService::defer): over the rate limit, defer() answers
// every message with `rate_limited`, a cursor included; protocol.md "Rate limit" (and
// room_service.h: "The rate limiter applies as to any message") say a cursor over the
// limit is dropped silently. A member whose edit waits for Redis sees an error for a
// cursor that would have been dropped silently a moment earlier or later.
TEST_F(RoomCluster, ACursorOverTheRateLimitWhileAnEditWaitsIsDroppedSilently) {
  FakeClient& a = client();
  FakeClient& b = client();
  ready_room({&a, &b}, 3, "EP1");
  a.member.rate = RateLimiter(0, 1, now_ns_);  // one message, no refill
  send(a, R"({"type":"edit","building":"b1","op":"set"})");
  send(a, R"({"type":"cursor","position":[1,1,1],"target":[0,0,0]})");  // over the limit
  EXPECT_TRUE(a.nothing_queued()) << "a cursor over the limit is dropped silently";
}

}  // namespace
}  // namespace roomcast
