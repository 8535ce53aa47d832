#include "bench/load/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

#include "bench/load/clock.h"
#include "bench/load/message_scan.h"

namespace load {
namespace {

constexpr size_t kReadBuffer = 256 * 1024;   // one per thread, shared by its connections
constexpr int kMaxEvents = 512;              // per epoll_wait
constexpr int kMaxReadsPerEvent = 4;         // level-triggered: the rest comes next turn
constexpr size_t kMaxSendsPerTurn = 16384;   // then look at the sockets again
constexpr size_t kConnectBatch = 512;        // connects between two looks at the sockets
constexpr size_t kMaxHandshake = 16 * 1024;  // a 101 head larger than this is wrong
constexpr size_t kMaxPendingIn = 64 << 20;   // one frame larger than 64 MiB is wrong

constexpr uint8_t kOpText = 0x1, kOpClose = 0x8, kOpPing = 0x9, kOpPong = 0xA;

std::string base64_16(const uint8_t (&in)[16]) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (int i = 0; i < 15; i += 3) {
    const uint32_t v = (uint32_t(in[i]) << 16) | (uint32_t(in[i + 1]) << 8) | in[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const uint32_t v = uint32_t(in[15]) << 16;
  out += kAlphabet[(v >> 18) & 63];
  out += kAlphabet[(v >> 12) & 63];
  out += "==";
  return out;
}

}  // namespace

Worker::Worker(SharedState& shared, int index, std::vector<int> connection_ids)
    : shared_(shared), index_(index), read_buf_(kReadBuffer),
      masks_(0x9E3779B97F4A7C15ULL * uint64_t(index + 1) ^ uint64_t(monotonic_us())) {
  conns_.resize(connection_ids.size());
  phase_.resize(connection_ids.size());
  std::sort(connection_ids.begin(), connection_ids.end());
  for (size_t j = 0; j < connection_ids.size(); ++j) {
    conns_[j].id = connection_ids[j];
    conns_[j].room = shared_.layout.room_of(connection_ids[j]);
    conns_[j].server = shared_.layout.server_of(connection_ids[j]);
    const int member = shared_.layout.member_of(connection_ids[j]);
    conns_[j].follower = member >= 1 && member <= shared_.opts.followers;
    phase_[j] = double(connection_ids[j]) / double(shared_.layout.connections);
  }
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
}

Worker::~Worker() {
  close_all();
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void Worker::run() {
  if (epoll_fd_ < 0) {
    stats_.note_problem(std::string("epoll_create1: ") + std::strerror(errno));
    shared_.failed.fetch_add(int(conns_.size()));
    return;
  }
  while (!shared_.connect_go.load(std::memory_order_acquire)) {
    if (shared_.stop.load(std::memory_order_relaxed) || now_us() > shared_.hard_deadline_us) return;
    usleep(200);
  }
  size_t next_connect = 0;
  epoll_event events[kMaxEvents];
  while (!shared_.stop.load(std::memory_order_relaxed)) {
    int64_t now = now_us();
    if (now > shared_.hard_deadline_us) {
      stats_.note_problem("worker hit its hard deadline");
      break;
    }
    bool limited = false;  // waiting for welcomes before connecting more
    if (next_connect < conns_.size()) {
      // With --join-in-flight, only as many new connections as there are free places.
      size_t batch = kConnectBatch;
      if (const int limit = shared_.opts.join_in_flight; limit > 0) {
        const int threads = std::max(1, shared_.opts.threads);
        const int mine = std::max(1, (limit + threads - 1) / threads);
        batch = unwelcomed_ >= mine ? 0 : std::min<size_t>(batch, size_t(mine - unwelcomed_));
      }
      connect_batch(next_connect, batch);
      limited = batch == 0;
    }
    if (!plan_started_ && shared_.plan_ready.load(std::memory_order_acquire)) start_plan();

    // Sleep until the next scheduled send, at most 5 ms (to notice stop and the plan),
    // and not at all while connections are still being opened.
    int64_t wait_us = 5000;
    if (next_connect < conns_.size()) {
      wait_us = limited ? 1000 : 0;
    } else if (plan_started_) {
      const int64_t due = next_due();
      if (due != INT64_MAX) wait_us = std::clamp<int64_t>(due - now, 0, 5000);
    }
    timespec timeout{wait_us / 1000000, (wait_us % 1000000) * 1000};
    const int n = epoll_pwait2(epoll_fd_, events, kMaxEvents, &timeout, nullptr);
    if (n < 0 && errno != EINTR) {
      stats_.note_problem(std::string("epoll_pwait2: ") + std::strerror(errno));
      break;
    }
    for (int e = 0; e < n; ++e) handle_event(conns_[events[e].data.u32], events[e].events);
    if (plan_started_) send_due(now_us());
  }
  close_all();
}

void Worker::connect_batch(size_t& next, size_t batch) {
  const size_t end = std::min(conns_.size(), next + batch);
  for (; next < end; ++next) {
    ++unwelcomed_;
    start_connect(conns_[next]);
  }
}

void Worker::start_connect(Connection& c) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ++stats_.connect_errors;
    stats_.note_problem(std::string("socket: ") + std::strerror(errno));
    c.state = ConnState::Closed;
    --unwelcomed_;
    shared_.failed.fetch_add(1);
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Choose only the source address now; the port is chosen by connect() per 4-tuple, so
  // every source address has its own ephemeral port range.
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl((127u << 24) | uint32_t(2 + c.id % 253));
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      (connect(fd, reinterpret_cast<const sockaddr*>(&shared_.servers[size_t(c.server)]), sizeof(sockaddr_in)) != 0 &&
       errno != EINPROGRESS)) {
    ++stats_.connect_errors;
    stats_.note_problem(std::string("connect: ") + std::strerror(errno));
    close(fd);
    c.state = ConnState::Closed;
    --unwelcomed_;
    shared_.failed.fetch_add(1);
    return;
  }
  c.fd = fd;
  c.state = ConnState::Connecting;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u32 = uint32_t(&c - conns_.data());
  c.watching_out = true;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  ++live_;
}

void Worker::handle_event(Connection& c, uint32_t events) {
  if (c.state == ConnState::Closed) return;
  if (events & EPOLLOUT) on_writable(c);
  if (c.state != ConnState::Closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(c);
}

void Worker::on_writable(Connection& c) {
  if (c.state == ConnState::Connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      ++stats_.connect_errors;
      lose(c, false, std::string("connect: ") + std::strerror(err));
      return;
    }
    uint8_t key[16];
    for (int i = 0; i < 16; i += 4) {
      const uint32_t r = masks_.next();
      std::memcpy(key + i, &r, 4);
    }
    const ServerAddress& server = shared_.opts.servers[size_t(c.server)];
    std::string request = "GET " + server.path_prefix + shared_.opts.room_prefix +
                          std::to_string(c.room) + (shared_.opts.token.empty() ? "" : "?token=" + shared_.opts.token) +
                          " HTTP/1.1\r\nHost: " + server.host + ":" +
                          std::to_string(server.port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                          base64_16(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    c.state = ConnState::Handshaking;
    watch_out(c, false);
    send_bytes(c, request.data(), request.size());
    return;
  }
  // Flush what an earlier send could not take.
  while (!c.out.empty()) {
    const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, size_t(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    lose(c, false, std::string("send: ") + std::strerror(errno));
    return;
  }
  watch_out(c, false);
}

void Worker::on_readable(Connection& c) {
  for (int i = 0; i < kMaxReadsPerEvent && c.state != ConnState::Closed; ++i) {
    const ssize_t n = recv(c.fd, read_buf_.data(), read_buf_.size(), 0);
    if (n > 0) {
      const int64_t at = now_us();
      if (plan_started_) {
        // Bytes by receive time: the measured window of the step being sent.
        for (size_t k = 0; k < shared_.plan.steps.size(); ++k)
          if (at >= shared_.plan.steps[k].measure_start_us && at < shared_.plan.steps[k].measure_end_us)
            stats_.steps[k].bytes_in += uint64_t(n);
      }
      consume(c, read_buf_.data(), size_t(n), at);
      if (size_t(n) < read_buf_.size()) return;
      continue;
    }
    if (n == 0) {
      lose(c, false, "server closed the connection (EOF) in state " + std::to_string(int(c.state)));
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EINTR) continue;
    lose(c, false, std::string("recv: ") + std::strerror(errno));
    return;
  }
}

void Worker::consume(Connection& c, const char* data, size_t n, int64_t now) {
  std::string_view view;
  if (c.in.empty()) {
    view = std::string_view(data, n);
  } else {
    c.in.append(data, n);
    view = c.in;
  }
  size_t used = 0;
  if (c.state == ConnState::Handshaking) {
    used = parse_handshake(c, view);
    if (c.state == ConnState::Closed) return;
  }
  if (c.state != ConnState::Handshaking) used += parse_frames(c, view.substr(used), now);
  if (c.state == ConnState::Closed) return;
  if (c.in.empty()) {
    if (used < n) c.in.assign(data + used, n - used);
  } else {
    c.in.erase(0, used);
  }
  if (c.in.size() > kMaxPendingIn) {
    ++stats_.malformed;
    lose(c, false, "a frame larger than 64 MiB");
  }
}

size_t Worker::parse_handshake(Connection& c, std::string_view data) {
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() > kMaxHandshake) {
      ++stats_.handshake_errors;
      lose(c, false, "upgrade answer head too large");
    }
    return 0;
  }
  if (!data.starts_with("HTTP/1.1 101")) {
    ++stats_.handshake_errors;
    lose(c, false, "upgrade refused: " + std::string(data.substr(0, data.find('\r'))));
    return 0;
  }
  c.state = ConnState::Joining;
  char payload[128];
  const int plen = shared_.opts.camera_rate > 0
                       ? std::snprintf(payload, sizeof payload, R"({"type":"join","user":{"id":"load-%d"},"camera_rate":%g})",
                                       c.id, shared_.opts.camera_rate)
                       : std::snprintf(payload, sizeof payload, R"({"type":"join","user":{"id":"load-%d"}})", c.id);
  char frame[160];
  const size_t len = write_client_frame(frame, kOpText, std::string_view(payload, size_t(plen)),
                                        masks_.next());
  send_bytes(c, frame, len);
  return end + 4;
}

size_t Worker::parse_frames(Connection& c, std::string_view data, int64_t now) {
  size_t used = 0;
  while (c.state != ConnState::Closed) {
    ServerFrame frame;
    size_t consumed = 0;
    const FrameResult r = next_server_frame(data.substr(used), frame, consumed);
    if (r == FrameResult::NeedMore) break;
    if (r == FrameResult::Malformed) {
      ++stats_.malformed;
      lose(c, false, "malformed frame from the server");
      return used;
    }
    used += consumed;
    if (!frame.fin || frame.opcode == 0) {
      ++stats_.malformed;  // the server promises never to fragment
      continue;
    }
    switch (frame.opcode) {
      case kOpText:
        on_text(c, frame.payload, now);
        break;
      case kOpPing: {
        char out[160];
        if (frame.payload.size() <= 125) {
          const size_t len = write_client_frame(out, kOpPong, frame.payload, masks_.next());
          send_bytes(c, out, len);
          ++stats_.pings_answered;
        }
        break;
      }
      case kOpPong:
        break;
      case kOpClose: {
        int code = 0;
        if (frame.payload.size() >= 2) {
          code = (uint8_t(frame.payload[0]) << 8) | uint8_t(frame.payload[1]);
        }
        std::string reason(frame.payload.size() > 2 ? frame.payload.substr(2) : std::string_view{});
        lose(c, true, "server sent close " + std::to_string(code) + " " + reason);
        return used;
      }
      default:
        ++stats_.malformed;
        break;
    }
  }
  return used;
}

void Worker::on_text(Connection& c, std::string_view payload, int64_t now) {
  const MessageType type = scan_type(payload);
  switch (type) {
    case MessageType::Cursor:
      on_cursor(c, payload, now);
      return;
    case MessageType::Edit:
    case MessageType::Ack: {
      int64_t seq = 0;
      if (!scan_integer_field(payload, "\"seq\":", seq)) {
        ++stats_.malformed;
        return;
      }
      ++(type == MessageType::Edit ? stats_.edits_received : stats_.acks_received);
      if (type == MessageType::Ack && !c.edits_in_flight.empty()) {
        stats_.ack_latency.record(now - c.edits_in_flight.front());
        c.edits_in_flight.pop_front();
      }
      if (seq <= c.room_seq) {
        ++stats_.edit_reordered;
      } else {
        stats_.edit_gaps += uint64_t(seq - c.room_seq - 1);
        c.room_seq = seq;
      }
      return;
    }
    case MessageType::Welcome:
      if (c.state == ConnState::Joining) {
        int64_t seq = 0;
        if (scan_integer_field(payload, "\"seq\":", seq)) c.room_seq = seq;
        c.state = ConnState::Joined;
        --unwelcomed_;
        if (shared_.opts.followers > 0 && shared_.layout.member_of(c.id) == 0) {
          const std::string_view session = scan_string_field(payload, "session");
          std::lock_guard<std::mutex> lock(shared_.leader_mu);
          shared_.leader_session[size_t(c.room)] = std::string(session);
        }
        if (c.follower) try_follow(c);
        stats_.welcome_latency.record(now - shared_.connect_start_us);
        shared_.welcomed.fetch_add(1, std::memory_order_relaxed);
      } else {
        ++stats_.other_messages;
      }
      return;
    case MessageType::Presence:
      ++stats_.presence_messages;
      return;
    case MessageType::Error:
      ++stats_.error_messages;
      stats_.note_problem("server error message: " + std::string(payload.substr(0, 200)));
      return;
    case MessageType::NotJson:
      ++stats_.malformed;
      return;
    case MessageType::Pong:
    case MessageType::Other:
      ++stats_.other_messages;
      return;
  }
}

void Worker::on_cursor(Connection& c, std::string_view payload, int64_t now) {
  CursorProbe probe;
  const RoomLayout& layout = shared_.layout;
  if (!scan_cursor(payload, probe) || probe.sender < 0 || probe.sender >= layout.connections ||
      probe.seq <= 0 || probe.seq > UINT32_MAX) {
    ++stats_.malformed;
    return;
  }
  const int sender = int(probe.sender);
  if (layout.room_of(sender) != c.room || sender == c.id) {
    ++stats_.wrong_room;  // also counts an echo of our own cursor, which must not happen
    return;
  }
  if (c.last_seq.empty()) c.last_seq.assign(size_t(layout.room_size(c.room)), 0);
  uint32_t& last = c.last_seq[size_t(layout.member_of(sender))];
  const uint32_t seq = uint32_t(probe.seq);
  const bool duplicate = seq == last;
  const bool reordered = seq < last;
  if (seq > last) last = seq;
  // A cursor can arrive before this thread has looked at plan_ready this turn.
  if (!plan_started_) {
    if (!shared_.plan_ready.load(std::memory_order_acquire)) return;
    start_plan();
  }
  const int k = shared_.plan.measured_step(probe.sent_us);
  if (k < 0) return;
  StepStats& st = stats_.steps[size_t(k)];
  if (duplicate) {
    ++st.duplicates;
    return;
  }
  if (reordered) ++st.reordered;
  ++st.received;
  const int64_t latency = now - probe.sent_us;
  st.latency.record(latency);
  if (c.follower && layout.member_of(sender) == 0) {
    ++st.follow_received;
    st.follow_latency.record(latency);
  }
  if (layout.servers > 1) {
    PathStats& path = layout.server_of(sender) == c.server ? st.same_server : st.cross_server;
    ++path.received;
    path.latency.record(latency);
  }
}

void Worker::send_bytes(Connection& c, const char* data, size_t n) {
  if (c.state == ConnState::Closed) return;
  if (!c.out.empty()) {
    c.out.append(data, n);
    return;
  }
  size_t sent = 0;
  while (sent < n) {
    const ssize_t w = send(c.fd, data + sent, n - sent, MSG_NOSIGNAL);
    if (w > 0) {
      sent += size_t(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    lose(c, false, std::string("send: ") + std::strerror(errno));
    return;
  }
  if (sent < n) {
    c.out.append(data + sent, n - sent);
    watch_out(c, true);
  }
}

void Worker::watch_out(Connection& c, bool on) {
  if (c.watching_out == on || c.fd < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.u32 = uint32_t(&c - conns_.data());
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.watching_out = on;
}

void Worker::lose(Connection& c, bool close_frame, const std::string& why) {
  if (c.state == ConnState::Closed) return;
  const bool before_welcome = c.state != ConnState::Joined;
  if (close_frame) {
    ++stats_.server_close_frames;
  } else if (c.state != ConnState::Connecting) {
    ++stats_.server_eofs;
  }
  stats_.note_problem("connection " + std::to_string(c.id) + ": " + why);
  if (before_welcome) {
    shared_.failed.fetch_add(1);
    --unwelcomed_;
  }
  close(c.fd);
  c.fd = -1;
  c.state = ConnState::Closed;
  std::string().swap(c.in);
  std::string().swap(c.out);
  --live_;
}

void Worker::close_all() {
  for (Connection& c : conns_) {
    c.joined_at_end = c.state == ConnState::Joined;
    if (c.fd >= 0) {
      close(c.fd);
      c.fd = -1;
      c.state = ConnState::Closed;
    }
  }
  live_ = 0;
}

// --- cursor schedule --------------------------------------------------------------------

void Worker::start_plan() {
  plan_started_ = true;
  stats_.steps.resize(shared_.plan.steps.size());
  step_ = 0;
  round_ = 0;
  pos_ = 0;
  if (!shared_.plan.steps.empty()) period_us_ = 1e6 / shared_.plan.steps[0].rate;
}

int64_t Worker::next_due() const {
  if (step_ >= shared_.plan.steps.size() || conns_.empty()) return INT64_MAX;
  const Step& s = shared_.plan.steps[step_];
  return s.send_start_us + int64_t((double(round_) + phase_[pos_]) * period_us_);
}

void Worker::send_due(int64_t now) {
  const Plan& plan = shared_.plan;
  size_t sent = 0;
  while (step_ < plan.steps.size() && !conns_.empty() && sent < kMaxSendsPerTurn) {
    const int64_t due = next_due();
    if (due >= plan.steps[step_].send_end_us) {
      ++step_;
      round_ = 0;
      pos_ = 0;
      if (step_ < plan.steps.size()) period_us_ = 1e6 / plan.steps[step_].rate;
      continue;
    }
    if (due > now) {
      now = now_us();
      if (due > now) return;
    }
    Connection& c = conns_[pos_];
    const int64_t at = now_us();
    const int k = plan.measured_step(at);
    if (c.state == ConnState::Joined && c.follower && !c.follow_sent) try_follow(c);
    if (c.state != ConnState::Joined) {
      if (k >= 0) ++stats_.steps[size_t(k)].skipped;
    } else if (const int every = shared_.opts.edit_every; every > 0 && ++c.sends % uint32_t(every) == 0) {
      send_edit(c, at);
      ++stats_.edits_sent;
      stats_.edits_expected += uint64_t(shared_.layout.room_size(c.room) - 1);
    } else {
      send_cursor(c, at);
      if (k >= 0) {
        StepStats& st = stats_.steps[size_t(k)];
        ++st.sends;
        const RoomLayout& layout = shared_.layout;
        st.expected += uint64_t(layout.room_size(c.room) - 1);
        if (layout.servers > 1) {
          const int here = layout.members_on(c.room, c.server) - 1;
          st.same_server.expected += uint64_t(here);
          st.cross_server.expected += uint64_t(layout.room_size(c.room) - 1 - here);
        }
        st.send_lag.record(at - due);
        if (at - due > 1000) ++st.late_sends;
      }
    }
    ++sent;
    if (++pos_ == conns_.size()) {
      pos_ = 0;
      ++round_;
    }
  }
}

void Worker::send_edit(Connection& c, int64_t at) {
  char payload[160];
  const int plen = std::snprintf(payload, sizeof payload, R"({"type":"edit","building":"b%d","op":"load","data":[%lld]})",
                                 c.id, static_cast<long long>(at));
  char frame[200];
  const size_t len = write_client_frame(frame, kOpText, std::string_view(payload, size_t(plen)), masks_.next());
  send_bytes(c, frame, len);
  c.edits_in_flight.push_back(at);
}

void Worker::try_follow(Connection& c) {
  std::string leader;
  {
    std::lock_guard<std::mutex> lock(shared_.leader_mu);
    leader = shared_.leader_session[size_t(c.room)];
  }
  if (leader.empty()) return;
  char payload[128];
  const int plen = std::snprintf(payload, sizeof payload, R"({"type":"follow","session":"%s"})", leader.c_str());
  char frame[160];
  const size_t len = write_client_frame(frame, kOpText, std::string_view(payload, size_t(plen)), masks_.next());
  send_bytes(c, frame, len);
  c.follow_sent = true;
}

void Worker::send_cursor(Connection& c, int64_t at) {
  // {"type":"cursor","position":[SENT_US,SENDER,0],"target":[0,0,0],"fov":SEQ}
  // `at` was read from the clock right before this call.
  char payload[160];
  const int plen = std::snprintf(payload, sizeof payload,
                                 R"({"type":"cursor","position":[%lld,%d,0],"target":[0,0,0],"fov":%u})",
                                 static_cast<long long>(at), c.id, ++c.seq);
  char frame[200];
  const size_t len = write_client_frame(frame, kOpText, std::string_view(payload, size_t(plen)),
                                        masks_.next());
  send_bytes(c, frame, len);
}

}  // namespace load
