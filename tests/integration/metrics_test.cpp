// tests/integration/metrics_test.cpp: GET /metrics (README "HTTP on the same port"):
// the Prometheus text format, and every counter moving by exactly what the test did.
//
// Each scrape is itself an HTTP connection: it is counted in
// roomcast_connections_accepted_total (by the scrape that made it or by the next one), so
// the delta between two scrapes includes exactly one scrape connection.
#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "test_util.h"

namespace it {
namespace {

// v1 departure semantics (leave as soon as a socket dies): resume off.
std::vector<std::string> WithoutResume(std::vector<std::string> args) {
  args.insert(args.end(), {"--resume-grace", "0"});
  return args;
}

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// One scrape: sample "name{labels}" -> value, plus the declared TYPE of each family.
struct Scrape {
  bool ok = false;
  std::string error;
  std::string body;
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;  // family name -> counter/gauge/histogram/...

  double get(const std::string& key) const {
    auto it = samples.find(key);
    return it == samples.end() ? NAN : it->second;
  }
  bool has(const std::string& key) const { return samples.count(key) != 0; }
};

Scrape DoScrape(uint16_t port) {
  Scrape s;
  HttpResponse r = http_get(port, "/metrics");
  if (!r.ok) {
    s.error = "scrape failed: " + r.error;
    return s;
  }
  if (r.status != 200) {
    s.error = "scrape status " + std::to_string(r.status) + ": " + r.raw.substr(0, 200);
    return s;
  }
  s.body = r.body;
  std::istringstream in(r.body);
  std::string line;
  static const std::regex kSample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$)");
  static const std::regex kType(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$)");
  for (int guard = 0; guard < 100000 && std::getline(in, line); ++guard) {
    std::smatch m;
    if (std::regex_match(line, m, kType)) s.types[m[1]] = m[2];
    if (line.empty() || line[0] == '#') continue;
    if (!std::regex_match(line, m, kSample)) continue;  // the format test reports these
    std::string v = m[3];
    double d = v == "+Inf" ? INFINITY : v == "-Inf" ? -INFINITY : std::strtod(v.c_str(), nullptr);
    s.samples[std::string(m[1]) + std::string(m[2])] = d;
  }
  s.ok = true;
  return s;
}

#define IT_SCRAPE(var)           \
  Scrape var = DoScrape(port()); \
  ASSERT_TRUE(var.ok) << var.error

class MetricsTest : public RoomcastTest {
 protected:
  // Every counter sample (family TYPE counter) of `after` equals `before` + the expected
  // delta (0 when not listed). Keys in `ignore` are only checked not to go backwards.
  void ExpectCounterDeltas(const Scrape& before, const Scrape& after, const std::map<std::string, double>& expected,
                           const std::set<std::string>& ignore) {
    for (auto& [key, want] : expected)
      EXPECT_TRUE(after.has(key)) << "metric sample missing: " << key;
    for (auto& [key, value] : after.samples) {
      std::string family = key.substr(0, key.find('{'));
      auto t = after.types.find(family);
      if (t == after.types.end() || t->second != "counter") continue;
      double b = before.has(key) ? before.get(key) : 0;
      EXPECT_GE(value, b) << "counter went backwards: " << key;
      if (ignore.count(key) || ignore.count(family)) continue;
      auto e = expected.find(key);
      double want = e == expected.end() ? 0 : e->second;
      EXPECT_EQ(value - b, want) << key << " moved by " << value - b << " (before " << b << ", after " << value
                                 << ")";
    }
  }

