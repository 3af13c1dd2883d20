// Start-up recovery against damaged logs: a torn tail at every byte of the last commit, torn
// multi-event commits, damage before the end under both policies, lost or stale indexes, a
// crash between a segment's end record and its successor, a successor that cannot be created
// (a full disk), and the data directory lock.
#include <fcntl.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "annals/engine.h"
#include "core/binary.h"
#include "engine/index/index_format.h"
#include "engine/log/log_format.h"
#include "tests/engine/log_test_util.h"

namespace annals {
namespace {

using testing::TempDir;

EngineOptions SmallOptions(const std::string& dir) {
  EngineOptions o;
  o.data_dir = dir;
  o.segment_bytes = 1 << 20;
  o.limits.max_event_bytes = 64 << 10;
  o.limits.max_append_bytes = 256 << 10;
  return o;
}

std::unique_ptr<Engine> MustOpen(const EngineOptions& o) {
  auto e = OpenEngine(o);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

AppendResult MustAppend(EventStore& s, const std::string& stream, int events, int tag) {
  AppendRequest r;
  r.stream = stream;
  for (int i = 0; i < events; ++i) {
    ProposedEvent e;
    e.id = Uuid::Random();
    e.type = "Tested";
    e.data = "{\"tag\":" + std::to_string(tag) + ",\"i\":" + std::to_string(i) + "}";
    r.events.push_back(e);
  }
  auto a = s.Append(r);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return a.ok() ? *a : AppendResult{};
}

uint64_t CountAll(EventStore& s) {
  ReadAllRequest r;
  r.max_count = 1'000'000;
  auto all = s.ReadAll(r);
  EXPECT_TRUE(all.ok()) << all.status().ToString();
  return all.ok() ? all->events.size() : 0;
}

void RemoveIndex(const std::string& dir) { std::filesystem::remove_all(dir + "/index"); }

// Sets one meta key in the closed index at `path` (flushed: the engine writes without a WAL).
void PutIndexMeta(const std::string& path, std::string_view key, uint64_t value) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  rocksdb::DBOptions options;
  options.atomic_flush = true;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, path, families, &handles, &raw).ok());
  std::string encoded;
  PutFixed64(&encoded, value);
  EXPECT_TRUE(raw->Put(rocksdb::WriteOptions(), key, encoded).ok());
  EXPECT_TRUE(raw->Flush(rocksdb::FlushOptions(), handles).ok());
  for (auto* h : handles) EXPECT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
  delete raw;
}

struct TornCase {
  bool scribble;    // garbage after the tear instead of zeros
  bool drop_index;  // index behind the log (replay) rather than ahead (rebuild)
};

class TornTailTest : public ::testing::TestWithParam<TornCase> {};

