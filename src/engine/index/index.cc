#include "engine/index/index.h"

#include <filesystem>

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include <fmt/format.h>

#include "core/binary.h"
#include "engine/index/index_format.h"
#include "engine/index/rocks_logger.h"

namespace annals::index {
namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  const StatusCode code = s.IsCorruption() ? StatusCode::kCorruption : StatusCode::kIoError;
  return Status(code, fmt::format("index {}: {}", what, s.ToString()));
}

// Groups the keys whose last 8 bytes are an increasing number -- `r` (stream id, revision),
// `c` and `t` postings (name, position) -- by everything before that number. RocksDB keeps one
// insert hint per group in the memtable, so appending the next revision or posting of a group
// continues from where the last insert ended instead of searching the skip list from the top.
// Without it the writer spent ~75% of its instructions in skip-list searches (docs/performance.md).
class IncreasingSuffixPrefix : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "annals.IncreasingSuffixPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key.size() - 8);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() > 9 &&
           (key[0] == kRevisionPrefix || key[0] == kCategoryPrefix || key[0] == kTypePrefix);
  }
};

// RocksDB splits its cache into shards of cache_bytes >> bits each (64 shards for 128 MiB by
// default) and cannot cache a block bigger than a shard; shards of at least 16 MiB hold any
// block the index writes, including the filters and indexes of tables written by older versions
// (unpartitioned).
int CacheShardBits(uint64_t cache_bytes) {
  int bits = 0;
  while (bits < 6 && (cache_bytes >> (bits + 1)) >= (16ull << 20)) ++bits;
  return bits;
}

// Tells the set of unpersisted event ids how far the flushed tables reach. RocksDB reports a
// flush after installing its tables, and the two families flush atomically (cut at one sequence
// number), so a flush of either family covers every write up to its largest sequence number.
class FlushListener : public rocksdb::EventListener {
 public:
  explicit FlushListener(std::shared_ptr<RecentEventIds> ids) : ids_(std::move(ids)) {}
  void OnFlushCompleted(rocksdb::DB*, const rocksdb::FlushJobInfo& info) override {
    ids_->NotePersisted(info.largest_seqno);
  }

 private:
  std::shared_ptr<RecentEventIds> ids_;
};

}  // namespace

Index::~Index() {
  for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
}

Result<std::unique_ptr<Index>> Index::Open(const std::string& path, uint64_t cache_bytes) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.info_log = MakeRocksLogger();
  auto recent_ids = std::make_shared<RecentEventIds>();
  options.listeners.push_back(std::make_shared<FlushListener>(recent_ids));
  options.IncreaseParallelism(2);
  options.write_buffer_size = 64 << 20;
  options.max_write_buffer_number = 3;
  // The log replays whatever a crash loses, so the index never needs its own WAL or syncs.
  options.avoid_flush_during_shutdown = false;
  // Without a WAL, the column families must flush together: a crash then keeps the same
  // prefix of batches in both, and `applied` (in the default family) covers the ids too.
  options.atomic_flush = true;
  // The ids' hash memtable takes inserts from one thread only (the writer's, as all inserts).
  options.allow_concurrent_memtable_write = false;
  options.compression = rocksdb::kLZ4Compression;
  // Most id lookups miss (new events): a memtable bloom filter answers them without a search.
  options.memtable_prefix_bloom_size_ratio = 0.05;
  options.memtable_whole_key_filtering = true;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(cache_bytes, CacheShardBits(cache_bytes));
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  // A table's whole filter is ~10 bits per key (6 MiB for a 64 MiB table of 5M keys). Cached
  // whole, it outgrew a cache shard, so every lookup read and checksummed it from the file:
  // appends to new streams after a reopen ran at ~1,400 events/s, and crash replay at ~7,000
  // records/s, in a store of 1M events (docs/performance.md). Partitioned, filters and indexes
  // are cached in 4 KiB pieces under a small pinned top level.
  table.index_type = rocksdb::BlockBasedTableOptions::IndexType::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.pin_top_level_index_and_filter = true;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  rocksdb::ColumnFamilyOptions main_family(options);
  main_family.memtable_insert_with_hint_prefix_extractor =
      std::make_shared<IncreasingSuffixPrefix>();
  // Event ids are random, only ever looked up whole, never scanned. In a skip list each insert
  // searched ~20 levels of a memtable of millions of keys (45% of the writer's time in 100-event
  // appends), and a hash of skip lists moved the cost to its flush, which built a skip list of
  // the whole memtable (docs/performance.md). A vector takes an insert as a push_back and is
  // sorted once, at its flush; lookups skip it (RecentEventIds answers for the memtables).
  rocksdb::ColumnFamilyOptions ids_family(options);
  ids_family.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  ids_family.memtable_prefix_bloom_size_ratio = 0;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, main_family}, {"ids", ids_family}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  // RocksDB lists the folder before it creates it, and logs an error when it is missing.
  std::error_code created;
  std::filesystem::create_directories(path, created);
  if (created) {
    return Status(StatusCode::kIoError,
                  fmt::format("index: cannot create {}: {}", path, created.message()));
  }
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(rocksdb::DBOptions(options), path, families, &handles, &raw);
  if (!s.ok()) return FromRocks(s, "open " + path);
  return std::unique_ptr<Index>(
      new Index(std::unique_ptr<rocksdb::DB>(raw), std::move(handles), std::move(recent_ids)));
}