  // Polls until the gauge `key` reaches `want` (bounded), returning the last scrape.
  Scrape WaitGauge(const std::string& key, double want, milliseconds timeout = milliseconds(5000)) {
    Scrape s;
    auto deadline = Clock::now() + timeout;
    for (int i = 0; i < 200; ++i) {
      s = DoScrape(port());
      if (s.ok && s.get(key) == want) break;
      if (Clock::now() >= deadline) break;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return s;
  }
};

const std::vector<std::string> kFastAndUnlimited = {"--max-batch-delay", "0", "--rate-limit", "100000",
                                                    "--rate-burst", "100000"};

TEST_F(MetricsTest, EveryLineIsACommentOrRoomcastSampleCountersEndInTotalAndHistogramIsCumulative) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kFastAndUnlimited));
  // Some traffic so the histogram has observations.
  Member a = Join("fmt", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("fmt", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(a->send_text(edit_msg("b", "op")));
    IT_ASSERT_JSON(e, b->recv_json());
    EXPECT_EQ(e.type(), "edit") << e.text;
  }
  HttpResponse r = http_get(port(), "/metrics");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.headers["content-type"].find("text/plain"), std::string::npos)
      << "Content-Type: " << r.headers["content-type"];
  ASSERT_FALSE(r.body.empty());
  EXPECT_EQ(r.body.back(), '\n') << "the exposition must end with a newline";

  static const std::regex kSample(
      R"re(^(roomcast_[a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN)$)re");
  static const std::regex kHelp(R"(^# HELP (roomcast_[a-zA-Z0-9_:]*) .*$)");
  static const std::regex kType(R"(^# TYPE (roomcast_[a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  std::map<std::string, std::string> types;
  std::istringstream in(r.body);
  std::string line;
  int samples = 0;
  for (int n = 1; n < 100000 && std::getline(in, line); ++n) {
    std::smatch m;
    if (std::regex_match(line, m, kType)) {
      EXPECT_FALSE(types.count(m[1])) << "TYPE declared twice: " << line;
      types[m[1]] = m[2];
      if (m[2] == "counter") {
        EXPECT_TRUE(std::string(m[1]).ends_with("_total")) << "counter without _total: " << line;
      }
      continue;
    }
    if (std::regex_match(line, kHelp)) continue;
    if (!std::regex_match(line, m, kSample)) {
      ADD_FAILURE() << "line " << n << " is neither a comment nor `roomcast_name{labels} value`: \"" << line << "\"";
      continue;
    }
    ++samples;
    std::string name = m[1];
    // The sample belongs to a declared family (histograms: _bucket/_sum/_count).
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string sfx = suffix;
      if (!types.count(family) && name.ends_with(sfx) && types.count(name.substr(0, name.size() - sfx.size())))
        family = name.substr(0, name.size() - sfx.size());
    }
    ASSERT_TRUE(types.count(family)) << "sample before (or without) its # TYPE line: " << line;
    if (types[family] == "counter") {
      EXPECT_TRUE(name.ends_with("_total")) << line;
    }
    if (types[family] == "counter" || types[family] == "gauge") {
      double v = std::strtod(std::string(m[7]).c_str(), nullptr);
      EXPECT_GE(v, 0) << "negative counter/gauge: " << line;
    }
  }
  EXPECT_GT(samples, 10) << r.body;

  // Every family the README promises is there, with the right type.
  for (auto [name, type] : std::vector<std::pair<std::string, std::string>>{
           {"roomcast_connections_accepted_total", "counter"},
           {"roomcast_handshake_failures_total", "counter"},
           {"roomcast_rooms", "gauge"},
           {"roomcast_sessions", "gauge"},
           {"roomcast_messages_in_total", "counter"},
           {"roomcast_messages_out_total", "counter"},
           {"roomcast_cursors_coalesced_total", "counter"},
           {"roomcast_slow_reader_closes_total", "counter"},
           {"roomcast_close_codes_sent_total", "counter"},
           {"roomcast_history_replays_total", "counter"},
           {"roomcast_resyncs_total", "counter"},
           {"roomcast_fanout_latency_seconds", "histogram"}}) {
    EXPECT_EQ(types[name], type) << name << " missing or of the wrong type";
  }

  // Histogram: buckets sorted by le, cumulative (non-decreasing), +Inf bucket == _count.
  Scrape s = DoScrape(port());
  ASSERT_TRUE(s.ok) << s.error;
  static const std::regex kBucket(R"re(^roomcast_fanout_latency_seconds_bucket\{le="([^"]+)"\}$)re");
  std::vector<std::pair<double, double>> buckets;
  for (auto& [key, value] : s.samples) {
    std::smatch m;
    if (!std::regex_match(key, m, kBucket)) continue;
    std::string le = m[1];
    buckets.push_back({le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr), value});
  }
  std::sort(buckets.begin(), buckets.end());
  ASSERT_GE(buckets.size(), 2u) << s.body;
  EXPECT_TRUE(std::isinf(buckets.back().first)) << "no le=\"+Inf\" bucket";
  for (size_t i = 1; i < buckets.size(); ++i)
    EXPECT_GE(buckets[i].second, buckets[i - 1].second)
        << "buckets not cumulative at le=" << buckets[i].first << " (" << buckets[i].second << " < "
        << buckets[i - 1].second << ")";
  ASSERT_TRUE(s.has("roomcast_fanout_latency_seconds_count")) << s.body;
  ASSERT_TRUE(s.has("roomcast_fanout_latency_seconds_sum")) << s.body;
  EXPECT_EQ(buckets.back().second, s.get("roomcast_fanout_latency_seconds_count"));
  EXPECT_GE(s.get("roomcast_fanout_latency_seconds_count"), 5) << "5 edits were fanned out";
  EXPECT_GT(s.get("roomcast_fanout_latency_seconds_sum"), 0);
  EXPECT_LT(s.get("roomcast_fanout_latency_seconds_sum"), 60) << "5 loopback fan-outs cannot take a minute";
}

