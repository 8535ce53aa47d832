// core/durable/durable_store.h: the store port on this machine's disk (--data-dir): one loop
// thread's rooms, each kept in its log under DIR by the disk engine (core/disk/), so a
// restart or a kill -9 keeps every room's epoch, seq, history and exactly-once ids
// (docs/durability.md "The wiring").
//
// Owns: this thread's DiskStore::Client (its eventfd is armed on the worker's loop), the
// rooms loaded at start that the domain has not made yet, and per room (DurableRoom in
// Room::store) the edits written but not yet durable, in seq order.
// Called by: the RoomService it is attached to (the RoomStore calls), and by its worker:
// restore() once at start, drain() when the client's eventfd fires. It calls back into
// the domain only through RoomService's store side, and answers publish API requests
// through its DurablePort (the worker).
// Promises:
//   - an edit is acknowledged, and reaches the other members and the history, only once
//     its record is fdatasynced (a completion with DiskError::None), in seq order;
//   - this thread is the single writer of its rooms: consecutive edits of a room get
//     consecutive seqs while earlier ones are still being written (group commit); a failed
//     write consumes no seq: the edit and every later edit of that room already written
//     behind it are answered `unavailable` (the engine refuses them: their seqs no longer
//     follow), and the next edit gets the failed one's seq;
//   - a resend of an edit whose (user, id) is being written waits for it and gets its
//     seq with duplicate:true (or `unavailable` with it);
//   - nothing here touches the disk: the client queues, the engine's thread writes;
//   - with webhooks (deliver_events_to): an edit's webhook event is written in the edit's
//     own record, so an acked edit's event is on disk; a join's or leave's event gets a
//     record of its own (one that fails is written again with the room's next record, or
//     at the next tick); each event is offered to the KeptEvents once on disk, per room in
//     order, again at start while unacknowledged, and acknowledged on disk (ack_events)
//     when events_done says so; a room keeps its file (and stays in memory) while it has
//     events not yet acknowledged (docs/durability.md "The webhook outbox");
//   - memory for a backlog is bounded: a room holds at most kWaitingInMemory refused
//     events; the ones after them stay on disk only and are read back (read_events) once
//     the delivery has taken those, in order, never skipping one.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/base/log.h"
#include "core/base/metrics.h"
#include "core/disk/disk_store.h"
#include "core/durable/kept_events.h"
#include "core/room/local_store.h"
#include "core/room/session.h"

namespace roomcast {

class RoomService;

// How the store answers the publish API (POST /api/rooms/{room}/publish) it was given a
// ticket for: implemented by the worker, which holds the HTTP request.
class DurablePort {
 public:
  // The published edit is on disk with `seq` (ok), or could not be stored.
  virtual void published(uint64_t ticket, bool ok, uint64_t seq) = 0;

 protected:
  ~DurablePort() = default;
};

class DurableStore final : public LocalStore {
 public:
  // Attaches itself to `domain` (which must have made no room yet).
  DurableStore(RoomService& domain, std::unique_ptr<disk::DiskStore::Client> client, DurablePort& port,
               Metrics& metrics, const Logger* log = nullptr);
  DurableStore(const DurableStore&) = delete;
  DurableStore& operator=(const DurableStore&) = delete;

  // --webhook: where events go once on disk (before restore(); null: no events are kept,
  // and the ones a load returns stay on disk untouched).
  void deliver_events_to(KeptEvents* sink) { sink_ = sink; }
  // A join's or leave's webhook event for `room` (a room of this thread): its own record.
  void keep_event(std::string_view room, HookEvent event);
  // The room's events through `through` were delivered or dropped: acknowledged on disk.
  void events_done(std::string_view room, uint64_t through);
  // Offers again the events a full delivery refused (after acknowledgements made room).
  void offer_waiting();
  // Refused events a room holds in memory; the rest wait on disk only.
  static constexpr size_t kWaitingInMemory = 256;
  // Refused events this thread holds in memory (bounded: kWaitingInMemory per room).
  size_t events_in_memory() const;
  // offer_waiting(), and writes again the join and leave events whose record failed
  // (each tick: a full disk is not asked again at once).
  void retry_events();
  // Events on disk not yet acknowledged, all this thread's rooms (tests, metrics).
  uint64_t events_unacknowledged() const { return unacked_; }

  // The rooms this thread owns as loaded from DIR: each is made now (its TTL counts from
  // `now_ns`, as for a room whose last member just left), with its kept epoch, seq,
  // history and exactly-once ids; a damaged one gets a new epoch (written at once).
  void restore(std::vector<disk::LoadedRoom> rooms, int64_t now_ns);
  // The client's eventfd: readable when completions wait (drain them).
  int event_fd() const { return client_->event_fd(); }
  // Every completion that arrived: acks, edits to the others, publish answers, errors.
  void drain(int64_t now_ns);

