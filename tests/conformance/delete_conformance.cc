// Conformance: deletion in docs/event-store-semantics.md: soft delete (and recreation by an
// append, "Append" rule 7) and tombstones ("Append" rule 3 and "Stream metadata and deletion").
#include "conformance/conformance_helpers.h"
#include "conformance/conformance_suite.h"

namespace annals::conformance {
namespace {

using ::testing::ElementsAre;

constexpr Revision kSoftDeletedTb{kSoftDeletedTruncateBefore};

Result<DeleteResult> SoftDelete(EventStore& store, const std::string& stream,
                                ExpectedRevision expected = ExpectedRevision::Any()) {
  return store.DeleteStream(stream, expected, DeleteMode::kSoft);
}

Result<DeleteResult> Tombstone(EventStore& store, const std::string& stream,
                               ExpectedRevision expected = ExpectedRevision::Any()) {
  return store.DeleteStream(stream, expected, DeleteMode::kTombstone);
}

// Events committed at or after `from`.
std::vector<RecordedEvent> ReadAllFrom(EventStore& store, Position from) {
  return ReadAllPaged(store, Direction::kForwards, 1000, {}, 100000, from);
}

// ---- Soft delete. ----

TEST_P(ConformanceTest, SoftDelete_StreamReadsAsNotFound) {
  ASSERT_OK(store().Append(Req("order-1", Evs(5))));
  ASSERT_OK(SoftDelete(store(), "order-1"));
  EXPECT_CODE(store().ReadStream({.stream = "order-1"}), kNotFound);
  EXPECT_CODE(store().ReadStream({.stream = "order-1", .direction = Direction::kBackwards}),
              kNotFound);
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo("order-1"));
  EXPECT_EQ(info.state, StreamState::kSoftDeleted);
  EXPECT_EQ(info.last_revision, Revision{4});
  EXPECT_EQ(info.event_count, 5u);
  ASSERT_OK_AND_ASSIGN(StreamMetadataResult metadata, store().GetStreamMetadata("order-1"));
  EXPECT_EQ(metadata.metadata.truncate_before, kSoftDeletedTb);
  EXPECT_EQ(metadata.metadata_revision, Revision{0});
}

TEST_P(ConformanceTest, SoftDelete_WritesOneMetadataEventAtTheResultPosition) {
  ASSERT_OK(store().Append(Req("order-1", Evs(2))));
  const Position head = store().Head();
  ASSERT_OK_AND_ASSIGN(DeleteResult deleted, SoftDelete(store(), "order-1"));
  const std::vector<RecordedEvent> written = ReadAllFrom(store(), head);
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].stream, "$$order-1");
  EXPECT_EQ(written[0].type, kMetadataEventType);
  EXPECT_EQ(written[0].revision, Revision{0});
  EXPECT_EQ(written[0].position, deleted.position);
  EXPECT_EQ(DecodeMetadata(written[0]).truncate_before, kSoftDeletedTb);
  EXPECT_GT(store().Head(), deleted.position);
}

TEST_P(ConformanceTest, SoftDelete_KeepsTheOtherMetadataKeys) {
  StreamMetadata m;
  m.max_count = 7;
  m.max_age_seconds = 3600;
  m.truncate_before = Revision{1};
  m.acl_json = R"({"$r":"$all"})";
  m.custom_json = R"({"owner":"ops"})";
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), m));
  ASSERT_OK(SoftDelete(store(), "order-1"));
  StreamMetadata expected = m;
  expected.truncate_before = kSoftDeletedTb;
  ASSERT_OK_AND_ASSIGN(StreamMetadataResult got, store().GetStreamMetadata("order-1"));
  EXPECT_EQ(got.metadata, Canonical(expected));
  EXPECT_EQ(got.metadata_revision, Revision{1});
}

TEST_P(ConformanceTest, SoftDelete_StreamWithoutEventsIsNotFound) {
  ASSERT_OK(store().SetStreamMetadata("meta-only-1", ExpectedRevision::Any(), {}));
  const Position head = store().Head();
  EXPECT_CODE(SoftDelete(store(), "never-1"), kNotFound);
  EXPECT_CODE(SoftDelete(store(), "meta-only-1"), kNotFound);
  EXPECT_CODE(SoftDelete(store(), "never-1", ExpectedRevision::NoStream()), kNotFound);
  EXPECT_EQ(store().Head(), head);
  EXPECT_CODE(store().GetStreamInfo("never-1"), kNotFound);
}

