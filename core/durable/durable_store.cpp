// core/durable/durable_store.cpp: the room store on disk (its contract is in
// core/durable/durable_store.h; the policy in docs/durability.md "The wiring").
#include "core/durable/durable_store.h"

#include <algorithm>
#include <chrono>

#include <rapidjson/document.h>

#include "core/base/ws_frames.h"
#include "core/room/member.h"
#include "core/room/room.h"
#include "core/room/room_service.h"
#include "core/room/session.h"
#include "proto/json_util.h"

namespace roomcast {
namespace {

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// When a kept event happened: its body's `ts` (docs/integration.md 4), so --webhook-max-age
// counts from the event, not from the restart; now if the body has none.
int64_t event_ms(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    const rapidjson::Value* ts = json::member(doc, "ts");
    if (ts && ts->IsInt64()) return ts->GetInt64();
  }
  return wall_ms();
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
    events_loaded(room, d, state);
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
  events_loaded(room, d, state);
  kept_.erase(it);
}

bool DurableStore::keeps(const Room& room) const {
  const auto* d = static_cast<const DurableRoom*>(room.store.get());
  // Unacknowledged events keep the room's file (and so the room): removing it would lose
  // them (docs/durability.md "The webhook outbox").
  return d && (!d->flights.empty() || d->put_ticket != 0 || d->events_acked < d->events_written ||
               !d->unwritten.empty());
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
    if (f.doomed || !f.edit) continue;
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
  // Its webhook event goes into the same record: once the edit is acked, its event is on
  // disk too (docs/integration.md 4), behind any join/leave event still to be written.
  HookEvent event;
  const AppliedEdit applied{f.seq, f.origin, s ? &s->user : nullptr, s && msg.has_id,
                            s ? msg.id : std::string_view(), f.frame, true};
  if (sink_ && domain_.edit_event(room, applied, event)) {
    f.events = std::move(d.unwritten);
    d.unwritten.clear();
    f.carried = f.events.size();
    f.events.push_back(std::move(event));
  }
  submit(room, d, std::move(f));
  return EditPath::Pending;
}

void DurableStore::submit(Room& room, DurableRoom& d, Flight f) {
  uint64_t next = d.events_written + 1;
  for (const Flight& g : d.flights)
    if (!g.doomed) next += g.events.size();
  f.first_event = f.events.empty() ? 0 : next;
  std::vector<disk::EventView> views;
  views.reserve(f.events.size());
  for (size_t i = 0; i < f.events.size(); ++i) views.push_back({next + i, f.events[i].id, f.events[i].body});
  const disk::EditView edit{f.seq, f.key, f.frame, wall_ms()};
  f.ticket = client_->append(room.name(), f.edit ? &edit : nullptr, views);
  tickets_.emplace(f.ticket, Ticket{Pending::Append, room.name()});
  d.flights.push_back(std::move(f));
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
    case Pending::Ack:
      // Not fatal: the events are delivered; a restart before the next ack lands sends
      // them again (the backend deduplicates on webhook-id).
      if (c.error != disk::DiskError::None && log_)
        log_->log(LogLevel::Warn, "webhook_ack_not_written", {{"room", t.room}, {"error", disk::to_string(c.error)}});
      return;
    case Pending::Read:
      if (room && room->store) events_read(*room, state_of(*room), c);
      return;
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
  if (!f.edit) {
    // Join/leave events only.
    if (ok && !f.doomed) events_landed(*room, d, f);
    else if (!f.doomed) events_failed(*room, d, f);
    return;
  }
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
    // Everything of this room written behind it carries a seq (or event numbers) that no
    // longer follows: the engine refuses those too. New edits get seqs from this one's
    // again.
    events_failed(*room, d, f);
  }
  failed(*room, f, ok ? disk::DiskError::BadSequence : c.error);
}