  // RoomStore
  void opened(Room& room) override;
  bool keeps(const Room& room) const override;
  void closing(Room& room) override;
  void left(Member& m) override;
  EditPath append_edit(Member* m, Session* s, Room& room, const ClientMessage& msg, std::string key,
                       uint64_t ticket) override;

 private:
  // Someone waiting for an edit's outcome: its sender, or a resend of the same (user, id).
  struct Waiter {
    std::string session;
    Member* member = nullptr;  // null once it left (left())
    bool has_id = false;
    std::string id;
    bool duplicate = false;
  };
  // An edit whose record is being written.
  struct Flight {
    uint64_t ticket = 0;   // the client's
    uint64_t seq = 0;      // written into `frame`
    std::string origin;    // sender session id, or "server"
    std::string key;       // exactly-once key (may be empty)
    std::string frame;     // the edit as every member receives it
    uint64_t publish = 0;  // the publish API's ticket (0: a member's edit)
    bool doomed = false;   // an earlier edit of the room failed: this one fails too
    std::vector<Waiter> waiters;
    bool edit = true;       // false: a record of webhook events only (joins, leaves)
    // Webhook events written in this record, numbered from first_event: first `carried`
    // join/leave events whose own record had failed, then (an edit) the edit's event.
    std::vector<HookEvent> events;
    size_t carried = 0;
    uint64_t first_event = 0;
  };
  // An event on disk, waiting for the delivery to take it.
  struct Waiting {
    uint64_t number = 0;
    HookEvent event;
  };
  // Per room (Room::store).
  struct DurableRoom : RoomStoreState {
    std::deque<Flight> flights;  // in seq order; completions come back in this order
    bool written = false;        // its file exists (put_room succeeded)
    uint64_t put_ticket = 0;     // a put_room in flight
    uint64_t events_written = 0; // the last webhook event number on disk
    uint64_t events_acked = 0;   // acknowledged (delivered or dropped) through
    std::deque<Waiting> waiting;     // on disk, refused by a full delivery: offered again first
    // Events on disk only (numbers spilled_from..events_written), offered after `waiting`
    // once read back; 0: none. Where the last read of them ended, for the next.
    uint64_t spilled_from = 0;
    uint64_t read_offset = 0, read_generation = 0;
    bool reading = false;            // a read_events in flight
    std::vector<HookEvent> unwritten;  // join/leave events whose record failed
  };
  enum class Pending : uint8_t { Append, Put, Remove, Ack, Read };

  DurableRoom& state_of(Room& room);
  // Writes `room`'s file as it is now (new room, new epoch, or a retry after a failure).
  void put(Room& room, DurableRoom& d, const disk::RoomState* kept = nullptr);
  void complete(const disk::DiskCompletion& c);
  void landed(Room& room, Flight& f);
  void failed(Room& room, Flight& f, disk::DiskError error);
  // Answers `w` (ack, or `unavailable`) and lets its later messages go.
  void answer(Room& room, const Waiter& w, uint64_t seq, bool ok);
  // Numbers f.events after everything written or in flight, and queues f's record (its
  // edit, unless f is events only).
  void submit(Room& room, DurableRoom& d, Flight f);
  // The room's events on disk through f: offered to the sink (behind any waiting).
  void events_landed(Room& room, DurableRoom& d, Flight& f);
  void offer(Room& room, DurableRoom& d, uint64_t number, HookEvent event);
  // Offers the room's waiting events, then asks the disk for its spilled ones.
  void offer_room(Room& room, DurableRoom& d);
  void events_read(Room& room, DurableRoom& d, const disk::DiskCompletion& c);
  // A record failed: the join/leave events it and the doomed records behind it carried
  // are written again with the room's next record.
  void events_failed(Room& room, DurableRoom& d, Flight& f);
  // Events the load returned unacknowledged: offered again (in order).
  void events_loaded(Room& room, DurableRoom& d, disk::RoomState& state);

  RoomService& domain_;
  std::unique_ptr<disk::DiskStore::Client> client_;
  DurablePort& port_;
  Metrics& metrics_;
  const Logger* log_;
  int64_t now_ns_ = 0;
  // Rooms loaded at start, until the domain makes them (restore()).
  std::unordered_map<std::string, disk::LoadedRoom> kept_;
  // What each ticket of the client was for: its room (completions carry only the ticket).
  struct Ticket {
    Pending kind;
    std::string room;
  };
  std::unordered_map<uint64_t, Ticket> tickets_;
  KeptEvents* sink_ = nullptr;
  uint64_t unacked_ = 0;
  // Rooms with events waiting for the delivery or for a record (retry_events).
  std::unordered_set<std::string> retry_rooms_;
};

}  // namespace roomcast