TEST_P(TornTailTest, TearAtEveryByteOfTheLastCommitDropsItWholeAndKeepsTheRest) {
  TempDir tmp;
  const EngineOptions options = SmallOptions(tmp.path());
  uint64_t commit_start, commit_end;
  {
    auto e = MustOpen(options);
    for (int i = 0; i < 5; ++i) MustAppend(*e, "visit-" + std::to_string(i), 2, i);
    commit_start = e->Head().value;
    MustAppend(*e, "visit-last", 3, 99);  // the commit that will be torn
    commit_end = e->Head().value;
  }
  const std::string segment = testing::SegmentPath(tmp.path(), 0);
  const std::string original = testing::ReadFile(segment);
  const std::string index_copy = tmp.path() + "/index-copy";
  std::filesystem::copy(tmp.path() + "/index", index_copy);
  // As a crash leaves it: an open engine has zeroed the clean-shutdown marker (a store that
  // shut down cleanly and lost bytes is damaged, not torn: the Clean* tests below).
  PutIndexMeta(index_copy, index::kCleanEndKey, 0);
  // Every byte in the slow suite (ANNALS_TORN_STEP=1); a stride that still hits each field of
  // the header, body, padding and trailer in the quick one.
  const char* step_env = std::getenv("ANNALS_TORN_STEP");
  const uint64_t step = step_env ? std::strtoull(step_env, nullptr, 10) : 11;
  for (uint64_t tear = commit_start; tear < commit_end; tear += step) {
    testing::WriteAt(segment, 0, original);
    std::filesystem::remove_all(tmp.path() + "/index");
    if (!GetParam().drop_index) std::filesystem::copy(index_copy, tmp.path() + "/index");
    if (GetParam().scribble) {
      testing::ScribbleRange(segment, tear, commit_end - tear, tear);
    } else {
      testing::ZeroRange(segment, tear, commit_end - tear);
    }
    // A tear that rewrote the bytes it covers with what they were (a last checksum byte that
    // happened to be 0, one run in 256: the record holds its commit time) tore nothing.
    if (testing::ReadFile(segment).compare(tear, commit_end - tear, original, tear,
                                           commit_end - tear) == 0) {
      continue;
    }
    auto e = MustOpen(options);
    ASSERT_NE(e, nullptr) << "tear at " << tear;
    EXPECT_EQ(e->Head().value, commit_start) << "tear at " << tear;
    EXPECT_EQ(CountAll(*e), 10u) << "tear at " << tear;
    ReadStreamRequest r;
    r.stream = "visit-last";
    EXPECT_EQ(e->ReadStream(r).status().code(), StatusCode::kNotFound) << "tear at " << tear;
    std::string report;
    EXPECT_TRUE(e->Verify(&report).ok()) << report;
    // The log goes on from the cut as if the torn commit had never been written.
    AppendResult again = MustAppend(*e, "visit-last", 1, 100);
    EXPECT_EQ(again.first_revision.value, 0u);
    EXPECT_EQ(again.position.value, commit_start);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, TornTailTest,
                         ::testing::Values(TornCase{false, true}, TornCase{false, false},
                                           TornCase{true, true}),
                         [](const auto& info) {
                           return std::string(info.param.scribble ? "Garbage" : "Zeros") +
                                  (info.param.drop_index ? "IndexBehind" : "IndexAhead");
                         });

TEST(RecoveryTest, DamageBeforeTheEndRefusesToOpenAndNamesThePosition) {
  TempDir tmp;
  const EngineOptions options = SmallOptions(tmp.path());
  uint64_t damaged;
  {
    auto e = MustOpen(options);
    MustAppend(*e, "visit-1", 1, 1);
    damaged = e->Head().value;
    MustAppend(*e, "visit-2", 1, 2);
    MustAppend(*e, "visit-3", 1, 3);
  }
  testing::FlipByte(testing::SegmentPath(tmp.path(), 0), damaged + 60);
  RemoveIndex(tmp.path());  // make recovery read the damaged record
  const std::string before = testing::ReadFile(testing::SegmentPath(tmp.path(), 0));
  auto e = OpenEngine(options);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kCorruption);
  EXPECT_NE(e.status().message().find("position " + std::to_string(damaged)), std::string::npos)
      << e.status().message();
  // Refusing changes nothing on disk.
  EXPECT_EQ(testing::ReadFile(testing::SegmentPath(tmp.path(), 0)), before);
}

TEST(RecoveryTest, DamageBeforeACleanShutdownsEndIsNeverTakenForATornTail) {
  // One group commit wrote all three appends, so write positions alone cannot tell damage
  // from a tear; the clean-shutdown marker proves the bytes were committed.
  TempDir tmp;
  const EngineOptions options = SmallOptions(tmp.path());
  uint64_t first;
  {
    auto e = MustOpen(options);
    AppendRequest r;
    r.stream = "visit-1";
    for (int i = 0; i < 3; ++i)
      r.events.push_back(ProposedEvent{Uuid::Random(), "T", "application/json", "{}", ""});
    first = e->Head().value;
    ASSERT_TRUE(e->Append(r).ok());
  }
  testing::FlipByte(testing::SegmentPath(tmp.path(), 0), first + 40);
  // The index covers the damaged record, so opening succeeds; reading it and verifying fail.
  auto e = MustOpen(options);
  ASSERT_NE(e, nullptr);
  ReadStreamRequest r;
  r.stream = "visit-1";
  EXPECT_EQ(e->ReadStream(r).status().code(), StatusCode::kCorruption);
  std::string report;
  EXPECT_EQ(e->Verify(&report).code(), StatusCode::kCorruption);
  EXPECT_NE(report.find("position"), std::string::npos) << report;
  e.reset();
  // With the index (and so the clean-shutdown marker) gone too, the damage at the start of
  // the last write would look like a torn tail: that case is the documented limit.
}

