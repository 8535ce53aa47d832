// core/connection.h: one client socket and everything the loop keeps for it.
//
// Owns: the socket fd, the inbound WebSocket state (WsReader), the SendQueue, the rate
// limiter, the identity a token proved and, once joined, the Session. Owned by the
// Worker's connection table (a slot reused with a new generation), touched only by that
// worker's thread.
// Lifecycle:
//   Handshake --101--> Open --close queued--> Closing --EOF/linger--> Dead -> freed
//   Handshake --4xx / API answer--> Closing (HTTP response, then the same drain)
//   Handshake --room on another thread--> handed off (fd moves; slot freed here)
// A Dead connection is freed once no receive and no send is in flight for it, so a
// late completion can never touch a reused slot (generations catch the rest).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/admission.h"
#include "core/rate_limiter.h"
#include "core/session.h"
#include "net/send_queue.h"
#include "proto/ws_reader.h"

namespace roomcast {

class Worker;
struct SendOp;  // a sendmsg in flight: msghdr + iovecs (core/worker.cpp)

enum class ConnState : uint8_t { Handshake, Open, Closing, Dead };

// Who a verified token says the client is (protocol-v1 "Authentication").
struct Identity {
  bool verified = false;
  std::string user_id;  // the token's `sub`
  bool has_name = false;
  std::string name;
};

struct Connection final : WsReader::Handler {
  Connection(Worker* w, DirtyList* dirty, uint32_t slot_, FanoutObserver* observer)
      : worker(w), slot(slot_), out(dirty, slot_, observer) {}

  void on_text(std::string_view message) override;
  void on_control_bytes(std::string_view bytes) override;

  Worker* worker;
  uint32_t slot;
  uint32_t generation = 0;
  int fd = -1;
  ConnState state = ConnState::Handshake;
  bool recv_armed = false;
  bool write_shut = false;     // FIN sent after the last byte of a close
  bool admitted = false;       // counted in ConnectionLimits (an upgrade); released when freed
  int64_t deadline_ns = 0;     // handshake or linger deadline
  int64_t last_rx_ns = 0;      // last byte from the client (idle close)
  int64_t last_ping_ns = 0;
  size_t body_start = 0;       // publish: where the body begins in `head`
  size_t body_end = 0;         // publish: head + body bytes to wait for (0: not waiting)
  std::string head;            // request head (and publish body) bytes while in Handshake
  std::string room_name;       // from the upgrade path
  std::string close_reason;    // for the log line when the connection ends
  int close_code = 0;          // close code sent, 0 if none
  PeerAddress peer;
  std::unique_ptr<Identity> identity;  // what a verified token proved; null without one
  WsReader ws;
  SendQueue out;
  RateLimiter rate;
  std::unique_ptr<Session> session;  // non-null once joined
  SendOp* op = nullptr;              // the sendmsg in flight, if any (one per socket)

  bool send_in_flight() const { return op != nullptr; }
};

}  // namespace roomcast
