// Conformance: "Catalog" (GetStreamInfo, ListStreams), "Live" (Head, WaitForHead, WatchHead)
// of docs/event-store-semantics.md, and re-opening a store (reopenable backends only).
#include <atomic>
#include <future>
#include <thread>

#include "conformance/conformance_helpers.h"
#include "conformance/conformance_suite.h"
#include "core/stream_metadata_codec.h"

namespace annals::conformance {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using Clock = std::chrono::steady_clock;

std::string DescribeInfo(const StreamInfo& s) {
  const char* state = s.state == StreamState::kActive        ? "active"
                      : s.state == StreamState::kSoftDeleted ? "soft-deleted"
                                                             : "tombstoned";
  return "{" + s.name + ", " + state + ", last " +
         (s.last_revision ? std::to_string(s.last_revision->value) : std::string("none")) +
         ", count " + std::to_string(s.event_count) + ", position " +
         std::to_string(s.last_position.value) + ", created " + std::to_string(s.created.ticks) +
         ", updated " + std::to_string(s.last_updated.ticks) + "}";
}

Result<ListStreamsResult> List(EventStore& store, std::string prefix, std::string after,
                               uint64_t limit, bool include_system = false) {
  return store.ListStreams({.prefix = std::move(prefix),
                            .after = std::move(after),
                            .limit = limit,
                            .include_system = include_system});
}

// Creates streams with these names, one event each, in this order.
void CreateStreams(EventStore& store, const std::vector<std::string>& names) {
  for (const std::string& name : names) ASSERT_OK(store.Append(Req(name, Evs(1))));
}

// ---- GetStreamInfo. ----

TEST_P(ConformanceTest, StreamInfo_StreamWithoutEventsIsNotFound) {
  EXPECT_CODE(store().GetStreamInfo("order-1"), kNotFound);
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), {}));
  EXPECT_CODE(store().GetStreamInfo("order-1"), kNotFound);
  EXPECT_CODE(store().Append(Req("order-1", Evs(1), ExpectedRevision::StreamExists())),
              kWrongExpectedRevision);
  EXPECT_CODE(store().GetStreamInfo("order-1"), kNotFound);
}

TEST_P(ConformanceTest, StreamInfo_DescribesAnActiveStream) {
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  ASSERT_OK(store().Append(Req("other-1", Evs(1))));
  ASSERT_OK_AND_ASSIGN(AppendResult last, store().Append(Req("order-1", Evs(2))));
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo("order-1"));
  ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream({.stream = "order-1"}));
  ASSERT_EQ(read.events.size(), 3u);
  EXPECT_EQ(info.name, "order-1");
  EXPECT_EQ(info.state, StreamState::kActive);
  EXPECT_EQ(info.last_revision, Revision{2});
  EXPECT_EQ(info.event_count, 3u);
  EXPECT_EQ(info.last_position, last.position);
  EXPECT_EQ(info.created, read.events.front().created);
  EXPECT_EQ(info.last_updated, read.events.back().created);
}

TEST_P(ConformanceTest, StreamInfo_CountsEveryEventOverTheStreamsLife) {
  ASSERT_OK(store().Append(Req("order-1", Evs(4))));
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), [] {
    StreamMetadata m;
    m.max_count = 1;
    return m;
  }()));
  ASSERT_OK(store().DeleteStream("order-1", ExpectedRevision::Any(), DeleteMode::kSoft));
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));
  ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo("order-1"));
  EXPECT_EQ(info.state, StreamState::kActive);
  EXPECT_EQ(info.event_count, 7u);
  EXPECT_EQ(info.last_revision, Revision{6});
}

