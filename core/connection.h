// core/connection.h: one client socket and everything the loop keeps for it.
//
// Owns: the socket fd, the request head while it is read (HttpExchange), the inbound
// WebSocket state (WsReader), the SendQueue and the Member the room service knows it as
// (room, identity, rate limiter, session). Owned by its thread's ConnectionTable (a slot
// reused with a new generation), touched only by that thread.
// Lifecycle (core/connection_table.h has the one verb that ends a connection):
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

#include "core/admission.h"
#include "core/member.h"
#include "net/send_queue.h"
#include "proto/ws_reader.h"

namespace roomcast {

struct Connection;
struct SendOp;  // a sendmsg in flight: msghdr + iovecs (core/output.cpp)

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

// The HTTP request being read before the connection upgrades (or is answered).
struct HttpExchange {
  std::string head;       // request head (and publish body) bytes so far
  size_t body_start = 0;  // publish: where the body begins in `head`
  size_t body_end = 0;    // publish: head + body bytes to wait for (0: not waiting)
  std::string room;       // publish: the room, while waiting for the body
};

// Every idle connection is one of these: fields are ordered to leave no padding, and what
// only a closing connection needs (its reason) is out of line. 320 bytes with glibc's
// std::string, a jemalloc size class (the assert below keeps it there).
struct Connection final : MemberLink {
  Connection(ConnectionEvents* events_, DirtyList* dirty, uint32_t slot_)
      : events(events_), slot(slot_), out(dirty, slot_) {}

  void close_member(uint16_t code, std::string_view reason) override { events->close_connection(*this, code, reason); }

  // Feeds received bytes to the WebSocket reader: messages go to `events`, and control
  // frames wslay queues go out with flush_control().
  WsReader::FeedResult feed(const uint8_t* data, size_t len);
  void flush_control();

  // The reason logged when the connection ends; the first one noted wins unless `replace`.
  void note_close_reason(std::string_view why, bool replace = false) {
    if (!close_reason) close_reason = std::make_unique<std::string>(why);
    else if (replace || close_reason->empty()) close_reason->assign(why);
  }
  std::string_view close_reason_text() const { return close_reason ? std::string_view(*close_reason) : std::string_view(); }

  ConnectionEvents* events;
  uint32_t slot;
  uint32_t generation = 0;
  int fd = -1;
  ConnState state = ConnState::Handshake;
  bool recv_armed = false;
  bool write_shut = false;     // FIN sent after the last byte of a close
  bool admitted = false;       // counted in ConnectionLimits (an upgrade); released when freed
  PeerAddress peer;
  uint16_t close_code = 0;     // close code sent, 0 if none
  int64_t deadline_ns = 0;     // handshake or linger deadline
  int64_t last_rx_ns = 0;      // last byte from the client (idle close)
  int64_t last_ping_ns = 0;
  int64_t last_send_ns = 0;    // when the last sendmsg started (its batch window, core/output.h)
  std::unique_ptr<std::string> close_reason;  // for the log line when the connection ends
  std::unique_ptr<HttpExchange> http;  // Handshake only (made at the first byte, freed after)
  SendOp* op = nullptr;        // the sendmsg in flight, if any (one per socket)
  WsReader ws;
  SendQueue out;
  Member member{&out, this};

  bool send_in_flight() const { return op != nullptr; }
};
static_assert(sizeof(Connection) <= 320, "an idle connection is one 320-byte allocation (docs/profiling.md)");

// What a connection's WsReader reports during one feed() or flush(), made on the stack for
// that call (so no connection carries a handler pointer).
struct ConnectionFraming final : WsReader::Handler {
  explicit ConnectionFraming(Connection& conn) : c(conn) {}
  void on_text(std::string_view message) override { c.events->on_message(c, message); }
  void on_control_bytes(std::string_view bytes) override { c.out.push_adopt(SharedFrame::raw(bytes)); }
  Connection& c;
};

inline WsReader::FeedResult Connection::feed(const uint8_t* data, size_t len) {
  ConnectionFraming framing(*this);
  return ws.feed(data, len, framing);
}

inline void Connection::flush_control() {
  ConnectionFraming framing(*this);
  ws.flush(framing);
}

}  // namespace roomcast
