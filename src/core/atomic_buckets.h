// Counters of a histogram with fixed bucket bounds, cheap enough for a hot path: Observe is a
// few comparisons and two relaxed atomic additions (no lock, no allocation). Readers copy the
// counts out; a copy taken while observations run is consistent per bucket, not as a whole.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace annals {

template <size_t N>
class AtomicBuckets {
 public:
  // Counts `value` in the first bucket whose bound is >= it, or in the last (+Inf) bucket.
  void Observe(const std::array<double, N>& bounds, double value) {
    size_t i = 0;
    while (i < N && value > bounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    // One writer per histogram in practice (the engine's writer thread): the CAS loop of a
    // floating-point fetch_add does not spin.
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  // Per-bucket counts (not cumulative; the last is +Inf) and the sum of the observed values.
  void CopyTo(std::array<uint64_t, N + 1>* buckets, double* sum) const {
    for (size_t i = 0; i <= N; ++i) (*buckets)[i] = buckets_[i].load(std::memory_order_relaxed);
    *sum = sum_.load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, N + 1> buckets_{};
  std::atomic<double> sum_{0};
};

}  // namespace annals
