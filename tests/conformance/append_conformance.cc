// Conformance: "Append" rules 1-6 of docs/event-store-semantics.md (validation, system names,
// expected revisions, revisions, positions, atomicity, idempotency) and concurrent writers.
// Soft-delete recreation (rule 7) and tombstones (rule 3) are in delete_conformance.cc.
#include <atomic>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "annals/limits.h"
#include "conformance/conformance_helpers.h"
#include "conformance/conformance_suite.h"

namespace annals::conformance {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// ---- Rule 1: validation runs first and refuses the whole request. ----

struct RefusedCase {
  std::string label;
  AppendRequest request;
  StatusCode code;
};

std::vector<RefusedCase> MalformedRequests() {
  std::vector<RefusedCase> cases;
  auto add = [&](std::string label, AppendRequest request) {
    cases.push_back({std::move(label), std::move(request), StatusCode::kInvalidArgument});
  };
  add("empty stream name", Req("", Evs(1)));
  add("stream name with a control character", Req("order\n1", Evs(1)));
  add("stream name that is not UTF-8", Req("order-\xff", Evs(1)));
  add("stream name over the byte limit",
      Req(std::string(Limits{}.max_stream_name_bytes + 1, 's'), Evs(1)));
  add("no events", Req("order-1", {}));
  add("empty event type", Req("order-1", {Ev("", 0)}));
  add("event type with a control character", Req("order-1", {Ev("Placed\t", 0)}));
  add("event type over the byte limit",
      Req("order-1", {Ev(std::string(Limits{}.max_event_type_bytes + 1, 't'), 0)}));
  {
    std::vector<ProposedEvent> events = Evs(1);
    events[0].content_type = "";
    add("empty content type", Req("order-1", std::move(events)));
  }
  {
    std::vector<ProposedEvent> events = Evs(1);
    events[0].data = "{\"n\":";
    add("JSON data that does not parse", Req("order-1", std::move(events)));
  }
  {
    std::vector<ProposedEvent> events = Evs(1);
    events[0].metadata = "not json";
    add("metadata that is not JSON", Req("order-1", std::move(events)));
  }
  {
    std::vector<ProposedEvent> events = Evs(1);
    events[0].id = Uuid{};
    add("nil event id", Req("order-1", std::move(events)));
  }
  {
    std::vector<ProposedEvent> events = WithIds(Evs(3));
    events[2].id = events[0].id;
    add("duplicate ids inside one request", Req("order-1", std::move(events)));
  }
  {
    std::vector<ProposedEvent> events = Evs(3);
    events[1].data = "[1,2";
    add("one malformed event among good ones", Req("order-1", std::move(events)));
  }
  return cases;
}

TEST_P(ConformanceTest, AppendValidation_MalformedRequestsAreInvalidArgumentAndWriteNothing) {
  const Position head = store().Head();
  for (const RefusedCase& c : MalformedRequests()) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(ValidateAppend(c.request, Limits{}).code(), c.code) << "the case itself is wrong";
    EXPECT_CODE(store().Append(c.request), kInvalidArgument);
  }
  EXPECT_EQ(store().Head(), head);
  EXPECT_TRUE(ReadAllEvents(store()).empty());
  EXPECT_CODE(store().ReadStream({.stream = "order-1"}), kNotFound);
}

TEST_P(ConformanceTest, AppendValidation_SizeLimitsAreTooLargeAndWriteNothing) {
  const Limits limits;
  const Position head = store().Head();
  {
    SCOPED_TRACE("one event over max_event_bytes");
    ProposedEvent event = Ev("Big", 0);
    event.content_type = std::string(kContentTypeOctetStream);
    event.data = std::string(limits.max_event_bytes - 10, 'x');
    event.metadata = "\"" + std::string(20, 'm') + "\"";  // data + metadata over the limit
    EXPECT_CODE(store().Append(Req("big-1", {event})), kTooLarge);
  }
  {
    SCOPED_TRACE("events under max_event_bytes adding up over max_append_bytes");
    std::vector<ProposedEvent> events;
    const uint64_t per_event = limits.max_event_bytes;
    for (uint64_t total = 0; total <= limits.max_append_bytes; total += per_event) {
      ProposedEvent event = Ev("Big", 0);
      event.content_type = std::string(kContentTypeOctetStream);
      event.data = std::string(per_event, 'x');
      events.push_back(std::move(event));
    }
    EXPECT_CODE(store().Append(Req("big-2", std::move(events))), kTooLarge);
  }
  {
    SCOPED_TRACE("more than max_events_per_append events");
    std::vector<ProposedEvent> events(limits.max_events_per_append + 1);
    for (ProposedEvent& event : events) event.type = "Tiny";
    EXPECT_CODE(store().Append(Req("big-3", std::move(events))), kTooLarge);
  }
  EXPECT_EQ(store().Head(), head);
  EXPECT_TRUE(ReadAllEvents(store()).empty());
}