TEST_P(ConformanceTest, SoftDelete_AlreadySoftDeletedIsNotFound) {
  ASSERT_OK(store().Append(Req("order-1", Evs(2))));
  ASSERT_OK(SoftDelete(store(), "order-1"));
  const Position head = store().Head();
  EXPECT_CODE(SoftDelete(store(), "order-1"), kNotFound);
  EXPECT_CODE(SoftDelete(store(), "order-1", ExpectedRevision::Exact(Revision{1})), kNotFound);
  EXPECT_EQ(store().Head(), head);
}

TEST_P(ConformanceTest, SoftDelete_ChecksTheExpectedRevisionAgainstTheStream) {
  const auto exact = [](uint64_t r) { return ExpectedRevision::Exact(Revision{r}); };
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));                             // L = 2
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), {}));  // `$$` at 0
  const Position head = store().Head();
  EXPECT_TRUE(IsConflict(SoftDelete(store(), "order-1", exact(1)), exact(1), Revision{2}));
  EXPECT_TRUE(IsConflict(SoftDelete(store(), "order-1", exact(0)), exact(0), Revision{2}));
  EXPECT_TRUE(IsConflict(SoftDelete(store(), "order-1", ExpectedRevision::NoStream()),
                         ExpectedRevision::NoStream(), Revision{2}));
  EXPECT_EQ(store().Head(), head);
  ASSERT_OK(store().ReadStream({.stream = "order-1"}));
  ASSERT_OK(SoftDelete(store(), "order-1", exact(2)));
  ASSERT_OK(store().Append(Req("order-2", Evs(1))));
  ASSERT_OK(SoftDelete(store(), "order-2", ExpectedRevision::StreamExists()));
}

TEST_P(ConformanceTest, SoftDelete_OldEventsRemainInReadAll) {
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));
  ASSERT_OK(SoftDelete(store(), "order-1"));
  const std::vector<RecordedEvent> all = ReadAllEvents(store());
  ASSERT_EQ(all.size(), 4u);
  EXPECT_THAT(Streams(all), ElementsAre("order-1", "order-1", "order-1", "$$order-1"));
}

TEST_P(ConformanceTest, SoftDelete_AppendRecreatesTheStreamWithContinuingRevisions) {
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));  // 0..2
  ASSERT_OK(SoftDelete(store(), "order-1"));
  ASSERT_OK_AND_ASSIGN(AppendResult appended, store().Append(Req("order-1", Evs(2, "Again", 3))));
  EXPECT_EQ(appended.first_revision, Revision{3});
  EXPECT_EQ(appended.last_revision, Revision{4});
  EXPECT_FALSE(appended.idempotent);
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "order-1"}));
  EXPECT_THAT(Revisions(read.events), ElementsAre(3, 4));
  EXPECT_THAT(Datas(read.events), ElementsAre(DataOf(3), DataOf(4)));
  EXPECT_EQ(read.last_revision, Revision{4});
  ASSERT_OK_AND_ASSIGN(
      ReadStreamResult back,
      store().ReadStream({.stream = "order-1", .direction = Direction::kBackwards}));
  EXPECT_THAT(Revisions(back.events), ElementsAre(4, 3));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult old,
                       store().ReadStream({.stream = "order-1", .from = Revision{0}}));
  EXPECT_THAT(Revisions(old.events), ElementsAre(3, 4));
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo("order-1"));
  EXPECT_EQ(info.state, StreamState::kActive);
  EXPECT_EQ(info.last_revision, Revision{4});
  EXPECT_EQ(info.event_count, 5u);
  EXPECT_EQ(info.last_position, appended.position);
}

TEST_P(ConformanceTest, SoftDelete_RecreationWritesMetadataFirstInTheSameCommit) {
  StreamMetadata m;
  m.max_count = 10;
  m.custom_json = R"({"owner":"ops"})";
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), m));  // `$$` rev 0
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));                            // 0..2
  ASSERT_OK(SoftDelete(store(), "order-1"));                                    // `$$` rev 1
  const Position head = store().Head();
  ASSERT_OK_AND_ASSIGN(AppendResult appended,
                       store().Append(Req("order-1", {Ev("X", 3), Ev("Y", 4)})));
  const std::vector<RecordedEvent> written = ReadAllFrom(store(), head);
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(written[0].stream, "$$order-1");
  EXPECT_EQ(written[0].type, kMetadataEventType);
  EXPECT_EQ(written[0].revision, Revision{2});
  EXPECT_THAT(Types(written), ElementsAre("$metadata", "X", "Y"));
  EXPECT_EQ(written[2].position, appended.position);
  StreamMetadata expected = m;
  expected.truncate_before = Revision{3};  // the first new revision
  EXPECT_EQ(DecodeMetadata(written[0]), Canonical(expected));
  ASSERT_OK_AND_ASSIGN(StreamMetadataResult got, store().GetStreamMetadata("order-1"));
  EXPECT_EQ(got.metadata, Canonical(expected));
  EXPECT_EQ(got.metadata_revision, Revision{2});
}

