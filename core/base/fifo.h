// core/base/fifo.h: a first-in first-out queue that costs one pointer until its first push.
//
// Owns: its elements, in one power-of-two ring that doubles when full and is freed by
// clear(). Used for what every room keeps per edit (History's frames, Room's edit keys).
// Why not std::deque: libstdc++'s deque allocates a 512-byte block and its map when it is
// constructed, so 1,000 rooms that never see an edit would hold ~1.1 MB for nothing.
// Promises: no allocation before the first push; pop_front() destroys the element at once
// (a frame reference or a key is released then, not when the slot is reused); elements
// keep their order across growth. Not thread-safe (one loop thread owns it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace roomcast {

template <typename T>
class Fifo {
 public:
  Fifo() = default;
  Fifo(const Fifo&) = delete;
  Fifo& operator=(const Fifo&) = delete;
  Fifo(Fifo&& o) noexcept
      : slots_(std::move(o.slots_)),
        capacity_(std::exchange(o.capacity_, 0)),
        head_(std::exchange(o.head_, 0)),
        count_(std::exchange(o.count_, 0)) {}
  Fifo& operator=(Fifo&& o) noexcept {
    slots_ = std::move(o.slots_);
    capacity_ = std::exchange(o.capacity_, 0);
    head_ = std::exchange(o.head_, 0);
    count_ = std::exchange(o.count_, 0);
    return *this;
  }

  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }

  // i in [0, size()): 0 is the oldest element.
  T& operator[](size_t i) { return slots_[(head_ + i) & (capacity_ - 1)]; }
  const T& operator[](size_t i) const { return slots_[(head_ + i) & (capacity_ - 1)]; }
  T& front() { return (*this)[0]; }

  void push_back(T value) {
    if (count_ == capacity_) grow();
    (*this)[count_] = std::move(value);
    ++count_;
  }

  void pop_front() {
    slots_[head_] = T();
    head_ = (head_ + 1) & (capacity_ - 1);
    --count_;
  }

  void clear() {
    slots_.reset();
    capacity_ = head_ = count_ = 0;
  }

 private:
  void grow() {
    uint32_t capacity = capacity_ ? capacity_ * 2 : 4;
    auto slots = std::make_unique<T[]>(capacity);
    for (uint32_t i = 0; i < count_; ++i) slots[i] = std::move((*this)[i]);
    slots_ = std::move(slots);
    capacity_ = capacity;
    head_ = 0;
  }

  std::unique_ptr<T[]> slots_;
  uint32_t capacity_ = 0;
  uint32_t head_ = 0;
  uint32_t count_ = 0;
};

}  // namespace roomcast