TEST_P(ConformanceTest, AppendValidation_EventAtExactlyTheSizeLimitIsAccepted) {
  ProposedEvent event = Ev("Big", 0);
  event.content_type = std::string(kContentTypeOctetStream);
  event.data = std::string(Limits{}.max_event_bytes, 'x');
  ASSERT_OK(store().Append(Req("big-1", {event})));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "big-1"}));
  ASSERT_EQ(read.events.size(), 1u);
  EXPECT_EQ(read.events[0].data.size(), Limits{}.max_event_bytes);
}

// ---- Rule 2: system streams and reserved types. ----

TEST_P(ConformanceTest, AppendValidation_SystemStreamsRefuseUserAppends) {
  for (std::string stream : {"$system", "$$order-1", "$all", "$"}) {
    SCOPED_TRACE(stream);
    EXPECT_CODE(store().Append(Req(stream, Evs(1))), kInvalidArgument);
  }
  EXPECT_TRUE(ReadAllEvents(store()).empty());
}

TEST_P(ConformanceTest, AppendValidation_SystemWriterMayAppendToSystemStreams) {
  if (!GetParam().capabilities.system_writer) GTEST_SKIP() << "no system writer in this backend";
  AppendRequest checkpoint = Req("$checkpoints-1", Evs(2, "Checkpoint"));
  checkpoint.system_writer = true;
  ASSERT_OK_AND_ASSIGN(AppendResult first, store().Append(checkpoint));
  EXPECT_EQ(first.first_revision, Revision{0});
  EXPECT_EQ(first.last_revision, Revision{1});
  checkpoint.expected = ExpectedRevision::Exact(Revision{1});
  ASSERT_OK_AND_ASSIGN(AppendResult second, store().Append(checkpoint));
  EXPECT_EQ(second.first_revision, Revision{2});
  EXPECT_TRUE(
      IsConflict(store().Append(checkpoint), ExpectedRevision::Exact(Revision{1}), Revision{3}));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "$checkpoints-1"}));
  EXPECT_THAT(Revisions(read.events), ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(ReadAllEvents(store()).size(), 4u);
  EXPECT_TRUE(
      ReadAllPaged(store(), Direction::kForwards, 1000, {.exclude_system_events = true}).empty());
  ASSERT_OK_AND_ASSIGN(ListStreamsResult system, store().ListStreams({.include_system = true}));
  EXPECT_THAT(Names(system.streams), ElementsAre("$checkpoints-1"));
  ASSERT_OK_AND_ASSIGN(ListStreamsResult users, store().ListStreams({}));
  EXPECT_THAT(users.streams, ::testing::IsEmpty());

  // Not the metadata streams, and not reserved types, even for Annals' own components.
  AppendRequest metadata = Req("$$order-1", Evs(1));
  metadata.system_writer = true;
  EXPECT_CODE(store().Append(metadata), kInvalidArgument);
  AppendRequest reserved = Req("$checkpoints-1", {Ev("$custom", 0)});
  reserved.system_writer = true;
  EXPECT_CODE(store().Append(reserved), kInvalidArgument);
  EXPECT_EQ(ReadAllEvents(store()).size(), 4u);
}

TEST_P(ConformanceTest, AppendValidation_ReservedEventTypesAreRefused) {
  EXPECT_CODE(store().Append(Req("order-1", {Ev("$metadata", 0)})), kInvalidArgument);
  EXPECT_CODE(store().Append(Req("order-1", {Ev("$streamDeleted", 0)})), kInvalidArgument);
  EXPECT_CODE(store().Append(Req("order-1", {Ev("Placed", 0), Ev("$custom", 1)})),
              kInvalidArgument);
  EXPECT_TRUE(ReadAllEvents(store()).empty());
}