// v1 departure semantics: resume is off (1.1 holds dropped sessions; see resume_test.cpp).
TEST_F(MetricsTest, ScriptedSessionMovesEveryCounterByExactlyWhatTheClientsDid) {
  ASSERT_NO_FATAL_FAILURE(StartServer(WithoutResume(kFastAndUnlimited)));
  IT_SCRAPE(before);

  // Three sessions in room "m".
  Member a = Join("m", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("m", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  Member c = Join("m", "uc");
  ASSERT_TRUE(c.ws);
  ExpectPresenceJoin({&a, &b}, c);

  // A: 5 cameras, each sent only after both recipients got the previous one (never coalesced).
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(a->send_text(cursor_msg(i, 0, 0, 0, 0, 0, i)));
    for (Member* r : {&b, &c}) {
      IT_ASSERT_JSON(m, (*r)->recv_json());
      ASSERT_EQ(m.type(), "cursor") << m.text;
      EXPECT_EQ(nget(*m, "fov"), i) << m.text;
    }
  }
  // B: 2 edits (2 acks to B, 2 edits each to A and C).
  for (int i = 1; i <= 2; ++i) {
    ASSERT_TRUE(b->send_text(edit_msg("b" + std::to_string(i), "op", "", "id" + std::to_string(i))));
    IT_ASSERT_JSON(ack, b->recv_json());
    ASSERT_EQ(ack.type(), "ack") << ack.text;
    for (Member* r : {&a, &c}) {
      IT_ASSERT_JSON(m, (*r)->recv_json());
      ASSERT_EQ(m.type(), "edit") << m.text;
    }
  }
  // C: one bad_json (not a well-formed message: not in messages_in), then leave (close 1000).
  ASSERT_TRUE(c->send_text("{nope"));
  IT_ASSERT_JSON(err, c->recv_json());
  ASSERT_EQ(err.type(), "error") << err.text;
  EXPECT_EQ(sget(*err, "code"), "bad_json") << err.text;
  ASSERT_TRUE(c->send_text(R"({"type":"leave"})"));
  CloseResult cc = c->wait_close();
  EXPECT_EQ(cc.code, 1000) << cc.describe();
  for (Member* r : {&a, &b}) {
    IT_ASSERT_JSON(p, (*r)->recv_json());
    EXPECT_EQ(p.type(), "presence") << p.text;
    EXPECT_EQ(sget(*p, "event"), "leave") << p.text;
  }
  c->close_tcp();
  // B: a binary frame: close 1003.
  ASSERT_TRUE(b->send_binary("\x01\x02"));
  CloseResult bc = b->wait_close();
  EXPECT_EQ(bc.code, 1003) << bc.describe();
  IT_ASSERT_JSON(pb, a->recv_json());
  EXPECT_EQ(pb.type(), "presence") << pb.text;
  EXPECT_EQ(sget(*pb, "event"), "leave") << pb.text;
  EXPECT_EQ(sget(*pb, "session"), b.session) << pb.text;
  b->close_tcp();

  IT_SCRAPE(after);
  const std::map<std::string, double> expected = {
      // 3 WebSocket connections + 1 scrape.
      {"roomcast_connections_accepted_total", 4},
      {R"(roomcast_messages_in_total{type="join"})", 3},
      {R"(roomcast_messages_in_total{type="cursor"})", 5},
      {R"(roomcast_messages_in_total{type="edit"})", 2},
      {R"(roomcast_messages_in_total{type="leave"})", 1},
      {R"(roomcast_messages_out_total{type="welcome"})", 3},
      // joins: B -> A, C -> A and B; leaves: C -> A and B, B -> A.
      {R"(roomcast_messages_out_total{type="presence"})", 6},
      {R"(roomcast_messages_out_total{type="cursor"})", 10},
      {R"(roomcast_messages_out_total{type="edit"})", 4},
      {R"(roomcast_messages_out_total{type="ack"})", 2},
      {R"(roomcast_messages_out_total{type="error"})", 1},
      {R"(roomcast_close_codes_sent_total{code="1000"})", 1},
      {R"(roomcast_close_codes_sent_total{code="1003"})", 1},
  };
  // Bytes and the latency histogram move by amounts the test does not control.
  ExpectCounterDeltas(before, after, expected,
                      {"roomcast_bytes_in_total", "roomcast_bytes_out_total", "roomcast_fanout_latency_seconds_sum"});
  EXPECT_GT(after.get("roomcast_bytes_in_total"), before.get("roomcast_bytes_in_total"));
  EXPECT_GT(after.get("roomcast_bytes_out_total"), before.get("roomcast_bytes_out_total"));
  double fanouts = after.get("roomcast_fanout_latency_seconds_count") - before.get("roomcast_fanout_latency_seconds_count");
  EXPECT_GE(fanouts, 1) << "the fan-out histogram did not move after 5 cursors and 2 edits";
  // Gauges: one session (A) in one room.
  EXPECT_EQ(after.get("roomcast_sessions") - before.get("roomcast_sessions"), 1);
  EXPECT_EQ(after.get("roomcast_rooms") - before.get("roomcast_rooms"), 1);
  // Open connections: A only, once the server has finished closing B and C.
  Scrape open = WaitGauge("roomcast_connections_open", before.get("roomcast_connections_open") + 1);
  EXPECT_EQ(open.get("roomcast_connections_open"), before.get("roomcast_connections_open") + 1)
      << "connections_open did not settle at the one remaining client";

  // A leaving ends the session; the (empty) room is kept for --room-ttl.
  ASSERT_TRUE(a->send_text(R"({"type":"leave"})"));
  EXPECT_EQ(a->wait_close().code, 1000);
  Scrape gone = WaitGauge("roomcast_sessions", before.get("roomcast_sessions"));
  EXPECT_EQ(gone.get("roomcast_sessions"), before.get("roomcast_sessions"));
  EXPECT_EQ(gone.get("roomcast_rooms") - before.get("roomcast_rooms"), 1) << "empty room must be kept for --room-ttl";
}

TEST_F(MetricsTest, JoinsWithSinceCountOneHistoryReplayAndOneResync) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kFastAndUnlimited));
  Member a = Join("h", "ua");
  ASSERT_TRUE(a.ws);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a->send_text(edit_msg("b", "op")));
    IT_ASSERT_JSON(ack, a->recv_json());
    ASSERT_EQ(ack.type(), "ack") << ack.text;
  }
  IT_SCRAPE(before);
  // since 1: edits 2 and 3 replayed from history.
  Member d = Join("h", "ud", 1);
  ASSERT_TRUE(d.ws);
  for (int seq = 2; seq <= 3; ++seq) {
    IT_ASSERT_JSON(e, d->recv_json());
    EXPECT_EQ(e.type(), "edit") << e.text;
    EXPECT_EQ(iget(*e, "seq"), seq) << e.text;
  }
  // since ahead of the room: resync.
  Member r = Join("h", "ur", 99);
  ASSERT_TRUE(r.ws);
  IT_ASSERT_JSON(rs, r->recv_json());
  EXPECT_EQ(rs.type(), "resync") << rs.text;
  ExpectPresenceJoin({&a}, d);
  ExpectPresenceJoin({&a, &d}, r);
  IT_SCRAPE(after);
  const std::map<std::string, double> expected = {
      {"roomcast_connections_accepted_total", 3},
      {"roomcast_history_replays_total", 1},
      {"roomcast_resyncs_total", 1},
      {R"(roomcast_messages_in_total{type="join"})", 2},
      {R"(roomcast_messages_out_total{type="welcome"})", 2},
      {R"(roomcast_messages_out_total{type="edit"})", 2},
      {R"(roomcast_messages_out_total{type="resync"})", 1},
      {R"(roomcast_messages_out_total{type="presence"})", 3},
  };
  ExpectCounterDeltas(before, after, expected,
                      {"roomcast_bytes_in_total", "roomcast_bytes_out_total", "roomcast_fanout_latency_seconds_count",
                       "roomcast_fanout_latency_seconds_sum", "roomcast_fanout_latency_seconds_bucket"});
  EXPECT_EQ(after.get("roomcast_sessions") - before.get("roomcast_sessions"), 2);
}

