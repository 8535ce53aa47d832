// proto/hook_messages.h: the JSON roomcast sends to the app's backend and what its answers
// mean (integration contract sections 2-4), as values, without any HTTP.
//
// Owns: nothing; pure functions (RapidJSON's Writer to encode, proto/json_reader to read).
// Called by: core, on the loop thread that owns the upgrade or the room: it encodes a
// request body, hands it to core/backend/hook_client, and turns the HookResult's status
// and body into a decision here.
// Promises:
//   - every encoder emits one compact JSON object; string fields are escaped (any room,
//     session or header value is safe); `*_json` arguments are inserted as they are and must
//     already be JSON (the member's user object, an edit's data as decoded);
//   - the webhook ids are `edit:<room>:<epoch>:<seq>`, `join:<room>:<session>`,
//     `leave:<room>:<session>`, `edit-hook:<room>:<session>:<id or counter>`;
//   - decide_auth_hook: status 0 stands for "no answer" (timeout, no connection); 401 and
//     403 are Unauthorized / Forbidden; a 2xx whose JSON names `user.id` (a non-empty
//     string) is Allow with the identity as JwtClaims (sub, name, rooms, edit, exp and
//     usable_until = now + expires_in, or 0 without expires_in), unless its `rooms` exclude
//     the room (Forbidden); a 2xx without a usable identity, or any other 1xx/3xx/4xx, is
//     Broken; a 5xx or no answer is Unavailable. Never an anonymous Allow;
//   - decide_edit_hook: a 2xx with an empty body or `{}` is Accept; a 2xx with any of
//     `data`, `building` (string), `op` (string) is Rewrite with those fields; a 4xx is
//     Reject with the `reason` string if there is one (at most kMaxReasonBytes, else cut at
//     a character boundary); anything else (5xx, no answer, a 2xx that is not such an
//     object, 1xx/3xx) is Unavailable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/jwt.h"

namespace roomcast {

// --- auth hook (section 2) ---

// The upgrade's headers the hook is told about; empty: absent (left out of the body).
struct AuthHookHeaders {
  std::string_view cookie, authorization, origin, user_agent;
};
std::string encode_auth_hook_request(std::string_view room, const AuthHookHeaders& headers,
                                     std::string_view remote_addr);

enum class AuthHookVerdict : uint8_t {
  Allow,         // upgrade with `identity`
  Unauthorized,  // answer the upgrade 401
  Forbidden,     // 403
  Broken,        // 503: the hook answered something unusable (logged with `why`)
  Unavailable,   // 503 with Retry-After: 5
};
std::string_view to_string(AuthHookVerdict verdict);  // "allow", "unauthorized", ...

AuthHookVerdict decide_auth_hook(long status, std::string_view body, std::string_view room, int64_t now_unix,
                                 JwtClaims& identity, std::string& why);

// --- edit hook (section 3) ---

std::string edit_hook_webhook_id(std::string_view room, std::string_view session, std::string_view id_or_counter);
// `id`: nullopt writes `"id":null`; `data_json`: nullopt leaves `data` out.
std::string encode_edit_hook_request(std::string_view room, std::string_view session, std::string_view user_json,
                                     std::optional<std::string_view> id, std::string_view building,
                                     std::string_view op, std::optional<std::string_view> data_json);

enum class EditHookVerdict : uint8_t { Accept, Rewrite, Reject, Unavailable };
std::string_view to_string(EditHookVerdict verdict);

inline constexpr size_t kMaxReasonBytes = 512;

struct EditRewrite {
  std::optional<std::string> building, op;
  std::optional<std::string> data_json;  // compact JSON text of the new data
};

EditHookVerdict decide_edit_hook(long status, std::string_view body, EditRewrite& rewrite, std::string& reason);

// --- webhooks (section 4) ---

std::string edit_event_webhook_id(std::string_view room, std::string_view epoch, uint64_t seq);
std::string join_event_webhook_id(std::string_view room, std::string_view session);
std::string leave_event_webhook_id(std::string_view room, std::string_view session);

// `session` and `user_json` nullopt: null (an edit from the publish API).
std::string encode_edit_event(std::string_view room, std::string_view epoch, uint64_t seq,
                              std::optional<std::string_view> id, std::optional<std::string_view> session,
                              std::optional<std::string_view> user_json, std::string_view building,
                              std::string_view op, std::optional<std::string_view> data_json, int64_t ts_ms);
// `role_json`: the member's role as JSON (e.g. "\"editor\""), inserted as it is.
std::string encode_join_event(std::string_view room, std::string_view session, std::string_view user_json,
                              std::string_view role_json, int64_t ts_ms);
std::string encode_leave_event(std::string_view room, std::string_view session, std::string_view user_json,
                               int64_t ts_ms);

}  // namespace roomcast
