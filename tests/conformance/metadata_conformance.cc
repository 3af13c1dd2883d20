// Conformance: "Stream metadata" of docs/event-store-semantics.md (SetStreamMetadata,
// GetStreamMetadata) and how metadata hides events from ReadStream ($tb, $maxCount, $maxAge).
#include <thread>

#include "annals/limits.h"
#include "conformance/conformance_helpers.h"
#include "conformance/conformance_suite.h"

namespace annals::conformance {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

StreamMetadata FullMetadata() {
  StreamMetadata m;
  m.max_age_seconds = 3600;
  m.max_count = 50;
  m.truncate_before = Revision{2};
  m.cache_control_seconds = 60;
  m.acl_json = R"({"$r":"$all","$w":["ops","billing"]})";
  m.custom_json = R"({"owner":"billing","tags":["a","b"],"nested":{"x":1}})";
  return m;
}

StreamMetadata MaxCount(uint64_t n) {
  StreamMetadata m;
  m.max_count = n;
  return m;
}

StreamMetadata TruncateBefore(uint64_t r) {
  StreamMetadata m;
  m.truncate_before = Revision{r};
  return m;
}

Result<ReadStreamResult> Read(EventStore& store, const std::string& stream,
                              std::optional<Revision> from = std::nullopt,
                              Direction direction = Direction::kForwards,
                              uint64_t max_count = 1000) {
  return store.ReadStream(
      {.stream = stream, .from = from, .direction = direction, .max_count = max_count});
}

// ---- SetStreamMetadata / GetStreamMetadata. ----

TEST_P(ConformanceTest, Metadata_NeverSetIsEmptyWithoutARevision) {
  ASSERT_OK_AND_ASSIGN(StreamMetadataResult missing, store().GetStreamMetadata("order-1"));
  EXPECT_EQ(missing.metadata, StreamMetadata{});
  EXPECT_EQ(missing.metadata_revision, std::nullopt);
  ASSERT_OK(store().Append(Req("order-1", Evs(2))));
  ASSERT_OK_AND_ASSIGN(StreamMetadataResult existing, store().GetStreamMetadata("order-1"));
  EXPECT_EQ(existing.metadata, StreamMetadata{});
  EXPECT_EQ(existing.metadata_revision, std::nullopt);
}

TEST_P(ConformanceTest, Metadata_SetThenGetRoundTripsEveryField) {
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));
  ASSERT_OK_AND_ASSIGN(AppendResult set, store().SetStreamMetadata(
                                             "order-1", ExpectedRevision::Any(), FullMetadata()));
  EXPECT_EQ(set.first_revision, Revision{0});
  EXPECT_EQ(set.last_revision, Revision{0});
  EXPECT_FALSE(set.idempotent);
  ASSERT_OK_AND_ASSIGN(StreamMetadataResult got, store().GetStreamMetadata("order-1"));
  EXPECT_EQ(got.metadata, Canonical(FullMetadata()));
  EXPECT_EQ(got.metadata.max_count, 50u);
  EXPECT_EQ(got.metadata.max_age_seconds, 3600u);
  EXPECT_EQ(got.metadata.truncate_before, Revision{2});
  EXPECT_EQ(got.metadata.cache_control_seconds, 60u);
  EXPECT_EQ(got.metadata_revision, Revision{0});
}

TEST_P(ConformanceTest, Metadata_EachSetReplacesTheWholeMetadata) {
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), FullMetadata()));
  StreamMetadata second;
  second.max_age_seconds = 10;
  ASSERT_OK_AND_ASSIGN(AppendResult set,
                       store().SetStreamMetadata("order-1", ExpectedRevision::Any(), second));
  EXPECT_EQ(set.first_revision, Revision{1});
  ASSERT_OK_AND_ASSIGN(StreamMetadataResult got, store().GetStreamMetadata("order-1"));
  EXPECT_EQ(got.metadata, Canonical(second));
  EXPECT_EQ(got.metadata_revision, Revision{1});
}

