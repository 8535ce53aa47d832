// core/durable/durable_store.cpp: the room store on disk (its contract is in
// core/durable/durable_store.h; the policy in docs/durability.md "The wiring").
#include "core/durable/durable_store.h"

#include <chrono>

#include "core/base/ws_frames.h"
#include "core/room/member.h"
#include "core/room/room.h"
#include "core/room/room_service.h"
#include "core/room/session.h"

namespace roomcast {
namespace {

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

DurableStore::DurableStore(RoomService& domain, std::unique_ptr<disk::DiskStore::Client> client, DurablePort& port,
                           Metrics& metrics, const Logger* log)
    : domain_(domain), client_(std::move(client)), port_(port), metrics_(metrics), log_(log) {
  domain_.attach_store(*this);
}

DurableStore::DurableRoom& DurableStore::state_of(Room& room) {
  if (!room.store) room.store = std::make_unique<DurableRoom>();
  return static_cast<DurableRoom&>(*room.store);
}

// ---- rooms ------------------------------------------------------------------------------

void DurableStore::restore(std::vector<disk::LoadedRoom> rooms, int64_t now_ns) {
  now_ns_ = now_ns;
  for (disk::LoadedRoom& lr : rooms) {
    std::string name = lr.state.room;
    kept_.insert_or_assign(name, std::move(lr));
  }
  // Made one by one: opened() takes each out of kept_.
  while (!kept_.empty()) {
    const std::string name = kept_.begin()->first;
    domain_.open_room(name, now_ns);
    kept_.erase(name);  // opened() did; a room the domain already had keeps its state
  }
}

void DurableStore::opened(Room& room) {
  DurableRoom& d = state_of(room);
  auto it = kept_.find(room.name());
  if (it == kept_.end()) {
    put(room, d);  // a new room: its file, with the fresh epoch, before its first edit
    return;
  }
  disk::LoadedRoom& lr = it->second;
  disk::RoomState& state = lr.state;
  if (lr.outcome == disk::LogOutcome::Damaged) {
    // Its history has (or may have) a hole: never served. A new epoch (the room's fresh
    // one) from the last readable seq; clients resync (docs/durability.md).
    room.restart(room.epoch(), state.seq);
    state.epoch = room.epoch();
    state.history.clear();
    if (log_)
      log_->log(LogLevel::Error, "room_damaged",
                {{"room", room.name()}, {"new_epoch", room.epoch()}, {"seq", state.seq}, {"detail", lr.detail}});
    put(room, d, &state);
    kept_.erase(it);
    return;
  }
  const uint64_t base = state.history.empty() ? state.seq : state.history.front().seq - 1;
  room.restart(state.epoch, base);
  for (disk::StoredEdit& e : state.history) {
    if (e.seq != room.next_seq()) break;  // the reader guarantees contiguity; never serve a hole
    // The frame every member received, framed again as the broadcast was.
    FrameRef frame = FrameRef::adopt(ws_frame(Opcode::Text, e.frame));
    room.commit_edit(frame.get(), std::move(e.key));
  }
  if (room.seq() != state.seq && log_)
    log_->log(LogLevel::Error, "room_restore_short", {{"room", room.name()}, {"seq", room.seq()}, {"kept", state.seq}});
  d.written = true;
  kept_.erase(it);
}

bool DurableStore::keeps(const Room& room) const {
  const auto* d = static_cast<const DurableRoom*>(room.store.get());
  return d && (!d->flights.empty() || d->put_ticket != 0);
}

void DurableStore::closing(Room& room) {
  // The room's TTL passed: its file goes as its memory does.
  const uint64_t ticket = client_->remove_room(room.name());
  tickets_.emplace(ticket, Ticket{Pending::Remove, room.name()});
}

void DurableStore::put(Room& room, DurableRoom& d, const disk::RoomState* kept) {
  disk::RoomState fresh;
  if (!kept) {
    fresh.room = room.name();
    fresh.epoch = room.epoch();
    fresh.seq = room.seq();
    kept = &fresh;
  }
  d.put_ticket = client_->put_room(*kept);
  tickets_.emplace(d.put_ticket, Ticket{Pending::Put, room.name()});
}

void DurableStore::left(Member& m) {
  if (!m.session || !m.session->room || !m.session->room->store) return;
  auto& d = static_cast<DurableRoom&>(*m.session->room->store);
  for (Flight& f : d.flights)
    for (Waiter& w : f.waiters)
      if (w.member == &m) w.member = nullptr;
}

// ---- edits ------------------------------------------------------------------------------

EditPath DurableStore::append_edit(Member* m, Session* s, Room& room, const ClientMessage& msg, std::string key,
                                   uint64_t ticket) {
  DurableRoom& d = state_of(room);
  // A file that could not be written (disk full at its creation): try again first; the
  // edit queued behind it lands only if it does.
  if (!d.written && d.put_ticket == 0) put(room, d);
  size_t live = 0;
  for (Flight& f : d.flights) {
    if (f.doomed) continue;
    ++live;
    if (s && !key.empty() && f.key == key) {
      // A resend (another connection of the same user, e.g. after a resume) of an edit
      // being written: it gets that edit's outcome, marked duplicate.
      f.waiters.push_back(Waiter{s->id, m, msg.has_id, std::string(msg.id), true});
      return EditPath::Pending;
    }
  }
  Flight f;
  f.seq = room.seq() + 1 + live;  // this thread is the room's only writer
  f.origin = s ? s->id : std::string("server");
  f.key = std::move(key);
  encode_edit(domain_.encoder(), f.origin, f.seq, msg.building, msg.op, msg.data);
  f.frame.assign(domain_.encoded());
  if (s) f.waiters.push_back(Waiter{s->id, m, msg.has_id, std::string(msg.id), false});
  if (!m) f.publish = ticket;
  const disk::EditView edit{f.seq, f.key, f.frame, wall_ms()};
  f.ticket = client_->append(room.name(), &edit);
  tickets_.emplace(f.ticket, Ticket{Pending::Append, room.name()});
  d.flights.push_back(std::move(f));
  return EditPath::Pending;
}

void DurableStore::drain(int64_t now_ns) {
  now_ns_ = now_ns;
  client_->drain([this](const disk::DiskCompletion& c) { complete(c); });
}

void DurableStore::complete(const disk::DiskCompletion& c) {
  auto it = tickets_.find(c.ticket);
  if (it == tickets_.end()) return;
  const Ticket t = std::move(it->second);
  tickets_.erase(it);
  Room* room = domain_.find_room(t.room);
  switch (t.kind) {
    case Pending::Remove:
      if (c.error != disk::DiskError::None && c.error != disk::DiskError::NoRoom && log_)
        log_->log(LogLevel::Warn, "room_file_not_removed", {{"room", t.room}, {"error", disk::to_string(c.error)}});
      return;
    case Pending::Put: {
      if (c.error != disk::DiskError::None && log_)
        log_->log(LogLevel::Warn, "room_file_not_written",
                  {{"room", t.room}, {"error", disk::to_string(c.error)}, {"retry", "at its next edit"}});
      if (!room || !room->store) return;
      DurableRoom& d = state_of(*room);
      if (d.put_ticket != c.ticket) return;
      d.put_ticket = 0;
      d.written = c.error == disk::DiskError::None;
      return;
    }
    case Pending::Append:
      break;
  }
  if (!room || !room->store) return;  // never: a room with edits in flight is kept (keeps())
  DurableRoom& d = state_of(*room);
  if (d.flights.empty() || d.flights.front().ticket != c.ticket) {
    if (log_) log_->log(LogLevel::Error, "store_completion_out_of_order", {{"room", t.room}});
    return;
  }
  Flight f = std::move(d.flights.front());
  d.flights.pop_front();
  const bool ok = c.error == disk::DiskError::None;
  if (ok && !f.doomed && f.seq == room->next_seq()) {
    landed(*room, f);
    return;
  }
  if (ok && log_) {
    // The engine refuses a seq that does not follow, so this cannot happen; if it did,
    // the record is on disk but not applied here: say so loudly.
    log_->log(LogLevel::Error, "store_edit_out_of_sequence", {{"room", t.room}, {"seq", f.seq}, {"at", room->seq()}});
  }
  if (!f.doomed) {
    // Everything of this room written behind it carries a seq that no longer follows:
    // the engine refuses those too. New edits get seqs from this one's again.
    for (Flight& later : d.flights) later.doomed = true;
  }
  failed(*room, f, ok ? disk::DiskError::BadSequence : c.error);
}

void DurableStore::landed(Room& room, Flight& f) {
  // Now the others see it, and the history keeps it (with its exactly-once key).
  domain_.apply_stored_edit(room, f.origin, std::move(f.key), f.frame);
  const uint64_t seq = room.seq();
  for (const Waiter& w : f.waiters) answer(room, w, seq, true);
  if (f.publish) port_.published(f.publish, true, seq);
}

void DurableStore::failed(Room& room, Flight& f, disk::DiskError error) {
  metrics_.store_edits_unavailable.add();
  if (log_ && log_->enabled(LogLevel::Debug))
    log_->log(LogLevel::Debug, "edit_not_stored", {{"room", room.name()}, {"error", disk::to_string(error)}});
  for (const Waiter& w : f.waiters) answer(room, w, 0, false);
  if (f.publish) port_.published(f.publish, false, 0);
}

void DurableStore::answer(Room& room, const Waiter& w, uint64_t seq, bool ok) {
  Session* s = room.find(w.session);
  Member* m = s && s->connected ? s->member : nullptr;
  if (!m) return;  // held or gone: its client resends after resuming (duplicate: true)
  if (ok) {
    if (w.duplicate) metrics_.duplicate_edits.add();
    encode_ack(domain_.encoder(), w.has_id, w.id, seq, w.duplicate);
    domain_.reply(*m, OutType::Ack, domain_.encoded());
  } else {
    encode_edit_error(domain_.encoder(), ErrorCode::Unavailable, w.has_id, w.id,
                      "the disk could not store this edit (full or failing); it was not applied");
    domain_.reply(*m, OutType::Error, domain_.encoded());
  }
  // Only the member that sent it waits for it (a resumed connection has its own waits).
  if (m == w.member) domain_.release(*m);
}

}  // namespace roomcast
