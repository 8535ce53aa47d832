// tests/core/server/io_core.h: one loop thread's I/O core, built as core/server/worker.cpp Worker::init()
// builds it, on a real epoll loop, for unit tests of the output step, the connection
// table and housekeeping.
//
// Owns: the EventLoop (epoll: always available), RoomService, ConnectionTable, Output and
// Housekeeping, and the peer ends of the socketpairs its connections are opened on.
// The test drives the clock: every call takes `now` explicitly, so windows, deadlines
// and timeouts are reached without sleeping. Completions are dispatched as the Worker
// dispatches them (Recv: the receive is disarmed or retired; Send: Output::on_sent).
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/ws_frames.h"
#include "core/server/completion_tag.h"
#include "core/server/connection_table.h"
#include "core/server/housekeeping.h"
#include "core/server/output.h"
#include "net/event_loop.h"

namespace roomcast::testing_support {

class IoCore final : public CompletionSink, public ConnectionEvents {
 public:
  static constexpr int64_t kStart = 1'000'000'000'000;  // the loop clock at the start (ns)

  explicit IoCore(const Config& config, size_t max_connections = 1000, size_t max_per_address = 1000)
      : config_(config), limits(max_connections, max_per_address) {
    std::string description;
    int error = 0;
    loop = EventLoop::create(BackendChoice::Epoll, 64, &description, &error);
    EXPECT_TRUE(loop) << error;
    rooms.emplace(config_, 0, metrics, &limits, &log);
    table.emplace(config_, *loop, limits, *rooms, this, nullptr, metrics, log);
    output.emplace(config_, *loop, *table, *rooms, metrics, log);
    housekeeping.emplace(config_, *table, metrics, log);
  }
  ~IoCore() {
    // Components go before the loop they use (as in the Worker).
    housekeeping.reset();
    output.reset();
    table.reset();
    rooms.reset();
    for (int fd : peers_) close(fd);  // test teardown: the descriptor goes either way
  }

  // A connection on a fresh socketpair; `peer_fd` receives the peer end (owned here).
  // `state` Open: upgraded (its wslay context made), in room "r", not joined.
  Connection& open(int* peer_fd, ConnState state = ConnState::Open, const char* address = "10.0.0.1") {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    peers_.push_back(sv[1]);
    *peer_fd = sv[1];
    Connection& c = table->open(sv[0], now);
    EXPECT_TRUE(parse_ip_address(address, c.peer.bytes));
    if (state == ConnState::Open) {
      c.state = ConnState::Open;
      EXPECT_TRUE(c.ws.init(config_.max_message));
      c.member.set_room("r");
      c.last_rx = c.last_ping = ClockMs::of(now);
    }
    return c;
  }
  // The peer end goes away (closed here, not at teardown).
  void close_peer(int fd) {
    std::erase(peers_, fd);
    close(fd);
  }
  // Arms c's receive as the Worker does (multishot once Open).
  void arm_recv(Connection& c) {
    loop->recv(c.fd, completion_tag(Op::Recv, c.slot, c.generation), c.state != ConnState::Handshake);
    c.recv_armed = true;
  }

  // Leaves c with a send in flight the kernel cannot finish: its peer reads nothing and
  // the socket is full (the send waits in the loop, as one to a zero window does).
  void stall_send(Connection& c) {
    int small = 4096;
    EXPECT_EQ(setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    c.member.out.push_adopt(ws_frame(Opcode::Text, std::string(1 << 20, 's')));
    for (int i = 0; i < 4; ++i) iterate();
    EXPECT_TRUE(c.send_in_flight());
  }

  // One loop iteration at `now`: the output step, what the kernel completed, the sweep.
  void iterate(bool saturated = false) {
    output->step(now, false, saturated);
    EXPECT_EQ(loop->run_once(*this, monotonic_ns() + 2'000'000), 0);
    table->sweep();
  }

  void on_completion(const Completion& done) override {
    const uint64_t tag = done.user_data;
    Connection* c = table->lookup(slot_of(tag), generation_of(tag));
    if (!c) return;
    if (op_of(tag) == Op::Send) {
      ++sends;
      output->on_sent(*c, done.result, now);
    } else if (op_of(tag) == Op::Recv) {
      if (!done.more) c->recv_armed = false;
      if (done.result > 0) received.append(reinterpret_cast<const char*>(done.data), size_t(done.result));
      else if (done.result != -ECANCELED || c->state != ConnState::Dead) table->end(*c, Ending::drop("peer closed"), now);
      if (c->state == ConnState::Dead) table->retire(*c);
    }
  }
  void on_message(Connection&, std::string_view) override {}
  void close_connection(Connection& c, uint16_t code, std::string_view reason) override {
    table->end(c, Ending::close(code, reason), now);
  }

  const Config& config_;
  Logger log{LogFormat::Text, LogLevel::Error};
  Metrics metrics;
  ConnectionLimits limits;
  std::unique_ptr<EventLoop> loop;
  std::optional<RoomService> rooms;
  std::optional<ConnectionTable> table;
  std::optional<Output> output;
  std::optional<Housekeeping> housekeeping;
  int64_t now = kStart;
  int sends = 0;          // send completions seen
  std::string received;   // bytes our sockets received

 private:
  std::vector<int> peers_;
};

// What the peer end can read now (without blocking); `eof` set if the stream ended.
inline std::string read_peer(int fd, bool* eof = nullptr) {
  std::string out;
  char buf[65536];
  if (eof) *eof = false;
  for (int i = 0; i < 4096; ++i) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 && eof) *eof = true;
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

// A WebSocket text frame the way a broadcast is queued (latest wins or not).
inline SharedFrame* text_frame(std::string_view payload, DropPolicy policy = DropPolicy::Never) {
  return ws_frame(Opcode::Text, payload, policy);
}

// The close code of a server close frame at the start of `bytes` (0 if there is none).
inline uint16_t close_code_of(std::string_view bytes) {
  if (bytes.size() < 4 || uint8_t(bytes[0]) != 0x88) return 0;
  return uint16_t((uint8_t(bytes[2]) << 8) | uint8_t(bytes[3]));
}

}  // namespace roomcast::testing_support