TEST_P(ConformanceTest, Append_ContentTypesOtherThanJsonTakeAnyBytes) {
  ProposedEvent binary = Ev("Blob", 0);
  binary.content_type = std::string(kContentTypeOctetStream);
  binary.data = std::string("\x00\xff{not json\x01", 13);
  ProposedEvent text = Ev("Note", 1);
  text.content_type = "text/plain";
  text.data = "plain text";
  ProposedEvent empty_json = Ev("Empty", 2);
  empty_json.data = "";  // empty data is an event without a payload, whatever the content type
  ASSERT_OK(store().Append(Req("blob-1", {binary, text, empty_json})));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "blob-1"}));
  ASSERT_EQ(read.events.size(), 3u);
  EXPECT_EQ(read.events[0].data, binary.data);
  EXPECT_EQ(read.events[0].content_type, kContentTypeOctetStream);
  EXPECT_FALSE(read.events[0].IsJson());
  EXPECT_EQ(read.events[1].content_type, "text/plain");
  EXPECT_EQ(read.events[1].data, "plain text");
  EXPECT_EQ(read.events[2].data, "");
  EXPECT_TRUE(read.events[2].IsJson());
}

// ---- Rule 5: expected revisions. ----

TEST_P(ConformanceTest, ExpectedRevision_AnyAlwaysSucceeds) {
  ASSERT_OK(store().Append(Req("order-1", Evs(1), ExpectedRevision::Any())));
  ASSERT_OK(store().Append(Req("order-1", Evs(1), ExpectedRevision::Any())));
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo("order-1"));
  EXPECT_EQ(info.last_revision, Revision{1});
}

TEST_P(ConformanceTest, ExpectedRevision_NoStreamOnlyForANewStream) {
  ASSERT_OK_AND_ASSIGN(AppendResult first,
                       store().Append(Req("order-1", Evs(2), ExpectedRevision::NoStream())));
  EXPECT_EQ(first.first_revision, Revision{0});
  EXPECT_TRUE(IsConflict(store().Append(Req("order-1", Evs(1), ExpectedRevision::NoStream())),
                         ExpectedRevision::NoStream(), Revision{1}));
}

TEST_P(ConformanceTest, ExpectedRevision_StreamExistsOnlyForAnExistingStream) {
  EXPECT_TRUE(IsConflict(store().Append(Req("order-1", Evs(1), ExpectedRevision::StreamExists())),
                         ExpectedRevision::StreamExists(), std::nullopt));
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  ASSERT_OK_AND_ASSIGN(AppendResult result,
                       store().Append(Req("order-1", Evs(1), ExpectedRevision::StreamExists())));
  EXPECT_EQ(result.first_revision, Revision{1});
}

TEST_P(ConformanceTest, ExpectedRevision_ExactMustEqualTheLastRevision) {
  const auto exact = [](uint64_t r) { return ExpectedRevision::Exact(Revision{r}); };
  EXPECT_TRUE(IsConflict(store().Append(Req("order-1", Evs(1), exact(0))), exact(0), std::nullopt));
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));  // revisions 0..2
  EXPECT_TRUE(IsConflict(store().Append(Req("order-1", Evs(1), exact(1))), exact(1), Revision{2}));
  EXPECT_TRUE(IsConflict(store().Append(Req("order-1", Evs(1), exact(3))), exact(3), Revision{2}));
  ASSERT_OK_AND_ASSIGN(AppendResult result, store().Append(Req("order-1", Evs(2), exact(2))));
  EXPECT_EQ(result.first_revision, Revision{3});
  EXPECT_EQ(result.last_revision, Revision{4});
  ASSERT_OK(store().Append(Req("order-1", Evs(1), exact(4))));
}

TEST_P(ConformanceTest, ExpectedRevision_ConflictWritesNothing) {
  ASSERT_OK(store().Append(Req("order-1", Evs(2))));
  const Position head = store().Head();
  const std::vector<std::string> before = Describe(ReadAllEvents(store()));
  EXPECT_CODE(store().Append(Req("order-1", Evs(5), ExpectedRevision::Exact(Revision{0}))),
              kWrongExpectedRevision);
  EXPECT_CODE(store().Append(Req("order-1", Evs(5), ExpectedRevision::NoStream())),
              kWrongExpectedRevision);
  EXPECT_CODE(store().Append(Req("order-2", Evs(5), ExpectedRevision::StreamExists())),
              kWrongExpectedRevision);
  EXPECT_EQ(store().Head(), head);
  EXPECT_EQ(Describe(ReadAllEvents(store())), before);
  EXPECT_CODE(store().GetStreamInfo("order-2"), kNotFound);
}

