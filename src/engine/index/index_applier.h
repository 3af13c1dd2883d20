// Turns committed log records into index changes: the one code path shared by the writer (as it
// commits) and recovery (as it replays the log), so a rebuilt index equals a live one.
//
// It also serves the writer's reads of stream state, which must include the changes of the
// batch being built. Single-threaded: owned by the writer thread.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <rocksdb/write_batch.h>

#include "annals/status.h"
#include "engine/index/index.h"
#include "engine/log/record.h"

namespace annals::index {

class IndexApplier {
 public:
  IndexApplier(Index* index, uint64_t cache_entries) : index_(index), capacity_(cache_entries) {}

  Status Init();

  // The stream's state with this batch's changes; an empty record (id 0) for an unknown stream.
  // The pointer stays valid until Finish() or Abort().
  Result<StreamRecord*> Load(std::string_view name);
  // Where an event id was used, looking at this batch first.
  Result<std::optional<EventIdEntry>> FindEventId(const Uuid& id);

  // Applies one committed event record at `position`.
  Status Apply(const log::EventView& event, uint64_t position);

  // Moves the batch's changes into `out`, recording that the index covers the log up to
  // `applied`. Afterwards Load() sees them as committed.
  void Finish(uint64_t applied, IndexBatch* out);
  // Forgets the batch's changes (the batch was not written).
  void Abort();

  uint64_t records_in_batch() const { return records_in_batch_; }

 private:
  struct Entry {
    StreamRecord record;
    std::list<std::string>::iterator lru;
  };
  void Touch(Entry& entry, const std::string& name);
  void Put(std::string key, std::string value);
  void PutPostings();

  Index* index_;
  uint64_t capacity_;
  uint64_t next_stream_id_ = 1;
  std::unordered_map<std::string, Entry> cache_;
  std::list<std::string> lru_;  // front: most recently used
  std::unordered_set<std::string> dirty_;
  absl::flat_hash_map<Uuid, EventIdEntry, UuidHash> batch_ids_;
  std::vector<std::pair<std::string, std::string>> puts_;  // this batch's other index changes
  uint64_t records_in_batch_ = 0;
  // This batch's postings: PostingPrefix(kind, name) -> ascending positions.
  std::unordered_map<std::string, std::vector<uint64_t>> postings_;
};

}  // namespace annals::index
