// Conformance: a read's max_bytes (docs/event-store-semantics.md, "Reads"). A page of large
// events stops after the event that reaches the budget (always at least one event), and paging
// by `next` still returns every event once, in each direction and on each read path: stream
// revisions, the `$all` scan, category and type filters, a regex filter.
#include <algorithm>

#include "conformance/conformance_helpers.h"
#include "conformance/conformance_suite.h"

namespace annals::conformance {
namespace {

constexpr size_t kLargeBytes = 100 << 10;
constexpr int kLargeEvents = 10;
// The third large event of a page reaches it.
constexpr uint64_t kBudget = 250 << 10;

// Ten 100 KiB events in `order-1`, each its own append, between small events of `note-1`.
void AppendLargeAndSmall(EventStore& store) {
  for (int i = 0; i < kLargeEvents; ++i) {
    AppendRequest large{.stream = "order-1"};
    large.events.push_back(ProposedEvent{.type = "Large",
                                         .content_type = "application/octet-stream",
                                         .data = std::string(kLargeBytes, 'a' + i)});
    ASSERT_OK(store.Append(large));
    ASSERT_OK(store.Append(Req("note-1", {Ev("Small", i)})));
  }
}

// Pages through `$all` with `request` until the end, checking that no page holds more than
// `most_large_per_page` large events; returns the positions of the large events read.
std::vector<uint64_t> LargeEventsPaged(EventStore& store, ReadAllRequest request,
                                       size_t most_large_per_page) {
  std::vector<uint64_t> large;
  for (int page = 0; page < 200; ++page) {
    auto read = store.ReadAll(request);
    EXPECT_OK(read);
    if (!read.ok()) break;
    size_t large_here = 0;
    for (const RecordedEvent& e : read->events) {
      if (e.type != "Large") continue;
      EXPECT_EQ(e.data.size(), kLargeBytes);
      large.push_back(e.position.value);
      ++large_here;
    }
    EXPECT_LE(large_here, most_large_per_page);
    if (read->end_of_log) break;
    request.from = read->next;
  }
  return large;
}

std::vector<uint64_t> AllLargePositions(EventStore& store) {
  std::vector<uint64_t> positions;
  for (const RecordedEvent& e : ReadAllEvents(store)) {
    if (e.type == "Large") positions.push_back(e.position.value);
  }
  return positions;
}

// Pages through `$all` with `request` forwards from its start and backwards from the head:
// both ways must read exactly the large events at `expected`, at most three a page.
void ExpectEachLargeEventOnceBothWays(EventStore& store, ReadAllRequest request,
                                      const std::vector<uint64_t>& expected) {
  EXPECT_EQ(LargeEventsPaged(store, request, 3), expected);
  request.direction = Direction::kBackwards;
  request.from = store.Head();
  std::vector<uint64_t> backwards = LargeEventsPaged(store, request, 3);
  std::reverse(backwards.begin(), backwards.end());
  EXPECT_EQ(backwards, expected);
}

// The first lines of each test: the remote stores leave the budget to their server.
#define ANNALS_GIVEN_LARGE_EVENTS()                                                    \
  if (!GetParam().capabilities.max_bytes) GTEST_SKIP() << "max_bytes is the server's"; \
  ASSERT_NO_FATAL_FAILURE(AppendLargeAndSmall(store()))

TEST_P(ConformanceTest, ReadBudget_AllScanStopsAtTheBudgetAndPagesThroughEverything) {
  ANNALS_GIVEN_LARGE_EVENTS();
  ReadAllRequest request{.max_count = 1000, .max_bytes = kBudget};
  ASSERT_OK_AND_ASSIGN(ReadAllResult first, store().ReadAll(request));
  ASSERT_EQ(first.events.size(), 5u);  // large, small, large, small, large
  EXPECT_EQ(first.events.back().type, "Large");
  EXPECT_FALSE(first.end_of_log);
  const std::vector<uint64_t> expected = AllLargePositions(store());
  ASSERT_EQ(expected.size(), static_cast<size_t>(kLargeEvents));
  ExpectEachLargeEventOnceBothWays(store(), request, expected);
}

TEST_P(ConformanceTest, ReadBudget_FilteredReadsStopAtTheBudgetAndPageThroughEverything) {
  ANNALS_GIVEN_LARGE_EVENTS();
  const std::vector<uint64_t> expected = AllLargePositions(store());
  for (const EventFilter& filter :
       {EventFilter{.category = "order"}, EventFilter{.event_types = {"Large"}},
        EventFilter{.stream_prefixes = {"order-"}}, EventFilter{.type_regex = "^L"}}) {
    SCOPED_TRACE("filter " + filter.category + filter.type_regex);
    ReadAllRequest request{.max_count = 1000, .filter = filter, .max_bytes = kBudget};
    ASSERT_OK_AND_ASSIGN(ReadAllResult first, store().ReadAll(request));
    EXPECT_EQ(first.events.size(), 3u);
    EXPECT_FALSE(first.end_of_log);
    ExpectEachLargeEventOnceBothWays(store(), request, expected);
  }
}

TEST_P(ConformanceTest, ReadBudget_StreamReadsStopAtTheBudgetAndPageThroughEverything) {
  ANNALS_GIVEN_LARGE_EVENTS();
  for (Direction direction : {Direction::kForwards, Direction::kBackwards}) {
    ReadStreamRequest request{
        .stream = "order-1", .direction = direction, .max_count = 1000, .max_bytes = kBudget};
    std::vector<uint64_t> revisions;
    for (int page = 0; page < 100; ++page) {
      ASSERT_OK_AND_ASSIGN(ReadStreamResult read, store().ReadStream(request));
      EXPECT_EQ(read.events.size(), revisions.size() < 9 ? 3u : 1u);
      for (const RecordedEvent& e : read.events) {
        EXPECT_EQ(e.data.size(), kLargeBytes);
        revisions.push_back(e.revision.value);
      }
      if (!read.next) break;
      request.from = read.next;
    }
    ASSERT_EQ(revisions.size(), static_cast<size_t>(kLargeEvents));
    for (int i = 0; i < kLargeEvents; ++i) {
      const uint64_t expected = direction == Direction::kForwards ? i : kLargeEvents - 1 - i;
      EXPECT_EQ(revisions[i], expected);
    }
  }
}

TEST_P(ConformanceTest, ReadBudget_AnEventLargerThanTheBudgetIsAPageOfItsOwn) {
  ANNALS_GIVEN_LARGE_EVENTS();
  ASSERT_OK_AND_ASSIGN(
      ReadStreamResult stream,
      store().ReadStream({.stream = "order-1", .max_count = 1000, .max_bytes = 1}));
  ASSERT_EQ(stream.events.size(), 1u);
  EXPECT_EQ(stream.next, Revision{1});
  ASSERT_OK_AND_ASSIGN(ReadAllResult all, store().ReadAll({.max_count = 1000, .max_bytes = 1}));
  ASSERT_EQ(all.events.size(), 1u);
  EXPECT_EQ(all.events[0].type, "Large");
  EXPECT_FALSE(all.end_of_log);
  // `next` continues with the small event after it.
  ASSERT_OK_AND_ASSIGN(ReadAllResult rest,
                       store().ReadAll({.from = all.next, .max_count = 1, .max_bytes = 1}));
  ASSERT_EQ(rest.events.size(), 1u);
  EXPECT_EQ(rest.events[0].type, "Small");
  EXPECT_GT(rest.events[0].position, all.events[0].position);
}

TEST_P(ConformanceTest, ReadBudget_NoBudgetReadsByCountAlone) {
  ANNALS_GIVEN_LARGE_EVENTS();
  ASSERT_OK_AND_ASSIGN(ReadAllResult all, store().ReadAll({.max_count = 1000}));
  EXPECT_EQ(all.events.size(), static_cast<size_t>(2 * kLargeEvents));
  EXPECT_TRUE(all.end_of_log);
  ASSERT_OK_AND_ASSIGN(ReadStreamResult stream,
                       store().ReadStream({.stream = "order-1", .max_count = 1000}));
  EXPECT_EQ(stream.events.size(), static_cast<size_t>(kLargeEvents));
  EXPECT_FALSE(stream.next);
}

}  // namespace
}  // namespace annals::conformance