TEST_P(ConformanceTest, StreamInfo_ReportsDeletedStates) {
  CreateStreams(store(), {"soft-1", "tomb-1"});
  ASSERT_OK(store().DeleteStream("soft-1", ExpectedRevision::Any(), DeleteMode::kSoft));
  ASSERT_OK(store().DeleteStream("tomb-1", ExpectedRevision::Any(), DeleteMode::kTombstone));
  ASSERT_OK_AND_ASSIGN(StreamInfo soft, store().GetStreamInfo("soft-1"));
  EXPECT_EQ(soft.state, StreamState::kSoftDeleted);
  EXPECT_EQ(soft.last_revision, Revision{0});
  EXPECT_EQ(soft.event_count, 1u);
  ASSERT_OK_AND_ASSIGN(StreamInfo tomb, store().GetStreamInfo("tomb-1"));
  EXPECT_EQ(tomb.state, StreamState::kTombstoned);
  EXPECT_EQ(tomb.event_count, 1u);
}

// ---- ListStreams. ----

const std::vector<std::string> kNames = {"b-1", "a-2", "a-10", "B-1", "a-1", "\xc3\xa9-1", "a"};
const std::vector<std::string> kSortedNames = {"B-1", "a",   "a-1",       "a-10",
                                               "a-2", "b-1", "\xc3\xa9-1"};

TEST_P(ConformanceTest, ListStreams_AscendingByBytes) {
  CreateStreams(store(), kNames);
  ASSERT_OK_AND_ASSIGN(ListStreamsResult all, List(store(), "", "", 100));
  EXPECT_THAT(Names(all.streams), ElementsAreArray(kSortedNames));
  EXPECT_EQ(all.next_after, "");
}

TEST_P(ConformanceTest, ListStreams_PrefixSelectsNames) {
  CreateStreams(store(), kNames);
  ASSERT_OK_AND_ASSIGN(ListStreamsResult dash, List(store(), "a-", "", 100));
  EXPECT_THAT(Names(dash.streams), ElementsAre("a-1", "a-10", "a-2"));
  ASSERT_OK_AND_ASSIGN(ListStreamsResult a, List(store(), "a", "", 100));
  EXPECT_THAT(Names(a.streams), ElementsAre("a", "a-1", "a-10", "a-2"));
  ASSERT_OK_AND_ASSIGN(ListStreamsResult none, List(store(), "zzz", "", 100));
  EXPECT_THAT(none.streams, IsEmpty());
  EXPECT_EQ(none.next_after, "");
  ASSERT_OK_AND_ASSIGN(ListStreamsResult exact, List(store(), "a-10", "", 100));
  EXPECT_THAT(Names(exact.streams), ElementsAre("a-10"));
}

TEST_P(ConformanceTest, ListStreams_PagesWithAfterAndLimit) {
  CreateStreams(store(), kNames);
  ASSERT_OK_AND_ASSIGN(ListStreamsResult p1, List(store(), "", "", 3));
  EXPECT_THAT(Names(p1.streams), ElementsAre("B-1", "a", "a-1"));
  EXPECT_EQ(p1.next_after, "a-1");
  ASSERT_OK_AND_ASSIGN(ListStreamsResult p2, List(store(), "", p1.next_after, 3));
  EXPECT_THAT(Names(p2.streams), ElementsAre("a-10", "a-2", "b-1"));
  EXPECT_EQ(p2.next_after, "b-1");
  ASSERT_OK_AND_ASSIGN(ListStreamsResult p3, List(store(), "", p2.next_after, 3));
  EXPECT_THAT(Names(p3.streams), ElementsAre("\xc3\xa9-1"));
  EXPECT_EQ(p3.next_after, "");
  // `after` need not be a stream's name; it is exclusive.
  ASSERT_OK_AND_ASSIGN(ListStreamsResult from_gap, List(store(), "", "a-0", 2));
  EXPECT_THAT(Names(from_gap.streams), ElementsAre("a-1", "a-10"));
  // A page that is exactly full says so; the following page is empty.
  ASSERT_OK_AND_ASSIGN(ListStreamsResult q1, List(store(), "a-", "", 3));
  EXPECT_THAT(Names(q1.streams), ElementsAre("a-1", "a-10", "a-2"));
  EXPECT_EQ(q1.next_after, "a-2");
  ASSERT_OK_AND_ASSIGN(ListStreamsResult q2, List(store(), "a-", q1.next_after, 3));
  EXPECT_THAT(q2.streams, IsEmpty());
  EXPECT_EQ(q2.next_after, "");
  // Paging one name at a time visits every name once.
  std::vector<std::string> paged;
  std::string after;
  for (int calls = 0; calls < 20; ++calls) {
    ASSERT_OK_AND_ASSIGN(ListStreamsResult page, List(store(), "", after, 1));
    for (const StreamInfo& s : page.streams) paged.push_back(s.name);
    if (page.next_after.empty()) break;
    after = page.next_after;
  }
  EXPECT_THAT(paged, ElementsAreArray(kSortedNames));
}

