// The index's event ids: found while only a memtable holds them, after a flush moved them to a
// table, and across the hand-over between the two (recent_event_ids.h).
#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "engine/index/index.h"
#include "engine/index/recent_event_ids.h"

namespace annals::index {
namespace {

Uuid IdOf(uint8_t tag) {
  Uuid id = Uuid::Random();
  id.bytes[0] = tag;
  return id;
}

TEST(RecentEventIdsTest, IdsStayUntilAFlushCoversTheirBatch) {
  RecentEventIds recent;
  const Uuid a = IdOf(1), b = IdOf(2);
  recent.Add({{a, EventIdEntry{1, 0, 10}}});
  recent.Written(5);
  recent.Add({{b, EventIdEntry{1, 1, 11}}});
  recent.Written(9);
  ASSERT_TRUE(recent.Find(a).has_value());
  EXPECT_EQ(recent.Find(a)->position, 10u);

  recent.NotePersisted(4);  // below a's batch: nothing leaves
  recent.Add({});
  recent.Written(9);
  EXPECT_TRUE(recent.Find(a).has_value());

  recent.NotePersisted(5);  // covers a's batch, not b's
  recent.NotePersisted(3);  // an older report never moves it back
  recent.Add({});
  recent.Written(9);
  EXPECT_FALSE(recent.Find(a).has_value());
  ASSERT_TRUE(recent.Find(b).has_value());
  EXPECT_EQ(recent.Find(b)->revision, 1u);
  EXPECT_EQ(recent.size(), 1u);
}

TEST(RecentEventIdsTest, AnAbandonedBatchLeavesAndAWrittenOneDoesNot) {
  RecentEventIds recent;
  const Uuid a = IdOf(1), b = IdOf(2);
  recent.Add({{a, EventIdEntry{1, 0, 10}}});
  recent.Written(5);
  recent.Add({{b, EventIdEntry{2, 0, 11}}});
  EXPECT_TRUE(recent.Find(b).has_value());  // findable before its write
  recent.Abandon();
  EXPECT_FALSE(recent.Find(b).has_value());
  recent.Abandon();  // the last batch was written: nothing to take back
  EXPECT_TRUE(recent.Find(a).has_value());
  // An unwritten batch never leaves on a flush report, whatever its number.
  recent.Add({{b, EventIdEntry{2, 0, 11}}});
  recent.NotePersisted(UINT64_MAX - 1);
  recent.Add({});
  EXPECT_FALSE(recent.Find(a).has_value());
  EXPECT_TRUE(recent.Find(b).has_value());
}

TEST(RecentEventIdsTest, TimeOrderedIdsSharingTheirLeadingBytesAreAllKept) {
  RecentEventIds recent;
  EventIdPuts puts;
  for (uint32_t i = 0; i < 10000; ++i) {
    Uuid id{};  // the first 12 bytes equal, as ids minted in one millisecond nearly are
    id.bytes[12] = static_cast<uint8_t>(i >> 24);
    id.bytes[13] = static_cast<uint8_t>(i >> 16);
    id.bytes[14] = static_cast<uint8_t>(i >> 8);
    id.bytes[15] = static_cast<uint8_t>(i);
    puts.emplace_back(id, EventIdEntry{1, i, i + 1});
  }
  recent.Add(puts);
  recent.Written(1);
  EXPECT_EQ(recent.size(), puts.size());
  for (const auto& [id, entry] : puts) {
    auto found = recent.Find(id);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->position, entry.position);
  }
}

class IndexEventIdsTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/index_ids_" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    auto opened = Index::Open(dir_, 8 << 20);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    index_ = std::move(opened).value();
  }
  void TearDown() override {
    index_.reset();
    std::filesystem::remove_all(dir_);
  }
  void WriteId(const Uuid& id, uint64_t position) {
    IndexBatch batch;
    index_->PutEventId(&batch, id, EventIdEntry{7, position - 1, position});
    index_->Put(&batch, kAppliedKey, "12345678");
    ASSERT_TRUE(index_->Write(&batch).ok());
  }
  uint64_t Found(const Uuid& id) {
    auto found = index_->GetEventId(id);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ok() && found->has_value() ? (*found)->position : 0;
  }

  std::string dir_;
  std::unique_ptr<Index> index_;
};

