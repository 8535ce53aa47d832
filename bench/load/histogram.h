// bench/load/histogram.h: latency histogram with HDR-style logarithmic buckets.
//
// Values are non-negative integers (microseconds). Values below 128 are exact; above,
// each power of two is split into 64 buckets, so any reported percentile is within
// 1/64 (1.6%) of the true value. max() is exact. Recording is two shifts and an
// increment: cheap enough for millions of samples per second on one thread.
// Not thread-safe: one per tool thread, merge() at the end.
#pragma once

#include <array>
#include <cstdint>

namespace load {

class Histogram {
 public:
  void record(int64_t value);
  void merge(const Histogram& other);
  void clear();

  uint64_t count() const { return count_; }
  int64_t max() const { return max_; }
  int64_t min() const { return count_ ? min_ : 0; }
  double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }
  // The value at quantile q in [0,1] (the highest value of its bucket, capped at max()).
  int64_t percentile(double q) const;

 private:
  static constexpr int kSubBits = 6;                  // 64 buckets per power of two
  static constexpr int kLinear = 2 << kSubBits;       // 128 exact values
  static constexpr int kBuckets = kLinear + 64 * 58;  // up to 2^64
  static int index_of(uint64_t v);
  static uint64_t highest_of(int index);

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  int64_t max_ = 0;
  int64_t min_ = INT64_MAX;
};

}  // namespace load