TEST_P(ConformanceTest, SoftDelete_RecreateWithNoStreamOrExactButNotStreamExists) {
  for (const char* stream : {"a-1", "b-1", "c-1"}) {
    ASSERT_OK(store().Append(Req(stream, Evs(2))));  // L = 1
    ASSERT_OK(SoftDelete(store(), stream));
  }
  ASSERT_OK_AND_ASSIGN(AppendResult a,
                       store().Append(Req("a-1", Evs(1), ExpectedRevision::NoStream())));
  EXPECT_EQ(a.first_revision, Revision{2});
  ASSERT_OK_AND_ASSIGN(AppendResult b,
                       store().Append(Req("b-1", Evs(1), ExpectedRevision::Exact(Revision{1}))));
  EXPECT_EQ(b.first_revision, Revision{2});
  const Position head = store().Head();
  EXPECT_TRUE(IsConflict(store().Append(Req("c-1", Evs(1), ExpectedRevision::StreamExists())),
                         ExpectedRevision::StreamExists(), Revision{1}));
  EXPECT_TRUE(IsConflict(store().Append(Req("c-1", Evs(1), ExpectedRevision::Exact(Revision{0}))),
                         ExpectedRevision::Exact(Revision{0}), Revision{1}));
  EXPECT_EQ(store().Head(), head);
  EXPECT_CODE(store().ReadStream({.stream = "c-1"}), kNotFound);
  // Once recreated the stream exists again: no_stream no longer holds.
  EXPECT_TRUE(IsConflict(store().Append(Req("a-1", Evs(1), ExpectedRevision::NoStream())),
                         ExpectedRevision::NoStream(), Revision{2}));
}

TEST_P(ConformanceTest, SoftDelete_DeleteAndRecreateRepeatedly) {
  uint64_t next = 0;
  for (int cycle = 0; cycle < 3; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    ASSERT_OK_AND_ASSIGN(AppendResult appended,
                         store().Append(Req("order-1", Evs(2, "Cycle", 10 * cycle))));
    EXPECT_EQ(appended.first_revision, Revision{next});
    ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "order-1"}));
    EXPECT_THAT(Revisions(read.events), ElementsAre(next, next + 1));
    EXPECT_THAT(Datas(read.events), ElementsAre(DataOf(10 * cycle), DataOf(10 * cycle + 1)));
    next += 2;
    ASSERT_OK(SoftDelete(store(), "order-1", ExpectedRevision::Exact(Revision{next - 1})));
    EXPECT_CODE(store().ReadStream({.stream = "order-1"}), kNotFound);
  }
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo("order-1"));
  EXPECT_EQ(info.state, StreamState::kSoftDeleted);
  EXPECT_EQ(info.event_count, 6u);
  ASSERT_OK_AND_ASSIGN(StreamMetadataResult metadata, store().GetStreamMetadata("order-1"));
  EXPECT_EQ(metadata.metadata_revision, Revision{4});  // 3 deletes + 2 recreations
}

// ---- Tombstone. ----

TEST_P(ConformanceTest, Tombstone_EverythingAfterwardsIsStreamDeleted) {
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));
  ASSERT_OK(Tombstone(store(), "order-1"));
  const Position head = store().Head();
  EXPECT_CODE(store().Append(Req("order-1", Evs(1))), kStreamDeleted);
  EXPECT_CODE(store().Append(Req("order-1", Evs(1), ExpectedRevision::NoStream())), kStreamDeleted);
  EXPECT_CODE(store().Append(Req("order-1", WithIds(Evs(1)))), kStreamDeleted);
  EXPECT_CODE(store().ReadStream({.stream = "order-1"}), kStreamDeleted);
  EXPECT_CODE(store().ReadStream({.stream = "order-1", .direction = Direction::kBackwards}),
              kStreamDeleted);
  EXPECT_CODE(store().GetStreamMetadata("order-1"), kStreamDeleted);
  EXPECT_CODE(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), {}), kStreamDeleted);
  EXPECT_CODE(SoftDelete(store(), "order-1"), kStreamDeleted);
  EXPECT_CODE(Tombstone(store(), "order-1"), kStreamDeleted);
  EXPECT_EQ(store().Head(), head);
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo("order-1"));
  EXPECT_EQ(info.state, StreamState::kTombstoned);
  EXPECT_EQ(info.event_count, 3u);  // the tombstone is not counted
}