TEST_P(ConformanceTest, ListStreams_SystemStreamsOnlyWithIncludeSystem) {
  CreateStreams(store(), {"order-1", "cart-1"});
  ASSERT_OK(store().SetStreamMetadata("order-1", ExpectedRevision::Any(), {}));
  ASSERT_OK_AND_ASSIGN(ListStreamsResult users, List(store(), "", "", 100));
  EXPECT_THAT(Names(users.streams), ElementsAre("cart-1", "order-1"));
  ASSERT_OK_AND_ASSIGN(ListStreamsResult all, List(store(), "", "", 100, true));
  EXPECT_THAT(Names(all.streams), ElementsAre("$$order-1", "cart-1", "order-1"));
  ASSERT_OK_AND_ASSIGN(ListStreamsResult hidden, List(store(), "$$", "", 100));
  EXPECT_THAT(hidden.streams, IsEmpty());
  ASSERT_OK_AND_ASSIGN(ListStreamsResult system, List(store(), "$$", "", 100, true));
  ASSERT_THAT(Names(system.streams), ElementsAre("$$order-1"));
  EXPECT_EQ(system.streams[0].last_revision, Revision{0});
  EXPECT_EQ(system.streams[0].event_count, 1u);
}

TEST_P(ConformanceTest, ListStreams_DeletedStreamsAreListedWithTheirState) {
  CreateStreams(store(), {"active-1", "soft-1", "tomb-1"});
  ASSERT_OK(store().DeleteStream("soft-1", ExpectedRevision::Any(), DeleteMode::kSoft));
  ASSERT_OK(store().DeleteStream("tomb-1", ExpectedRevision::Any(), DeleteMode::kTombstone));
  ASSERT_OK(store().DeleteStream("tomb-2", ExpectedRevision::NoStream(), DeleteMode::kTombstone));
  ASSERT_OK_AND_ASSIGN(ListStreamsResult list, List(store(), "", "", 100));
  ASSERT_THAT(Names(list.streams), ElementsAre("active-1", "soft-1", "tomb-1", "tomb-2"));
  EXPECT_EQ(list.streams[0].state, StreamState::kActive);
  EXPECT_EQ(list.streams[1].state, StreamState::kSoftDeleted);
  EXPECT_EQ(list.streams[2].state, StreamState::kTombstoned);
  EXPECT_EQ(list.streams[3].state, StreamState::kTombstoned);
}

TEST_P(ConformanceTest, ListStreams_EntriesMatchGetStreamInfo) {
  CreateStreams(store(), {"order-1", "order-2", "cart-1"});
  ASSERT_OK(store().Append(Req("order-1", Evs(3))));
  ASSERT_OK(store().DeleteStream("order-2", ExpectedRevision::Any(), DeleteMode::kSoft));
  ASSERT_OK(store().DeleteStream("cart-1", ExpectedRevision::Any(), DeleteMode::kTombstone));
  ASSERT_OK_AND_ASSIGN(ListStreamsResult list, List(store(), "", "", 100, true));
  ASSERT_EQ(list.streams.size(), 4u);  // with `$$order-2`
  for (const StreamInfo& listed : list.streams) {
    ASSERT_OK_AND_ASSIGN(StreamInfo info, store().GetStreamInfo(listed.name));
    EXPECT_EQ(DescribeInfo(listed), DescribeInfo(info));
  }
}

// ---- Head, WaitForHead, WatchHead. ----

