// core/room/backend_port.h: the backend port: where the app's backend takes part in a room's
// life (docs/integration.md): it may veto or rewrite an edit before the room sees it, and
// it learns of every applied edit, join and leave.
//
// Called by: RoomService on its loop thread, at fixed points: check_edit before an edit
// gets its seq (after the exactly-once check: a duplicate never asks), edit_applied once
// an edit is in the room's history, joined / left when the others see presence `join` /
// `leave` (never for a resume). Camera, selection and follow traffic never reaches it.
// A store that keeps webhook events with the edits they describe (the disk store) asks for
// an edit's event with edit_event before writing the edit, and applies it with
// AppliedEdit::event_kept set, so the event is never reported a second time.
// Implementations: NoBackend below (every edit accepted at once, events dropped) and
// HookBackend (core/hooks/hook_backend.h: the hooks and webhooks of docs/integration.md).
// Promises (of every implementation):
//   - check_edit answers Now (the decision filled in) or Later; a Later answer is given
//     exactly once through RoomService::edit_decided(ticket, ...), on the same thread,
//     never from inside check_edit; meanwhile the sender's later messages wait (as for a
//     store), other members' traffic never does;
//   - the events never block: a backend that is slow or down delays or drops its own
//     deliveries, never the room.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proto/message.h"

namespace roomcast {

class Room;
struct Session;

// An edit as the backend is asked about it (views valid during check_edit only).
struct EditCheck {
  std::string_view room;
  std::string_view session;
  const User* user = nullptr;
  bool has_id = false;
  std::string_view id;
  std::string_view building;
  std::string_view op;
  const rapidjson::Value* data = nullptr;  // null if the edit had none
};

struct EditDecision {
  enum class Kind : uint8_t {
    Accept,       // applied as sent
    Rewrite,      // applied with the fields below replaced
    Reject,       // `error` `rejected` with `reason`; nothing applied, no seq consumed
    Unavailable,  // the backend did not answer: `error` `unavailable`; the client may retry
  };
  Kind kind = Kind::Accept;
  std::string reason;  // Reject
  // Rewrite: the replaced fields; `data_json` is one JSON value.
  bool has_building = false, has_op = false, has_data = false;
  std::string building, op, data_json;
};

// An edit now in a room's history (views valid during edit_applied only).
struct AppliedEdit {
  uint64_t seq = 0;
  std::string_view session;   // "server" for the publish API
  const User* user = nullptr; // null for the publish API (or a sender no longer known here)
  bool has_id = false;        // the client's edit id, when it gave one that is remembered
  std::string_view id;
  std::string_view frame;     // the `edit` message every member received (as stored: rewritten)
  // This process stored it. With several instances (--redis) every instance applies every
  // edit of the rooms it serves; only the one whose store call gave it its seq has this
  // set, so each applied edit is reported to the backend once (docs/integration.md 4).
  bool stored_here = true;
  // The store wrote this edit's webhook event with the edit (edit_event): the backend must
  // not report it again (docs/integration.md 4, "Nothing lost across a restart").
  bool event_kept = false;
};

// A webhook event as a store keeps it, beside the edit it describes (docs/integration.md 4).
struct HookEvent {
  std::string id;          // webhook-id: stable across retries and restarts
  std::string body;        // the JSON the backend receives
  int64_t created_ms = 0;  // Unix ms when it happened (the body's `ts`)
};

class BackendPort {
 public:
  virtual ~BackendPort() = default;
  enum class Answer : uint8_t { Now, Later };
  virtual Answer check_edit(const EditCheck& edit, uint64_t ticket, EditDecision& decision) = 0;
  // An edit is in `room`'s history (AppliedEdit says which and who sent it).
  virtual void edit_applied(const Room& room, const AppliedEdit& edit) = 0;
  virtual void joined(const Room& room, const Session& s) = 0;
  virtual void left(const Room& room, const Session& s) = 0;
  // The webhook event `edit` will have once applied, for a store that writes it with the
  // edit (seq given, fields as stored). False: no events are wanted (no --webhook).
  virtual bool edit_event(const Room& room, const AppliedEdit& edit, HookEvent& out) {
    (void)room, (void)edit, (void)out;
    return false;
  }
  // The `leave` event of a session this process never held (another instance's, whose
  // instance died): a store that ends it for everyone reports it itself, once it knows it
  // was the one that ended it. False: no events are wanted.
  virtual bool leave_event(const Room& room, const Session& s, HookEvent& out) {
    (void)room, (void)s, (void)out;
    return false;
  }
};

// No backend: every edit is accepted at once and nobody is told anything.
class NoBackend final : public BackendPort {
 public:
  Answer check_edit(const EditCheck&, uint64_t, EditDecision& decision) override {
    decision.kind = EditDecision::Kind::Accept;
    return Answer::Now;
  }
  void edit_applied(const Room&, const AppliedEdit&) override {}
  void joined(const Room&, const Session&) override {}
  void left(const Room&, const Session&) override {}
};

}  // namespace roomcast
