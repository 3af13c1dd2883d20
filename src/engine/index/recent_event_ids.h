// The event ids the index holds in memtables only, kept in a hash map so lookups never search a
// memtable.
//
// The `ids` column family's memtable is a plain vector: an insert is a push_back, and a flush
// sorts it once (docs/performance.md, "Event ids in a vector memtable"). A vector cannot answer
// a lookup (RocksDB would sort a copy of it for each), so Index::GetEventId reads the persisted
// tables only (kPersistedTier, which skips the memtables of WAL-less writes) and asks this set
// for everything newer: ids enter it before their batch reaches RocksDB and leave it once a
// flush that covers their batch has completed.
//
// Thread safety: Add, Written and Abandon from the index's one writing thread; Find from any
// thread; NotePersisted from RocksDB's flush threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <shared_mutex>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "annals/types.h"
#include "engine/index/index_format.h"

namespace annals::index {

// Hashes both halves of the id with a per-process seed: clients choose ids, and time-ordered ones
// (UUIDv7) share their leading bytes.
struct UuidHash {
  size_t operator()(const Uuid& id) const noexcept;
};

using EventIdPuts = std::vector<std::pair<Uuid, EventIdEntry>>;

class RecentEventIds {
 public:
  // Before the batch holding `ids` is written to RocksDB.
  void Add(const EventIdPuts& ids);
  // After it was: `last_sequence` is the RocksDB sequence number of the batch's last key.
  void Written(uint64_t last_sequence);
  // The batch of the last Add was not written: its ids leave again.
  void Abandon();
  // A flush covering every write up to `sequence` has completed (its tables are readable).
  void NotePersisted(uint64_t sequence);

  std::optional<EventIdEntry> Find(const Uuid& id) const;
  size_t size() const;

 private:
  struct Block {
    uint64_t last_sequence;  // kUnwritten until Written()
    std::vector<Uuid> ids;
  };
  static constexpr uint64_t kUnwritten = UINT64_MAX;
  void DropPersisted();  // with mu_ held exclusively

  mutable std::shared_mutex mu_;
  absl::flat_hash_map<Uuid, EventIdEntry, UuidHash> entries_;
  std::deque<Block> blocks_;  // in write order
  std::atomic<uint64_t> persisted_{0};
};

}  // namespace annals::index
