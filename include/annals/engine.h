// The embedded engine: an EventStore over a data directory on the local disk.
//
//   auto store = annals::OpenEngine({.data_dir = "./data"});
//   if (!store.ok()) { ... store.status() ... }
//   (*store)->Append({.stream = "visit-42", .expected = ExpectedRevision::NoStream(), ...});
//
// One process at a time may open a data directory (a lock file enforces it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "annals/event_store.h"
#include "annals/limits.h"

namespace annals {

// When an append is acknowledged.
enum class Durability : uint8_t {
  // Acknowledged means the log bytes were fdatasync'ed. The default.
  kFsync,
  // Acknowledged once written to the OS page cache: a machine crash (not a process crash) can
  // lose acknowledged events. For development and tests only; reported by `annals stats`.
  kUnsafeNoSync,
};

// What start-up does when it finds a damaged record before the end of the log.
enum class CorruptionPolicy : uint8_t {
  // Refuse to open and report the segment, the offset and the reason. The default.
  kFail,
  // Copy the damaged segment to quarantine/, then cut the log just before the damage: every
  // event after it is lost. Opt-in for an operator who has read the report.
  kTruncateAndQuarantine,
};

struct EngineOptions {
  std::string data_dir;                        // created when missing
  Durability durability = Durability::kFsync;  // can change only at open
  CorruptionPolicy corruption_policy = CorruptionPolicy::kFail;
  // Size of each log segment file; fixed when the directory is created (later opens read it
  // from the directory and ignore this). Must hold the largest append.
  uint64_t segment_bytes = 256ull << 20;
  Limits limits;
  // RocksDB block cache for the index.
  uint64_t index_cache_bytes = 128ull << 20;
  // Most bytes one group commit writes with one write + one fdatasync.
  uint64_t max_batch_bytes = 8ull << 20;
  // Streams whose state the writer keeps in memory (an LRU in front of the index).
  uint64_t stream_cache_entries = 200000;
  // Metadata events of user streams are appended under `$$<stream>` (KurrentDB convention).
};

// A histogram with fixed bounds as EngineStats reports it: `buckets[i]` counts observations
// <= bounds[i] (and above the previous bound; not cumulative), the last one those above every
// bound; `sum` is the sum of the observed values.
template <size_t N>
struct BucketCounts {
  std::array<uint64_t, N + 1> buckets{};
  double sum = 0;
};
// fdatasync latency of the log, in seconds.
inline constexpr std::array<double, 14> kFsyncSecondsBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
// Requests (appends, metadata writes, deletes) written by one group commit.
inline constexpr std::array<double, 11> kCommitBatchBounds = {1,  2,   4,   8,   16,  32,
                                                              64, 128, 256, 512, 1024};

// Counters `annals stats` and /metrics report.
struct EngineStats {
  Position head;
  uint64_t events_appended = 0;
  uint64_t bytes_appended = 0;
  uint64_t appends = 0;
  uint64_t group_commits = 0;
  uint64_t fsyncs = 0;
  uint64_t segments = 0;
  uint64_t recovered_records = 0;  // replayed into the index at open
  uint64_t truncated_bytes = 0;    // torn tail cut at open
  // Event ids only the index's memtables hold, kept in a hash map until a flush persists them
  // (docs/index-format.md): its memory follows this count.
  uint64_t unflushed_event_ids = 0;
  Durability durability = Durability::kFsync;
  BucketCounts<kFsyncSecondsBounds.size()> fsync_seconds;         // every fdatasync of the log
  BucketCounts<kCommitBatchBounds.size()> group_commit_requests;  // each successful commit
};

class Engine : public EventStore {
 public:
  virtual EngineStats Stats() const = 0;
  // Checks every record's checksums and that the index agrees with the log. Slow: reads
  // everything. Returns the first problem found, or ok.
  virtual Status Verify(std::string* report) = 0;
  // Stops the writer after the queued appends; later calls answer kUnavailable. Idempotent;
  // the destructor calls it.
  virtual void Close() = 0;
};

Result<std::unique_ptr<Engine>> OpenEngine(const EngineOptions& options);

}  // namespace annals
