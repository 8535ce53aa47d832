// tests/integration/backpressure_test.cpp: the slow reader rule (docs/protocol.md 3.1): a reader whose
// pending output passes --max-pending is closed with 1008 (no edit is lost silently), while
// the other members keep receiving everything.
#include <atomic>
#include <cstdio>
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;

class BackpressureTest : public RoomcastTest {};

// v1 departure semantics: resume is off (1.1 holds dropped sessions; see resume_test.cpp).
TEST_F(BackpressureTest, SlowReaderIsClosedWith1008WhileOthersReceiveEveryEdit) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer({"--resume-grace", "0", "--max-pending", "65536", "--rate-limit", "100000", "--rate-burst", "100000"}));
  Member a = Join("r", "sender");
  ASSERT_TRUE(a.ws);
  Member obs = Join("r", "observer");
  ASSERT_TRUE(obs.ws);
  Member slow = Join("r", "slow", std::nullopt, nullptr, /*rcvbuf=*/4096);
  ASSERT_TRUE(slow.ws);
  ExpectPresenceJoin({&a}, obs);
  ExpectPresenceJoin({&a, &obs}, slow);
  // From here on `slow` does not read until the sender is done.

  constexpr int kEdits = 450;
  // ~7.2 MB in total: more than the kernel buffers (tcp_wmem max 4 MiB) can hide.
  const std::string payload = jstr(std::string(16000, 'x'));

  struct ObsResult {
    std::atomic<int> edits{0};
    std::atomic<bool> done{false};
    bool in_order = true;
    bool saw_slow_leave = false;
    std::string error;
  } o;
  std::thread observer([&] {
    struct Done {
      std::atomic<bool>& d;
      ~Done() { d = true; }
    } mark_done{o.done};
    long long expect = 1;
    for (int guard = 0; guard < kEdits + 10 && o.edits < kEdits; ++guard) {
      JsonResult m = obs->recv_json(milliseconds(10000));
      if (!m.ok) {
        o.error = "after " + std::to_string(o.edits.load()) + " edits: " + m.error;
        return;
      }
      if (m.type() == "presence") {
        if (sget(*m, "event") == "leave" && sget(*m, "session") == slow.session) o.saw_slow_leave = true;
        continue;
      }
      if (m.type() != "edit") {
        o.error = "unexpected " + m.text.substr(0, 200);
        return;
      }
      if (iget(*m, "seq") != expect++) o.in_order = false;
      ++o.edits;
    }
  });

  // The sender waits for each ack, and for the observer to have read the previous edit,
  // before the next edit: a reader that keeps up never has more than about two edits
  // (32 KB) pending, below the 64 KiB limit; only the reader that stopped reading piles up.
  int sent = 0, acks = 0;
  long long last_ack = 0;
  std::string ack_error;
  for (int i = 1; i <= kEdits; ++i) {
    auto wait_until = std::chrono::steady_clock::now() + milliseconds(10000);
    while (o.edits.load() < i - 1 && std::chrono::steady_clock::now() < wait_until && !o.done.load())
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    if (!a->send_text(edit_msg("b", "op" + std::to_string(i), payload, std::to_string(i)))) {
      ack_error = "send failed at edit " + std::to_string(i);
      break;
    }
    ++sent;
    JsonResult m = a->recv_until_type("ack", milliseconds(10000), 10);
    if (!m.ok) {
      ack_error = m.error;
      break;
    }
    if (iget(*m, "seq") != last_ack + 1) ack_error = "ack seq gap at " + m.text;
    last_ack = iget(*m, "seq");
    ++acks;
  }
  observer.join();

  EXPECT_EQ(sent, kEdits) << "the sender could not send (server stopped reading it?)";
  EXPECT_EQ(acks, kEdits) << ack_error;
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.edits.load(), kEdits) << "the observer missed edits";
  EXPECT_TRUE(o.in_order) << "the observer saw seq out of order";

  // Now the slow reader reads: some edits, then close 1008 (or the socket just ends).
  int slow_edits = 0;
  long long slow_last = 0;
  bool slow_gap = false;
  CloseResult cr;
  for (int guard = 0; guard < kEdits + 10; ++guard) {
    RecvResult r = slow->recv_frame(milliseconds(5000));
    if (!r.ok()) {
      cr.status = r.status;
      break;
    }
    if (r.frame.opcode == kOpClose) {
      cr.got_close_frame = true;
      cr.code = r.frame.close_code;
      cr.reason = r.frame.close_reason;
      break;
    }
    if (r.frame.opcode != kOpText) continue;
    rapidjson::Document d;
    d.Parse(r.frame.payload.c_str());
    if (d.HasParseError() || !d.IsObject() || sget(d, "type") != "edit") continue;
    if (iget(d, "seq") != slow_last + 1) slow_gap = true;
    slow_last = iget(d, "seq");
    ++slow_edits;
  }
  std::fprintf(stderr, "[slow reader] read %d edits, then %s\n", slow_edits, cr.describe().c_str());
  EXPECT_FALSE(slow_gap) << "the slow reader lost an edit silently before being closed";
  EXPECT_LT(slow_edits, kEdits) << "the slow reader was never cut off (max-pending not enforced)";
  if (cr.got_close_frame) {
    EXPECT_EQ(cr.code, 1008) << cr.describe();
  } else {
    EXPECT_TRUE(cr.status == RecvStatus::Closed || cr.status == RecvStatus::Reset)
        << "slow reader neither got close 1008 nor a closed socket: " << cr.describe() << " after "
        << slow_edits << " edits";
  }

  // The others learn that the slow reader left.
  if (!o.saw_slow_leave) {
    IT_ASSERT_JSON(p, obs->recv_until_type("presence", milliseconds(5000)));
    EXPECT_EQ(sget(*p, "event"), "leave") << p.text;
    EXPECT_EQ(sget(*p, "session"), slow.session) << p.text;
  }

  // Reconnecting with `since` picks up from where it stopped (kept short so the replay
  // itself stays under the 64 KiB pending limit of this test's server).
  JsonResult w;
  long long since = kEdits - 3;
  Member again = Join("r", "slow", since, &w);
  ASSERT_TRUE(again.ws);
  EXPECT_EQ(iget(*w, "seq"), kEdits) << w.text;
  for (long long seq = since + 1; seq <= kEdits; ++seq) {
    IT_ASSERT_JSON(e, again->recv_json(milliseconds(5000)));
    ASSERT_EQ(e.type(), "edit") << e.text.substr(0, 200);
    EXPECT_EQ(iget(*e, "seq"), seq);
  }
}

