// core/server/connection_table.cpp: slots, the close state machine, and freeing.
#include "core/server/connection_table.h"

#include <unistd.h>

#include <algorithm>

#include "core/base/ws_frames.h"
#include "core/server/completion_tag.h"

namespace roomcast {
namespace {

// A server-wide budget split over the loop threads, at least 1 each.
size_t per_thread(size_t total, unsigned threads) {
  return std::max<size_t>(1, (total + threads - 1) / std::max(1u, threads));
}

}  // namespace

ConnectionTable::ConnectionTable(const Config& config, EventLoop& loop, ConnectionLimits& limits, RoomService& rooms,
                                 ConnectionEvents* events, FanoutObserver* observer, Metrics& metrics, Logger& log)
    : loop_(loop),
      limits_(limits),
      rooms_(rooms),
      events_(events),
      observer_(observer),
      metrics_(metrics),
      log_(log),
      handshakes_(per_thread(config.max_handshakes, config.threads),
                  per_thread(config.max_handshakes_per_ip, config.threads), kAnswerBytesTotal, kAnswerBytesPerAddress) {
  dirty_.observer = observer_;
}

ConnectionTable::~ConnectionTable() {
  for (auto& c : conns_) {
    // Process exit: the descriptor is released whatever close() says.
    if (c && c->fd >= 0) close(c->fd);
  }
}

Connection& ConnectionTable::open(int fd, int64_t now_ns) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(conns_.size());
    conns_.emplace_back();
    generations_.push_back(0);
  }
  conns_[slot] = std::make_unique<Connection>(&dirty_, slot, this);
  Connection& c = *conns_[slot];
  c.generation = generations_[slot];
  c.fd = fd;
  c.last_rx = ClockMs::of(now_ns);
  ++live_;
  metrics_.connections_open.set(live_);
  return c;
}

Connection* ConnectionTable::lookup(uint32_t slot, uint32_t generation) {
  Connection* c = at(slot);
  if (!c || (c->generation & 0xFFFFFF) != generation) return nullptr;
  return c;
}

void ConnectionTable::admit_handshake(Connection& c, int64_t now_ns, bool per_address) {
  for (uint32_t victim; (victim = handshakes_.victim_for(c.peer, per_address)) != HandshakeBudget::kNone;) {
    handshakes_.remove(victim);
    Connection* v = at(victim);
    if (!v || v == &c) continue;
    metrics_.refusals[size_t(Refusal::Evicted)].add();
    log_.log(LogLevel::Debug, "handshake_evicted", {{"peer", v->peer.to_string()}});
    end(*v, Ending::drop("evicted from the handshake budget"), now_ns);
  }
  handshakes_.add(c.slot, c.peer, per_address);
}

void ConnectionTable::client_known(Connection& c, const PeerAddress& client, int64_t now_ns) {
  log_.log(LogLevel::Debug, "client_address", {{"proxy", c.peer.to_string()}, {"peer", client.to_string()}});
  handshakes_.remove(c.slot);  // first out, so the newcomer is never its own victim
  c.peer = client;
  admit_handshake(c, now_ns);
}

void ConnectionTable::charge_answer(Connection& c, size_t bytes, int64_t now_ns) {
  if (!handshakes_.contains(c.slot)) admit_handshake(c, now_ns);
  for (uint32_t victim; (victim = handshakes_.victim_for_bytes(c.slot, bytes)) != HandshakeBudget::kNone;) {
    handshakes_.remove(victim);
    Connection* v = at(victim);
    if (!v || v == &c) continue;
    metrics_.refusals[size_t(Refusal::Evicted)].add();
    log_.log(LogLevel::Debug, "answer_evicted", {{"peer", v->peer.to_string()}});
    end(*v, Ending::drop("evicted: unsent answer bytes over the budget"), now_ns);
  }
  handshakes_.charge(c.slot, bytes);
}