TEST_F(MetricsTest, RefusedRequestsCountHandshakeFailuresByReasonAndAcceptedConnections) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  IT_SCRAPE(before);
  HttpResponse nf = http_get(port(), "/nope");
  EXPECT_EQ(nf.status, 404) << nf.raw;
  HttpResponse bad_room = http_raw(port(),
                                   "GET /ws/bad!room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  EXPECT_EQ(bad_room.status, 404) << bad_room.raw;
  HttpResponse no_upgrade = http_get(port(), "/ws/room");
  EXPECT_EQ(no_upgrade.status, 426) << no_upgrade.raw;
  HttpResponse garbage = http_raw(port(), "GARBAGE\r\n\r\n");
  EXPECT_EQ(garbage.status, 400) << garbage.raw;
  HttpResponse health = http_get(port(), "/healthz");
  EXPECT_EQ(health.status, 200) << health.raw;
  IT_SCRAPE(after);
  const std::map<std::string, double> expected = {
      // 5 requests + 1 scrape.
      {"roomcast_connections_accepted_total", 6},
      {R"(roomcast_handshake_failures_total{reason="not_found"})", 2},
      {R"(roomcast_handshake_failures_total{reason="upgrade_required"})", 1},
      {R"(roomcast_handshake_failures_total{reason="bad_request"})", 1},
  };
  ExpectCounterDeltas(before, after, expected, {"roomcast_bytes_in_total", "roomcast_bytes_out_total"});
  EXPECT_EQ(after.get("roomcast_sessions"), 0);
}