TEST_P(ConformanceTest, Metadata_ExpectedRevisionAppliesToTheMetadataStream) {
  const auto exact = [](uint64_t r) { return ExpectedRevision::Exact(Revision{r}); };
  ASSERT_OK(store().Append(Req("order-1", Evs(5))));  // L = 4 in the stream itself
  const Position head = store().Head();
  EXPECT_TRUE(IsConflict(store().SetStreamMetadata("order-1", exact(4), MaxCount(1)), exact(4),
                         std::nullopt));
  EXPECT_TRUE(IsConflict(
      store().SetStreamMetadata("order-1", ExpectedRevision::StreamExists(), MaxCount(1)),
      ExpectedRevision::StreamExists(), std::nullopt));
  EXPECT_EQ(store().Head(), head);
  ASSERT_OK_AND_ASSIGN(AppendResult r0, store().SetStreamMetadata(
                                            "order-1", ExpectedRevision::NoStream(), MaxCount(1)));
  EXPECT_EQ(r0.first_revision, Revision{0});
  EXPECT_TRUE(
      IsConflict(store().SetStreamMetadata("order-1", ExpectedRevision::NoStream(), MaxCount(2)),
                 ExpectedRevision::NoStream(), Revision{0}));
  ASSERT_OK_AND_ASSIGN(
      AppendResult r1,
      store().SetStreamMetadata("order-1", ExpectedRevision::StreamExists(), MaxCount(2)));
  EXPECT_EQ(r1.first_revision, Revision{1});
  ASSERT_OK_AND_ASSIGN(AppendResult r2,
                       store().SetStreamMetadata("order-1", exact(1), MaxCount(3)));
  EXPECT_EQ(r2.first_revision, Revision{2});
  const Position after = store().Head();
  EXPECT_TRUE(IsConflict(store().SetStreamMetadata("order-1", exact(0), MaxCount(4)), exact(0),
                         Revision{2}));
  EXPECT_EQ(store().Head(), after);
  ASSERT_OK_AND_ASSIGN(StreamMetadataResult got, store().GetStreamMetadata("order-1"));
  EXPECT_EQ(got.metadata.max_count, 3u);
  EXPECT_EQ(got.metadata_revision, Revision{2});
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo("order-1"));
  EXPECT_EQ(info.last_revision, Revision{4});  // the stream itself is untouched
}

TEST_P(ConformanceTest, Metadata_StreamNeedNotExist) {
  ASSERT_OK_AND_ASSIGN(AppendResult set, store().SetStreamMetadata(
                                             "ghost-1", ExpectedRevision::NoStream(), MaxCount(2)));
  EXPECT_EQ(set.first_revision, Revision{0});
  EXPECT_CODE(store().ReadStream({.stream = "ghost-1"}), kNotFound);
  EXPECT_CODE(store().GetStreamInfo("ghost-1"), kNotFound);
  ASSERT_OK_AND_ASSIGN(StreamMetadataResult got, store().GetStreamMetadata("ghost-1"));
  EXPECT_EQ(got.metadata.max_count, 2u);
  // The stream still has no event: no_stream holds, and the metadata applies from the start.
  ASSERT_OK(store().Append(Req("ghost-1", Evs(5), ExpectedRevision::NoStream())));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, Read(store(), "ghost-1"));
  EXPECT_THAT(Revisions(read.events), ElementsAre(3, 4));
}

TEST_P(ConformanceTest, Metadata_IsHeldToTheEventSizeLimit) {
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), MaxCount(2)));
  const Position head = store().Head();
  // Its `$metadata` event is an event like any other: no bigger than max_event_bytes.
  StreamMetadata big = MaxCount(3);
  big.custom_json = R"({"blob":")" + std::string(Limits().max_event_bytes, 'x') + R"("})";
  EXPECT_CODE(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), big), kTooLarge);
  EXPECT_EQ(store().Head(), head);
  ASSERT_OK_AND_ASSIGN(StreamMetadataResult got, store().GetStreamMetadata("order-1"));
  EXPECT_EQ(got.metadata.max_count, 2u);
}

TEST_P(ConformanceTest, Metadata_IsAMetadataEventInTheMetadataStream) {
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  const Position head = store().Head();
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), MaxCount(9)));
  ASSERT_OK_AND_ASSIGN(AppendResult set, store().SetStreamMetadata(
                                             "order-1", ExpectedRevision::Any(), FullMetadata()));
  const std::vector<RecordedEvent> written =
      ReadAllPaged(store(), Direction::kForwards, 1000, {}, 100000, head);
  ASSERT_EQ(written.size(), 2u);
  const RecordedEvent& e = written[1];
  EXPECT_EQ(e.stream, "$$order-1");
  EXPECT_EQ(e.type, kMetadataEventType);
  EXPECT_EQ(e.revision, Revision{1});
  EXPECT_EQ(e.position, set.position);
  EXPECT_EQ(e.content_type, kContentTypeJson);
  EXPECT_FALSE(e.id.IsNil());
  EXPECT_EQ(DecodeMetadata(e), Canonical(FullMetadata()));
  EXPECT_EQ(DecodeMetadata(written[0]), Canonical(MaxCount(9)));
}

