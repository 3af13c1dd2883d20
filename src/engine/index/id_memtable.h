// A RocksDB memtable for keys that are only ever looked up whole and written in random order:
// the index's event ids (docs/index-format.md). Inserts go to a vector and an open-addressing
// hash table (no ordered search); the order RocksDB's flush needs is made once, by sorting the
// vector when the memtable is read in order. A skip list paid a ~20-level search per insert on
// the writer thread; a hash of skip lists paid it again, entry by entry, on the flush thread
// (docs/performance.md).
//
// Requires the bytewise comparator (the sort compares the first 8 key bytes as a number before
// falling back to RocksDB's comparator). Any thread may read; inserts come from one thread.
#pragma once

#include <memory>

#include <rocksdb/memtablerep.h>

namespace annals::index {

class IdMemTableFactory : public rocksdb::MemTableRepFactory {
 public:
  static const char* kClassName() { return "AnnalsIdMemTable"; }
  const char* Name() const override { return kClassName(); }
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                          rocksdb::Allocator* allocator,
                                          const rocksdb::SliceTransform* transform,
                                          rocksdb::Logger* logger) override;
};

}  // namespace annals::index