TEST_P(ConformanceTest, Tombstone_WritesStreamDeletedAtTheMaximumRevision) {
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));
  const Position head = store().Head();
  ASSERT_OK_AND_ASSIGN(DeleteResult deleted, Tombstone(store(), "order-1"));
  const std::vector<RecordedEvent> written = ReadAllFrom(store(), head);
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].stream, "order-1");
  EXPECT_EQ(written[0].type, kTombstoneEventType);
  EXPECT_EQ(written[0].revision.value, kTombstoneRevision);
  EXPECT_EQ(written[0].position, deleted.position);
  EXPECT_GT(store().Head(), deleted.position);
  EXPECT_EQ(ReadAllEvents(store()).size(), 4u);  // the old events remain in the log
}

TEST_P(ConformanceTest, Tombstone_StreamNeedNotExist) {
  ASSERT_OK(Tombstone(store(), "ghost-1", ExpectedRevision::NoStream()));
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo("ghost-1"));
  EXPECT_EQ(info.state, StreamState::kTombstoned);
  EXPECT_EQ(info.event_count, 0u);
  EXPECT_EQ(info.last_revision, std::nullopt);
  EXPECT_CODE(store().Append(Req("ghost-1", Evs(1))), kStreamDeleted);
  EXPECT_CODE(store().ReadStream({.stream = "ghost-1"}), kStreamDeleted);
  EXPECT_CODE(store().GetStreamMetadata("ghost-1"), kStreamDeleted);
}

TEST_P(ConformanceTest, Tombstone_ChecksTheExpectedRevision) {
  const auto exact = [](uint64_t r) { return ExpectedRevision::Exact(Revision{r}); };
  ASSERT_OK(store().Append(Req("order-1", Evs(2))));  // L = 1
  const Position head = store().Head();
  EXPECT_TRUE(IsConflict(Tombstone(store(), "order-1", exact(0)), exact(0), Revision{1}));
  EXPECT_TRUE(IsConflict(Tombstone(store(), "order-1", ExpectedRevision::NoStream()),
                         ExpectedRevision::NoStream(), Revision{1}));
  EXPECT_TRUE(IsConflict(Tombstone(store(), "ghost-1", ExpectedRevision::StreamExists()),
                         ExpectedRevision::StreamExists(), std::nullopt));
  EXPECT_TRUE(IsConflict(Tombstone(store(), "ghost-1", exact(0)), exact(0), std::nullopt));
  EXPECT_EQ(store().Head(), head);
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  ASSERT_OK(Tombstone(store(), "order-1", exact(2)));
}

TEST_P(ConformanceTest, Tombstone_SoftDeletedStreamCanBeTombstoned) {
  ASSERT_OK(store().Append(Req("order-1", Evs(2))));
  ASSERT_OK(SoftDelete(store(), "order-1"));
  EXPECT_TRUE(IsConflict(Tombstone(store(), "order-1", ExpectedRevision::StreamExists()),
                         ExpectedRevision::StreamExists(), Revision{1}));
  ASSERT_OK(Tombstone(store(), "order-1", ExpectedRevision::NoStream()));
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo("order-1"));
  EXPECT_EQ(info.state, StreamState::kTombstoned);
  EXPECT_CODE(store().Append(Req("order-1", Evs(1))), kStreamDeleted);
}

TEST_P(ConformanceTest, Tombstone_OtherStreamsAreUnaffected) {
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  ASSERT_OK(store().Append(Req("order-10", Evs(1))));
  ASSERT_OK(store().Append(Req("order-", Evs(1))));
  ASSERT_OK(Tombstone(store(), "order-1"));
  ASSERT_OK(store().Append(Req("order-10", Evs(1), ExpectedRevision::Exact(Revision{0}))));
  ASSERT_OK(store().Append(Req("order-", Evs(1), ExpectedRevision::Exact(Revision{0}))));
  ASSERT_OK(store().Append(Req("order-2", Evs(1), ExpectedRevision::NoStream())));
  ASSERT_OK(store().SetStreamMetadata("order-10", ExpectedRevision::Any(), {}));
}

}  // namespace
}  // namespace annals::conformance
