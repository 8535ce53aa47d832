// core/server/output.cpp: the flush step and the send completions.
#include "core/server/output.h"

#include <sys/socket.h>

#include <cassert>
#include <cstring>

#include "core/server/completion_tag.h"
#include "proto/frame.h"

namespace roomcast {
namespace {

constexpr size_t kMaxIov = 64;
constexpr size_t kMaxSendBytes = 256 * 1024;
// A burst (10k joins at once) puts a SendOp (~1 KiB of iovecs) in flight per socket;
// keep a few for reuse and give the rest back, so the burst does not stay in RSS.
constexpr size_t kKeptOps = 256;

}  // namespace

struct SendOp {
  msghdr msg{};
  iovec iov[kMaxIov];
};

Output::Output(const Config& config, EventLoop& loop, ConnectionTable& table, RoomService& rooms, Metrics& metrics,
               Logger& log)
    : config_(config),
      loop_(loop),
      table_(table),
      rooms_(rooms),
      metrics_(metrics),
      log_(log),
      batch_delay_ns_(int64_t(config.max_batch_delay_ms) * 1'000'000) {}

Output::~Output() {
  table_.for_each([](Connection& c) {
    delete c.op;
    c.op = nullptr;
  });
  for (SendOp* op : free_ops_) delete op;
}

void Output::step(int64_t now_ns, bool stopping, bool saturated) {
  now_ns_ = now_ns;
  const bool at_once = batch_delay_ns_ == 0 || stopping;
  // The room service's window: camera arenas and Redis outboxes filled since it opened.
  // Like a socket's: it ends in this iteration when the last one ended at least W ago
  // (a lone camera is published to other instances at once), else W after that.
  if (rooms_.window_open() && round_ends_ns_ == 0) {
    const int64_t earliest = last_round_end_ns_ + batch_delay_ns_;
    round_ends_ns_ = earliest > now_ns ? earliest : now_ns;
  }
  if (round_ends_ns_ != 0 && (at_once || now_ns >= round_ends_ns_)) {
    round_ends_ns_ = 0;
    last_round_end_ns_ = now_ns;
    rooms_.end_window();  // may queue frames (cluster relays): before the fresh sockets
  }
  // 1.2 camera rate: held-back cursors that are due join this iteration's writes.
  if (const int64_t due = rooms_.cameras_due_ns(); due != 0 && now_ns >= due) rooms_.camera_tick(now_ns);

  // Behind: the loop's core is saturated, or the oldest waiting socket is overdue by more
  // than half a window; the bound cannot be kept anyway. Then a quiet socket waits for a
  // window like the others: writes shared under overload are what lets the loop catch
  // up, instead of a write per frame that would push it further behind.
  const bool behind = saturated || (!waiting_.empty() && now_ns - waiting_.front().due > batch_delay_ns_ / 2);
  // Behind, every socket dirtied until the shared deadline waits for it: one round of
  // writes per window, carrying however many iterations' worth of input came meanwhile.
  if (behind && shared_due_ns_ <= now_ns) shared_due_ns_ = now_ns + batch_delay_ns_;

  // Sockets dirtied in this iteration: at once when that costs no extra write.
  DirtyList& dirty = table_.dirty();
  fresh_.swap(dirty.slots);
  for (uint32_t slot : fresh_) {
    Connection* c = table_.at(slot);
    if (!c) continue;
    const int64_t due = behind ? shared_due_ns_ : c->last_send_ns + batch_delay_ns_;
    if (at_once || (!c->send_in_flight() && now_ns >= due)) {
      c->member.out.clear_dirty();
      send_waiting(*c);
    } else {
      waiting_.push_back({slot, c->generation, due > now_ns ? due : now_ns});
    }
  }
  fresh_.clear();

  // Sockets whose window has passed.
  while (!waiting_.empty() && (at_once || waiting_.front().due <= now_ns)) {
    const Waiting w = waiting_.front();
    waiting_.pop_front();
    Connection* c = table_.at(w.slot);
    if (!c || c->generation != w.generation) continue;
    c->member.out.clear_dirty();
    send_waiting(*c);  // with a send in flight, on_sent() sends the rest
  }

  // Replies.
  if (dirty.urgent.empty()) return;
  replying_.swap(dirty.urgent);
  for (uint32_t slot : replying_) {
    Connection* c = table_.at(slot);
    if (c && c->member.out.urgent()) start(*c);  // in flight: on_sent() sends it next
  }
  replying_.clear();
}

int64_t Output::next_deadline() const {
  int64_t next = waiting_.empty() ? 0 : waiting_.front().due;
  if (round_ends_ns_ != 0 && (next == 0 || round_ends_ns_ < next)) next = round_ends_ns_;
  if (const int64_t due = rooms_.cameras_due_ns(); due != 0 && (next == 0 || due < next)) next = due;
  return next;
}

void Output::send_waiting(Connection& c) {
  if (c.state == ConnState::Dead) return;
  // A `since` replay at the head of the queue is outside the limit (docs/protocol.md
  // 3.1): only live traffic counts, including what waits behind the replay.
  auto live_bytes = [&] {
    const size_t pending = c.member.out.pending_bytes();
    const size_t replay = c.member.replaying ? rooms_.replay_bytes(c.member) : 0;
    return pending > replay ? pending - replay : 0;
  };
  if (c.state == ConnState::Open && live_bytes() > config_.max_pending) {
    metrics_.cursors_coalesced.add(c.member.out.drop_superseded());
    if (live_bytes() > config_.max_pending) {
      // A slow reader: close rather than drop an edit silently. It reconnects with
      // `since` and loses nothing.
      c.member.out.drop_unstarted();
      metrics_.slow_reader_closes.add();
      log_.log(LogLevel::Warn, "slow_reader", {{"peer", c.peer.to_string()}, {"room", c.member.room()}});
      table_.end(c, Ending::close(kClosePolicyViolation, "slow reader: output limit exceeded"), now_ns_);
    }
  }
  start(c);
}

void Output::start(Connection& c) {
  if (c.send_in_flight() || c.fd < 0 || c.state == ConnState::Dead) return;
  // Latest wins applies to cameras that waited: behind a short send, or in a window.
  if (c.member.out.backed_up() || batch_delay_ns_ != 0) metrics_.cursors_coalesced.add(c.member.out.drop_superseded());
  // A replay in progress is queued from the history as the socket drains; until all of it
  // is queued, live frames behind it wait (core/room/room_replay.cpp).
  const size_t max_frames = c.member.replaying && c.state == ConnState::Open ? rooms_.replay_pump(c.member) : SIZE_MAX;
  if ((c.member.out.empty() && !next_file_chunk(c)) || max_frames == 0) {
    if (c.state != ConnState::Dead) shut_write_if_done(c);
    return;
  }
  SendOp* op = take_op();
  c.op = op;
  op->msg.msg_iov = op->iov;
  op->msg.msg_iovlen = c.member.out.gather(op->iov, kMaxIov, kMaxSendBytes, max_frames);
  c.last_send_ns = now_ns_;
  loop_.send(c.fd, &op->msg, completion_tag(Op::Send, c.slot, c.generation));
}

bool Output::next_file_chunk(Connection& c) {
  if (c.state != ConnState::Closing || !c.http || c.http->body.remaining() == 0) return false;
  std::string_view chunk;
  if (!c.http->body.next_chunk(file_chunk_, &chunk)) {
    // The file shrank or cannot be read: its Content-Length cannot be kept.
    table_.end(c, Ending::drop("static file changed while being sent"), now_ns_);
    return false;
  }
  c.member.out.push_adopt(SharedFrame::raw(chunk));
  if (c.http->body.remaining() == 0) c.http.reset();  // the last chunk: the file is closed
  return true;
}

void Output::on_sent(Connection& c, int result, int64_t now_ns) {
  now_ns_ = now_ns;
  assert(c.op);  // a Send completion exists only for a submitted op (generation-checked)
  const size_t frames_before = c.member.out.frames();
  c.member.out.complete(result > 0 ? size_t(result) : 0);
  if (c.member.replaying) rooms_.replay_sent(c.member, frames_before - c.member.out.frames(), result > 0 ? size_t(result) : 0);
  give_back(c.op);
  c.op = nullptr;
  if (result <= 0) {
    // EPIPE/ECONNRESET: the peer is gone.
    table_.end(c, Ending::drop(result < 0 ? std::strerror(-result) : "send failed"), now_ns);
    table_.retire(c);
    return;
  }
  metrics_.bytes_out.add(uint64_t(result));
  if (c.state == ConnState::Dead) {
    table_.retire(c);
    return;
  }
  // An answer still streaming keeps its linger as long as the client reads; one that
  // stops reading is dropped a linger after its last progress (core/server/connection_table.h).
  // (Only ever later: a drain may have given it more.)
  if (c.state == ConnState::Closing && c.deadline.elapsed_ns(now_ns + ConnectionTable::kLingerNs) > 0)
    c.deadline = ClockMs::of(now_ns + ConnectionTable::kLingerNs);
  // Go on at once with the rest of a short send, a reply, or frames whose window has
  // passed while this send was in flight; frames still inside their window wait on the
  // waiting list (dirty). A Closing connection holds only its last bytes (a close frame
  // and what precedes it, or an HTTP answer whose file chunks each mark the queue dirty
  // again): replies, which never wait, and its FIN follows them. A replay in progress goes
  // on as the socket drains (it is a reply: never waits).
  if (c.member.out.backed_up() || c.member.out.urgent() || !c.member.out.dirty() || c.state == ConnState::Closing ||
      c.member.replaying)
    start(c);
}

void Output::shut_write_if_done(Connection& c) {
  if (c.state != ConnState::Closing || c.write_shut || c.send_in_flight() || !c.member.out.empty()) return;
  // Half-close, then keep reading until the peer's FIN: closing with unread input would
  // send a RST that can destroy our close frame in flight. A failure means the socket is
  // already gone; the next receive completion reports it.
  (void)shutdown(c.fd, SHUT_WR);
  c.write_shut = true;
}

SendOp* Output::take_op() {
  if (free_ops_.empty()) return new SendOp;
  SendOp* op = free_ops_.back();
  free_ops_.pop_back();
  return op;
}

void Output::release_idle_memory() {
  constexpr size_t kKeptWhenQuiet = 16;
  while (free_ops_.size() > kKeptWhenQuiet) {
    delete free_ops_.back();
    free_ops_.pop_back();
  }
  free_ops_.shrink_to_fit();
  if (fresh_.empty()) fresh_.shrink_to_fit();
  if (replying_.empty()) replying_.shrink_to_fit();
  if (waiting_.empty()) waiting_.shrink_to_fit();
  std::vector<uint8_t>().swap(file_chunk_);
}

void Output::give_back(SendOp* op) {
  if (free_ops_.size() < kKeptOps)
    free_ops_.push_back(op);
  else
    delete op;
}

}  // namespace roomcast