TEST_F(MetricsTest, ConnectionsRefusedByLimitsCountPerIpLimitAndOverCapacity) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--max-connections", "3", "--max-connections-per-ip", "2"}));
  IT_SCRAPE(before);
  auto from = [&](const std::string& ip, std::string* err) {
    ConnectOptions o;
    o.path = "/ws/lim";
    o.bind_ip = ip;
    return WsClient::connect(port(), o, err);
  };
  std::string err;
  auto c1 = from("127.0.0.2", &err);
  ASSERT_TRUE(c1) << err;
  auto c2 = from("127.0.0.2", &err);
  ASSERT_TRUE(c2) << err;
  auto c3 = from("127.0.0.2", &err);
  EXPECT_FALSE(c3);
  EXPECT_NE(err.find("429"), std::string::npos) << err;
  auto c4 = from("127.0.0.1", &err);
  ASSERT_TRUE(c4) << err;
  auto c5 = from("127.0.0.3", &err);
  EXPECT_FALSE(c5);
  EXPECT_NE(err.find("503"), std::string::npos) << err;
  // Free a slot for the scrape; until the server has processed the close, a scrape is
  // refused with 503 as well (and counted: those refusals are added to the expectation).
  c4->close_tcp();
  Scrape after;
  int refused_scrapes = 0, attempts = 0;
  auto deadline = Clock::now() + milliseconds(5000);
  for (; attempts < 50 && Clock::now() < deadline;) {
    ++attempts;
    after = DoScrape(port());
    if (after.ok) break;
    if (after.error.find("status 503") != std::string::npos) ++refused_scrapes;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(after.ok) << after.error;
  const std::map<std::string, double> expected = {
      // c1..c5 + every scrape attempt after `before`.
      {"roomcast_connections_accepted_total", 5 + attempts},
      {R"(roomcast_handshake_failures_total{reason="per_ip_limit"})", 1},
      {R"(roomcast_handshake_failures_total{reason="over_capacity"})", 1 + refused_scrapes},
  };
  ExpectCounterDeltas(before, after, expected, {"roomcast_bytes_in_total", "roomcast_bytes_out_total"});
}

}  // namespace
}  // namespace it
