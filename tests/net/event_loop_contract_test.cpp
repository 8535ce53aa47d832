// Contract tests for net/event_loop.h: the promises its header states, run unchanged
// against both backends (epoll, and io_uring where the kernel allows it) over real
// socketpairs, loopback sockets and an eventfd. A caller (core/server/worker.cpp,
// core/server/connection_table.cpp, core/server/output.cpp) relies only on these promises, so a backend
// that breaks one breaks the server on that kernel alone.
#include "net/event_loop.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace roomcast {
namespace {

// A completion as the test saw it, with its received bytes copied (a recv's buffer goes
// back to the loop at once, as core/server/worker.cpp does).
struct Seen {
  uint64_t user_data;
  int32_t result;
  bool more;
  std::string bytes;
};

class Recorder final : public CompletionSink {
 public:
  explicit Recorder(EventLoop& loop) : loop_(loop) {}
  void on_completion(const Completion& c) override {
    Seen s{c.user_data, c.result, c.more, {}};
    if (c.data && c.result > 0) s.bytes.assign(reinterpret_cast<const char*>(c.data), size_t(c.result));
    if (c.buffer != kNoBuffer) loop_.release_buffer(c.buffer);
    seen.push_back(std::move(s));
  }
  std::vector<Seen> of(uint64_t ud) const {
    std::vector<Seen> out;
    for (const Seen& s : seen)
      if (s.user_data == ud) out.push_back(s);
    return out;
  }
  std::vector<Seen> seen;

 private:
  EventLoop& loop_;
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);  // test teardown: nothing to do if it fails
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

struct Pair {
  Fd ours, peer;
};

Pair socket_pair() {
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  return Pair{Fd(sv[0]), Fd(sv[1])};
}

void write_all(int fd, const std::string& bytes) {
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size()));
}

