// Start-up recovery: find the end of the log, cut a torn tail, refuse (or, by policy, cut and
// quarantine) damage before the end, and replay into the index what it does not cover yet.
// The crash-window table in docs/log-format.md says what this does after a crash at each step.
#pragma once

#include <cstdint>
#include <string>

#include "annals/engine.h"
#include "annals/status.h"
#include "engine/index/index.h"
#include "engine/index/index_applier.h"
#include "engine/log/segments.h"

namespace annals::engine {

struct RecoveryOptions {
  CorruptionPolicy policy = CorruptionPolicy::kFail;
  Durability durability = Durability::kFsync;
  std::string quarantine_dir;
  // A position the last clean shutdown recorded as the end: when the scan stops exactly there
  // on never-written bytes, the rest of the segment need not be examined.
  uint64_t clean_end = 0;
};

struct RecoveryResult {
  uint64_t end = 0;  // where the next record goes: the head
  uint64_t replayed_records = 0;
  uint64_t truncated_bytes = 0;
  std::string report;  // what was found and done, for the log
};

// Replays the log from `start` (the index's applied position; 0 for the beginning) into the
// index and returns where the log ends. Answers kCorruption with a precise report when damage
// is found before the end and the policy is kFail. When `start` is not the end of a valid
// record (the index is ahead of the log, possible only without fsync), answers kNotFound: the
// caller then rebuilds the index from the beginning of the log.
Result<RecoveryResult> RecoverLog(log::SegmentSet& segments, index::Index& index,
                                  index::IndexApplier& applier, uint64_t start,
                                  const RecoveryOptions& options);

}  // namespace annals::engine
