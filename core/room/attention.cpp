// core/room/attention.cpp: rate classes, held-back cursors and their ticks.
#include "core/room/attention.h"

#include <algorithm>
#include <cmath>

#include "core/room/member.h"

namespace roomcast {
namespace {

void push_to(Session* s, SharedFrame* frame, bool urgent) {
  if (urgent)
    s->member->out.push_urgent(frame);
  else
    s->member->out.push(frame);
}

template <typename T>
void erase_one(std::vector<T>& v, const T& value) {
  auto it = std::find(v.begin(), v.end(), value);
  if (it == v.end()) return;
  *it = v.back();
  v.pop_back();
}

}  // namespace

size_t Attention::class_of(double rate) {
  // The interval rounded up to a step: never more than `rate` deliveries a second.
  const double interval = 1e9 / (rate > 0 ? rate : 0.5);
  int64_t steps = int64_t(std::ceil((interval - double(kMinIntervalNs)) / double(kStepNs) - 1e-9));
  if (steps < 0) steps = 0;
  if (size_t(steps) >= kClasses) steps = kClasses - 1;
  return size_t(steps);
}

void Attention::add(Session* s, double rate) {
  if (classes_.empty()) classes_.resize(kClasses);
  std::unique_ptr<Class>& c = classes_[class_of(rate)];
  if (!c) c = std::make_unique<Class>();
  c->members.push_back(s);
  ++reduced_;
  followers_stale_ = true;
}

void Attention::remove(Session* s) {
  for (size_t i = 0; i < classes_.size(); ++i) {
    std::unique_ptr<Class>& c = classes_[i];
    if (!c) continue;
    auto it = std::find(c->members.begin(), c->members.end(), s);
    if (it == c->members.end()) continue;
    *it = c->members.back();
    c->members.pop_back();
    --reduced_;
    followers_stale_ = true;
    if (c->members.empty()) {
      // Nobody left to hold cursors back for.
      drop_held_back(*c, i);
      c.reset();
    }
    return;
  }
}

void Attention::drop_held_back(Class& c, size_t cls) {
  for (Session* sender : c.held_back)
    if (sender->view) sender->view->held_back &= ~(uint64_t(1) << cls);
  c.held_back.clear();
}

uint32_t Attention::cursor(Session& sender, SharedFrame* frame, int64_t, bool urgent) {
  uint32_t pushed = 0;
  if (followers_stale_) {
    followers_.clear();
    for (const auto& c : classes_)
      if (c)
        for (Session* m : c->members)
          if (!m->following().empty()) followers_.push_back(m);
    followers_stale_ = false;
  }
  for (Session* m : followers_) {
    if (m->following() != sender.id) continue;
    push_to(m, frame, urgent);
    ++pushed;
  }
  Session::View& v = sender.view_for_update();
  for (size_t i = 0; i < classes_.size(); ++i) {
    const uint64_t bit = uint64_t(1) << i;
    if (!classes_[i] || (v.held_back & bit)) continue;
    v.held_back |= bit;
    classes_[i]->held_back.push_back(&sender);
  }
  return pushed;
}

uint32_t Attention::deliver(Class& c, Session& sender) {
  SharedFrame* frame = sender.view ? sender.view->last_cursor.get() : nullptr;
  if (!frame || !frame->has_bytes()) return 0;
  uint32_t pushed = 0;
  for (Session* m : c.members) {
    if (m == &sender || m->following() == sender.id) continue;  // its own, or had it at full rate
    m->member->out.push(frame);
    ++pushed;
  }
  return pushed;
}

uint32_t Attention::flush(Session& sender) {
  if (!sender.view || !sender.view->held_back) return 0;
  uint32_t pushed = 0;
  for (size_t i = 0; i < classes_.size(); ++i) {
    const uint64_t bit = uint64_t(1) << i;
    if (!(sender.view->held_back & bit) || !classes_[i]) continue;
    pushed += deliver(*classes_[i], sender);
    erase_one(classes_[i]->held_back, &sender);
  }
  sender.view->held_back = 0;
  return pushed;
}

void Attention::forget(Session& sender) {
  if (!sender.view || !sender.view->held_back) return;
  for (size_t i = 0; i < classes_.size(); ++i)
    if ((sender.view->held_back & (uint64_t(1) << i)) && classes_[i]) erase_one(classes_[i]->held_back, &sender);
  sender.view->held_back = 0;
}

int64_t Attention::due_ns() const {
  int64_t due = 0;
  for (size_t i = 0; i < classes_.size(); ++i) {
    const Class* c = classes_[i].get();
    if (!c || c->held_back.empty()) continue;
    const int64_t at = std::max<int64_t>(c->last_tick_ns + interval_of(i), 1);  // 0 means none
    if (due == 0 || at < due) due = at;
  }
  return due;
}

uint32_t Attention::tick(int64_t now_ns, std::string_view presenter) {
  uint32_t pushed = 0;
  for (size_t i = 0; i < classes_.size(); ++i) {
    Class* c = classes_[i].get();
    if (!c || c->held_back.empty() || now_ns < c->last_tick_ns + interval_of(i)) continue;
    const uint64_t bit = uint64_t(1) << i;
    for (Session* sender : c->held_back) {
      if (sender->view) sender->view->held_back &= ~bit;
      if (sender->id != presenter) pushed += deliver(*c, *sender);
    }
    c->held_back.clear();
    c->last_tick_ns = now_ns;
  }
  return pushed;
}

}  // namespace roomcast