Status Index::Destroy(const std::string& path) {
  rocksdb::Options options;
  options.info_log = MakeRocksLogger();
  return FromRocks(rocksdb::DestroyDB(path, options), "destroy " + path);
}

Result<std::optional<StreamRecord>> Index::GetStream(std::string_view name,
                                                     const rocksdb::Snapshot* snapshot) const {
  std::string value;
  rocksdb::ReadOptions options;
  options.snapshot = snapshot;
  auto s = db_->Get(options, StreamKey(name), &value);
  if (s.IsNotFound()) return std::optional<StreamRecord>();
  if (!s.ok()) return FromRocks(s, "read stream");
  StreamRecord record;
  if (!DecodeStreamRecord(value, &record)) {
    return Status(StatusCode::kCorruption,
                  fmt::format("index: damaged record of stream '{}'", name));
  }
  return std::optional<StreamRecord>(std::move(record));
}

Result<std::optional<EventIdEntry>> Index::GetEventId(const Uuid& id) const {
  if (auto recent = recent_ids_->Find(id)) return std::optional<EventIdEntry>(*recent);
  // Only the tables: the memtables' ids are all in recent_ids_ (and RocksDB would sort a copy
  // of the vector memtable to search it).
  rocksdb::ReadOptions options;
  options.read_tier = rocksdb::kPersistedTier;
  std::string value;
  auto s = db_->Get(options, ids(), EventIdKey(id), &value);
  if (s.IsNotFound()) return std::optional<EventIdEntry>();
  if (!s.ok()) return FromRocks(s, "read event id");
  EventIdEntry entry;
  if (!DecodeEventIdEntry(value, &entry)) {
    return Status(StatusCode::kCorruption, "index: damaged event id entry " + id.ToString());
  }
  return std::optional<EventIdEntry>(entry);
}

Result<uint64_t> Index::GetMeta(std::string_view key) const {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return uint64_t{0};
  if (!s.ok()) return FromRocks(s, "read meta");
  if (value.size() != 8) return Status(StatusCode::kCorruption, "index: damaged meta entry");
  return DecodeFixed64(value.data());
}

// A WriteBatch put fails only past its 4 GiB size limit, far above a group commit.
void Index::Put(IndexBatch* batch, std::string_view key, std::string_view value) const {
  (void)batch->puts.Put(rocksdb::Slice(key.data(), key.size()),
                        rocksdb::Slice(value.data(), value.size()));
}

void Index::PutEventId(IndexBatch* batch, const Uuid& id, const EventIdEntry& entry) const {
  (void)batch->puts.Put(ids(), EventIdKey(id), EncodeEventIdEntry(entry));
  batch->ids.emplace_back(id, entry);
}

Status Index::Write(IndexBatch* batch) {
  rocksdb::WriteOptions options;
  options.disableWAL = true;
  // The ids are findable from before they are in a memtable until after they are in a table.
  const bool has_ids = !batch->ids.empty();
  if (has_ids) recent_ids_->Add(batch->ids);
  Status written = FromRocks(db_->Write(options, &batch->puts), "write");
  if (has_ids && written.ok()) {
    // One thread writes, so the latest sequence number is this batch's last.
    recent_ids_->Written(db_->GetLatestSequenceNumber());
  } else if (has_ids) {
    recent_ids_->Abandon();
  }
  return written;
}

Status Index::Flush() {
  rocksdb::FlushOptions options;
  options.wait = true;
  return FromRocks(db_->Flush(options, handles_), "flush");
}

Status Index::CompactTinyFiles() {
  // Each short session (a CLI command) flushes a table of a few keys at its close. Random event
  // ids make those tables' key ranges disjoint, so RocksDB moves them to level 1 whole and never
  // merges them: a store used from scripts gathered one file per command (hundreds, all kept
  // open). A busy store's tables overlap and are merged by RocksDB's own compactions.
  constexpr uint64_t kTinyFileBytes = 1 << 20;
  constexpr size_t kTinyFilesToMerge = 16;
  for (auto* family : handles_) {
    rocksdb::ColumnFamilyMetaData meta;
    db_->GetColumnFamilyMetaData(family, &meta);
    for (const auto& level : meta.levels) {
      if (level.level == 0) continue;  // RocksDB compacts level 0 by its file count
      std::vector<std::string> tiny;
      for (const auto& file : level.files) {
        if (file.size < kTinyFileBytes) tiny.push_back(file.name);
      }
      if (tiny.size() < kTinyFilesToMerge) continue;
      ANNALS_RETURN_IF_ERROR(
          FromRocks(db_->CompactFiles(rocksdb::CompactionOptions(), family, tiny, level.level),
                    "compact tiny files"));
    }
  }
  return Status::Ok();
}

Status Index::Scan(std::string_view start, std::string_view end, bool reverse,
                   const std::function<bool(std::string_view, std::string_view)>& visit,
                   const rocksdb::Snapshot* snapshot) const {
  rocksdb::ReadOptions options;
  options.snapshot = snapshot;
  rocksdb::Slice lower(start.data(), start.size());
  rocksdb::Slice upper(end.data(), end.size());
  options.iterate_lower_bound = &lower;
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options));
  if (reverse) {
    for (it->SeekToLast(); it->Valid(); it->Prev()) {
      if (!visit(it->key().ToStringView(), it->value().ToStringView())) break;
    }
  } else {
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!visit(it->key().ToStringView(), it->value().ToStringView())) break;
    }
  }
  return FromRocks(it->status(), "scan");
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) != 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\xff');  // unreachable for our one-byte-prefixed keys
}

}  // namespace annals::index