void DurableStore::landed(Room& room, Flight& f) {
  // Now the others see it, and the history keeps it (with its exactly-once key). Its
  // webhook event, if written with it, is not reported again by the backend.
  domain_.apply_stored_edit(room, f.origin, std::move(f.key), f.frame, true, f.events.size() > f.carried);
  events_landed(room, state_of(room), f);
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

// ---- webhook events (docs/durability.md "The webhook outbox") ----------------------------

void DurableStore::events_loaded(Room& room, DurableRoom& d, disk::RoomState& state) {
  d.events_written = state.last_event;
  d.events_acked = state.last_event - state.outbox.size();
  unacked_ += state.outbox.size();
  if (state.outbox.empty()) return;
  if (log_)
    log_->log(LogLevel::Info, "webhook_events_loaded",
              {{"room", room.name()}, {"events", uint64_t(state.outbox.size())}, {"webhook", sink_ ? "on" : "off"}});
  for (disk::StoredEvent& e : state.outbox) {
    const int64_t at = event_ms(e.body);
    offer(room, d, e.number, HookEvent{std::move(e.id), std::move(e.body), at});
  }
}

void DurableStore::offer(Room& room, DurableRoom& d, uint64_t number, HookEvent event) {
  if (!sink_) return;  // kept on disk until a start with --webhook
  if (d.waiting.empty() && d.spilled_from == 0 && sink_->deliver(room.name(), number, event)) return;
  retry_rooms_.insert(room.name());
  if (d.spilled_from == 0 && d.waiting.size() < kWaitingInMemory) {
    d.waiting.push_back(Waiting{number, std::move(event)});
    return;
  }
  // On disk already: its body is dropped here and read back when its turn comes.
  if (d.spilled_from == 0) d.spilled_from = number;
}

void DurableStore::offer_room(Room& room, DurableRoom& d) {
  while (!d.waiting.empty() && sink_->deliver(room.name(), d.waiting.front().number, d.waiting.front().event))
    d.waiting.pop_front();
  if (!d.waiting.empty() || d.spilled_from == 0 || d.reading) return;
  const uint64_t ticket = client_->read_events(room.name(), d.spilled_from, kWaitingInMemory, d.read_offset,
                                               d.read_generation);
  tickets_.emplace(ticket, Ticket{Pending::Read, room.name()});
  d.reading = true;
}

void DurableStore::events_read(Room& room, DurableRoom& d, const disk::DiskCompletion& c) {
  d.reading = false;
  if (c.error != disk::DiskError::None || !c.read) {
    if (log_)
      log_->log(LogLevel::Warn, "webhook_events_not_read",
                {{"room", room.name()}, {"error", disk::to_string(c.error)}, {"retry", "at the next tick"}});
    return;  // the room stays in retry_rooms_: offer_waiting asks again
  }
  const uint64_t before = d.spilled_from;
  bool stopped_early = false;
  for (disk::StoredEvent& e : c.read->events) {
    if (e.number < d.spilled_from) continue;  // taken already (a read from the start of a rewritten file)
    if (e.number > d.events_written) {
      // Its completion is on its way (offered then): the next read starts this window
      // again, so the offset must not pass it.
      stopped_early = true;
      break;
    }
    if (e.number != d.spilled_from) {
      // Never skip an event: a hole here is a bug; say so and read again from the start.
      if (log_)
        log_->log(LogLevel::Error, "webhook_events_read_gap",
                  {{"room", room.name()}, {"expected", d.spilled_from}, {"got", e.number}});
      d.read_offset = d.read_generation = 0;
      return;
    }
    const int64_t at = event_ms(e.body);
    d.waiting.push_back(Waiting{e.number, HookEvent{std::move(e.id), std::move(e.body), at}});
    d.spilled_from = e.number + 1;
  }
  if (!stopped_early) {
    d.read_offset = c.read->next_offset;
    d.read_generation = c.read->generation;
  }
  if (d.spilled_from > d.events_written) {
    d.spilled_from = 0;  // all in memory again
    d.read_offset = d.read_generation = 0;
  } else if (stopped_early && d.spilled_from == before) {
    return;  // nothing new yet: the next tick reads again (never a read loop)
  } else if (d.spilled_from == before && c.read->events.empty()) {
    // Nothing found where events must be: read from the start next time.
    if (log_)
      log_->log(LogLevel::Error, "webhook_events_read_empty", {{"room", room.name()}, {"expected", d.spilled_from}});
    d.read_offset = d.read_generation = 0;
    return;
  }
  offer_room(room, d);
}

void DurableStore::events_landed(Room& room, DurableRoom& d, Flight& f) {
  if (f.events.empty()) return;
  d.events_written = f.first_event + f.events.size() - 1;
  unacked_ += f.events.size();
  for (size_t i = 0; i < f.events.size(); ++i) offer(room, d, f.first_event + i, std::move(f.events[i]));
  f.events.clear();
}

void DurableStore::events_failed(Room& room, DurableRoom& d, Flight& f) {
  // The join/leave events of the failed record and of every record behind it (refused
  // too: their numbers no longer follow) are written again, in their order; an edit's
  // own event goes with the edit, which was not applied.
  auto carry = [&d](Flight& g) {
    for (size_t i = 0; i < g.carried && i < g.events.size(); ++i) d.unwritten.push_back(std::move(g.events[i]));
    g.events.clear();
    g.carried = 0;
  };
  carry(f);
  for (Flight& later : d.flights) {
    later.doomed = true;
    carry(later);
  }
  if (!d.unwritten.empty()) {
    retry_rooms_.insert(room.name());
    if (log_)
      log_->log(LogLevel::Warn, "webhook_events_not_written",
                {{"room", room.name()}, {"events", uint64_t(d.unwritten.size())}, {"retry", "at the next record or tick"}});
  }
}

void DurableStore::keep_event(std::string_view name, HookEvent event) {
  Room* room = domain_.find_room(name);
  if (!room) {
    if (log_) log_->log(LogLevel::Error, "webhook_event_without_room", {{"room", name}, {"webhook_id", event.id}});
    return;
  }
  DurableRoom& d = state_of(*room);
  if (!d.written && d.put_ticket == 0) put(*room, d);
  Flight f;
  f.edit = false;
  f.events = std::move(d.unwritten);
  d.unwritten.clear();
  f.events.push_back(std::move(event));
  f.carried = f.events.size();
  submit(*room, d, std::move(f));
}

void DurableStore::events_done(std::string_view name, uint64_t through) {
  Room* room = domain_.find_room(name);
  if (!room || !room->store) return;  // never: a room with unacknowledged events is kept
  DurableRoom& d = state_of(*room);
  through = std::min(through, d.events_written);
  if (through <= d.events_acked) return;
  unacked_ -= through - d.events_acked;
  d.events_acked = through;
  const uint64_t ticket = client_->ack_events(room->name(), through);
  tickets_.emplace(ticket, Ticket{Pending::Ack, room->name()});
}

void DurableStore::offer_waiting() {
  if (!sink_) return;
  for (auto it = retry_rooms_.begin(); it != retry_rooms_.end();) {
    Room* room = domain_.find_room(*it);
    if (!room || !room->store) {
      it = retry_rooms_.erase(it);
      continue;
    }
    DurableRoom& d = state_of(*room);
    offer_room(*room, d);
    if (d.waiting.empty() && d.spilled_from == 0 && d.unwritten.empty())
      it = retry_rooms_.erase(it);
    else
      ++it;
  }
}

size_t DurableStore::events_in_memory() const {
  size_t n = 0;
  for (const std::string& name : retry_rooms_) {
    const Room* room = domain_.find_room(name);
    if (room && room->store) n += static_cast<const DurableRoom*>(room->store.get())->waiting.size();
  }
  return n;
}

void DurableStore::retry_events() {
  for (const std::string& name : retry_rooms_) {
    Room* room = domain_.find_room(name);
    if (!room || !room->store) continue;
    DurableRoom& d = state_of(*room);
    if (d.unwritten.empty()) continue;
    if (!d.written && d.put_ticket == 0) put(*room, d);
    Flight f;
    f.edit = false;
    f.events = std::move(d.unwritten);
    d.unwritten.clear();
    f.carried = f.events.size();
    submit(*room, d, std::move(f));
  }
  offer_waiting();
}

}  // namespace roomcast
