#include "core/room.h"

namespace roomcast {

Session* Room::find(std::string_view session_id) const {
  for (Session* s : members_)
    if (s->id == session_id) return s;
  return nullptr;
}

void Room::add(Session* s) {
  s->room = this;
  s->member_index = static_cast<uint32_t>(members_.size());
  members_.push_back(s);
}

void Room::remove(Session* s) {
  uint32_t i = s->member_index;
  if (i >= members_.size() || members_[i] != s) return;
  members_[i] = members_.back();
  members_[i]->member_index = i;
  members_.pop_back();
  s->room = nullptr;
}

}  // namespace roomcast
