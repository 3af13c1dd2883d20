// Gap-free, commit-ordered positions under concurrent writers (docs/postgres.md, "Ordering").
//
// 16 writer threads, each through its own store and connection (16 nodes: a store commits its
// concurrent appends as one batch, so writers of one store would not race at the log head),
// append to many streams for a few seconds, while 3 readers tail `$all` through another store
// on the same database (it learns of commits by LISTEN/NOTIFY or its poll). A reader that
// moved past a position whose transaction committed later would never see that event. At the
// end every reader's sequence must equal the final `$all` exactly (nothing skipped, nothing
// repeated), and every acknowledged append must be in it where its result said.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "annals/postgres_store.h"
#include "pg_test_server.h"

namespace annals {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWriters = 16;
constexpr int kReaders = 3;
constexpr int kStreams = 40;
constexpr auto kWriteFor = std::chrono::seconds(4);

struct Acknowledged {
  std::vector<Uuid> ids;
  AppendResult result;
};

std::unique_ptr<EventStore> Open(const std::string& conninfo, uint32_t pool_size) {
  PostgresOptions options;
  options.conninfo = conninfo;
  options.pool_size = pool_size;
  auto store = OpenPostgres(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

// (position, id) of each event, in the order read.
using Sequence = std::vector<std::pair<uint64_t, Uuid>>;

// Tails `$all` from the start until `stop` is set and the log's end was reached after it.
Sequence Tail(EventStore& store, const std::atomic<bool>& stop, uint64_t max_count) {
  Sequence seen;
  ReadAllRequest request{.max_count = max_count};
  for (;;) {
    const bool stopping = stop.load();
    Result<ReadAllResult> page = store.ReadAll(request);
    if (!page.ok()) {
      ADD_FAILURE() << "ReadAll: " << page.status().ToString();
      return seen;
    }
    for (const RecordedEvent& event : page->events)
      seen.emplace_back(event.position.value, event.id);
    request.from = page->next;
    if (page->end_of_log) {
      if (stopping) return seen;
      store.WaitForHead(page->next, std::chrono::milliseconds(200));
    }
  }
}

TEST(PostgresOrderingTest, ConcurrentWritersNeverLetATailingReaderSkipOrRepeat) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  std::vector<std::unique_ptr<EventStore>> writer_stores;
  for (int w = 0; w < kWriters; ++w) {
    writer_stores.push_back(Open(conninfo, 1));
    ASSERT_NE(writer_stores.back(), nullptr);
  }
  std::unique_ptr<EventStore> readers_store = Open(conninfo, kReaders + 1);
  ASSERT_NE(readers_store, nullptr);

  std::atomic<bool> writers_done{false};
  std::vector<Sequence> sequences(kReaders);
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      sequences[r] = Tail(*readers_store, writers_done, /*max_count=*/r == 0 ? 7 : 500);
    });
  }

  std::vector<std::vector<Acknowledged>> acknowledged(kWriters);
  std::atomic<int> failures{0};
  const auto deadline = Clock::now() + kWriteFor;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 random(1000 + w);  // seeded: the same mix of streams and batch sizes
      while (Clock::now() < deadline) {
        AppendRequest request;
        request.stream = "order-" + std::to_string(random() % kStreams);
        const int events = 1 + static_cast<int>(random() % 3);
        Acknowledged ack;
        for (int i = 0; i < events; ++i) {
          ProposedEvent event;
          event.id = Uuid::Random();
          event.type = "Placed";
          event.data = "{\"writer\":" + std::to_string(w) + "}";
          ack.ids.push_back(*event.id);
          request.events.push_back(std::move(event));
        }
        Result<AppendResult> result = writer_stores[w]->Append(request);
        if (!result.ok()) {
          ++failures;
          ADD_FAILURE() << "writer " << w << ": " << result.status().ToString();
          return;
        }
        ack.result = *result;
        acknowledged[w].push_back(std::move(ack));
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  writers_done = true;
  for (std::thread& reader : readers) reader.join();
  ASSERT_EQ(failures.load(), 0);

  // The whole log, read once everything is committed.
  Sequence full;
  std::map<uint64_t, RecordedEvent> by_position;
  ReadAllRequest request{.max_count = 1000};
  for (;;) {
    Result<ReadAllResult> page = readers_store->ReadAll(request);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (RecordedEvent& event : page->events) {
      full.emplace_back(event.position.value, event.id);
      by_position.emplace(event.position.value, std::move(event));
    }
    request.from = page->next;
    if (page->end_of_log) break;
  }
  EXPECT_EQ(request.from, writer_stores[0]->Head());

  size_t appended = 0;
  for (int w = 0; w < kWriters; ++w) {
    for (const Acknowledged& ack : acknowledged[w]) {
      appended += ack.ids.size();
      // The append's events are contiguous, ending at the position its result named.
      const uint64_t first = ack.result.position.value - (ack.ids.size() - 1);
      for (size_t i = 0; i < ack.ids.size(); ++i) {
        auto it = by_position.find(first + i);
        ASSERT_NE(it, by_position.end()) << "acknowledged event missing at " << first + i;
        EXPECT_EQ(it->second.id, ack.ids[i]);
        EXPECT_EQ(it->second.revision.value, ack.result.first_revision.value + i);
      }
    }
  }
  EXPECT_EQ(full.size(), appended) << "events in the log that no writer acknowledged";
  for (size_t i = 1; i < full.size(); ++i) ASSERT_LT(full[i - 1].first, full[i].first);
  // Every stream's revisions are 0..n-1 in log order.
  std::map<std::string, uint64_t> next_revision;
  for (const auto& [position, event] : by_position) {
    ASSERT_EQ(event.revision.value, next_revision[event.stream]++) << event.stream;
  }
  for (int r = 0; r < kReaders; ++r) {
    SCOPED_TRACE("reader " + std::to_string(r));
    ASSERT_EQ(sequences[r].size(), full.size());
    EXPECT_TRUE(sequences[r] == full) << "a tailing reader saw another order or missed events";
  }
  std::printf(
      "[          ] %zu events in %zu appends by %d writers in %lld s; %d readers tailed\n",
      full.size(),
      [&] {
        size_t n = 0;
        for (const auto& a : acknowledged) n += a.size();
        return n;
      }(),
      kWriters, static_cast<long long>(kWriteFor.count()), kReaders);
}

}  // namespace
}  // namespace annals