TEST(RecoveryTest, CleanShutdownThenDamageInTheLastRecordIsNotATornTail) {
  // Damage near the end of the last record makes the index's position no record's end, so the
  // index is rebuilt; the clean-shutdown marker it held still proves the bytes were committed.
  TempDir tmp;
  const EngineOptions options = SmallOptions(tmp.path());
  uint64_t end;
  {
    auto e = MustOpen(options);
    MustAppend(*e, "visit-1", 3, 1);
    MustAppend(*e, "visit-2", 1, 2);
    end = e->Head().value;
  }
  for (uint64_t from_end : {1, 8, 20}) {
    TempDir copy;
    std::filesystem::copy(tmp.path(), copy.path(), std::filesystem::copy_options::recursive);
    testing::FlipByte(testing::SegmentPath(copy.path(), 0), end - from_end);
    auto e = OpenEngine(SmallOptions(copy.path()));
    ASSERT_FALSE(e.ok()) << "damage " << from_end << " bytes before the end was cut";
    EXPECT_EQ(e.status().code(), StatusCode::kCorruption) << e.status().ToString();
    EXPECT_NE(e.status().message().find("clean shutdown"), std::string::npos)
        << e.status().ToString();
  }
}

TEST(RecoveryTest, CleanShutdownThenAMissingSegmentIsRefused) {
  TempDir tmp;
  const EngineOptions options = SmallOptions(tmp.path());
  {
    auto e = MustOpen(options);
    MustAppend(*e, "visit-1", 3, 1);
  }
  std::filesystem::remove(testing::SegmentPath(tmp.path(), 0));
  // Not an empty store: the index it had says events were committed.
  auto e = OpenEngine(options);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kCorruption) << e.status().ToString();
}

TEST(RecoveryTest, TruncatePolicyCutsAtTheDamageAndQuarantinesACopy) {
  TempDir tmp;
  EngineOptions options = SmallOptions(tmp.path());
  uint64_t damaged;
  {
    auto e = MustOpen(options);
    MustAppend(*e, "visit-1", 1, 1);
    damaged = e->Head().value;
    MustAppend(*e, "visit-2", 1, 2);
    MustAppend(*e, "visit-3", 1, 3);
  }
  testing::FlipByte(testing::SegmentPath(tmp.path(), 0), damaged + 60);
  RemoveIndex(tmp.path());
  options.corruption_policy = CorruptionPolicy::kTruncateAndQuarantine;
  auto e = MustOpen(options);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->Head().value, damaged);
  EXPECT_EQ(CountAll(*e), 1u);
  EXPECT_FALSE(std::filesystem::is_empty(tmp.path() + "/quarantine"));
}

TEST(RecoveryTest, SealedSegmentDamageIsDetectedAcrossSegments) {
  TempDir tmp;
  const EngineOptions options = SmallOptions(tmp.path());
  {
    auto e = MustOpen(options);
    // 50 KiB appends: several segments of 1 MiB.
    for (int i = 0; i < 30; ++i) {
      AppendRequest r;
      r.stream = "bulk-" + std::to_string(i);
      r.events.push_back(ProposedEvent{Uuid::Random(), "Big", "application/octet-stream",
                                       std::string(50 << 10, 'x'), ""});
      ASSERT_TRUE(e->Append(r).ok());
    }
    ASSERT_GE(e->Stats().segments, 2u);
  }
  testing::FlipByte(testing::SegmentPath(tmp.path(), 0), 64 + 200);
  RemoveIndex(tmp.path());
  auto e = OpenEngine(options);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kCorruption);
}

