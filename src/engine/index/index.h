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

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "annals/status.h"
#include "engine/index/index_format.h"

namespace annals::index {

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

  // Applies a batch built by the writer (WAL off).
  Status Write(rocksdb::WriteBatch* batch);
  // Persists memtables, so a restart does not replay the log.
  Status Flush();

  // Calls `visit(key, value)` for keys in [start, end) ascending (or descending from just below
  // `end` when `reverse`), until it returns false.
  Status Scan(std::string_view start, std::string_view end, bool reverse,
              const std::function<bool(std::string_view, std::string_view)>& visit,
              const rocksdb::Snapshot* snapshot = nullptr) const;

  rocksdb::DB* db() { return db_.get(); }

 private:
  explicit Index(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}
  std::unique_ptr<rocksdb::DB> db_;
};

// The key just past every key starting with `prefix` (for a prefix scan's end bound).
std::string PrefixEnd(std::string_view prefix);

}  // namespace annals::index