// ---- Rule 6: revisions, positions, created, atomic commits. ----

TEST_P(ConformanceTest, Append_RevisionsStartAtZeroAndContinueWithoutGaps) {
  ASSERT_OK_AND_ASSIGN(AppendResult a, store().Append(Req("order-1", Evs(1))));
  EXPECT_EQ(a.first_revision, Revision{0});
  EXPECT_EQ(a.last_revision, Revision{0});
  EXPECT_FALSE(a.idempotent);
  ASSERT_OK_AND_ASSIGN(AppendResult b, store().Append(Req("order-1", Evs(3, "Happened", 1))));
  EXPECT_EQ(b.first_revision, Revision{1});
  EXPECT_EQ(b.last_revision, Revision{3});
  ASSERT_OK_AND_ASSIGN(AppendResult other, store().Append(Req("order-2", Evs(2))));
  EXPECT_EQ(other.first_revision, Revision{0});
  EXPECT_EQ(other.last_revision, Revision{1});
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "order-1"}));
  EXPECT_THAT(Revisions(read.events), ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(Datas(read.events), ElementsAre(DataOf(0), DataOf(1), DataOf(2), DataOf(3)));
}

TEST_P(ConformanceTest, Append_ResultPositionIsThatOfTheLastEvent) {
  ASSERT_OK(store().Append(Req("order-2", Evs(1))));
  ASSERT_OK_AND_ASSIGN(AppendResult result, store().Append(Req("order-1", Evs(3))));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "order-1"}));
  ASSERT_EQ(read.events.size(), 3u);
  EXPECT_EQ(read.events.back().position, result.position);
  EXPECT_LT(read.events[0].position, read.events[1].position);
  EXPECT_LT(read.events[1].position, read.events[2].position);
}

TEST_P(ConformanceTest, Append_PositionsStrictlyIncreaseInCommitOrderAcrossStreams) {
  std::vector<AppendResult> results;
  for (int i = 0; i < 6; ++i) {
    ASSERT_OK_AND_ASSIGN(AppendResult r,
                         store().Append(Req(i % 2 ? "order-1" : "cart-1", Evs(1 + i % 3))));
    results.push_back(r);
  }
  for (size_t i = 1; i < results.size(); ++i)
    EXPECT_LT(results[i - 1].position, results[i].position);
  const std::vector<RecordedEvent> all = ReadAllEvents(store());
  ASSERT_EQ(all.size(), 1u + 2 + 3 + 1 + 2 + 3);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].position, all[i].position);
  EXPECT_GT(all.front().position, Position::Start());
  EXPECT_EQ(all.back().position, results.back().position);
}

TEST_P(ConformanceTest, Append_CreatedIsTheServerClockAndNeverGoesBackwards) {
  const Timestamp before = Timestamp::Now();
  for (int i = 0; i < 20; ++i)
    ASSERT_OK(store().Append(Req("order-" + std::to_string(i % 3), Evs(2))));
  const Timestamp after = Timestamp::Now();
  const std::vector<RecordedEvent> all = ReadAllEvents(store());
  ASSERT_EQ(all.size(), 40u);
  constexpr int64_t kSlack = 10'000'000;  // 1 s of 100 ns ticks, for a backend's clock reading
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_GE(all[i].created.ticks, before.ticks - kSlack);
    EXPECT_LE(all[i].created.ticks, after.ticks + kSlack);
    if (i > 0) {
      EXPECT_GE(all[i].created, all[i - 1].created);
    }
  }
}

TEST_P(ConformanceTest, Append_EventsWithoutIdsGetFreshIds) {
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));
  ASSERT_OK(store().Append(Req("order-2", Evs(3))));
  std::set<Uuid> ids;
  for (const RecordedEvent& e : ReadAllEvents(store())) {
    EXPECT_FALSE(e.id.IsNil());
    ids.insert(e.id);
  }
  EXPECT_EQ(ids.size(), 6u);
}

