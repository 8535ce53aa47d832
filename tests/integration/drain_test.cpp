// tests/integration/drain_test.cpp: README --drain-timeout: on SIGTERM every client gets
// close 1001, queued output is flushed for at most the drain timeout, and the process
// exits 0, even when a client never reads (and so can never be flushed) or never answers
// the close.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class DrainTest : public RoomcastTest {};

TEST_F(DrainTest, SigtermClosesEveryClientWith1001AndExitsZeroWithinDrainTimeoutEvenIfOneNeverReads) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer({"--drain-timeout", "2", "--rate-limit", "100000", "--rate-burst", "100000"}));
  Member sender = Join("d", "sender");
  ASSERT_TRUE(sender.ws);
  Member reader = Join("d", "reader");
  ASSERT_TRUE(reader.ws);
  Member stuck = Join("d", "stuck", std::nullopt, nullptr, /*rcvbuf=*/4096);
  ASSERT_TRUE(stuck.ws);
  ExpectPresenceJoin({&sender}, reader);
  ExpectPresenceJoin({&sender, &reader}, stuck);
  auto unjoined = Connect("d");  // a connection that never joined, and never answers the close
  ASSERT_TRUE(unjoined);

  // ~7 MB of edits: the reader keeps up, `stuck` reads nothing, so several MB wait in the
  // server for it (below the 8 MiB --max-pending, so it is not closed as a slow reader).
  constexpr int kEdits = 120;
  const std::string payload = jstr(std::string(60000, 'x'));
  std::atomic<int> read_edits{0};
  std::string reader_error;
  std::thread rt([&] {
    for (int guard = 0; guard < kEdits + 10 && read_edits < kEdits; ++guard) {
      JsonResult m = reader->recv_json(milliseconds(15000));
      if (!m.ok) {
        reader_error = m.error;
        return;
      }
      if (m.type() == "edit") ++read_edits;
    }
  });
  for (int i = 0; i < kEdits; ++i) {
    auto wait_until = Clock::now() + milliseconds(15000);
    while (read_edits.load() < i - 1 && Clock::now() < wait_until) std::this_thread::sleep_for(milliseconds(1));
    ASSERT_TRUE(sender->send_text(edit_msg("b", "op", payload))) << "edit " << i;
    IT_ASSERT_JSON(ack, sender->recv_until_type("ack", milliseconds(15000), 10));
  }
  rt.join();
  ASSERT_EQ(reader_error, "");
  ASSERT_EQ(read_edits.load(), kEdits);
  // `stuck` is still a member (not closed as a slow reader).
  ASSERT_TRUE(sender->send_text(R"({"type":"ping","t":1})"));
  IT_ASSERT_JSON(pong, sender->recv_until_type("pong", milliseconds(5000)));

  auto t0 = Clock::now();
  server_->signal(SIGTERM);
  for (Member* m : {&sender, &reader}) {
    CloseResult cr = (*m)->wait_close(milliseconds(5000));
    EXPECT_TRUE(cr.got_close_frame) << m->user_id << ": " << cr.describe();
    EXPECT_EQ(cr.code, 1001) << m->user_id << ": " << cr.describe();
    (*m)->send_close(1001);
  }
  CloseResult uc = unjoined->wait_close(milliseconds(5000));
  EXPECT_EQ(uc.code, 1001) << "unjoined: " << uc.describe();
  // `unjoined` does not answer the close and keeps its socket; `stuck` never reads.
  ExitStatus st = server_->wait_exit(milliseconds(2000 + 4000));
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::fprintf(stderr, "[drain] server exited %.2f s after SIGTERM (drain timeout 2 s): %s\n", secs,
               st.describe().c_str());
  EXPECT_TRUE(st.reaped) << "server still running " << secs << " s after SIGTERM with --drain-timeout 2";
  EXPECT_TRUE(st.exited) << st.describe();
  EXPECT_EQ(st.code, 0) << st.describe();
  EXPECT_LT(secs, 2.0 + 3.0) << "drain took longer than the drain timeout plus a 3 s margin";

  // What `stuck` gets now is a prefix of the edits, in order (never a corrupt frame).
  long long last = 0;
  for (int guard = 0; guard < kEdits + 10; ++guard) {
    RecvResult r = stuck->recv_frame(milliseconds(3000));
    if (!r.ok()) {
      EXPECT_NE(r.status, RecvStatus::Bad) << r.error;
      break;
    }
    if (r.frame.opcode == kOpClose) {
      EXPECT_EQ(r.frame.close_code, 1001);
      break;
    }
    rapidjson::Document d;
    d.Parse(r.frame.payload.c_str(), r.frame.payload.size());
    if (d.HasParseError() || sget(d, "type") != "edit") continue;
    EXPECT_EQ(iget(d, "seq"), last + 1);
    last = iget(d, "seq");
  }
  std::fprintf(stderr, "[drain] the reader that never read got %lld of %d edits before the end\n", last, kEdits);
}

TEST_F(DrainTest, SigtermWithOnlyResponsiveClientsExitsLongBeforeTheDrainTimeout) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--drain-timeout", "10"}));
  std::vector<Member> members;
  for (int i = 0; i < 4; ++i) {
    members.push_back(Join("d", "u" + std::to_string(i)));
    ASSERT_TRUE(members.back().ws);
  }
  auto t0 = Clock::now();
  server_->signal(SIGTERM);
  for (auto& m : members) {
    CloseResult cr = m->wait_close(milliseconds(5000));
    EXPECT_EQ(cr.code, 1001) << cr.describe();
    EXPECT_EQ(cr.reason, "server shutting down");
    m->send_close(1001);
    m->close_tcp();
  }
  ExitStatus st = server_->wait_exit(milliseconds(10000));
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
  EXPECT_LT(secs, 5.0) << "with every client answering, the drain should not wait out --drain-timeout 10";
}

}  // namespace
}  // namespace it