TEST_F(BackpressureTest, SlowReaderGetsOnlyNewestCursorButEveryEditWhenNotOverLimit) {
  // Cursors are lossy under backpressure; edits are not. With the default 8 MiB limit a
  // reader that pauses briefly keeps its connection and sees every edit and the final cursor.
  ASSERT_NO_FATAL_FAILURE(StartServer({"--rate-limit", "100000", "--rate-burst", "100000"}));
  Member a = Join("r", "sender");
  ASSERT_TRUE(a.ws);
  Member slow = Join("r", "slow", std::nullopt, nullptr, /*rcvbuf=*/4096);
  ASSERT_TRUE(slow.ws);
  ExpectPresenceJoin({&a}, slow);
  const std::string pad = jstr(std::string(2000, 'c'));
  constexpr int kRounds = 200;
  for (int i = 1; i <= kRounds; ++i) {
    ASSERT_TRUE(a->send_text(edit_msg("b", "op", pad)));
    ASSERT_TRUE(a->send_text(cursor_msg(i, 0, 0, 0, 0, 0, i)));
  }
  for (int k = 0; k < kRounds; ++k) {
    IT_ASSERT_JSON(ack, a->recv_json(milliseconds(5000)));
    ASSERT_EQ(ack.type(), "ack") << ack.text;
  }
  std::this_thread::sleep_for(milliseconds(200));
  int edits = 0, cursors = 0;
  double last_fov = 0;
  for (int guard = 0; guard < 2 * kRounds && (edits < kRounds || last_fov < kRounds); ++guard) {
    JsonResult m = slow->recv_json(milliseconds(5000));
    ASSERT_TRUE(m.ok) << m.error << " (edits " << edits << ", cursors " << cursors << ")";
    if (m.type() == "edit") {
      EXPECT_EQ(iget(*m, "seq"), ++edits) << "edit lost or reordered";
    } else if (m.type() == "cursor") {
      ++cursors;
      EXPECT_GT(nget(*m, "fov"), last_fov) << "cursor order broken";
      last_fov = nget(*m, "fov");
    }
  }
  EXPECT_EQ(edits, kRounds);
  EXPECT_EQ(last_fov, kRounds) << "the newest camera must be delivered";
  EXPECT_TRUE(slow->expect_no_message(milliseconds(200)));
}

}  // namespace
}  // namespace it

namespace it {
namespace {

// Protocol docs/protocol.md 3.5 / RFC 6455: the 1008 is a close frame, not just a cut socket. A
// slow reader that starts draining as soon as it is closed (here: when the others see
// it leave) receives every frame already queued and then the close frame, within the
// server's 2 s linger. (One that does not drain in time is cut off: docs/protocol.md.)
TEST_F(BackpressureTest, ASlowReaderThatDrainsWithinTheLingerReceivesTheClose1008Frame) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer({"--resume-grace", "0", "--max-pending", "65536", "--rate-limit", "100000", "--rate-burst", "100000"}));
  Member a = Join("r", "sender");
  Member slow = Join("r", "slow", std::nullopt, nullptr, /*rcvbuf=*/4096);
  ASSERT_TRUE(a.ws && slow.ws);
  ExpectPresenceJoin({&a}, slow);
  auto closed_slow_readers = [&] {
    HttpResponse m = http_get(port(), "/metrics");
    const std::string key = "\nroomcast_slow_reader_closes_total ";
    size_t at = m.body.find(key);
    return at == std::string::npos ? -1.0 : std::strtod(m.body.c_str() + at + key.size(), nullptr);
  };
  const std::string payload = jstr(std::string(16000, 'x'));
  bool closed = false;
  for (int batch = 0; batch < 25 && !closed; ++batch) {
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(a->send_text(edit_msg("b", "op", payload)));
    std::this_thread::sleep_for(milliseconds(20));
    closed = closed_slow_readers() >= 1;
  }
  ASSERT_TRUE(closed) << "the slow reader was never closed";
  // Drain now: everything queued before the close, then the close frame itself.
  CloseResult cr = slow->wait_close(milliseconds(5000));
  EXPECT_TRUE(cr.got_close_frame) << "drained within the linger but no close frame: " << cr.describe();
  EXPECT_EQ(cr.code, 1008) << cr.describe();
}

}  // namespace
}  // namespace it