TEST_P(ConformanceTest, Append_RecordedEventsKeepEveryField) {
  ProposedEvent proposed;
  proposed.id = Uuid::Random();
  proposed.type = "OrderPlaced";
  proposed.data = R"({"sku":"abc","qty":2,"note":"ünïcödé"})";
  proposed.metadata = R"({"correlation":"c-1"})";
  ASSERT_OK_AND_ASSIGN(AppendResult result, store().Append(Req("order-1", {proposed})));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "order-1"}));
  ASSERT_EQ(read.events.size(), 1u);
  const RecordedEvent& e = read.events[0];
  EXPECT_EQ(e.id, *proposed.id);
  EXPECT_EQ(e.stream, "order-1");
  EXPECT_EQ(e.type, "OrderPlaced");
  EXPECT_EQ(e.revision, Revision{0});
  EXPECT_EQ(e.position, result.position);
  EXPECT_EQ(e.content_type, kContentTypeJson);
  EXPECT_EQ(e.data, proposed.data);
  EXPECT_EQ(e.metadata, proposed.metadata);
  const std::vector<RecordedEvent> all = ReadAllEvents(store());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(Describe(all[0]), Describe(e));  // $all and the stream hand out the same event
}

TEST_P(ConformanceTest, Append_MultiEventAppendIsContiguousAndInRequestOrder) {
  ASSERT_OK(store().Append(Req("order-1", {Ev("A", 0), Ev("B", 1), Ev("C", 2)})));
  ASSERT_OK(store().Append(Req("cart-1", {Ev("X", 3), Ev("Y", 4)})));
  ASSERT_OK(store().Append(Req("order-1", {Ev("D", 5), Ev("E", 6)})));
  const std::vector<RecordedEvent> all = ReadAllEvents(store());
  EXPECT_THAT(Types(all), ElementsAre("A", "B", "C", "X", "Y", "D", "E"));
  EXPECT_THAT(Streams(all), ElementsAre("order-1", "order-1", "order-1", "cart-1", "cart-1",
                                        "order-1", "order-1"));
  EXPECT_THAT(Revisions(all), ElementsAre(0, 1, 2, 0, 1, 3, 4));
}

TEST_P(ConformanceTest, Append_ConcurrentReadersSeeWholeAppendsOnly) {
  constexpr int kMinAppends = 60;
  constexpr int kMaxAppends = 5000;
  constexpr int kMinReadsWhileWriting = 40;
  constexpr int kBatch = 7;
  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0};
  std::atomic<int> reads{0};
  auto reader = [&](bool use_all) {
    while (!done.load()) {
      size_t count = 0;
      if (use_all) {
        count = ReadAllEvents(store()).size();
      } else {
        Result<ReadStreamResult> r =
            store().ReadStream({.stream = "batch-1", .max_count = 1000000});
        if (!r.ok() && r.status().code() != StatusCode::kNotFound) ++bad_reads;
        count = r.ok() ? r->events.size() : 0;
      }
      if (count % kBatch != 0) ++bad_reads;
      ++reads;
    }
  };
  std::thread all_reader(reader, true);
  std::thread stream_reader(reader, false);
  while (reads.load() < 2) std::this_thread::yield();
  // Keep writing until the readers have read a good number of times meanwhile.
  const int reads_before = reads.load();
  int appends = 0;
  for (; appends < kMaxAppends &&
         (appends < kMinAppends || reads.load() - reads_before < kMinReadsWhileWriting);
       ++appends) {
    Result<AppendResult> appended =
        store().Append(Req("batch-1", Evs(kBatch, "Part", appends * kBatch)));
    if (!appended.ok()) {  // not ASSERT: the readers must be joined first
      ADD_FAILURE() << appended.status().ToString();
      break;
    }
  }
  done = true;
  all_reader.join();
  stream_reader.join();
  EXPECT_EQ(bad_reads.load(), 0) << "a reader saw part of an append";
  EXPECT_EQ(ReadAllEvents(store()).size(), size_t(appends) * kBatch);
}

TEST_P(ConformanceTest, AppendAsync_CompletesWithTheSameResults) {
  auto append_async = [&](AppendRequest request) {
    auto promise = std::make_shared<std::promise<Result<AppendResult>>>();
    std::future<Result<AppendResult>> future = promise->get_future();
    store().AppendAsync(std::move(request),
                        [promise](Result<AppendResult> r) { promise->set_value(std::move(r)); });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    return future.get();
  };
  Result<AppendResult> first = append_async(Req("order-1", Evs(2), ExpectedRevision::NoStream()));
  ASSERT_OK(first);
  EXPECT_EQ(first->first_revision, Revision{0});
  EXPECT_EQ(first->last_revision, Revision{1});
  EXPECT_TRUE(IsConflict(append_async(Req("order-1", Evs(1), ExpectedRevision::NoStream())),
                         ExpectedRevision::NoStream(), Revision{1}));
  EXPECT_CODE(append_async(Req("$system", Evs(1))), kInvalidArgument);
  std::vector<ProposedEvent> events = WithIds(Evs(1));
  ASSERT_OK_AND_ASSIGN(AppendResult once, append_async(Req("order-2", events)));
  ASSERT_OK_AND_ASSIGN(AppendResult again, append_async(Req("order-2", events)));
  EXPECT_TRUE(again.idempotent);
  EXPECT_EQ(again.position, once.position);
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "order-1"}));
  EXPECT_EQ(read.events.size(), 2u);
  EXPECT_EQ(read.events.back().position, first->position);
}