TEST(RecoveryTest, ReadsAndBackwardsReadsCrossSegmentBoundaries) {
  TempDir tmp;
  const EngineOptions options = SmallOptions(tmp.path());
  auto e = MustOpen(options);
  for (int i = 0; i < 40; ++i) {
    AppendRequest r;
    r.stream = "bulk-1";
    r.events.push_back(ProposedEvent{Uuid::Random(), "Big", "application/octet-stream",
                                     std::string(60 << 10, static_cast<char>('a' + i % 26)), ""});
    ASSERT_TRUE(e->Append(r).ok());
  }
  ASSERT_GE(e->Stats().segments, 3u);
  e.reset();
  RemoveIndex(tmp.path());  // replay across all segments
  e = MustOpen(options);
  ReadAllRequest fwd;
  fwd.max_count = 7;
  std::vector<uint64_t> forward;
  while (true) {
    auto page = e->ReadAll(fwd);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (auto& ev : page->events) forward.push_back(ev.revision.value);
    if (page->end_of_log) break;
    fwd.from = page->next;
  }
  ReadAllRequest back;
  back.direction = Direction::kBackwards;
  back.from = Position::End();
  back.max_count = 5;
  std::vector<uint64_t> backward;
  while (true) {
    auto page = e->ReadAll(back);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (auto& ev : page->events) backward.push_back(ev.revision.value);
    if (page->end_of_log) break;
    back.from = page->next;
  }
  ASSERT_EQ(forward.size(), 40u);
  std::reverse(backward.begin(), backward.end());
  EXPECT_EQ(forward, backward);
  for (uint64_t i = 0; i < forward.size(); ++i) EXPECT_EQ(forward[i], i);
}

TEST(RecoveryTest, CrashAfterASegmentEndRecordCreatesTheNextSegment) {
  TempDir tmp;
  const EngineOptions options = SmallOptions(tmp.path());
  uint64_t events = 0;
  {
    auto e = MustOpen(options);
    while (e->Stats().segments < 2) {
      AppendRequest r;
      r.stream = "bulk-1";
      r.events.push_back(ProposedEvent{Uuid::Random(), "Big", "application/octet-stream",
                                       std::string(60 << 10, 'y'), ""});
      ASSERT_TRUE(e->Append(r).ok());
      ++events;
    }
  }
  // Segment 1 holds the last append; remove its records and the file, as if the crash came
  // right after segment 0's end record was synced.
  std::filesystem::remove(testing::SegmentPath(tmp.path(), 1));
  RemoveIndex(tmp.path());
  auto e = MustOpen(options);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(CountAll(*e), events - 1);
  EXPECT_TRUE(std::filesystem::exists(testing::SegmentPath(tmp.path(), 1)));
  MustAppend(*e, "after", 1, 1);
  EXPECT_EQ(CountAll(*e), events);
}

