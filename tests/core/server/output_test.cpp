// Unit tests for core/server/output.h: when queued frames reach the kernel, and what a client
// then reads. A real epoll loop and socketpairs; the test moves the loop's clock, so a
// batch window passes without sleeping. What a test asserts is what the peer end of the
// socket can read (or that it can read nothing yet).
#include "core/server/output.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "tests/core/server/io_core.h"

namespace roomcast {
namespace {

using testing_support::close_code_of;
using testing_support::IoCore;
using testing_support::read_peer;
using testing_support::text_frame;

constexpr int64_t kMs = 1'000'000;

std::string wire(std::string_view payload, DropPolicy policy = DropPolicy::Never) {
  FrameRef f = FrameRef::adopt(text_frame(payload, policy));
  return std::string(reinterpret_cast<const char*>(f->data()), f->size());
}

class OutputTest : public ::testing::Test {
 protected:
  OutputTest() { config_.max_batch_delay_ms = 100; }
  IoCore& core() {
    if (!core_) core_.emplace(config_);
    return *core_;
  }
  Config config_;
  std::optional<IoCore> core_;
};

TEST_F(OutputTest, AQuietSocketSendsInTheIterationThatQueuedIt) {
  int peer;
  Connection& c = core().open(&peer);
  c.member.out.push_adopt(text_frame("hello"));
  core().iterate();
  EXPECT_EQ(read_peer(peer), wire("hello")) << "nothing was written for a window: no reason to wait";
}

TEST_F(OutputTest, ASocketWrittenWithinTheWindowWaitsAndThenSendsEverythingQueuedInOneWrite) {
  int peer;
  Connection& c = core().open(&peer);
  c.last_send_ns = core().now;  // just written to
  c.member.out.push_adopt(text_frame("a"));
  core().iterate();
  EXPECT_EQ(read_peer(peer), "") << "inside the window";
  EXPECT_EQ(core().output->next_deadline(), core().now + 100 * kMs) << "the loop wakes when the window ends";
  core().now += 50 * kMs;
  c.member.out.push_adopt(text_frame("b"));
  core().iterate();
  EXPECT_EQ(read_peer(peer), "");
  core().now += 50 * kMs;
  const int sends_before = core().sends;
  core().iterate();
  EXPECT_EQ(read_peer(peer), wire("a") + wire("b"));
  EXPECT_EQ(core().sends - sends_before, 1) << "both frames shared one write";
}

TEST_F(OutputTest, AReplyNeverWaitsForTheWindowAndCarriesWhatWasQueuedBeforeIt) {
  int peer;
  Connection& c = core().open(&peer);
  c.last_send_ns = core().now;
  c.member.out.push_adopt(text_frame("broadcast"));
  core().iterate();
  ASSERT_EQ(read_peer(peer), "");
  c.member.out.push_reply(text_frame("ack"));
  core().iterate();  // same instant: the window has not passed
  EXPECT_EQ(read_peer(peer), wire("broadcast") + wire("ack")) << "in order, at once";
}

TEST_F(OutputTest, ASaturatedLoopMakesEvenAQuietSocketWaitForTheSharedWindow) {
  int peer;
  Connection& c = core().open(&peer);  // never written to: would send at once
  c.member.out.push_adopt(text_frame("x"));
  core().iterate(/*saturated=*/true);
  EXPECT_EQ(read_peer(peer), "") << "under overload writes are shared, one round per window";
  EXPECT_EQ(core().output->next_deadline(), core().now + 100 * kMs);
  core().now += 100 * kMs;
  core().iterate(/*saturated=*/true);
  EXPECT_EQ(read_peer(peer), wire("x")) << "but never later than the window";
}

TEST_F(OutputTest, LatestWinsDropsACameraSupersededWhileItWaitedInTheWindow) {
  int peer;
  Connection& c = core().open(&peer);
  c.last_send_ns = core().now;
  FrameRef old_camera = FrameRef::adopt(text_frame("camera 1", DropPolicy::WhenSuperseded));
  FrameRef new_camera = FrameRef::adopt(text_frame("camera 2", DropPolicy::WhenSuperseded));
  c.member.out.push(old_camera.get());
  c.member.out.push_adopt(text_frame("edit"));
  core().iterate();
  old_camera->mark_superseded();
  c.member.out.push(new_camera.get());
  core().now += 100 * kMs;
  core().iterate();
  EXPECT_EQ(read_peer(peer), wire("edit") + wire("camera 2", DropPolicy::WhenSuperseded))
      << "the superseded camera is skipped, everything else arrives in order";
  EXPECT_EQ(core().metrics.cursors_coalesced.get(), 1u);
}

TEST_F(OutputTest, AReaderOverMaxPendingOnlyBecauseOfSupersededCamerasIsNotClosed) {
  config_.max_batch_delay_ms = 0;
  config_.max_pending = 4096;
  int peer;
  Connection& c = core().open(&peer);
  std::vector<FrameRef> cameras;
  for (int i = 0; i < 3; ++i) {
    cameras.push_back(FrameRef::adopt(text_frame(std::string(2000, char('a' + i)), DropPolicy::WhenSuperseded)));
    c.member.out.push(cameras.back().get());
    cameras.back()->mark_superseded();
  }
  c.member.out.push_adopt(text_frame("edit"));
  ASSERT_GT(c.member.out.pending_bytes(), config_.max_pending);
  core().iterate();
  EXPECT_EQ(c.state, ConnState::Open);
  EXPECT_EQ(read_peer(peer), wire("edit"));
  EXPECT_EQ(core().metrics.slow_reader_closes.get(), 0u);
  EXPECT_EQ(core().metrics.cursors_coalesced.get(), 3u);
}

TEST_F(OutputTest, ASlowReaderOverMaxPendingIsClosed1008AfterSupersededCamerasAreDropped) {
  config_.max_batch_delay_ms = 0;
  config_.max_pending = 4096;
  int peer;
  Connection& c = core().open(&peer);
  FrameRef camera = FrameRef::adopt(text_frame(std::string(3000, 'c'), DropPolicy::WhenSuperseded));
  c.member.out.push(camera.get());
  camera->mark_superseded();
  for (int i = 0; i < 5; ++i) c.member.out.push_adopt(text_frame(std::string(1000, 'e')));
  core().iterate();
  EXPECT_EQ(c.state, ConnState::Closing);
  EXPECT_EQ(c.close_code, kClosePolicyViolation);
  EXPECT_EQ(core().metrics.slow_reader_closes.get(), 1u);
  core().iterate();  // the send completed: the FIN follows
  bool eof = false;
  std::string got = read_peer(peer, &eof);
  EXPECT_EQ(close_code_of(got), kClosePolicyViolation) << "edits that had not started are not half-sent: the close comes first";
  EXPECT_EQ(got.find(std::string(1000, 'e')), std::string::npos);
  EXPECT_TRUE(eof) << "half-closed after the close frame";
}

TEST_F(OutputTest, AClosingConnectionIsHalfClosedOnlyAfterItsLastByteLeft) {
  int peer;
  Connection& c = core().open(&peer);
  c.member.out.push_adopt(text_frame("last words"));
  core().table->end(c, Ending::close(kCloseNormal, "bye"), core().now);
  bool eof = false;
  EXPECT_EQ(read_peer(peer, &eof), "");
  EXPECT_FALSE(eof);
  for (int i = 0; i < 3 && !c.write_shut; ++i) core().iterate();
  std::string got = read_peer(peer, &eof);
  EXPECT_EQ(got.substr(0, wire("last words").size()), wire("last words"));
  EXPECT_EQ(close_code_of(got.substr(wire("last words").size())), kCloseNormal);
  EXPECT_TRUE(eof);
  EXPECT_EQ(c.state, ConnState::Closing) << "still reading until the client's FIN";
}

TEST_F(OutputTest, AFailedSendDropsTheConnectionAndFreesItsSlot) {
  int peer;
  Connection& c = core().open(&peer);
  core().close_peer(peer);
  c.member.out.push_adopt(text_frame("to nobody"));
  core().iterate();  // the send fails (EPIPE), the connection dies, the sweep frees it
  EXPECT_EQ(core().table->live(), 0u);
}

class OutputFileAnswerTest : public OutputTest {
 protected:
  void SetUp() override {
    char path[] = "/tmp/roomcast_output_test_XXXXXX";
    fd_ = mkstemp(path);
    ASSERT_GE(fd_, 0);
    unlink(path);
    content_.resize(200'000);
    for (size_t i = 0; i < content_.size(); ++i) content_[i] = char('0' + i % 10);
    ASSERT_EQ(write(fd_, content_.data(), content_.size()), ssize_t(content_.size()));
  }
  // A GET answered with the file: what Worker::apply does with a Respond decision.
  Connection& answer(int* peer, uint64_t announced) {
    Connection& c = core().open(peer, ConnState::Handshake);
    c.http = std::make_unique<HttpExchange>();
    c.http->body = FileBody(fd_, announced);
    fd_ = -1;
    core().table->end(c, Ending::respond(200, head_), core().now);
    return c;
  }
  ~OutputFileAnswerTest() override {
    if (fd_ >= 0) close(fd_);
  }
  int fd_ = -1;
  std::string content_;
  const std::string head_ = "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n";
};

// The clock does not move here: an answer's chunks are a reply, and replies never wait
// for a batch window (core/server/output.h), so the whole file leaves in as many iterations as
// it has chunks.
TEST_F(OutputFileAnswerTest, AFileAnswerIsStreamedOneChunkAtATimeWithoutWaitingForWindowsAndHalfClosedAfterItsLastByte) {
  int peer;
  Connection& c = answer(&peer, content_.size());
  std::string got;
  bool eof = false;
  size_t most_queued = 0;
  for (int i = 0; i < 20 && !eof; ++i) {
    core().iterate();
    most_queued = std::max(most_queued, c.member.out.pending_bytes());
    got += read_peer(peer, &eof);
  }
  EXPECT_TRUE(eof) << "half-closed after the last byte";
  EXPECT_TRUE(got == head_ + content_) << got.size();
  EXPECT_LE(most_queued, FileBody::kChunkBytes) << "never more than one chunk of the file held in memory";
  EXPECT_GE(core().sends, 1 + int((content_.size() + FileBody::kChunkBytes - 1) / FileBody::kChunkBytes));
}

TEST_F(OutputFileAnswerTest, AFileThatShrankWhileBeingSentDropsTheConnection) {
  int peer;
  answer(&peer, content_.size() + 100'000);  // the head announced more than the file holds
  std::string got;
  bool eof = false;
  for (int i = 0; i < 20 && !eof; ++i) {
    core().iterate();
    got += read_peer(peer, &eof);
  }
  EXPECT_TRUE(eof);
  const std::string whole = head_ + content_;
  EXPECT_LT(got.size(), whole.size()) << "the body ends short: the client sees the answer fail, not a wrong one";
  EXPECT_TRUE(whole.compare(0, got.size(), got) == 0) << "what did arrive is the file's bytes, in order";
  EXPECT_EQ(core().table->live(), 0u) << "dropped and freed, not left lingering";
}

}  // namespace
}  // namespace roomcast
