// The engine honours a read's max_bytes: a page of large events stops after the event that
// reaches the budget (always at least one event), and paging by `next` still returns every
// event once, in each direction and on each read path (stream revisions, `$all` scan, category
// and type postings).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "annals/engine.h"

namespace annals {
namespace {

constexpr size_t kEventBytes = 100 << 10;
constexpr int kEvents = 10;

class ReadBudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.data_dir = ::testing::TempDir() + "/read-budget-" +
                       ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(options.data_dir);
    options.segment_bytes = 8 << 20;
    options.limits.max_append_bytes = 1 << 20;
    options.durability = Durability::kUnsafeNoSync;
    auto opened = OpenEngine(options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
    // Ten events of 100 KiB in `order-1`, each its own append, between small events of
    // another category.
    for (int i = 0; i < kEvents; ++i) {
      AppendRequest large{.stream = "order-1"};
      large.events.push_back(ProposedEvent{.type = "Large",
                                           .content_type = "application/octet-stream",
                                           .data = std::string(kEventBytes, 'x')});
      auto appended = store_->Append(large);
      ASSERT_TRUE(appended.ok()) << appended.status().ToString();
      AppendRequest small{.stream = "note-1"};
      small.events.push_back(ProposedEvent{.type = "Small", .data = "{}"});
      ASSERT_TRUE(store_->Append(small).ok());
    }
  }

  std::unique_ptr<Engine> store_;
};

// Pages through `$all` with `request` until the end; returns the positions of the large
// events read and checks each page's size.
std::vector<uint64_t> PageThroughAll(EventStore& store, ReadAllRequest request,
                                     size_t most_large_per_page) {
  std::vector<uint64_t> large;
  for (int page = 0; page < 100; ++page) {
    auto read = store.ReadAll(request);
    EXPECT_TRUE(read.ok()) << read.status().ToString();
    if (!read.ok()) break;
    size_t large_here = 0;
    for (const RecordedEvent& e : read->events) {
      if (e.type != "Large") continue;
      large.push_back(e.position.value);
      ++large_here;
    }
    EXPECT_LE(large_here, most_large_per_page);
    if (read->end_of_log) break;
    EXPECT_FALSE(read->events.empty());
    request.from = read->next;
  }
  return large;
}

TEST_F(ReadBudgetTest, AllScanStopsAtTheBudgetAndPagesThroughEverything) {
  // 250 KiB: the third large event of a page reaches it.
  ReadAllRequest request{.max_count = 1000, .max_bytes = 250 << 10};
  auto first = store_->ReadAll(request);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->events.size(), 5u);  // large, small, large, small, large
  EXPECT_EQ(first->events.back().type, "Large");
  EXPECT_FALSE(first->end_of_log);
  const std::vector<uint64_t> forwards = PageThroughAll(*store_, request, 3);
  EXPECT_EQ(forwards.size(), static_cast<size_t>(kEvents));
  // Backwards from the head, the same events in reverse.
  request.direction = Direction::kBackwards;
  request.from = store_->Head();
  std::vector<uint64_t> backwards = PageThroughAll(*store_, request, 3);
  std::reverse(backwards.begin(), backwards.end());
  EXPECT_EQ(backwards, forwards);
}

TEST_F(ReadBudgetTest, PostingsReadsStopAtTheBudget) {
  for (const EventFilter& filter :
       {EventFilter{.category = "order"}, EventFilter{.event_types = {"Large"}}}) {
    ReadAllRequest request{.max_count = 1000, .filter = filter, .max_bytes = 250 << 10};
    auto first = store_->ReadAll(request);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(first->events.size(), 3u);
    EXPECT_FALSE(first->end_of_log);
    EXPECT_EQ(PageThroughAll(*store_, request, 3).size(), static_cast<size_t>(kEvents));
  }
}

TEST_F(ReadBudgetTest, StreamReadsStopAtTheBudgetAndPageThroughEverything) {
  for (Direction direction : {Direction::kForwards, Direction::kBackwards}) {
    ReadStreamRequest request{
        .stream = "order-1", .direction = direction, .max_count = 1000, .max_bytes = 250 << 10};
    std::vector<uint64_t> revisions;
    for (int page = 0; page < 100; ++page) {
      auto read = store_->ReadStream(request);
      ASSERT_TRUE(read.ok()) << read.status().ToString();
      EXPECT_LE(read->events.size(), 3u);
      EXPECT_FALSE(read->events.empty());
      for (const RecordedEvent& e : read->events) revisions.push_back(e.revision.value);
      if (!read->next) break;
      request.from = read->next;
    }
    ASSERT_EQ(revisions.size(), static_cast<size_t>(kEvents));
    for (int i = 0; i < kEvents; ++i) {
      const uint64_t expected = direction == Direction::kForwards ? i : kEvents - 1 - i;
      EXPECT_EQ(revisions[i], expected);
    }
  }
}

TEST_F(ReadBudgetTest, AnEventLargerThanTheBudgetIsAPageOfItsOwn) {
  auto read = store_->ReadStream({.stream = "order-1", .max_count = 1000, .max_bytes = 1});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->events.size(), 1u);
  EXPECT_EQ(read->next, Revision{1});
}

TEST_F(ReadBudgetTest, NoBudgetReadsByCountAlone) {
  auto read = store_->ReadAll({.max_count = 1000});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->events.size(), static_cast<size_t>(2 * kEvents));
  EXPECT_TRUE(read->end_of_log);
}

}  // namespace
}  // namespace annals