// A full disk (here: a directory where the next segment's file must go) fails the appends that
// need a new segment, and only those: the engine is not stopped, writes resume once the
// segment can be created, and nothing before or after is lost, with or without a restart.
TEST(RecoveryTest, ASegmentThatCannotBeCreatedFailsOnlyTheAppendsThatNeedIt) {
  for (const bool restart_while_blocked : {false, true}) {
    SCOPED_TRACE(restart_while_blocked ? "closed while blocked" : "unblocked while open");
    TempDir tmp;
    const EngineOptions options = SmallOptions(tmp.path());
    const std::string next = testing::SegmentPath(tmp.path(), 1);
    std::filesystem::create_directories(next + ".tmp");
    std::filesystem::create_directories(next + ".prepared.tmp");
    auto e = MustOpen(options);
    ASSERT_NE(e, nullptr);
    uint64_t events = 0;
    Status refused;
    AppendRequest big;
    big.stream = "bulk-1";
    big.events.push_back(ProposedEvent{std::nullopt, "Big", "application/octet-stream",
                                       std::string(60 << 10, 'y'), ""});
    while (refused.ok()) {
      auto a = e->Append(big);
      if (a.ok())
        ++events;
      else
        refused = a.status();
      ASSERT_LT(events, 100u);
    }
    EXPECT_EQ(refused.code(), StatusCode::kIoError) << refused.ToString();
    EXPECT_NE(refused.message().find("cannot create segment"), std::string::npos)
        << refused.ToString();
    // The segment has room for a small event, but it has ended: nothing more goes into it.
    AppendRequest small;
    small.stream = "small-1";
    small.events.push_back(ProposedEvent{std::nullopt, "Small", "application/json", "{}", ""});
    EXPECT_EQ(e->Append(small).status().code(), StatusCode::kIoError);
    const Position head = e->Head();
    EXPECT_EQ(CountAll(*e), events);
    if (restart_while_blocked) {
      e.reset();
      EXPECT_FALSE(OpenEngine(options).ok());  // recovery must create the segment too
    }
    std::filesystem::remove(next + ".tmp");
    std::filesystem::remove(next + ".prepared.tmp");
    if (restart_while_blocked) {
      e = MustOpen(options);
      ASSERT_NE(e, nullptr);
    }
    // Reopened, recovery has created the segment, and the head is its first record's place.
    if (restart_while_blocked)
      EXPECT_GE(e->Head().value, head.value);
    else
      EXPECT_EQ(e->Head(), head);
    auto a = e->Append(small);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_GE(a->position.value, head.value);
    EXPECT_TRUE(std::filesystem::exists(next));
    MustAppend(*e, "after", 2, 1);
    EXPECT_EQ(CountAll(*e), events + 3);
    e.reset();
    e = MustOpen(options);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(CountAll(*e), events + 3);
  }
}

// A write the disk refuses (here: into a hole punched in the segment, on a full filesystem)
// stops the writer until the store is reopened, since nobody knows what reached the disk; the
// store says so to readiness probes, and keeps every acknowledged event.
TEST(RecoveryTest, AFailedWriteStopsTheWriterAndFailsTheHealthCheck) {
  TempDir tmp;
  testing::SmallFilesystem small(tmp.path() + "/small", "16m");
  if (!small.mounted()) GTEST_SKIP() << "mounting a tmpfs needs root";
  const EngineOptions options = SmallOptions(tmp.path() + "/small/data");
  auto e = MustOpen(options);
  ASSERT_NE(e, nullptr);
  MustAppend(*e, "kept-1", 3, 1);
  EXPECT_TRUE(e->CheckHealth().ok());
  {
    int fd = ::open(testing::SegmentPath(options.data_dir, 0).c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 64 << 10, 512 << 10), 0);
    ::close(fd);
  }
  const std::string filler = tmp.path() + "/small/filler";
  testing::SmallFilesystem::Fill(filler);
  AppendRequest big;
  big.stream = "refused-1";
  big.events.push_back(ProposedEvent{std::nullopt, "Big", "application/octet-stream",
                                     std::string(60 << 10, 'y'), ""});
  Status refused;
  for (int i = 0; i < 16 && refused.ok(); ++i) refused = e->Append(big).status();
  EXPECT_EQ(refused.code(), StatusCode::kIoError) << refused.ToString();
  const Status health = e->CheckHealth();
  EXPECT_EQ(health.code(), StatusCode::kUnavailable) << health.ToString();
  EXPECT_NE(health.message().find("stopped accepting writes"), std::string::npos)
      << health.ToString();
  std::filesystem::remove(filler);
  EXPECT_EQ(e->Append(big).status().code(), StatusCode::kIoError);  // until reopened
  e.reset();
  e = MustOpen(options);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->CheckHealth().ok());
  ReadStreamRequest kept{.stream = "kept-1", .max_count = 10};
  auto read = e->ReadStream(kept);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->events.size(), 3u);
  MustAppend(*e, "after", 1, 2);
}

