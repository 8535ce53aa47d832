// tests/integration/hostile_test.cpp: clients that attack or break the protocol on purpose
// (README "Security"): slowloris, a flooding member, random bytes and random JSON from
// many connections, abrupt resets in the middle of a frame or a request head. Each time
// the well-behaved clients must keep being served.
//
// (A member that never reads while others send is covered by backpressure_test.cpp.)
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

void ResetFd(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

// A masked client frame header for `len` payload bytes with a zero mask (payload as is).
std::string FrameHeader(uint8_t opcode, size_t len) {
  std::string h;
  h.push_back(static_cast<char>(0x80 | opcode));
  if (len < 126) {
    h.push_back(static_cast<char>(0x80 | len));
  } else {
    h.push_back(static_cast<char>(0x80 | 126));
    h.push_back(static_cast<char>(len >> 8));
    h.push_back(static_cast<char>(len & 0xFF));
  }
  h.append(4, '\0');
  return h;
}

class HostileTest : public RoomcastTest {
 protected:
  // Two members of `room` still relay: a cursor A -> B, an edit B -> A, a ping.
  void ExpectPairWorks(Member& a, Member& b, int tag) {
    ASSERT_TRUE(a->send_text(cursor_msg(tag, 0, 0, 0, 0, 0, tag)));
    IT_ASSERT_JSON(c, b->recv_until_type("cursor", milliseconds(5000)));
    EXPECT_EQ(nget(*c, "fov"), tag) << c.text;
    ASSERT_TRUE(b->send_text(edit_msg("probe" + std::to_string(tag), "op")));
    IT_ASSERT_JSON(e, a->recv_until_type("edit", milliseconds(5000)));
    EXPECT_EQ(sget(*e, "building"), "probe" + std::to_string(tag)) << e.text;
    IT_ASSERT_JSON(ack, b->recv_until_type("ack", milliseconds(5000)));
    ASSERT_TRUE(a->send_text(R"({"type":"ping","t":)" + std::to_string(tag) + "}"));
    IT_ASSERT_JSON(p, a->recv_until_type("pong", milliseconds(5000)));
    EXPECT_EQ(iget(*p, "t"), tag) << p.text;
  }
};

TEST_F(HostileTest, SlowlorisConnectionsAreClosedAfterHandshakeTimeoutWhileANormalClientJoinsAndWorks) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--handshake-timeout", "2"}));
  constexpr int kSlow = 40;
  std::vector<int> fds;
  std::string err;
  for (int i = 0; i < kSlow; ++i) {
    int fd = tcp_connect(port(), milliseconds(3000), 0, &err);
    ASSERT_GE(fd, 0) << err;
    fds.push_back(fd);
  }
  auto t0 = Clock::now();
  // One header byte per connection every 200 ms, until the server closes it.
  std::vector<double> closed_after(kSlow, -1);
  std::atomic<bool> stop{false};
  std::thread drip([&] {
    const std::string head = "GET /ws/room HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (size_t step = 0; step < 100 && !stop; ++step) {
      int open = 0;
      for (int i = 0; i < kSlow; ++i) {
        if (closed_after[i] >= 0) continue;
        // Closed by the server? (EOF, reset, or an answer followed by EOF)
        char buf[512];
        for (int r = 0; r < 10; ++r) {
          ssize_t n = ::recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
          if (n > 0) continue;
          if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            closed_after[i] = std::chrono::duration<double>(Clock::now() - t0).count();
          break;
        }
        if (closed_after[i] >= 0) continue;
        char byte = head[std::min(step, head.size() - 1)];
        if (::send(fds[i], &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
          closed_after[i] = std::chrono::duration<double>(Clock::now() - t0).count();
        else
          ++open;
      }
      if (open == 0) break;
      std::this_thread::sleep_for(milliseconds(200));
    }
  });

  // Meanwhile a normal pair joins and works.
  Member a = Join("room", "ua");
  Member b = Join("room", "ub");
  if (a.ws && b.ws) {
    ExpectPresenceJoin({&a}, b);
    ExpectPairWorks(a, b, 1);
  }
  double pair_done = std::chrono::duration<double>(Clock::now() - t0).count();
  drip.join();
  stop = true;
  for (int fd : fds) ::close(fd);
  ASSERT_TRUE(a.ws && b.ws);
  std::fprintf(stderr, "[slowloris] the normal pair was done %.2f s after the slow connections started\n", pair_done);

  int never = 0;
  double first = 1e9, last = 0;
  for (double t : closed_after) {
    if (t < 0) {
      ++never;
      continue;
    }
    first = std::min(first, t);
    last = std::max(last, t);
  }
  std::fprintf(stderr, "[slowloris] closed between %.2f s and %.2f s (handshake timeout 2 s)\n", first, last);
  EXPECT_EQ(never, 0) << never << " of " << kSlow << " slowloris connections were never closed";
  EXPECT_GE(first, 1.0) << "slow connections closed well before the handshake timeout";
  EXPECT_LE(last, 2.0 + 4.0) << "slow connections outlived the handshake timeout by more than 4 s";
  // And the pair still works after the purge.
  ExpectPairWorks(a, b, 2);
}

TEST_F(HostileTest, FloodFromOneMemberDoesNotDelayOtherMembersPingsBeyond500Ms) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--rate-limit", "1000000", "--rate-burst", "1000000"}));
  Member a = Join("flood", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("flood", "ub");
  ASSERT_TRUE(b.ws);
  Member f = Join("flood", "flooder");
  ASSERT_TRUE(f.ws);
  ExpectPresenceJoin({&a}, b);
  ExpectPresenceJoin({&a, &b}, f);

  // The flooder writes cameras as fast as the socket takes them (batches of 200 frames in
  // one write), never reading, until told to stop.
  std::atomic<bool> stop{false};
  std::atomic<long> flooded{0};
  std::atomic<bool> send_failed{false};
  std::thread flooder([&] {
    auto end = Clock::now() + milliseconds(30000);
    for (int batch = 0; batch < 5000 && !stop && Clock::now() < end; ++batch) {
      std::string raw;
      for (int i = 0; i < 200; ++i) {
        std::string m = cursor_msg(batch, i, 0, 0, 0, 0, 30 + i % 50);
        raw += FrameHeader(kOpText, m.size()) + m;
      }
      if (!f->send_raw(raw, milliseconds(10000))) {
        send_failed = true;
        return;
      }
      flooded += 200;
    }
  });
  // Wait until the flood is under way.
  for (int i = 0; i < 500 && flooded.load() < 2000; ++i) std::this_thread::sleep_for(milliseconds(10));

  // A and B take turns: a JSON ping answered to the sender, and an edit relayed to the other.
  std::vector<double> latencies_ms;
  auto t_end = Clock::now() + milliseconds(4000);
  std::string failure;
  for (int round = 1; round <= 400 && Clock::now() < t_end && failure.empty(); ++round) {
    Member& from = round % 2 ? a : b;
    Member& to = round % 2 ? b : a;
    auto t0 = Clock::now();
    if (!from->send_text(R"({"type":"ping","t":)" + std::to_string(round) + "}")) {
      failure = "send failed";
      break;
    }
    JsonResult p = from->recv_until_type("pong", milliseconds(5000));
    if (!p.ok || iget(*p, "t") != round) {
      failure = "no pong in round " + std::to_string(round) + ": " + p.error + p.text;
      break;
    }
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    t0 = Clock::now();
    from->send_text(edit_msg("r" + std::to_string(round), "op"));
    JsonResult e = to->recv_until_type("edit", milliseconds(5000));
    if (!e.ok || sget(*e, "building") != "r" + std::to_string(round)) {
      failure = "edit not relayed in round " + std::to_string(round) + ": " + e.error + e.text;
      break;
    }
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    JsonResult ack = from->recv_until_type("ack", milliseconds(5000));
    if (!ack.ok) failure = "no ack: " + ack.error;
  }
  long flooded_during = flooded.load();
  stop = true;
  flooder.join();
  ASSERT_EQ(failure, "");
  ASSERT_FALSE(latencies_ms.empty());
  std::sort(latencies_ms.begin(), latencies_ms.end());
  double p50 = latencies_ms[latencies_ms.size() / 2], max = latencies_ms.back();
  std::fprintf(stderr, "[flood] %ld cameras flooded; %zu round trips: p50 %.1f ms, max %.1f ms\n", flooded_during,
               latencies_ms.size(), p50, max);
  EXPECT_FALSE(send_failed) << "the server stopped reading the flooder (or closed it)";
  EXPECT_GE(flooded_during, 10000) << "the flood was not much of a flood";
  EXPECT_GE(latencies_ms.size(), 10u);
  EXPECT_LT(max, 500) << "a member's round trip took over 500 ms during the flood";
  // The flooder itself is still a working session.
  ASSERT_TRUE(f->send_text(R"({"type":"ping","t":"end"})"));
  IT_ASSERT_JSON(fp, f->recv_until_type("pong", milliseconds(10000)));
  EXPECT_EQ(sget(*fp, "t"), "end");
}

// ---- random input (deterministic seed)

class Junk {
 public:
  explicit Junk(uint32_t seed) : rng_(seed) {}
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  std::string bytes(size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(pick(256));
    return s;
  }
  std::string string() {
    static const char* kPieces[] = {"a", "b-1", " ", "\\\"", "\\\\", "\\n", "\\u00e9", "\\ud83d\\ude00", "é", "日本",
                                    "\\u0000", "*", "server", "0-1", "{", "]"};
    std::string s = "\"";
    for (int i = pick(8); i > 0; --i) s += kPieces[pick(16)];
    return s + "\"";
  }
  std::string number() {
    static const char* kNums[] = {"0", "-0", "1", "-1", "1e308", "-1e308", "1e-320", "18446744073709551616",
                                  "3.14", "9007199254740993", "1E2", "-2.5e-3", "123456789012345678901234567890"};
    return kNums[pick(13)];
  }
  std::string value(int depth = 0) {
    int k = pick(depth > 3 ? 5 : 8);
    switch (k) {
      case 0: return "null";
      case 1: return pick(2) ? "true" : "false";
      case 2: case 3: return number();
      case 4: return string();
      case 5: {
        std::string s = "[";
        for (int i = pick(5); i > 0; --i) s += value(depth + 1) + (i > 1 ? "," : "");
        return s + "]";
      }
      case 6: {
        std::string s = "[" + number() + "," + number() + "," + number() + "]";  // looks like a vector
        return s;
      }
      default: {
        std::string s = "{";
        for (int i = pick(4); i > 0; --i) s += string() + ":" + value(depth + 1) + (i > 1 ? "," : "");
        return s + "}";
      }
    }
  }
  // A message that looks like protocol v1 (right type names and field names, values often wrong).
  std::string message() {
    switch (pick(10)) {
      case 0: return value();  // any JSON at all
      case 1: return "{\"type\":" + value() + "}";
      case 2: {  // truncated or mangled JSON
        std::string v = message_object();
        return v.substr(0, pick(static_cast<int>(v.size()) + 1));
      }
      default: return message_object();
    }
  }

 private:
  std::string message_object() {
    static const char* kTypes[] = {"join", "cursor", "select", "edit", "follow", "ping", "leave", "welcome", "Cursor", ""};
    static const char* kFields[] = {"user", "since", "position", "target", "up", "fov", "ids", "building",
                                    "op", "data", "id", "session", "t", "type"};
    // "leave" is rare so most connections keep talking.
    int t = pick(100) == 0 ? 6 : pick(10);
    if (t == 6) t = 5;
    std::string s = std::string("{\"type\":\"") + kTypes[t] + "\"";
    for (int i = pick(5); i > 0; --i) {
      std::string field = kFields[pick(14)];
      std::string v;
      if (field == "user") v = pick(2) ? R"({"id":)" + string() + "}" : value();
      else if (field == "position" || field == "target" || field == "up") v = pick(2) ? "[1,2,3]" : value();
      else if (field == "ids") v = pick(2) ? R"(["a","b"])" : value();
      else v = pick(2) ? string() : value();
      s += ",\"" + field + "\":" + v;
    }
    return s + "}";
  }
  std::mt19937 rng_;
};

TEST_F(HostileTest, RandomBytesAndRandomJsonFromHundredConnectionsLeaveTheServerServingANormalRoom) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--max-batch-delay", "0"}));
  Junk junk(20261126);
  std::string err;
  // 25 raw connections: random bytes instead of an HTTP request.
  std::vector<int> raw;
  for (int i = 0; i < 25; ++i) {
    int fd = tcp_connect(port(), milliseconds(3000), 0, &err);
    ASSERT_GE(fd, 0) << err;
    std::string b = junk.bytes(64 + junk.pick(4000));
    ::send(fd, b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    raw.push_back(fd);
  }
  // 25 upgraded connections: random bytes instead of frames.
  std::vector<std::unique_ptr<WsClient>> framed;
  for (int i = 0; i < 25; ++i) {
    auto c = Connect("junk" + std::to_string(i % 3));
    ASSERT_TRUE(c);
    if (i % 2) {
      ASSERT_TRUE(c->send_text(join_msg("raw" + std::to_string(i))));
    }
    c->send_raw(junk.bytes(16 + junk.pick(2000)), milliseconds(2000));
    framed.push_back(std::move(c));
  }
  // 50 upgraded connections: random JSON and random valid-looking messages, as proper frames.
  std::vector<std::unique_ptr<WsClient>> talkers;
  int sent = 0;
  for (int i = 0; i < 50; ++i) {
    auto c = Connect("junk" + std::to_string(i % 5));
    ASSERT_TRUE(c);
    if (i % 4) c->send_text(join_msg("talker" + std::to_string(i), "T", "#fff", junk.pick(3) ? std::nullopt : std::optional<long long>(junk.pick(5))));
    for (int m = 0; m < 40; ++m)
      if (c->send_text(junk.message())) ++sent;
    talkers.push_back(std::move(c));
  }
  std::fprintf(stderr, "[junk] %d random messages sent\n", sent);
  ASSERT_TRUE(server_->running());

  // The talkers that are still open get answers. After a pause (the rate limit refills),
  // each sends a valid join (welcome, or already_joined if a random join got in) and a
  // ping: the pong must come (or the connection was closed for something it sent, e.g. a
  // random leave).
  std::this_thread::sleep_for(milliseconds(1200));
  int answered = 0, closed = 0;
  for (size_t i = 0; i < talkers.size(); ++i) {
    auto& c = talkers[i];
    if (!c->send_text(join_msg("probe" + std::to_string(i))) || !c->send_text(R"({"type":"ping","t":"probe"})")) {
      ++closed;
      continue;
    }
    for (int guard = 0; guard < 1000; ++guard) {
      JsonResult m = c->recv_json(milliseconds(5000));
      if (!m.ok) {
        if (m.close_code >= 0 || m.status == RecvStatus::Closed || m.status == RecvStatus::Reset) ++closed;
        else ADD_FAILURE() << "talker " << i << " got neither pong nor close: " << m.error;
        break;
      }
      if (m.type() == "pong" && sget(*m, "t") == "probe") {
        ++answered;
        break;
      }
    }
  }
  std::fprintf(stderr, "[junk] talkers: %d answered the probe, %d closed\n", answered, closed);
  EXPECT_EQ(answered + closed, 50);
  EXPECT_GT(answered, 25) << "most random-message connections should still be open";

  // A normal room works.
  Member a = Join("calm", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("calm", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  ExpectPairWorks(a, b, 1);
  HttpResponse h = http_get(port(), "/healthz");
  EXPECT_EQ(h.status, 200) << h.raw;
  for (int fd : raw) ResetFd(fd);
  for (auto& c : framed) c->reset_tcp();
  for (auto& c : talkers) c->close_tcp();
  ExpectPairWorks(a, b, 2);
  EXPECT_TRUE(server_->running());
}

// v1 departure semantics: resume is off (1.1 holds dropped sessions; see resume_test.cpp).
TEST_F(HostileTest, ResetsInTheMiddleOfAFrameOrOfTheRequestHeadAreCleanedUpAndOthersKeepWorking) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--resume-grace", "0"}));
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  std::string err;
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // A joined member resets in the middle of a 1000-byte text frame.
    Member x = Join("r", "x" + std::to_string(round));
    ASSERT_TRUE(x.ws);
    ASSERT_NO_FATAL_FAILURE(ExpectPresenceJoin({&a}, x));
    std::string part = FrameHeader(kOpText, 1000) + R"({"type":"edit","building":")" + std::string(200, 'b');
    ASSERT_TRUE(x->send_raw(part));
    x->reset_tcp();
    IT_ASSERT_JSON(left, a->recv_json(milliseconds(5000)));
    EXPECT_EQ(left.type(), "presence") << left.text;
    EXPECT_EQ(sget(*left, "event"), "leave") << left.text;
    EXPECT_EQ(sget(*left, "session"), x.session) << left.text;

    // A joined member resets in the middle of a frame header (2 of its 8 bytes).
    Member y = Join("r", "y" + std::to_string(round));
    ASSERT_TRUE(y.ws);
    ASSERT_NO_FATAL_FAILURE(ExpectPresenceJoin({&a}, y));
    ASSERT_TRUE(y->send_raw(FrameHeader(kOpText, 1000).substr(0, 2)));
    y->reset_tcp();
    IT_ASSERT_JSON(left2, a->recv_json(milliseconds(5000)));
    EXPECT_EQ(sget(*left2, "session"), y.session) << left2.text;

    // An upgraded connection that never joined resets in the middle of a close frame.
    auto z = Connect("r");
    ASSERT_TRUE(z);
    ASSERT_TRUE(z->send_raw(FrameHeader(kOpClose, 10) + "\x03\xe8"));
    z->reset_tcp();

    // A request head cut by a reset.
    int fd = tcp_connect(port(), milliseconds(3000), 0, &err);
    ASSERT_GE(fd, 0) << err;
    const std::string head = "GET /ws/r HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webso";
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    ResetFd(fd);
    // A reset right after connecting, before any byte.
    int fd2 = tcp_connect(port(), milliseconds(3000), 0, &err);
    ASSERT_GE(fd2, 0) << err;
    ResetFd(fd2);
  }
  EXPECT_TRUE(a->expect_no_message(milliseconds(300))) << "a reset connection leaked a message into the room";
  // The room is A alone, and a new member relays normally.
  HttpResponse pres = http_get(port(), "/api/rooms/r/presence");
  rapidjson::Document d;
  d.Parse(pres.body.c_str());
  ASSERT_TRUE(!d.HasParseError() && d.IsArray()) << pres.raw;
  EXPECT_EQ(d.Size(), 1u) << pres.body;
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);
  ExpectPairWorks(a, b, 3);
  EXPECT_TRUE(server_->running());
}

}  // namespace
}  // namespace it
