// A log-linear latency histogram in the manner of HdrHistogram: values in nanoseconds from
// 1 ns to ~10^12 ns, each power of two split into 128 linear sub-buckets, so any reported
// percentile is within 1% of the true value whatever the number of samples. Recording is an
// array increment (no allocation on the measured path); histograms of several threads merge.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdint>

namespace annals::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = 41 * kSub;

  void Record(std::chrono::nanoseconds d) {
    RecordNanos(static_cast<uint64_t>(std::max<int64_t>(0, d.count())));
  }
  void RecordNanos(uint64_t ns) {
    ++counts_[Index(ns)];
    ++total_;
    max_ = std::max(max_, ns);
  }
  void Merge(const LatencyHistogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
  }
  uint64_t Count() const { return total_; }
  // The value at quantile q (0..1) in milliseconds; q = 1 answers the exact maximum.
  double PercentileMs(double q) const {
    if (total_ == 0) return 0;
    if (q >= 1) return static_cast<double>(max_) / 1e6;
    const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_));
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return static_cast<double>(std::min(UpperBound(i), max_)) / 1e6;
    }
    return static_cast<double>(max_) / 1e6;
  }

 private:
  static int Index(uint64_t ns) {
    if (ns < kSub) return static_cast<int>(ns);
    const int shift = std::bit_width(ns) - 1 - kSubBits;  // >= 0
    const int index = (shift + 1) * kSub + static_cast<int>((ns >> shift) - kSub);
    return std::min(index, kBuckets - 1);
  }
  static uint64_t UpperBound(int index) {
    if (index < kSub) return static_cast<uint64_t>(index);
    const int shift = index / kSub - 1;
    const uint64_t sub = static_cast<uint64_t>(index % kSub) + kSub;
    return ((sub + 1) << shift) - 1;
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace annals::bench