TEST_P(ConformanceTest, Metadata_MalformedMetadataIsInvalidArgument) {
  StreamMetadata bad_custom;
  bad_custom.custom_json = "{not json";
  StreamMetadata custom_not_object;
  custom_not_object.custom_json = "[1,2]";
  StreamMetadata bad_acl;
  bad_acl.acl_json = "\"everyone\"";
  const Position head = store().Head();
  EXPECT_CODE(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), bad_custom),
              kInvalidArgument);
  EXPECT_CODE(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), custom_not_object),
              kInvalidArgument);
  EXPECT_CODE(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), bad_acl),
              kInvalidArgument);
  EXPECT_EQ(store().Head(), head);
}

// ---- Visibility under metadata. ----

TEST_P(ConformanceTest, Visibility_MaxCountShowsOnlyTheLastEvents) {
  ASSERT_OK(store().Append(Req("order-1", Evs(10))));
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), MaxCount(3)));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult forwards, Read(store(), "order-1"));
  EXPECT_THAT(Revisions(forwards.events), ElementsAre(7, 8, 9));
  EXPECT_EQ(forwards.last_revision, Revision{9});
  ASSERT_OK_AND_ASSIGN(ReadStreamResult backwards,
                       Read(store(), "order-1", std::nullopt, Direction::kBackwards));
  EXPECT_THAT(Revisions(backwards.events), ElementsAre(9, 8, 7));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult page,
                       Read(store(), "order-1", Revision{0}, Direction::kForwards, 2));
  EXPECT_THAT(Revisions(page.events), ElementsAre(7, 8));
  EXPECT_EQ(page.next, Revision{9});
  ASSERT_OK_AND_ASSIGN(ReadStreamResult below,
                       Read(store(), "order-1", Revision{8}, Direction::kBackwards, 5));
  EXPECT_THAT(Revisions(below.events), ElementsAre(8, 7));
  EXPECT_EQ(below.next, std::nullopt);
  ASSERT_OK_AND_ASSIGN(ReadStreamResult hidden_end,
                       Read(store(), "order-1", Revision{5}, Direction::kBackwards));
  EXPECT_THAT(hidden_end.events, IsEmpty());
  EXPECT_EQ(hidden_end.next, std::nullopt);
}

TEST_P(ConformanceTest, Visibility_MaxCountWindowSlidesWithAppends) {
  ASSERT_OK(store().Append(Req("order-1", Evs(10))));
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), MaxCount(3)));
  ASSERT_OK(store().Append(Req("order-1", Evs(2, "Happened", 10))));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, Read(store(), "order-1"));
  EXPECT_THAT(Revisions(read.events), ElementsAre(9, 10, 11));
  EXPECT_THAT(Datas(read.events), ElementsAre(DataOf(9), DataOf(10), DataOf(11)));
}

TEST_P(ConformanceTest, Visibility_TruncateBeforeHidesEarlierRevisions) {
  ASSERT_OK(store().Append(Req("order-1", Evs(10))));
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), TruncateBefore(6)));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, Read(store(), "order-1"));
  EXPECT_THAT(Revisions(read.events), ElementsAre(6, 7, 8, 9));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult page,
                       Read(store(), "order-1", Revision{0}, Direction::kForwards, 2));
  EXPECT_THAT(Revisions(page.events), ElementsAre(6, 7));
  EXPECT_EQ(page.next, Revision{8});
  ASSERT_OK_AND_ASSIGN(ReadStreamResult back,
                       Read(store(), "order-1", std::nullopt, Direction::kBackwards, 4));
  EXPECT_THAT(Revisions(back.events), ElementsAre(9, 8, 7, 6));
  EXPECT_EQ(back.next, std::nullopt);  // nothing visible remains below 6
  ASSERT_OK_AND_ASSIGN(ReadStreamResult hidden,
                       Read(store(), "order-1", Revision{5}, Direction::kBackwards));
  EXPECT_THAT(hidden.events, IsEmpty());
  EXPECT_EQ(hidden.next, std::nullopt);
}