TEST_F(IndexEventIdsTest, IdsAreFoundBeforeAndAfterTheirFlush) {
  const Uuid first = IdOf(1);
  WriteId(first, 1);
  EXPECT_EQ(Found(first), 1u);
  EXPECT_EQ(index_->unflushed_event_ids(), 1u);
  // What the lookups rely on: the persisted tier does not read memtables of WAL-less writes.
  rocksdb::ReadOptions persisted;
  persisted.read_tier = rocksdb::kPersistedTier;
  std::string value;
  EXPECT_TRUE(index_->db()->Get(persisted, kAppliedKey, &value).IsNotFound());

  ASSERT_TRUE(index_->Flush().ok());
  EXPECT_TRUE(index_->db()->Get(persisted, kAppliedKey, &value).ok());
  // The flush report may arrive after Flush returns; the next write drops what it covers.
  uint64_t position = 2;
  std::vector<Uuid> later;
  for (int i = 0; i < 400 && index_->unflushed_event_ids() > later.size(); ++i) {
    later.push_back(IdOf(2));
    WriteId(later.back(), position++);
    EXPECT_EQ(Found(first), 1u);  // from the recent set or from the table, never missing
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(index_->unflushed_event_ids(), later.size()) << "the flush was never reported";
  EXPECT_EQ(Found(first), 1u);  // from the table now
  for (size_t i = 0; i < later.size(); ++i) EXPECT_EQ(Found(later[i]), i + 2);
  EXPECT_EQ(Found(IdOf(3)), 0u);
}

TEST_F(IndexEventIdsTest, IdsWrittenBeforeAReopenAreFoundAfterIt) {
  std::vector<Uuid> ids;
  for (uint64_t p = 1; p <= 100; ++p) {
    ids.push_back(IdOf(4));
    WriteId(ids.back(), p);
  }
  ASSERT_TRUE(index_->Flush().ok());
  index_.reset();
  auto reopened = Index::Open(dir_, 8 << 20);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  index_ = std::move(reopened).value();
  EXPECT_EQ(index_->unflushed_event_ids(), 0u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(Found(ids[i]), i + 1);
}

// RocksDB writes no `LOG` file of its own (its file logger aborted the process on a full disk,
// tests/cli: AFullDiskIsAnIoErrorAndLosesNothing): its lines go to the process's log.
TEST_F(IndexEventIdsTest, RocksDbWritesNoLogFileOfItsOwn) {
  WriteId(IdOf(5), 1);
  ASSERT_TRUE(index_->Flush().ok());
  index_.reset();
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_FALSE(entry.path().filename().string().starts_with("LOG")) << entry.path();
  }
}

// A session that writes one id and closes (a CLI command) flushes a table of one key; random ids
// make the tables disjoint, and RocksDB moved them to level 1 whole for ever: one more open file
// per session. The shutdown's merge keeps their number bounded.
TEST_F(IndexEventIdsTest, ShortSessionsLeaveABoundedNumberOfTableFiles) {
  constexpr int kSessions = 48;
  std::vector<Uuid> ids;
  for (int session = 0; session < kSessions; ++session) {
    ids.push_back(IdOf(6));
    WriteId(ids.back(), static_cast<uint64_t>(session) + 1);
    ASSERT_TRUE(index_->Flush().ok());
    ASSERT_TRUE(index_->CompactTinyFiles().ok());
    index_.reset();
    auto reopened = Index::Open(dir_, 8 << 20);
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    index_ = std::move(reopened).value();
  }
  int tables = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    if (entry.path().extension() == ".sst") ++tables;
  }
  EXPECT_LE(tables, 24) << "one table file per session is " << kSessions;
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(Found(ids[i]), i + 1);
}

}  // namespace
}  // namespace annals::index