// ---- Rule 4: idempotency. ----

TEST_P(ConformanceTest, Idempotency_RetryReturnsTheOriginalResultAndWritesNothing) {
  ASSERT_OK(store().Append(Req("order-1", Evs(2))));
  const std::vector<ProposedEvent> events = WithIds(Evs(3, "Happened", 10));
  ASSERT_OK_AND_ASSIGN(AppendResult original, store().Append(Req("order-1", events)));
  ASSERT_OK(store().Append(Req("cart-1", Evs(1))));  // the head moves on meanwhile
  const Position head = store().Head();
  ASSERT_OK_AND_ASSIGN(AppendResult retry, store().Append(Req("order-1", events)));
  EXPECT_TRUE(retry.idempotent);
  EXPECT_EQ(retry.first_revision, Revision{2});
  EXPECT_EQ(retry.last_revision, Revision{4});
  EXPECT_EQ(retry.position, original.position);
  EXPECT_EQ(store().Head(), head);
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "order-1"}));
  EXPECT_EQ(read.events.size(), 5u);
}

TEST_P(ConformanceTest, Idempotency_RetryIgnoresTheExpectedRevision) {
  const std::vector<ProposedEvent> events = WithIds(Evs(2));
  ASSERT_OK_AND_ASSIGN(AppendResult original,
                       store().Append(Req("order-1", events, ExpectedRevision::NoStream())));
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));  // later events: L = 2
  for (ExpectedRevision expected :
       {ExpectedRevision::NoStream(), ExpectedRevision::Exact(Revision{0}),
        ExpectedRevision::Exact(Revision{7}), ExpectedRevision::StreamExists(),
        ExpectedRevision::Any()}) {
    SCOPED_TRACE(expected.ToString());
    ASSERT_OK_AND_ASSIGN(AppendResult retry, store().Append(Req("order-1", events, expected)));
    EXPECT_EQ(retry, (AppendResult{Revision{0}, Revision{1}, original.position, true}));
  }
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo("order-1"));
  EXPECT_EQ(info.event_count, 3u);
}

TEST_P(ConformanceTest, Idempotency_RetryOfAConsecutiveSubsetReturnsItsRevisions) {
  const std::vector<ProposedEvent> events = WithIds(Evs(4));
  ASSERT_OK(store().Append(Req("order-1", events)));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "order-1"}));
  ASSERT_OK_AND_ASSIGN(AppendResult retry, store().Append(Req("order-1", {events[1], events[2]})));
  EXPECT_EQ(retry, (AppendResult{Revision{1}, Revision{2}, read.events[2].position, true}));
  ASSERT_OK_AND_ASSIGN(AppendResult single, store().Append(Req("order-1", {events[3]})));
  EXPECT_EQ(single, (AppendResult{Revision{3}, Revision{3}, read.events[3].position, true}));
}

TEST_P(ConformanceTest, Idempotency_RetrySpanningTwoAppendsIsIdempotent) {
  const std::vector<ProposedEvent> first = WithIds(Evs(2));
  const std::vector<ProposedEvent> second = WithIds(Evs(2, "Happened", 2));
  ASSERT_OK(store().Append(Req("order-1", first)));
  ASSERT_OK_AND_ASSIGN(AppendResult last, store().Append(Req("order-1", second)));
  ASSERT_OK_AND_ASSIGN(AppendResult retry,
                       store().Append(Req("order-1", {first[1], second[0], second[1]})));
  EXPECT_EQ(retry, (AppendResult{Revision{1}, Revision{3}, last.position, true}));
}

