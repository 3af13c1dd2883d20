// The RocksDB index over the log (docs/index-format.md).
//
// RocksDB's own WAL is off: the log is the write-ahead log. Each group commit writes one
// WriteBatch that also records the log position it covers ("applied"), so whatever prefix of
// batches survives a crash, the index knows where to resume replaying the log.
//
// Thread safety: reads from any thread; writes only from the engine's writer thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "annals/status.h"
#include "engine/index/index_format.h"
#include "engine/index/recent_event_ids.h"

namespace annals::index {

// One atomic write of the index: RocksDB puts, and the event ids, which go to the `ids` family
// and to the set of ids not yet persisted (recent_event_ids.h).
struct IndexBatch {
  rocksdb::WriteBatch puts;
  EventIdPuts ids;
};

class Index {
 public:
  ~Index();
  static Result<std::unique_ptr<Index>> Open(const std::string& path, uint64_t cache_bytes);
  // Deletes an index directory, for a rebuild from the log.
  static Status Destroy(const std::string& path);

  // Reads see the index as of `snapshot` (nullptr: now).
  Result<std::optional<StreamRecord>> GetStream(std::string_view name,
                                                const rocksdb::Snapshot* snapshot = nullptr) const;
  Result<std::optional<EventIdEntry>> GetEventId(const Uuid& id) const;
  Result<uint64_t> GetMeta(std::string_view key) const;  // 0 when absent
  // Event ids only the memtables hold (found through RecentEventIds).
  size_t unflushed_event_ids() const { return recent_ids_->size(); }

  // Adds a put of `key` (any kind but an event id) to `batch`.
  void Put(IndexBatch* batch, std::string_view key, std::string_view value) const;
  // Adds a put of an event id to `batch` (the id is in the key, the entry in the value).
  void PutEventId(IndexBatch* batch, const Uuid& id, const EventIdEntry& entry) const;
  // Applies a batch (WAL off). Only one thread writes.
  Status Write(IndexBatch* batch);
  // Persists the memtables of every column family in one atomic flush, so a restart does not
  // replay the log.
  Status Flush();
  // Merges the tiny table files that short sessions leave (see index.cc); cheap when there are
  // none. For shutdown, after Flush.
  Status CompactTinyFiles();

  // Calls `visit(key, value)` for keys in [start, end) ascending (or descending from just below
  // `end` when `reverse`), until it returns false.
  Status Scan(std::string_view start, std::string_view end, bool reverse,
              const std::function<bool(std::string_view, std::string_view)>& visit,
              const rocksdb::Snapshot* snapshot = nullptr) const;

  rocksdb::DB* db() { return db_.get(); }

 private:
  Index(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
        std::shared_ptr<RecentEventIds> recent_ids)
      : recent_ids_(std::move(recent_ids)), db_(std::move(db)), handles_(std::move(handles)) {}
  rocksdb::ColumnFamilyHandle* ids() const { return handles_[1]; }

  // Shared with the flush listener, which RocksDB may call until db_ is closed.
  std::shared_ptr<RecentEventIds> recent_ids_;
  std::unique_ptr<rocksdb::DB> db_;
  // [0] default (everything but event ids), [1] "ids" (the `i` keys); destroyed before db_.
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// The key just past every key starting with `prefix` (for a prefix scan's end bound).
std::string PrefixEnd(std::string_view prefix);

}  // namespace annals::index