TEST_P(ConformanceTest, Head_MovesPastEveryCommitAndOnlyOnCommits) {
  Position head = store().Head();
  auto moved = [&](Position position) {
    const Position now = store().Head();
    EXPECT_GT(now, head);
    EXPECT_GT(now, position) << "the committed record is not before the head";
    head = now;
  };
  ASSERT_OK_AND_ASSIGN(AppendResult a, store().Append(Req("order-1", Evs(3))));
  moved(a.position);
  ASSERT_OK_AND_ASSIGN(AppendResult m,
                       store().SetStreamMetadata("order-1", ExpectedRevision::Any(), {}));
  moved(m.position);
  ASSERT_OK_AND_ASSIGN(DeleteResult s,
                       store().DeleteStream("order-1", ExpectedRevision::Any(), DeleteMode::kSoft));
  moved(s.position);
  ASSERT_OK_AND_ASSIGN(DeleteResult t, store().DeleteStream("order-2", ExpectedRevision::Any(),
                                                            DeleteMode::kTombstone));
  moved(t.position);
  EXPECT_CODE(store().Append(Req("order-2", Evs(1))), kStreamDeleted);
  EXPECT_CODE(store().Append(Req("order-3", Evs(1), ExpectedRevision::StreamExists())),
              kWrongExpectedRevision);
  EXPECT_EQ(store().Head(), head);
  for (const RecordedEvent& e : ReadAllEvents(store())) EXPECT_LT(e.position, head);
  ASSERT_OK_AND_ASSIGN(ReadAllResult end, store().ReadAll({}));
  EXPECT_EQ(end.next, head);
}

TEST_P(ConformanceTest, WaitForHead_ReturnsAtOnceWhenTheHeadIsAlreadyPast) {
  const Position before = store().Head();
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  const auto start = Clock::now();
  const Position head = store().WaitForHead(before, std::chrono::seconds(20));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_GT(head, before);
  EXPECT_EQ(head, store().Head());
}

TEST_P(ConformanceTest, WaitForHead_TimesOutWithoutACommit) {
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  const Position head = store().Head();
  const auto start = Clock::now();
  EXPECT_EQ(store().WaitForHead(head, std::chrono::milliseconds(150)), head);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(140));
}

TEST_P(ConformanceTest, WaitForHead_WakesUpOnACommit) {
  const Position head = store().Head();
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_OK(store().Append(Req("order-1", Evs(1))));
  });
  const auto start = Clock::now();
  const Position woke = store().WaitForHead(head, std::chrono::seconds(20));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_GT(woke, head);
  writer.join();
  EXPECT_EQ(woke, store().Head());
}

// Counts a watch's calls and remembers the head it was given.
struct WatchProbe {
  std::atomic<int> calls{0};
  std::promise<Position> first;
  CommitCallback Callback(const std::shared_ptr<WatchProbe>& self) {
    return [self](Position head) {
      if (self->calls.fetch_add(1) == 0) self->first.set_value(head);
    };
  }
};