TEST(RecoveryTest, LostIndexIsRebuiltFromTheLog) {
  TempDir tmp;
  const EngineOptions options = SmallOptions(tmp.path());
  {
    auto e = MustOpen(options);
    for (int i = 0; i < 50; ++i) MustAppend(*e, "visit-" + std::to_string(i % 7), 2, i);
    StreamMetadata m;
    m.max_count = 3;
    ASSERT_TRUE(e->SetStreamMetadata("visit-1", ExpectedRevision::Any(), m).ok());
    ASSERT_TRUE(e->DeleteStream("visit-2", ExpectedRevision::Any(), DeleteMode::kTombstone).ok());
  }
  RemoveIndex(tmp.path());
  auto e = MustOpen(options);
  EXPECT_EQ(e->Stats().recovered_records, 102u);
  ReadStreamRequest r;
  r.stream = "visit-1";
  auto read = e->ReadStream(r);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->events.size(), 3u);
  r.stream = "visit-2";
  EXPECT_EQ(e->ReadStream(r).status().code(), StatusCode::kStreamDeleted);
  std::string report;
  EXPECT_TRUE(e->Verify(&report).ok()) << report;
}

// Stamps the index of a closed store with another format version, as an older build left it.
void StampIndexFormat(const std::string& dir, uint64_t version) {
  PutIndexMeta(dir + "/index", index::kFormatKey, version);
}

AppendRequest OneEvent(const std::string& stream, const Uuid& id) {
  AppendRequest r;
  r.stream = stream;
  ProposedEvent e;
  e.id = id;
  e.type = "Tested";
  e.data = "{}";
  r.events.push_back(e);
  return r;
}

TEST(RecoveryTest, EventIdsSurviveACleanRestart) {
  // Event ids live in their own column family: the clean shutdown must persist it with the
  // rest, or the restart (which replays nothing) would accept a retry as a new event.
  TempDir tmp;
  const EngineOptions options = SmallOptions(tmp.path());
  const Uuid id = Uuid::Random();
  AppendResult first;
  {
    auto e = MustOpen(options);
    for (int i = 0; i < 20; ++i) MustAppend(*e, "visit-" + std::to_string(i), 3, i);
    auto a = e->Append(OneEvent("visit-x", id));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    first = *a;
  }
  auto e = MustOpen(options);
  EXPECT_EQ(e->Stats().recovered_records, 0u);  // clean: nothing replayed
  auto again = e->Append(OneEvent("visit-x", id));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->idempotent);
  EXPECT_EQ(again->position.value, first.position.value);
  EXPECT_EQ(e->Append(OneEvent("visit-y", id)).status().code(), StatusCode::kIdempotencyConflict);
  EXPECT_EQ(CountAll(*e), 61u);
}

TEST(RecoveryTest, IndexOfAnotherFormatIsRebuiltFromTheLog) {
  TempDir tmp;
  const EngineOptions options = SmallOptions(tmp.path());
  const Uuid id = Uuid::Random();
  {
    auto e = MustOpen(options);
    for (int i = 0; i < 30; ++i) MustAppend(*e, "visit-" + std::to_string(i % 4), 2, i);
    ASSERT_TRUE(e->Append(OneEvent("visit-x", id)).ok());
  }
  StampIndexFormat(tmp.path(), 1);
  auto e = MustOpen(options);
  EXPECT_EQ(e->Stats().recovered_records, 61u);  // every record replayed into a new index
  auto again = e->Append(OneEvent("visit-x", id));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->idempotent);
  ReadStreamRequest r;
  r.stream = "visit-3";
  auto read = e->ReadStream(r);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->events.size(), 14u);
  std::string report;
  EXPECT_TRUE(e->Verify(&report).ok()) << report;
  e.reset();
  // The rebuilt index carries this build's version: the next open replays nothing.
  auto reopened = MustOpen(options);
  EXPECT_EQ(reopened->Stats().recovered_records, 0u);
}

TEST(RecoveryTest, ASecondOpenOfTheSameDirectoryFailsClearly) {
  TempDir tmp;
  auto first = MustOpen(SmallOptions(tmp.path()));
  auto second = OpenEngine(SmallOptions(tmp.path()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("in use by another process"), std::string::npos);
}

}  // namespace
}  // namespace annals