void ConnectionTable::end(Connection& c, const Ending& how, int64_t now_ns) {
  switch (how.kind) {
    case Ending::Kind::Drop:
      if (c.state == ConnState::Dead) return;
      if (c.state == ConnState::Open) leave_room(c, Departure::Dropped, now_ns);
      c.note_close_reason(how.text);
      c.state = ConnState::Dead;
      // Nothing the kernel still holds may keep a dead connection alive: a send to a peer
      // that advertises a zero window never completes on its own (sweep() frees the slot
      // only once both operations have reported).
      if (c.recv_armed && c.fd >= 0) loop_.cancel(c.fd, completion_tag(Op::Recv, c.slot, c.generation));
      if (c.send_in_flight() && c.fd >= 0) loop_.cancel(c.fd, completion_tag(Op::Send, c.slot, c.generation));
      c.http.reset();  // an answer's file is closed now, not when the slot is freed
      dead_.push_back(c.slot);
      return;
    case Ending::Kind::Close:
      if (c.state != ConnState::Open) return;
      c.ws.shutdown_write();  // our close frame is the last thing on this stream
      c.member.out.push_reply(ws_close_frame(how.code, how.text));
      c.close_code = how.code;
      c.note_close_reason(how.text, /*replace=*/true);
      metrics_.close_code_sent(how.code);
      // Every close the server starts holds the session (docs/protocol.md 3.1); `leave` (1000) ends it.
      to_closing(c, how.code == kCloseNormal ? Departure::Final : Departure::Dropped, now_ns);
      return;
    case Ending::Kind::CloseQueued:
      if (c.state != ConnState::Open) return;
      if (c.close_code == 0 && c.ws.close_sent()) {
        c.close_code = c.ws.close_code_sent();
        metrics_.close_code_sent(c.close_code);
        c.note_close_reason(c.ws.close_received() ? "client closed" : "protocol");
      }
      {
        // The session ends at once for `leave` (our 1000) and for the client's own close
        // with 1000 or no code (a browser's ws.close()); any other close holds it.
        const uint16_t received = c.ws.close_received() ? c.ws.close_code_received() : 0;
        const bool final = c.close_code == kCloseNormal || received == kCloseNormal || received == kCloseNoStatus;
        to_closing(c, final ? Departure::Final : Departure::Dropped, now_ns);
      }
      return;
    case Ending::Kind::Respond:
      if (c.state != ConnState::Handshake) return;
      if (how.status >= 400) metrics_.refusals[size_t(refusal_for_status(how.status))].add();
      c.member.out.push_reply(SharedFrame::raw(how.text));
      charge_answer(c, how.text.size(), now_ns);
      // A file answer keeps its exchange: the body follows in chunks (Output::start).
      if (c.http && c.http->body.remaining() > 0) {
        // At most one chunk of it is ever held (core/http/file_body.h).
        charge_answer(c, size_t(std::min<uint64_t>(c.http->body.remaining(), FileBody::kChunkBytes)), now_ns);
        std::string().swap(c.http->head);
      } else {
        c.http.reset();
      }
      c.state = ConnState::Closing;
      c.deadline = ClockMs::of(now_ns + kLingerNs);
      return;
  }
}

void ConnectionTable::to_closing(Connection& c, Departure how, int64_t now_ns) {
  leave_room(c, how, now_ns);
  c.state = ConnState::Closing;
  c.deadline = ClockMs::of(now_ns + kLingerNs);
}

void ConnectionTable::leave_room(Connection& c, Departure how, int64_t now_ns) {
  // A held session keeps the connection's place in the limits until its grace ends.
  if (rooms_.leave(c.member, now_ns, how, c.admitted ? &c.peer : nullptr)) c.admitted = false;
}

void ConnectionTable::hand_over(Connection& c, int64_t now_ns) {
  loop_.forget(c.fd);
  c.fd = -1;
  c.admitted = false;  // a ConnectionLimits place travels with the request (Handoff)
  end(c, Ending::drop("handed off"), now_ns);
}

void ConnectionTable::close_member(Member& m, uint16_t code, std::string_view reason) {
  // A member's queue is its connection's, and the queue knows its slot.
  Connection* c = at(m.out.owner_slot());
  if (c && &c->member == &m) events_->close_connection(*c, code, reason);
}

Admission ConnectionTable::admit_member(Member& m, bool resume) {
  Connection* c = at(m.out.owner_slot());
  if (!c || &c->member != &m) return Admission::OverTotal;
  if (c->admitted) return Admission::Admitted;
  Admission verdict = Admission::Admitted;
  if (resume) limits_.force_admit(c->peer);
  else verdict = limits_.admit(c->peer);
  if (verdict != Admission::Admitted) return verdict;
  c->admitted = true;
  handshakes_.remove(c->slot);
  return verdict;
}

void ConnectionTable::release_idle_memory() {
  if (dirty_.slots.empty()) dirty_.slots.shrink_to_fit();
  if (dirty_.urgent.empty()) dirty_.urgent.shrink_to_fit();
  if (dead_.empty()) dead_.shrink_to_fit();
  free_slots_.shrink_to_fit();
  // The slot tables grow by doubling; a burst of 10,000 leaves room for 16,384.
  conns_.shrink_to_fit();
  generations_.shrink_to_fit();
  handshakes_.release_idle_memory();
}

// A dead connection is freed only when the kernel holds nothing of it.
void ConnectionTable::sweep() {
  for (uint32_t slot : dead_) {
    Connection* c = at(slot);
    if (!c || c->state != ConnState::Dead || c->recv_armed || c->send_in_flight()) continue;
    if (c->fd >= 0) {
      loop_.forget(c->fd);
      // Nothing useful to do if close() fails: the descriptor is gone either way (Linux).
      close(c->fd);
      if (c->ws.ready())  // it became a WebSocket
        log_.log(LogLevel::Info, "ws_close",
                 {{"peer", c->peer.to_string()}, {"room", c->member.room()}, {"code", int(c->close_code)},
                  {"reason", c->close_reason_text()}});
    }
    if (c->admitted) limits_.release(c->peer);
    handshakes_.remove(slot);
    conns_[slot].reset();
    ++generations_[slot];
    free_slots_.push_back(slot);
    --live_;
  }
  dead_.clear();
  metrics_.connections_open.set(live_);
}

// Stopping is done when every close frame (and what was queued before it) has been
// handed to the kernel; waiting for each client's FIN as well would let one silent
// client hold the whole process until --drain-timeout.
bool ConnectionTable::drained() const {
  for (const auto& c : conns_)
    if (c && c->state != ConnState::Dead && !(c->state == ConnState::Closing && c->write_shut)) return false;
  return true;
}

}  // namespace roomcast