TEST_P(ConformanceTest, WatchHead_FiresAtOnceWhenTheHeadIsAlreadyPast) {
  const Position before = store().Head();
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  auto probe = std::make_shared<WatchProbe>();
  std::future<Position> fired = probe->first.get_future();
  store().WatchHead(before, probe->Callback(probe));
  ASSERT_EQ(fired.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(fired.get(), store().Head());
  EXPECT_EQ(probe->calls.load(), 1);
}

TEST_P(ConformanceTest, WatchHead_FiresOnceAfterTheNextCommit) {
  const Position head = store().Head();
  auto probe = std::make_shared<WatchProbe>();
  std::future<Position> fired = probe->first.get_future();
  store().WatchHead(head, probe->Callback(probe));
  EXPECT_EQ(probe->calls.load(), 0);  // nothing committed yet
  ASSERT_OK_AND_ASSIGN(AppendResult appended, store().Append(Req("order-1", Evs(2))));
  ASSERT_EQ(fired.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const Position given = fired.get();
  EXPECT_GT(given, head);
  EXPECT_GT(given, appended.position);
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(probe->calls.load(), 1);
}

TEST_P(ConformanceTest, WatchHead_EveryWatcherFiresOnce) {
  const Position head = store().Head();
  std::vector<std::shared_ptr<WatchProbe>> probes;
  std::vector<std::future<Position>> fired;
  for (int i = 0; i < 20; ++i) {
    probes.push_back(std::make_shared<WatchProbe>());
    fired.push_back(probes.back()->first.get_future());
    store().WatchHead(head, probes.back()->Callback(probes.back()));
  }
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  for (auto& f : fired) ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (const auto& probe : probes) EXPECT_EQ(probe->calls.load(), 1);
}

TEST_P(ConformanceTest, CancelHeadWatch_PreventsTheCallback) {
  const Position head = store().Head();
  auto cancelled = std::make_shared<WatchProbe>();
  auto kept = std::make_shared<WatchProbe>();
  std::future<Position> kept_fired = kept->first.get_future();
  const uint64_t id = store().WatchHead(head, cancelled->Callback(cancelled));
  const uint64_t other = store().WatchHead(head, kept->Callback(kept));
  EXPECT_NE(id, other);
  store().CancelHeadWatch(id);
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  ASSERT_EQ(kept_fired.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(cancelled->calls.load(), 0);
  store().CancelHeadWatch(other);  // cancelling a fired watch is harmless
  store().CancelHeadWatch(id);     // and so is cancelling twice
}

// ---- Reopen (reopenable backends). ----

struct Snapshot {
  std::vector<std::string> log;
  Position head;
  std::vector<std::string> catalog;
  std::vector<std::string> streams;  // every user stream's forward read, or its error
  std::vector<std::string> metadata;
};

Snapshot Take(EventStore& store) {
  Snapshot s;
  s.log = Describe(ReadAllEvents(store));
  s.head = store.Head();
  Result<ListStreamsResult> list = store.ListStreams({.limit = 1000, .include_system = true});
  EXPECT_OK(list);
  if (!list.ok()) return s;
  for (const StreamInfo& info : list->streams) {
    s.catalog.push_back(DescribeInfo(info));
    if (IsSystemName(info.name)) continue;
    Result<ReadStreamResult> read = store.ReadStream({.stream = info.name});
    s.streams.push_back(info.name + ": " +
                        (read.ok() ? ::testing::PrintToString(Describe(read->events)) + " last " +
                                         std::to_string(read->last_revision.value)
                                   : std::string(StatusCodeName(read.status().code()))));
    Result<StreamMetadataResult> metadata = store.GetStreamMetadata(info.name);
    s.metadata.push_back(
        info.name + ": " +
        (metadata.ok()
             ? StreamMetadataToJson(metadata->metadata) + " @" +
                   (metadata->metadata_revision ? std::to_string(metadata->metadata_revision->value)
                                                : std::string("none"))
             : std::string(StatusCodeName(metadata.status().code()))));
  }
  return s;
}

void BuildVariedStore(EventStore& store) {
  ASSERT_OK(store.Append(Req("order-1", Evs(3))));
  ASSERT_OK(store.Append(Req("cart-1", WithIds(Evs(2)))));
  StreamMetadata m;
  m.max_count = 2;
  m.custom_json = R"({"owner":"ops"})";
  ASSERT_OK(store.SetStreamMetadata("order-1", ExpectedRevision::Any(), m));
  ASSERT_OK(store.Append(Req("soft-1", Evs(2))));
  ASSERT_OK(store.DeleteStream("soft-1", ExpectedRevision::Any(), DeleteMode::kSoft));
  ASSERT_OK(store.Append(Req("recreated-1", Evs(2))));
  ASSERT_OK(store.DeleteStream("recreated-1", ExpectedRevision::Any(), DeleteMode::kSoft));
  ASSERT_OK(store.Append(Req("recreated-1", Evs(1, "Again", 2))));
  ASSERT_OK(store.Append(Req("tomb-1", Evs(2))));
  ASSERT_OK(store.DeleteStream("tomb-1", ExpectedRevision::Any(), DeleteMode::kTombstone));
  ASSERT_OK(store.SetStreamMetadata("meta-only-1", ExpectedRevision::Any(), m));
  ProposedEvent binary = Ev("Blob", 0);
  binary.content_type = std::string(kContentTypeOctetStream);
  binary.data = std::string("\x00\x01\xff", 3);
  binary.metadata = R"({"k":"v"})";
  ASSERT_OK(store.Append(Req("blob-1", {binary})));
}

TEST_P(ConformanceTest, Reopen_EverythingIsStillThereAtTheSamePositions) {
  if (!GetParam().reopenable) GTEST_SKIP() << GetParam().name << " is not reopenable";
  BuildVariedStore(store());
  const Snapshot before = Take(store());
  ASSERT_FALSE(before.log.empty());
  Reopen();
  const Snapshot after = Take(store());
  EXPECT_EQ(after.log, before.log);
  EXPECT_EQ(after.head, before.head);
  EXPECT_EQ(after.catalog, before.catalog);
  EXPECT_EQ(after.streams, before.streams);
  EXPECT_EQ(after.metadata, before.metadata);
  Reopen();  // a second reopen, with nothing written in between
  EXPECT_EQ(Take(store()).log, before.log);
}

TEST_P(ConformanceTest, Reopen_IdempotentRetriesStillAnswerTheOriginalResult) {
  if (!GetParam().reopenable) GTEST_SKIP() << GetParam().name << " is not reopenable";
  const std::vector<ProposedEvent> events = WithIds(Evs(3));
  ASSERT_OK(store().Append(Req("order-1", Evs(1))));
  ASSERT_OK_AND_ASSIGN(AppendResult original, store().Append(Req("order-1", events)));
  Reopen();
  const Position head = store().Head();
  ASSERT_OK_AND_ASSIGN(AppendResult retry, store().Append(Req("order-1", events)));
  EXPECT_EQ(retry, (AppendResult{Revision{1}, Revision{3}, original.position, true}));
  EXPECT_EQ(store().Head(), head);
  EXPECT_CODE(store().Append(Req("order-2", events)), kIdempotencyConflict);
  EXPECT_CODE(store().Append(Req("order-1", {events[1], events[0]})), kIdempotencyConflict);
}

TEST_P(ConformanceTest, Reopen_WritesContinueWhereTheyStopped) {
  if (!GetParam().reopenable) GTEST_SKIP() << GetParam().name << " is not reopenable";
  BuildVariedStore(store());
  const Position head = store().Head();
  Reopen();
  ASSERT_OK_AND_ASSIGN(
      AppendResult next,
      store().Append(Req("order-1", Evs(1), ExpectedRevision::Exact(Revision{2}))));
  EXPECT_EQ(next.first_revision, Revision{3});
  EXPECT_GE(next.position, head);  // the head is just past the last record: the next may be there
  ASSERT_OK_AND_ASSIGN(ReadStreamResult order, store().ReadStream({.stream = "order-1"}));
  EXPECT_THAT(Revisions(order.events), ElementsAre(2, 3));  // $maxCount 2 still applies
  // soft-1 is still soft-deleted: no_stream holds and an append recreates it at revision 2.
  EXPECT_CODE(store().ReadStream({.stream = "soft-1"}), kNotFound);
  ASSERT_OK_AND_ASSIGN(AppendResult soft,
                       store().Append(Req("soft-1", Evs(1), ExpectedRevision::NoStream())));
  EXPECT_EQ(soft.first_revision, Revision{2});
  ASSERT_OK_AND_ASSIGN(ReadStreamResult recreated, store().ReadStream({.stream = "soft-1"}));
  EXPECT_THAT(Revisions(recreated.events), ElementsAre(2));
  EXPECT_CODE(store().Append(Req("tomb-1", Evs(1))), kStreamDeleted);
  ASSERT_OK_AND_ASSIGN(AppendResult meta, store().SetStreamMetadata(
                                              "order-1", ExpectedRevision::Exact(Revision{0}), {}));
  EXPECT_EQ(meta.first_revision, Revision{1});
  const std::vector<RecordedEvent> all = ReadAllEvents(store());
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].position, all[i].position);
}

}  // namespace
}  // namespace annals::conformance
