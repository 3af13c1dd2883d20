// The in-memory model's own choices where docs/event-store-semantics.md leaves room (see the
// top of src/memory/memory_store.h). The shared rules are in tests/conformance/.
#include "memory/memory_store.h"

#include <gtest/gtest.h>

#include "annals/types.h"

namespace annals {
namespace {

ProposedEvent Event(std::string type = "Happened") {
  ProposedEvent event;
  event.type = std::move(type);
  event.data = "{}";
  return event;
}

Result<AppendResult> AppendOne(EventStore& store, const std::string& stream) {
  return store.Append({.stream = stream, .events = {Event()}});
}

TEST(MemoryStoreTest, PositionsAreHundredsAndTheHeadIsTheNextOne) {
  auto store = NewMemoryStore();
  EXPECT_EQ(store->Head(), Position{100});
  ASSERT_TRUE(AppendOne(*store, "a-1").ok());
  ASSERT_TRUE(AppendOne(*store, "b-1").ok());
  Result<ReadAllResult> all = store->ReadAll({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->events.size(), 2u);
  EXPECT_EQ(all->events[0].position, Position{100});
  EXPECT_EQ(all->events[1].position, Position{200});
  EXPECT_EQ(store->Head(), Position{300});
  EXPECT_EQ(all->next, Position{300});
}

TEST(MemoryStoreTest, ZeroCountsAreInvalidArgument) {
  auto store = NewMemoryStore();
  EXPECT_EQ(store->ReadAll({.max_count = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ReadAll({.max_scan = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ListStreams({.limit = 0}).status().code(), StatusCode::kInvalidArgument);
}

TEST(MemoryStoreTest, UnanchoredTypeRegexMatchesAnywhere) {
  auto store = NewMemoryStore();
  ASSERT_TRUE(store->Append({.stream = "a-1", .events = {Event("OrderShipped")}}).ok());
  Result<ReadAllResult> read = store->ReadAll({.filter = {.type_regex = "Ship"}});
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->events.size(), 1u);
}

TEST(MemoryStoreTest, SoftDeletionFollowsTheMetadataTruncateBefore) {
  auto store = NewMemoryStore();
  ASSERT_TRUE(AppendOne(*store, "a-1").ok());
  StreamMetadata deleted;
  deleted.truncate_before = Revision{kSoftDeletedTruncateBefore};
  ASSERT_TRUE(store->SetStreamMetadata("a-1", ExpectedRevision::Any(), deleted).ok());
  EXPECT_EQ(store->GetStreamInfo("a-1")->state, StreamState::kSoftDeleted);
  EXPECT_EQ(store->ReadStream({.stream = "a-1"}).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store->SetStreamMetadata("a-1", ExpectedRevision::Any(), {}).ok());
  EXPECT_EQ(store->GetStreamInfo("a-1")->state, StreamState::kActive);
  EXPECT_EQ(store->ReadStream({.stream = "a-1"})->events.size(), 1u);
}

TEST(MemoryStoreTest, MetadataStreamsReadWithoutVisibilityRules) {
  auto store = NewMemoryStore();
  ASSERT_TRUE(store->SetStreamMetadata("a-1", ExpectedRevision::Any(), {}).ok());
  Result<ReadStreamResult> read = store->ReadStream({.stream = "$$a-1"});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->events.size(), 1u);
  EXPECT_EQ(read->events[0].type, kMetadataEventType);
  EXPECT_EQ(store->SetStreamMetadata("$$a-1", ExpectedRevision::Any(), {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store->DeleteStream("$$a-1", ExpectedRevision::Any(), DeleteMode::kSoft).status().code(),
      StatusCode::kInvalidArgument);
}

TEST(MemoryStoreTest, TombstoneRecordIsAnEmptyOctetStream) {
  auto store = NewMemoryStore();
  ASSERT_TRUE(AppendOne(*store, "a-1").ok());
  Result<DeleteResult> deleted =
      store->DeleteStream("a-1", ExpectedRevision::Any(), DeleteMode::kTombstone);
  ASSERT_TRUE(deleted.ok());
  Result<ReadAllResult> all = store->ReadAll({.from = deleted->position});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->events.size(), 1u);
  EXPECT_EQ(all->events[0].content_type, kContentTypeOctetStream);
  EXPECT_EQ(all->events[0].data, "");
  Result<StreamInfo> info = store->GetStreamInfo("a-1");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->last_revision, Revision{0});
  EXPECT_EQ(info->last_position, deleted->position);
}

TEST(MemoryStoreTest, WatchHeadAlreadyPastRunsInline) {
  auto store = NewMemoryStore();
  ASSERT_TRUE(AppendOne(*store, "a-1").ok());
  int calls = 0;
  store->WatchHead(Position::Start(), [&](Position) { ++calls; });
  EXPECT_EQ(calls, 1);  // before WatchHead returned
}

TEST(MemoryStoreTest, DeferredWatchRunsOnTheCommittingThreadOutsideTheLock) {
  auto store = NewMemoryStore();
  Position seen;
  store->WatchHead(store->Head(), [&](Position head) { seen = store->Head(); });
  ASSERT_TRUE(AppendOne(*store, "a-1").ok());  // would deadlock if called under the lock
  EXPECT_EQ(seen, store->Head());
}

}  // namespace
}  // namespace annals
