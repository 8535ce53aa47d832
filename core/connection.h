// core/connection.h: one client socket and everything the loop keeps for it.
//
// Owns: the socket fd, the inbound WebSocket state (WsReader), the SendQueue, the rate
// limiter and, once joined, the Session. Owned by the Worker's connection table (a slot
// reused with a new generation), touched only by that worker's thread.
// Lifecycle:
//   Handshake --101--> Open --close queued--> Closing --EOF/linger--> Dead -> freed
//   Handshake --4xx--> Closing (HTTP response, then the same drain)
//   Handshake --room on another thread--> handed off (fd moves; slot freed here)
// A Dead connection is freed once no receive and no send is in flight for it, so a
// late completion can never touch a reused slot (generations catch the rest).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/rate_limiter.h"
#include "core/session.h"
#include "net/send_queue.h"
#include "proto/ws_reader.h"

namespace roomcast {

class Worker;
struct SendOp;  // a sendmsg in flight: msghdr + iovecs (core/worker.cpp)

enum class ConnState : uint8_t { Handshake, Open, Closing, Dead };

struct Connection final : WsReader::Handler {
  Connection(Worker* w, DirtyList* dirty, uint32_t slot_) : worker(w), slot(slot_), out(dirty, slot_) {}

  void on_text(std::string_view message) override;
  void on_control_bytes(std::string_view bytes) override;

  Worker* worker;
  uint32_t slot;
  uint32_t generation = 0;
  int fd = -1;
  ConnState state = ConnState::Handshake;
  bool recv_armed = false;
  bool send_in_flight = false;
  bool write_shut = false;     // FIN sent after the last byte of a close
  int64_t deadline_ns = 0;     // handshake or linger deadline
  int64_t last_rx_ns = 0;      // last byte from the client (idle close)
  int64_t last_ping_ns = 0;
  std::string head;            // request head bytes while in Handshake
  std::string room_name;       // from the upgrade path
  WsReader ws;
  SendQueue out;
  RateLimiter rate;
  std::unique_ptr<Session> session;  // non-null once joined
  SendOp* op = nullptr;              // iovecs of the send in flight
};

}  // namespace roomcast
