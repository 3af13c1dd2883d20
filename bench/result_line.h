// What every load generator prints and names alike: the one result line per case that
// scripts/bench parses (`<peer> case=... events_per_s=... p50_ms=...`), a fatal error, and the
// stream-name prefix that keeps each run's streams apart.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>

#include "latency_histogram.h"

namespace annals::bench {

[[noreturn]] inline void Die(std::string_view tool, const std::string& what) {
  fmt::print(stderr, "{}: {}\n", tool, what);
  std::exit(1);
}

// `given` when set, else random per run.
inline std::string RunPrefix(const std::string& given) {
  if (!given.empty()) return given;
  std::random_device rd;
  return fmt::format("visit{:x}", rd() & 0xffffff);
}

inline void PrintResult(std::string_view peer, const std::string& name, double events_per_s,
                        const LatencyHistogram& h, const std::string& extra) {
  fmt::print(
      "{} case={} events_per_s={:.0f} requests={} p50_ms={:.3f} p90_ms={:.3f} p99_ms={:.3f} "
      "p999_ms={:.3f} max_ms={:.3f}{}\n",
      peer, name, events_per_s, h.Count(), h.PercentileMs(0.5), h.PercentileMs(0.9),
      h.PercentileMs(0.99), h.PercentileMs(0.999), h.PercentileMs(1), extra);
  std::fflush(stdout);
}

}  // namespace annals::bench