TEST_P(ConformanceTest, Idempotency_PartialOverlapIsAConflict) {
  std::vector<ProposedEvent> events = WithIds(Evs(2));
  ASSERT_OK(store().Append(Req("order-1", events)));
  const Position head = store().Head();
  std::vector<ProposedEvent> overlap = {events[0], events[1], Ev("Happened", 9, Uuid::Random())};
  EXPECT_CODE(store().Append(Req("order-1", overlap)), kIdempotencyConflict);
  EXPECT_CODE(store().Append(Req("order-1", {Ev("Happened", 8, Uuid::Random()), events[0]})),
              kIdempotencyConflict);
  EXPECT_EQ(store().Head(), head);
}

TEST_P(ConformanceTest, Idempotency_IdsUsedInAnotherStreamAreAConflict) {
  std::vector<ProposedEvent> events = WithIds(Evs(2));
  ASSERT_OK(store().Append(Req("order-1", events)));
  const Position head = store().Head();
  EXPECT_CODE(store().Append(Req("order-2", events)), kIdempotencyConflict);
  EXPECT_CODE(store().Append(Req("order-2", {events[0]}, ExpectedRevision::NoStream())),
              kIdempotencyConflict);
  EXPECT_EQ(store().Head(), head);
  EXPECT_CODE(store().ReadStream({.stream = "order-2"}), kNotFound);
}

TEST_P(ConformanceTest, Idempotency_ChangedOrderIsAConflict) {
  std::vector<ProposedEvent> events = WithIds(Evs(3));
  ASSERT_OK(store().Append(Req("order-1", events)));
  const Position head = store().Head();
  EXPECT_CODE(store().Append(Req("order-1", {events[1], events[0], events[2]})),
              kIdempotencyConflict);
  EXPECT_CODE(store().Append(Req("order-1", {events[2], events[1]})), kIdempotencyConflict);
  EXPECT_EQ(store().Head(), head);
}

TEST_P(ConformanceTest, Idempotency_NonConsecutiveRevisionsAreAConflict) {
  std::vector<ProposedEvent> events = WithIds(Evs(3));
  ASSERT_OK(store().Append(Req("order-1", events)));
  EXPECT_CODE(store().Append(Req("order-1", {events[0], events[2]})), kIdempotencyConflict);
}

TEST_P(ConformanceTest, Idempotency_UsedIdsWithAnEventWithoutIdAreAConflict) {
  std::vector<ProposedEvent> events = WithIds(Evs(2));
  ASSERT_OK(store().Append(Req("order-1", events)));
  const Position head = store().Head();
  EXPECT_CODE(store().Append(Req("order-1", {events[0], events[1], Ev("Happened", 2)})),
              kIdempotencyConflict);
  EXPECT_CODE(store().Append(Req("order-1", {Ev("Happened", 2), events[0]})), kIdempotencyConflict);
  EXPECT_EQ(store().Head(), head);
}

TEST_P(ConformanceTest, Idempotency_EventsWithoutIdsAreNeverDeduplicated) {
  const std::vector<ProposedEvent> events = Evs(2);
  ASSERT_OK(store().Append(Req("order-1", events)));
  ASSERT_OK_AND_ASSIGN(AppendResult again, store().Append(Req("order-1", events)));
  EXPECT_FALSE(again.idempotent);
  EXPECT_EQ(again.first_revision, Revision{2});
}

TEST_P(ConformanceTest, Idempotency_NewIdsMixedWithIdlessEventsAppend) {
  ASSERT_OK_AND_ASSIGN(AppendResult result,
                       store().Append(Req("order-1", {Ev("A", 0, Uuid::Random()), Ev("B", 1)})));
  EXPECT_FALSE(result.idempotent);
  EXPECT_EQ(result.last_revision, Revision{1});
}

TEST_P(ConformanceTest, Idempotency_DuplicateIdsInsideOneRequestAreInvalidArgument) {
  const Uuid id = Uuid::Random();
  EXPECT_CODE(store().Append(Req("order-1", {Ev("A", 0, id), Ev("B", 1, id)})), kInvalidArgument);
  EXPECT_TRUE(ReadAllEvents(store()).empty());
}

TEST_P(ConformanceTest, Idempotency_RetryAfterSoftDeleteReturnsTheOriginalResult) {
  const std::vector<ProposedEvent> events = WithIds(Evs(2));
  ASSERT_OK_AND_ASSIGN(AppendResult original, store().Append(Req("order-1", events)));
  ASSERT_OK(store().DeleteStream("order-1", ExpectedRevision::Any(), DeleteMode::kSoft));
  const Position head = store().Head();
  ASSERT_OK_AND_ASSIGN(AppendResult retry, store().Append(Req("order-1", events)));
  EXPECT_EQ(retry, (AppendResult{Revision{0}, Revision{1}, original.position, true}));
  EXPECT_EQ(store().Head(), head);  // nothing written: the stream stays soft-deleted
  EXPECT_CODE(store().ReadStream({.stream = "order-1"}), kNotFound);
}

