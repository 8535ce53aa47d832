#include "core/room/room.h"

#include "core/room/member.h"
#include "proto/base64url.h"

namespace roomcast {

Session* Room::find(std::string_view session_id) const {
  for (Session* s : members_)
    if (s->id == session_id) return s;
  for (const auto& s : held_)
    if (s->id == session_id) return s.get();
  return nullptr;
}

namespace {

// Constant time in the bytes compared; a session without a token matches nothing.
bool same_token(const Session& s, const std::string& raw) {
  if (!s.has_token()) return false;
  unsigned diff = 0;
  for (size_t i = 0; i < Session::kTokenBytes; ++i) diff |= unsigned(s.resume_token[i] ^ uint8_t(raw[i]));
  return diff == 0;
}

}  // namespace

Session* Room::find_by_token(std::string_view token) const {
  // Decoded once (tokens are kept raw), not encoded once per session.
  std::string raw;
  if (token.size() != Session::kTokenChars || !base64url_decode(token, raw) || raw.size() != Session::kTokenBytes)
    return nullptr;
  Session* found = nullptr;
  // No early exit: how long this takes says nothing about which token matched.
  for (Session* s : members_)
    if (same_token(*s, raw)) found = s;
  for (const auto& s : held_)
    if (same_token(*s, raw)) found = s.get();
  return found;
}

// The fan-out loop: one pointer store and one refcount increment per recipient (each
// member's queue lives in its Member, one load away from the session).
uint32_t Room::push_to(std::span<Session* const> to, SharedFrame* frame, const Session* except, bool urgent) {
  uint32_t recipients = 0;
  for (Session* s : to) {
    if (s == except) continue;
    if (urgent)
      s->member->out.push_urgent(frame);
    else
      s->member->out.push(frame);
    ++recipients;
  }
  return recipients;
}

uint32_t Room::broadcast(SharedFrame* frame, const Session* except, bool urgent) {
  return push_to(members_, frame, except, urgent);
}

uint32_t Room::broadcast_cursor(SharedFrame* frame, Session& sender, int64_t now_ns, bool urgent) {
  if (!reduced() || sender.id == presenter()) return broadcast(frame, &sender, urgent);
  const uint32_t full_rate = push_to(std::span<Session* const>(members_.data(), full_), frame, &sender, urgent);
  return full_rate + attention_->cursor(sender, frame, now_ns, urgent);
}

void Room::hold(std::unique_ptr<Session> s) {
  remove(s.get());
  s->room = this;
  s->member = nullptr;
  s->connected = false;
  s->member_index = static_cast<uint32_t>(held_.size());
  held_.push_back(std::move(s));
}

std::unique_ptr<Session> Room::unhold(Session* s) {
  uint32_t i = s->member_index;
  if (i >= held_.size() || held_[i].get() != s) return nullptr;
  std::unique_ptr<Session> out = std::move(held_[i]);
  if (i + 1 != held_.size()) {
    held_[i] = std::move(held_.back());
    held_[i]->member_index = i;
  }
  held_.pop_back();
  out->connected = true;
  return out;
}

void Room::commit_edit(SharedFrame* frame, std::string key) {
  history_.push(++seq_, frame);
  if (!key.empty()) {
    if (!applied_) applied_ = std::make_unique<std::unordered_map<std::string, uint64_t>>();
    (*applied_)[key] = seq_;
  }
  edit_keys_.push_back(std::move(key));
  // Forget the keys of edits history no longer keeps: a repeat of those is a new edit.
  while (edit_keys_.size() > history_.size()) {
    if (!edit_keys_.front().empty() && applied_) {
      auto it = applied_->find(edit_keys_.front());
      // Only if that key was not applied again later (its seq would still be kept).
      if (it != applied_->end() && it->second + history_.size() <= seq_) applied_->erase(it);
    }
    edit_keys_.pop_front();
  }
}

void Room::restart(std::string epoch, uint64_t seq) {
  epoch_ = std::move(epoch);
  seq_ = seq;
  history_.clear();
  edit_keys_.clear();
  applied_.reset();
}

void Room::add(Session* s) {
  s->room = this;
  s->member_index = static_cast<uint32_t>(members_.size());
  members_.push_back(s);
  const float rate = s->member ? s->member->camera_rate : 0.0f;
  if (rate > 0) {
    attention().add(s, rate);
    return;
  }
  // Full rate: swapped to the end of the full-rate run.
  if (full_ != members_.size() - 1) {
    Session* first_reduced = members_[full_];
    members_[full_] = s;
    s->member_index = static_cast<uint32_t>(full_);
    members_.back() = first_reduced;
    first_reduced->member_index = static_cast<uint32_t>(members_.size() - 1);
  }
  ++full_;
}

void Room::remove(Session* s) {
  uint32_t i = s->member_index;
  if (i >= members_.size() || members_[i] != s) return;
  auto place = [this](size_t at, Session* p) {
    members_[at] = p;
    p->member_index = static_cast<uint32_t>(at);
  };
  if (i < full_) {
    // The last full-rate member fills the hole, the last member fills its place.
    const size_t last_full = full_ - 1;
    place(i, members_[last_full]);
    if (last_full + 1 != members_.size()) place(last_full, members_.back());
    members_.pop_back();
    --full_;
  } else {
    place(i, members_.back());
    members_.pop_back();
    if (attention_) attention_->remove(s);
  }
  s->room = nullptr;
}

}  // namespace roomcast
