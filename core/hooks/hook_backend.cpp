// core/hooks/hook_backend.cpp: edit hook requests and answers, webhook events.
#include "core/hooks/hook_backend.h"

#include <chrono>
#include <optional>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/room/room.h"
#include "core/room/room_service.h"
#include "core/room/session.h"
#include "proto/hook_messages.h"
#include "proto/json_util.h"

namespace roomcast {
namespace {

// {"id":..,"name":..,"color":..} as the members see the user.
std::string user_json(const User& user) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartObject();
  w.Key("id");
  w.String(user.id.data(), rapidjson::SizeType(user.id.size()));
  if (user.has_name) {
    w.Key("name");
    w.String(user.name.data(), rapidjson::SizeType(user.name.size()));
  }
  if (user.has_color) {
    w.Key("color");
    w.String(user.color.data(), rapidjson::SizeType(user.color.size()));
  }
  w.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

std::string_view string_field(const rapidjson::Value& doc, const char* name) {
  const rapidjson::Value* v = json::member(doc, name);
  return v && v->IsString() ? json::view(*v) : std::string_view();
}

}  // namespace

HookBackend::HookBackend(const Config& config, HookClient* client, unsigned submitter, WebhookOutbox* outbox,
                         const Logger* log)
    : unix_ms([] {
        return int64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
      }),
      config_(config),
      client_(client),
      submitter_(submitter),
      outbox_(config.webhook_url.empty() ? nullptr : outbox),
      log_(log) {}

BackendPort::Answer HookBackend::check_edit(const EditCheck& edit, uint64_t ticket, EditDecision& decision) {
  decision = EditDecision{};
  if (config_.edit_hook_url.empty() || !client_) return Answer::Now;  // Accept
  HookRequest request;
  request.cookie = next_cookie_++;
  request.kind = HookKind::Edit;
  request.url = config_.edit_hook_url;
  // Without an id, the thread's ticket counts the session's edits: unique, never reused.
  const std::string counter = edit.has_id ? std::string() : "n" + std::to_string(ticket);
  request.webhook_id = edit_hook_webhook_id(edit.room, edit.session, edit.has_id ? edit.id : std::string_view(counter));
  std::optional<std::string> data;
  if (edit.data) data = json::text(*edit.data);
  request.body = encode_edit_hook_request(
      edit.room, edit.session, edit.user ? user_json(*edit.user) : std::string("null"),
      edit.has_id ? std::optional<std::string_view>(edit.id) : std::nullopt, edit.building, edit.op,
      data ? std::optional<std::string_view>(*data) : std::nullopt);
  const uint64_t cookie = request.cookie;
  if (!client_->submit(submitter_, std::move(request))) {
    // The hook client is full (the backend is far behind): the client retries later.
    decision.kind = EditDecision::Kind::Unavailable;
    if (log_) log_->log(LogLevel::Warn, "edit_hook_unavailable", {{"room", edit.room}, {"error", "hook queue full"}});
    return Answer::Now;
  }
  asked_.emplace(cookie, Asked{ticket, std::string(edit.room)});
  return Answer::Later;
}

void HookBackend::edit_answered(const HookResult& result, int64_t now_ns) {
  auto it = asked_.find(result.cookie);
  if (it == asked_.end()) return;
  const Asked asked = std::move(it->second);
  asked_.erase(it);
  EditRewrite rewrite;
  std::string reason;
  const long status = result.outcome == HookOutcome::Answered ? result.status : 0;
  EditDecision decision;
  switch (decide_edit_hook(status, result.body, rewrite, reason)) {
    case EditHookVerdict::Accept:
      decision.kind = EditDecision::Kind::Accept;
      break;
    case EditHookVerdict::Rewrite:
      decision.kind = EditDecision::Kind::Rewrite;
      if ((decision.has_building = rewrite.building.has_value())) decision.building = std::move(*rewrite.building);
      if ((decision.has_op = rewrite.op.has_value())) decision.op = std::move(*rewrite.op);
      if ((decision.has_data = rewrite.data_json.has_value())) decision.data_json = std::move(*rewrite.data_json);
      break;
    case EditHookVerdict::Reject:
      decision.kind = EditDecision::Kind::Reject;
      decision.reason = std::move(reason);
      break;
    case EditHookVerdict::Unavailable:
      decision.kind = EditDecision::Kind::Unavailable;
      if (log_) {
        const std::string why = result.outcome == HookOutcome::Answered ? "status " + std::to_string(result.status)
                                                                         : result.error;
        log_->log(LogLevel::Warn, "edit_hook_unavailable", {{"room", asked.room}, {"error", why}});
      }
      break;
  }
  if (domain_) domain_->edit_decided(asked.ticket, decision, now_ns);
}

bool HookBackend::edit_event(const Room& room, const AppliedEdit& edit, HookEvent& out) {
  if (!outbox_) return false;
  // The frame is the stored edit as every member gets it: its fields are what the
  // backend hears (rewritten, if the edit hook rewrote it).
  rapidjson::Document doc;
  doc.Parse(edit.frame.data(), edit.frame.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;  // never: the domain encoded it
  std::optional<std::string> data;
  if (const rapidjson::Value* d = json::member(doc, "data")) data = json::text(*d);
  const bool from_client = edit.session != "server";
  const int64_t now_ms = unix_ms();
  std::optional<std::string> user;
  if (from_client && edit.user) user = user_json(*edit.user);
  out.id = edit_event_webhook_id(room.name(), room.epoch(), edit.seq);
  out.body = encode_edit_event(
      room.name(), room.epoch(), edit.seq, edit.has_id ? std::optional<std::string_view>(edit.id) : std::nullopt,
      from_client ? std::optional<std::string_view>(edit.session) : std::nullopt,
      user ? std::optional<std::string_view>(*user) : std::nullopt, string_field(doc, "building"), string_field(doc, "op"),
      data ? std::optional<std::string_view>(*data) : std::nullopt, now_ms);
  out.created_ms = now_ms;
  return true;
}

void HookBackend::append(const Room& room, HookEvent&& made) {
  WebhookEvent event;
  event.room = room.name();
  event.id = std::move(made.id);
  event.body = std::move(made.body);
  event.created_ms = made.created_ms;
  outbox_->append(std::move(event));
}

void HookBackend::edit_applied(const Room& room, const AppliedEdit& edit) {
  // Kept by the store with the edit (edit_event): already on its way to the backend.
  if (!outbox_ || !edit.stored_here || edit.event_kept) return;
  HookEvent made;
  if (edit_event(room, edit, made)) append(room, std::move(made));
}

void HookBackend::joined(const Room& room, const Session& s) {
  if (!outbox_) return;
  const int64_t now_ms = unix_ms();
  append(room, HookEvent{join_event_webhook_id(room.name(), s.id),
                         encode_join_event(room.name(), s.id, user_json(s.user),
                                           s.role == Role::Viewer ? "\"viewer\"" : "\"editor\"", now_ms),
                         now_ms});
}

void HookBackend::left(const Room& room, const Session& s) {
  HookEvent made;
  if (leave_event(room, s, made)) append(room, std::move(made));
}

bool HookBackend::leave_event(const Room& room, const Session& s, HookEvent& out) {
  if (!outbox_) return false;
  const int64_t now_ms = unix_ms();
  out.id = leave_event_webhook_id(room.name(), s.id);
  out.body = encode_leave_event(room.name(), s.id, user_json(s.user), now_ms);
  out.created_ms = now_ms;
  return true;
}

}  // namespace roomcast