TEST_P(ConformanceTest, Visibility_AllHiddenReadsAsEmptyNotAsNotFound) {
  ASSERT_OK(store().Append(Req("order-1", Evs(10))));
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), TruncateBefore(100)));
  for (Direction direction : {Direction::kForwards, Direction::kBackwards}) {
    ASSERT_OK_AND_ASSIGN(ReadStreamResult read, Read(store(), "order-1", std::nullopt, direction));
    EXPECT_THAT(read.events, IsEmpty());
    EXPECT_EQ(read.next, std::nullopt);
    EXPECT_EQ(read.last_revision, Revision{9});
  }
  // Hidden events still count: the next append continues at 10.
  ASSERT_OK_AND_ASSIGN(
      AppendResult next,
      store().Append(Req("order-1", Evs(1), ExpectedRevision::Exact(Revision{9}))));
  EXPECT_EQ(next.first_revision, Revision{10});
}

TEST_P(ConformanceTest, Visibility_MaxAgeHidesEventsOlderThanItsSeconds) {
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));
  // The only sleep of the suite: events must be older than one second of server clock.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_OK(store().Append(Req("order-1", Evs(2, "Happened", 3))));
  StreamMetadata one_second;
  one_second.max_age_seconds = 1;
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), one_second));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult young, Read(store(), "order-1"));
  EXPECT_THAT(Revisions(young.events), ElementsAre(3, 4));
  EXPECT_EQ(young.last_revision, Revision{4});
  ASSERT_OK_AND_ASSIGN(ReadStreamResult back,
                       Read(store(), "order-1", std::nullopt, Direction::kBackwards));
  EXPECT_THAT(Revisions(back.events), ElementsAre(4, 3));
  EXPECT_EQ(ReadAllEvents(store()).size(), 6u);  // the log keeps them
  StreamMetadata one_hour;
  one_hour.max_age_seconds = 3600;
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), one_hour));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult all, Read(store(), "order-1"));
  EXPECT_THAT(Revisions(all.events), ElementsAre(0, 1, 2, 3, 4));
  // Ages whose ticks do not fit in 64 bits hide nothing (they once wrapped and hid all).
  for (uint64_t seconds :
       {uint64_t{922337203685}, uint64_t{9223372036854}, uint64_t{1} << 63, UINT64_MAX}) {
    StreamMetadata huge;
    huge.max_age_seconds = seconds;
    ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), huge));
    ASSERT_OK_AND_ASSIGN(ReadStreamResult everything, Read(store(), "order-1"));
    EXPECT_THAT(Revisions(everything.events), ElementsAre(0, 1, 2, 3, 4)) << seconds;
  }
}

TEST_P(ConformanceTest, Visibility_TheStrictestRuleWins) {
  ASSERT_OK(store().Append(Req("order-1", Evs(10))));
  StreamMetadata m;
  m.truncate_before = Revision{3};
  m.max_count = 4;
  m.max_age_seconds = 3600;
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), m));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult by_count, Read(store(), "order-1"));
  EXPECT_THAT(Revisions(by_count.events), ElementsAre(6, 7, 8, 9));
  m.truncate_before = Revision{8};
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), m));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult by_tb, Read(store(), "order-1"));
  EXPECT_THAT(Revisions(by_tb.events), ElementsAre(8, 9));
}

TEST_P(ConformanceTest, Visibility_PagingByNextSeesOnlyVisibleEvents) {
  ASSERT_OK(store().Append(Req("order-1", Evs(12))));
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), TruncateBefore(4)));
  for (uint64_t max_count : {1, 3, 8, 100}) {
    SCOPED_TRACE("max_count " + std::to_string(max_count));
    EXPECT_THAT(Revisions(ReadStreamPaged(store(), "order-1", Direction::kForwards, max_count)),
                ElementsAre(4, 5, 6, 7, 8, 9, 10, 11));
    EXPECT_THAT(Revisions(ReadStreamPaged(store(), "order-1", Direction::kBackwards, max_count)),
                ElementsAre(11, 10, 9, 8, 7, 6, 5, 4));
  }
}

TEST_P(ConformanceTest, Visibility_DoesNotApplyToReadAll) {
  ASSERT_OK(store().Append(Req("order-1", Evs(10))));
  StreamMetadata m;
  m.truncate_before = Revision{5};
  m.max_count = 2;
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), m));
  const std::vector<RecordedEvent> order =
      ReadAllPaged(store(), Direction::kForwards, 1000, {.stream_prefixes = {"order-1"}});
  EXPECT_THAT(Revisions(order), ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
}

}  // namespace
}  // namespace annals::conformance
