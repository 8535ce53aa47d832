#include "bench/load/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace load {

int Histogram::index_of(uint64_t v) {
  if (v < uint64_t(kLinear)) return int(v);
  // v has bit width w >= 8; keep its top kSubBits+1 bits: (v >> shift) in [64, 128).
  const int shift = std::bit_width(v) - (kSubBits + 1);
  return kLinear + (shift - 1) * 64 + int((v >> shift) - 64);
}

uint64_t Histogram::highest_of(int index) {
  if (index < kLinear) return uint64_t(index);
  const int shift = (index - kLinear) / 64 + 1;
  const uint64_t top = uint64_t((index - kLinear) % 64 + 64);
  return ((top + 1) << shift) - 1;
}

void Histogram::record(int64_t value) {
  if (value < 0) value = 0;
  ++counts_[size_t(index_of(uint64_t(value)))];
  ++count_;
  sum_ += uint64_t(value);
  max_ = std::max(max_, value);
  min_ = std::min(min_, value);
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
}

void Histogram::clear() { *this = Histogram(); }

int64_t Histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the sample at quantile q (1-based), as HdrHistogram does.
  uint64_t rank = uint64_t(std::ceil(q * double(count_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[size_t(i)];
    if (seen >= rank) return std::min<int64_t>(int64_t(highest_of(i)), max_);
  }
  return max_;
}

}  // namespace load
