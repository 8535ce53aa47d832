// core/hooks/hook_backend.h: the app's backend in a room's life (docs/integration.md 3-4):
// the edit hook before an edit gets its seq, webhook events for applied edits, joins and
// leaves. The BackendPort (core/room/backend_port.h) of one loop thread.
//
// Owns: the edit hook requests this thread has in flight (HookClient cookie -> the
// domain's ticket) and this thread's per-session counter for edits without an id.
// Called by: the thread's RoomService (the BackendPort calls), and by its worker with each
// edit hook result the HookClient queued for this thread (edit_answered), on the same
// thread.
// Knows: a HookClient (core/backend/hook_client.h: libcurl on its own thread, results back
// through this loop's eventfd) and a WebhookOutbox (core/hooks/webhook_outbox.h). Never a
// socket or a connection.
// Promises:
//   - without --edit-hook every edit is accepted at once; with it, every edit is asked
//     about (Later) and decided exactly once through RoomService::edit_decided: a 2xx is
//     Accept or Rewrite, a 4xx Reject with its reason, anything else (5xx, a timeout, no
//     connection, the client's queue full) Unavailable, never a silent accept;
//   - with --webhook, one event per applied edit this process stored (AppliedEdit::
//     stored_here; as stored, i.e. rewritten), per join and per leave, appended to the
//     outbox in the order they happened here, with the webhook-ids of docs/integration.md
//     4; never a body or a token in a log line; an edit whose event the store kept
//     (AppliedEdit::event_kept, asked for through edit_event) is not appended again.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "core/backend/hook_client.h"
#include "core/base/config.h"
#include "core/base/log.h"
#include "core/hooks/webhook_outbox.h"
#include "core/room/backend_port.h"

namespace roomcast {

class RoomService;

class HookBackend final : public BackendPort {
 public:
  // `client` may be null when neither the edit hook nor webhooks are set; `submitter` is
  // this thread's index in it. `outbox` may be null (no --webhook). `log` may be null.
  HookBackend(const Config& config, HookClient* client, unsigned submitter, WebhookOutbox* outbox,
              const Logger* log = nullptr);
  // The service whose edits this decides (before any message).
  void attach(RoomService& domain) { domain_ = &domain; }

  Answer check_edit(const EditCheck& edit, uint64_t ticket, EditDecision& decision) override;
  void edit_applied(const Room& room, const AppliedEdit& edit) override;
  // The edit's event as edit_applied would append it (for a store that writes it with the
  // edit); false without --webhook.
  bool edit_event(const Room& room, const AppliedEdit& edit, HookEvent& out) override;
  // The leave event of another instance's session that a store ended (false without
  // --webhook).
  bool leave_event(const Room& room, const Session& s, HookEvent& out) override;
  void joined(const Room& room, const Session& s) override;
  void left(const Room& room, const Session& s) override;

  // An edit hook result of this thread (HookResult::kind Edit).
  void edit_answered(const HookResult& result, int64_t now_ns);
  // Edit hook requests waiting for their answer.
  size_t asking() const { return asked_.size(); }

  // Wall-clock milliseconds for the events' `ts` and max-age; tests replace it.
  std::function<int64_t()> unix_ms;

 private:
  // `made` to the outbox as the room's next event.
  void append(const Room& room, HookEvent&& made);

  const Config& config_;
  HookClient* client_;
  const unsigned submitter_;
  WebhookOutbox* outbox_;
  const Logger* log_;
  RoomService* domain_ = nullptr;
  struct Asked {
    uint64_t ticket;
    std::string room;  // for the log line of an unavailable answer
  };
  std::unordered_map<uint64_t, Asked> asked_;  // HookClient cookie -> the domain's ticket
  uint64_t next_cookie_ = 1;
};

}  // namespace roomcast