TEST_P(ConformanceTest, Idempotency_RetryAfterTombstoneIsStreamDeleted) {
  const std::vector<ProposedEvent> events = WithIds(Evs(2));
  ASSERT_OK(store().Append(Req("order-1", events)));
  ASSERT_OK(store().DeleteStream("order-1", ExpectedRevision::Any(), DeleteMode::kTombstone));
  EXPECT_CODE(store().Append(Req("order-1", events)), kStreamDeleted);
}

// ---- Concurrent writers. ----

TEST_P(ConformanceTest, Concurrency_EachRevisionIsWonByExactlyOneWriter) {
  constexpr int kThreads = 8;
  constexpr uint64_t kRevisions = 40;
  // outcome[t][r]: what thread t got when it tried to write revision r.
  std::vector<std::vector<StatusCode>> outcome(kThreads, std::vector<StatusCode>(kRevisions));
  std::vector<std::vector<std::string>> failures(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      for (uint64_t r = 0; r < kRevisions; ++r) {
        const ExpectedRevision expected =
            r == 0 ? ExpectedRevision::NoStream() : ExpectedRevision::Exact(Revision{r - 1});
        Result<AppendResult> result =
            store().Append(Req("race-1", {Ev("Won", t * 1000 + static_cast<int>(r))}, expected));
        outcome[t][r] = result.status().code();
        if (result.ok()) {
          if (result->first_revision != Revision{r}) failures[t].push_back("wrong revision");
        } else if (result.status().code() == StatusCode::kWrongExpectedRevision) {
          const auto& conflict = result.status().conflict();
          if (!conflict || !(conflict->expected == expected) || !conflict->actual ||
              conflict->actual->value < r) {
            failures[t].push_back("bad conflict: " + result.status().ToString());
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_THAT(failures[t], ::testing::IsEmpty());

  ASSERT_OK_AND_ASSIGN(ReadStreamResult read,
                       store().ReadStream({.stream = "race-1", .max_count = 100000}));
  ASSERT_EQ(read.events.size(), kRevisions);
  EXPECT_EQ(read.last_revision, Revision{kRevisions - 1});
  for (uint64_t r = 0; r < kRevisions; ++r) {
    SCOPED_TRACE("revision " + std::to_string(r));
    int winners = 0;
    int losers = 0;
    int winner = -1;
    for (int t = 0; t < kThreads; ++t) {
      if (outcome[t][r] == StatusCode::kOk) {
        ++winners;
        winner = t;
      } else if (outcome[t][r] == StatusCode::kWrongExpectedRevision) {
        ++losers;
      }
    }
    EXPECT_EQ(winners, 1);
    EXPECT_EQ(losers, kThreads - 1);
    EXPECT_EQ(read.events[r].revision, Revision{r});
    EXPECT_EQ(read.events[r].data, DataOf(winner * 1000 + static_cast<int>(r)));
  }
}

TEST_P(ConformanceTest, Concurrency_ParallelAppendsToManyStreamsAreAllCommittedOnce) {
  constexpr int kThreads = 8;
  constexpr int kAppends = 30;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        const std::string own = "own-" + std::to_string(t);
        if (!store().Append(Req(own, Evs(2, "Own", t * 1000 + 2 * i))).ok()) ++errors;
        if (!store().Append(Req("shared-1", {Ev("Shared", t * 1000 + i)})).ok()) ++errors;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  const std::vector<RecordedEvent> all = ReadAllEvents(store());
  ASSERT_EQ(all.size(), size_t{kThreads * kAppends * 3});
  std::map<std::string, uint64_t> next_revision;
  std::set<std::string> datas;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(all[i - 1].position, all[i].position);
    }
    EXPECT_EQ(all[i].revision.value, next_revision[all[i].stream]++) << Describe(all[i]);
    datas.insert(all[i].stream + all[i].data);
  }
  EXPECT_EQ(datas.size(), all.size());
  EXPECT_EQ(next_revision["shared-1"], uint64_t{kThreads * kAppends});
}

}  // namespace
}  // namespace annals::conformance