std::string drain(int fd) {
  std::string out;
  char buf[65536];
  for (int i = 0; i < 1024; ++i) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

const char* backend_name(BackendChoice b) { return b == BackendChoice::Epoll ? "epoll" : "io_uring"; }

class Contract : public ::testing::TestWithParam<BackendChoice> {
 protected:
  void SetUp() override {
    std::string description;
    int error = 0;
    loop_ = EventLoop::create(GetParam(), 64, &description, &error);
    if (!loop_ && GetParam() == BackendChoice::IoUring)
      GTEST_SKIP() << "this kernel or sandbox refuses io_uring: " << std::strerror(-error);
    ASSERT_TRUE(loop_) << backend_name(GetParam()) << ": " << std::strerror(-error);
    ASSERT_STREQ(loop_->name(), backend_name(GetParam()));
    sink_ = std::make_unique<Recorder>(*loop_);
  }

  // Runs the loop until `done` holds, at most `rounds` iterations of at most 20 ms each.
  bool pump_until(const std::function<bool()>& done, int rounds = 100) {
    for (int i = 0; i < rounds && !done(); ++i)
      EXPECT_EQ(loop_->run_once(*sink_, monotonic_ns() + 20'000'000), 0);
    return done();
  }
  // A few iterations that must bring nothing new: what "exactly once" is checked against.
  void pump_quietly(int rounds = 5) {
    for (int i = 0; i < rounds; ++i) EXPECT_EQ(loop_->run_once(*sink_, monotonic_ns() + 5'000'000), 0);
  }

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<Recorder> sink_;
};

TEST_P(Contract, AOneShotRecvCompletesExactlyOnceWithTheBytesAndTheCallersUserData) {
  Pair p = socket_pair();
  loop_->recv(p.ours.get(), 0xABCD0001, /*multishot=*/false);
  write_all(p.peer.get(), "hello");
  ASSERT_TRUE(pump_until([&] { return !sink_->of(0xABCD0001).empty(); }));
  write_all(p.peer.get(), "more bytes nobody asked for");
  pump_quietly();
  std::vector<Seen> got = sink_->of(0xABCD0001);
  ASSERT_EQ(got.size(), 1u) << "a one-shot receive reports once, even when more bytes arrive";
  EXPECT_EQ(got[0].result, 5);
  EXPECT_EQ(got[0].bytes, "hello");
  EXPECT_FALSE(got[0].more);
  EXPECT_EQ(sink_->seen.size(), 1u) << "nothing is reported that was not asked for";
}

TEST_P(Contract, AMultishotRecvStaysArmedWithMoreUntilEofEndsItWithZero) {
  Pair p = socket_pair();
  loop_->recv(p.ours.get(), 7, /*multishot=*/true);
  std::string received;
  for (const char* chunk : {"one", "two", "three"}) {
    const size_t before = sink_->of(7).size();
    write_all(p.peer.get(), chunk);
    ASSERT_TRUE(pump_until([&] { return sink_->of(7).size() > before; }));
  }
  for (const Seen& s : sink_->of(7)) {
    EXPECT_TRUE(s.more) << "still armed after a chunk of data";
    received += s.bytes;
  }
  EXPECT_EQ(received, "onetwothree");
  shutdown(p.peer.get(), SHUT_WR);
  ASSERT_TRUE(pump_until([&] { return !sink_->of(7).empty() && sink_->of(7).back().result == 0; }));
  EXPECT_FALSE(sink_->of(7).back().more) << "EOF ends the multishot receive";
  const size_t total = sink_->of(7).size();
  pump_quietly();
  EXPECT_EQ(sink_->of(7).size(), total) << "nothing after the final completion";
}

TEST_P(Contract, AMultishotAcceptReportsEachConnectionWithMoreSet) {
  Fd listener(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener.get(), 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  loop_->accept(listener.get(), 42);
  std::vector<Fd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(connect(clients.back().get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ASSERT_TRUE(pump_until([&] { return sink_->of(42).size() >= 3; }));
  pump_quietly(2);
  std::vector<Seen> got = sink_->of(42);
  EXPECT_EQ(got.size(), 3u) << "one completion per connection, no more";
  for (const Seen& s : got) {
    EXPECT_GE(s.result, 0);
    EXPECT_TRUE(s.more) << "the accept stays armed";
    if (s.result >= 0) Fd accepted(s.result);  // closed here
  }
}

TEST_P(Contract, ASendCompletesWithTheBytesTheKernelTookWhichMayBeFewerThanOffered) {
  Pair p = socket_pair();
  int small = 4096;
  ASSERT_EQ(setsockopt(p.ours.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  std::string payload(1 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = char('a' + i % 26);
  // Two iovecs: the sendmsg path of both backends (one iovec is a plain send on io_uring).
  iovec iov[2] = {{payload.data(), 1000}, {payload.data() + 1000, payload.size() - 1000}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  loop_->send(p.ours.get(), &msg, 99);
  ASSERT_TRUE(pump_until([&] { return !sink_->of(99).empty(); }));
  const int32_t took = sink_->of(99)[0].result;
  ASSERT_GT(took, 0);
  EXPECT_LT(took, int32_t(payload.size())) << "a full socket takes part of the send, and the send completes";
  std::string arrived = drain(p.peer.get());
  EXPECT_EQ(arrived.size(), size_t(took)) << "the result is exactly what the peer can read";
  EXPECT_EQ(arrived, payload.substr(0, arrived.size()));
  pump_quietly(2);
  EXPECT_EQ(sink_->of(99).size(), 1u) << "a send reports once";
}

TEST_P(Contract, ASendToAClosedPeerCompletesWithANegativeErrno) {
  Pair p = socket_pair();
  close(p.peer.release());
  std::string bytes = "to nobody";
  iovec iov{bytes.data(), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  loop_->send(p.ours.get(), &msg, 5);
  ASSERT_TRUE(pump_until([&] { return !sink_->of(5).empty(); }));
  EXPECT_EQ(sink_->of(5)[0].result, -EPIPE) << "and no SIGPIPE kills the process";
}

TEST_P(Contract, ACancelledRecvCompletesOnceWithEcanceledAndReceivesNothingAfter) {
  Pair p = socket_pair();
  loop_->recv(p.ours.get(), 11, /*multishot=*/true);
  pump_quietly(1);  // io_uring: the receive is in the kernel before it is cancelled
  loop_->cancel(p.ours.get(), 11);
  ASSERT_TRUE(pump_until([&] { return !sink_->of(11).empty(); }));
  write_all(p.peer.get(), "late");
  pump_quietly();
  std::vector<Seen> got = sink_->of(11);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].result, -ECANCELED);
  EXPECT_FALSE(got[0].more);
  EXPECT_EQ(drain(p.ours.get()), "late") << "the cancelled receive took none of the bytes";
}

TEST_P(Contract, ACancelOfAFinishedRecvReportsNothingMore) {
  Pair p = socket_pair();
  loop_->recv(p.ours.get(), 12, /*multishot=*/false);
  write_all(p.peer.get(), "x");
  ASSERT_TRUE(pump_until([&] { return !sink_->of(12).empty(); }));
  loop_->cancel(p.ours.get(), 12);
  pump_quietly();
  ASSERT_EQ(sink_->of(12).size(), 1u) << "the normal result was its one completion";
  EXPECT_EQ(sink_->of(12)[0].result, 1);
}

TEST_P(Contract, ACancelledSendToAPeerThatStoppedReadingCompletesOnce) {
  Pair p = socket_pair();
  int small = 4096;
  ASSERT_EQ(setsockopt(p.ours.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  std::string payload(1 << 20, 'z');
  iovec iov{payload.data(), payload.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // The first send fills the socket; the second has nowhere to go and waits in the loop.
  loop_->send(p.ours.get(), &msg, 20);
  ASSERT_TRUE(pump_until([&] { return !sink_->of(20).empty(); }));
  ASSERT_GT(sink_->of(20)[0].result, 0);
  iovec iov2{payload.data(), payload.size()};
  msghdr msg2{};
  msg2.msg_iov = &iov2;
  msg2.msg_iovlen = 1;
  loop_->send(p.ours.get(), &msg2, 21);
  pump_quietly(2);
  ASSERT_TRUE(sink_->of(21).empty()) << "a send to a full socket waits";
  loop_->cancel(p.ours.get(), 21);
  ASSERT_TRUE(pump_until([&] { return !sink_->of(21).empty(); }));
  const size_t first = drain(p.peer.get()).size();
  pump_quietly();
  std::vector<Seen> got = sink_->of(21);
  ASSERT_EQ(got.size(), 1u) << "cancelled: one completion, and the send is never retried";
  EXPECT_EQ(got[0].result, -ECANCELED);
  EXPECT_EQ(first, size_t(sink_->of(20)[0].result)) << "the cancelled send put nothing on the stream";
  EXPECT_TRUE(drain(p.peer.get()).empty());
}

TEST_P(Contract, ATimeoutFiresOnceWithEtimeNoEarlierThanItsDeadline) {
  const int64_t at = monotonic_ns() + 30'000'000;
  loop_->timeout_at(at, 77);
  ASSERT_TRUE(pump_until([&] { return !sink_->of(77).empty(); }));
  EXPECT_GE(monotonic_ns(), at);
  pump_quietly(3);
  ASSERT_EQ(sink_->of(77).size(), 1u);
  EXPECT_EQ(sink_->of(77)[0].result, -ETIME);
}

TEST_P(Contract, RunOnceSleepsUntilTheCallersDeadlineWhenNothingCompletes) {
  Pair p = socket_pair();
  loop_->recv(p.ours.get(), 1, /*multishot=*/true);  // armed, never fed
  ASSERT_EQ(loop_->run_once(*sink_, monotonic_ns() + 1'000'000), 0);  // submitted
  const int64_t start = monotonic_ns(), deadline = start + 40'000'000;
  // A wait may end early when the thread is interrupted (EINTR: a signal, or task work
  // an io_uring torn down on this thread left behind); the caller simply calls again.
  // What the promise rules out is spinning, and sleeping past the deadline.
  int calls = 0;
  while (monotonic_ns() < deadline && calls < 10) {
    ASSERT_EQ(loop_->run_once(*sink_, deadline), 0);
    ++calls;
  }
  const int64_t waited = monotonic_ns() - start;
  EXPECT_LE(calls, 3) << "the loop slept rather than spun";
  EXPECT_GE(waited, 40'000'000);
  EXPECT_LT(waited, 500'000'000) << "and woke at the deadline, not much past it";
  EXPECT_TRUE(sink_->seen.empty());
}

TEST_P(Contract, RunOnceWithADeadlineAlreadyPastNeverBlocks) {
  Pair p = socket_pair();
  loop_->recv(p.ours.get(), 1, /*multishot=*/true);
  const int64_t start = monotonic_ns();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(loop_->run_once(*sink_, monotonic_ns() - 1), 0);
  EXPECT_LT(monotonic_ns() - start, 100'000'000);
  EXPECT_TRUE(sink_->seen.empty());
  write_all(p.peer.get(), "ready");
  ASSERT_TRUE(pump_until([&] { return !sink_->of(1).empty(); }));
  EXPECT_EQ(sink_->of(1)[0].bytes, "ready") << "what is ready is still taken";
}

TEST_P(Contract, AReadCompletesOnceIntoTheCallersBuffer) {
  Fd efd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ASSERT_GE(efd.get(), 0);
  uint64_t value = 0;
  loop_->read(efd.get(), &value, sizeof value, 3);
  pump_quietly(1);
  EXPECT_TRUE(sink_->of(3).empty()) << "nothing to read yet";
  const uint64_t one = 5;
  ASSERT_EQ(write(efd.get(), &one, sizeof one), ssize_t(sizeof one));
  ASSERT_TRUE(pump_until([&] { return !sink_->of(3).empty(); }));
  pump_quietly(2);
  ASSERT_EQ(sink_->of(3).size(), 1u);
  EXPECT_EQ(sink_->of(3)[0].result, int32_t(sizeof value));
  EXPECT_EQ(value, 5u);
}

INSTANTIATE_TEST_SUITE_P(EventLoop, Contract, ::testing::Values(BackendChoice::Epoll, BackendChoice::IoUring),
                         [](const ::testing::TestParamInfo<BackendChoice>& info) {
                           return std::string(info.param == BackendChoice::Epoll ? "epoll" : "io_uring");
                         });

}  // namespace
}  // namespace roomcast
