// core/server/connection.h: one client socket and everything the loop keeps for it.
//
// Owns: the socket fd, the request head while it is read (HttpExchange), the inbound
// WebSocket state (WsReader) and the Member the room service knows it as (its SendQueue,
// room, identity, rate limiter, session). Owned by its thread's ConnectionTable (a slot
// reused with a new generation), touched only by that thread.
// Lifecycle (core/server/connection_table.h has the one verb that ends a connection):
//   Handshake --101--> Open --close frame queued--> Closing --EOF/linger--> Dead -> freed
//   Handshake --HTTP answer--> Closing (the response, then the same drain)
//   Handshake --room on another thread--> handed off (fd moves; slot freed here)
// A Dead connection is freed once no receive and no send is in flight for it, so a
// late completion can never touch a reused slot (generations catch the rest).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/base/admission.h"
#include "core/http/http_exchange.h"
#include "core/room/member.h"
#include "net/send_queue.h"
#include "proto/ws_reader.h"

namespace roomcast {

struct Connection;
struct SendOp;  // a sendmsg in flight: msghdr + iovecs (core/server/output.cpp)

// What a connection reports to its thread as frames arrive.
class ConnectionEvents {
 public:
  // A complete text message from an Open connection.
  virtual void on_message(Connection& c, std::string_view text) = 0;
  // The room service ends this connection (its session was resumed elsewhere).
  virtual void close_connection(Connection& c, uint16_t code, std::string_view reason) = 0;

 protected:
  ~ConnectionEvents() = default;
};

enum class ConnState : uint8_t { Handshake, Open, Closing, Dead };


// A point on the loop's clock in milliseconds, in 32 bits: what a connection keeps for its
// second-scale timers (deadlines, last byte received, last ping), 4 bytes each instead of
// 8. It wraps every ~49.7 days, so it is compared only through these members, which are
// right for points less than ~24.8 days apart (every such timer is minutes at most).
struct ClockMs {
  uint32_t ms = 0;
  static ClockMs of(int64_t now_ns) { return {uint32_t(uint64_t(now_ns) / 1'000'000)}; }
  // now - this point, in ns (negative: the point is still ahead).
  int64_t elapsed_ns(int64_t now_ns) const { return int64_t(int32_t(of(now_ns).ms - ms)) * 1'000'000; }
  bool reached(int64_t now_ns) const { return elapsed_ns(now_ns) >= 0; }
};

// Every idle connection is one of these, so it is kept to 256 bytes, a jemalloc size class
// (the assert below keeps it there): fields ordered to leave no padding, timers in 32 bits,
// what only a closing connection needs (its reason) out of line, no virtual table (the
// thread's ConnectionTable is every member's MemberLink) and no pointer to per-thread
// state (events are passed to feed()).
struct Connection {
  Connection(DirtyList* dirty, uint32_t slot_, MemberLink* link) : slot(slot_), member(dirty, slot_, link) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Feeds received bytes to the WebSocket reader: messages go to `events`, and control
  // frames wslay queues go out with flush_control().
  WsReader::FeedResult feed(const uint8_t* data, size_t len, ConnectionEvents& events);
  void flush_control();

  // The reason logged when the connection ends; the first one noted wins unless `replace`.
  void note_close_reason(std::string_view why, bool replace = false) {
    if (!close_reason) close_reason = std::make_unique<std::string>(why);
    else if (replace || close_reason->empty()) close_reason->assign(why);
  }
  std::string_view close_reason_text() const { return close_reason ? std::string_view(*close_reason) : std::string_view(); }

  uint32_t slot;
  uint32_t generation = 0;
  int fd = -1;
  ConnState state = ConnState::Handshake;
  bool recv_armed = false;
  bool write_shut = false;     // FIN sent after the last byte of a close
  bool admitted = false;       // counted in ConnectionLimits (an upgrade); released when freed
  PeerAddress peer;
  uint16_t close_code = 0;     // close code sent, 0 if none
  ClockMs last_rx;             // last byte from the client (idle close)
  ClockMs last_ping;
  ClockMs deadline;            // handshake, token or linger deadline
  int64_t last_send_ns = 0;    // when the last sendmsg started (its batch window, core/server/output.h)
  std::unique_ptr<std::string> close_reason;  // for the log line when the connection ends
  std::unique_ptr<HttpExchange> http;  // Handshake, and Closing while a file answer streams
  SendOp* op = nullptr;        // the sendmsg in flight, if any (one per socket)
  WsReader ws;
  Member member;  // its SendQueue is this connection's output

  bool send_in_flight() const { return op != nullptr; }
};
static_assert(sizeof(Connection) <= 256, "an idle connection is one 256-byte allocation (docs/profiling.md)");

// What a connection's WsReader reports during one feed() or flush(), made on the stack for
// that call (so no connection carries a handler pointer).
struct ConnectionFraming final : WsReader::Handler {
  ConnectionFraming(Connection& conn, ConnectionEvents* events_) : c(conn), events(events_) {}
  // wslay delivers messages only inside feed(), which passes the events.
  void on_text(std::string_view message) override { events->on_message(c, message); }
  void on_control_bytes(std::string_view bytes) override { c.member.out.push_adopt(SharedFrame::raw(bytes)); }
  Connection& c;
  ConnectionEvents* events;
};

inline WsReader::FeedResult Connection::feed(const uint8_t* data, size_t len, ConnectionEvents& events) {
  ConnectionFraming framing(*this, &events);
  return ws.feed(data, len, framing);
}

inline void Connection::flush_control() {
  ConnectionFraming framing(*this, nullptr);
  ws.flush(framing);
}

}  // namespace roomcast
