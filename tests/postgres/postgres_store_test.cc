// The PostgreSQL store's own behaviour beyond the conformance suite: schema versions, lost
// connections, pool and statement timeouts mapped onto Status codes, and closing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "annals/postgres_store.h"
#include "pg_test_server.h"
#include "postgres/pg_connection.h"

namespace annals {
namespace {

using Clock = std::chrono::steady_clock;

AppendRequest OneEvent(std::string stream) {
  AppendRequest request;
  request.stream = std::move(stream);
  ProposedEvent event;
  event.type = "Happened";
  event.data = "{}";
  request.events.push_back(event);
  return request;
}

std::unique_ptr<pg::Connection> Admin(const std::string& conninfo) {
  auto connection = pg::Connection::Open({.conninfo = conninfo});
  EXPECT_TRUE(connection.ok()) << connection.status().ToString();
  return connection.ok() ? std::move(connection).value() : nullptr;
}

std::unique_ptr<EventStore> OpenOrFail(PostgresOptions options) {
  auto store = OpenPostgres(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

TEST(PostgresSchemaTest, MigrateCreatesTheSchemaOnceAndOpenChecksIt) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  PostgresOptions options{.conninfo = conninfo, .migrate = false};
  Result<std::unique_ptr<EventStore>> without = OpenPostgres(options);
  EXPECT_EQ(without.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(without.status().message().find("no Annals schema"), std::string::npos)
      << without.status().ToString();
  ASSERT_TRUE(MigratePostgres(conninfo).ok());
  ASSERT_TRUE(MigratePostgres(conninfo).ok());  // a no-op the second time
  auto admin = Admin(conninfo);
  ASSERT_NE(admin, nullptr);
  auto versions = admin->Exec("SELECT count(*)::bigint, max(version)::bigint FROM schema_version");
  ASSERT_TRUE(versions.ok()) << versions.status().ToString();
  EXPECT_EQ(versions->Int64(0, 0), 1);
  EXPECT_EQ(versions->Int64(0, 1), PostgresSchemaVersion());
  EXPECT_NE(OpenOrFail(options), nullptr);
}

TEST(PostgresSchemaTest, ANewerSchemaVersionIsRefused) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  ASSERT_TRUE(MigratePostgres(conninfo).ok());
  auto admin = Admin(conninfo);
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(admin->ExecScript("INSERT INTO schema_version (version) VALUES (99)").ok());
  for (bool migrate : {true, false}) {
    Result<std::unique_ptr<EventStore>> opened =
        OpenPostgres({.conninfo = conninfo, .migrate = migrate});
    EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(opened.status().message().find("version 99"), std::string::npos)
        << opened.status().ToString();
  }
  EXPECT_EQ(MigratePostgres(conninfo).code(), StatusCode::kInvalidArgument);
}

TEST(PostgresStoreTest, AnUnreachableServerIsUnavailable) {
  Result<std::unique_ptr<EventStore>> opened =
      OpenPostgres({.conninfo = "host=/nonexistent-annals-dir port=1 user=postgres"});
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable) << opened.status().ToString();
}

TEST(PostgresStoreTest, LostConnectionsAreReplacedAndTheListenerReconnects) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto writer = OpenOrFail({.conninfo = conninfo, .pool_size = 2});
  auto reader = OpenOrFail(
      {.conninfo = conninfo, .pool_size = 2, .head_poll_interval = std::chrono::milliseconds(200)});
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(writer->Append(OneEvent("order-1")).ok());
  ASSERT_TRUE(reader->ReadAll({}).ok());
  // Every connection of both stores (pooled and listening) is killed by the server.
  auto admin = Admin(conninfo);
  ASSERT_NE(admin, nullptr);
  auto killed = admin->Exec(
      "SELECT count(*)::bigint FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE application_name = 'annals' AND pid <> pg_backend_pid()) t");
  ASSERT_TRUE(killed.ok()) << killed.status().ToString();
  EXPECT_GE(killed->Int64(0, 0), 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  Result<AppendResult> appended = writer->Append(OneEvent("order-1"));
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  Result<ReadAllResult> read = reader->ReadAll({});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->events.size(), 2u);
  // The reader's listener is back: it learns of the writer's next commit.
  const Position head = reader->Head();
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(writer->Append(OneEvent("order-2")).ok());
  });
  const auto start = Clock::now();
  EXPECT_GT(reader->WaitForHead(head, std::chrono::seconds(10)), head);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  later.join();
}

TEST(PostgresStoreTest, AnotherStoresCommitWakesWaitersByNotification) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto writer = OpenOrFail({.conninfo = conninfo});
  // A poll interval far beyond the test: only the NOTIFY can wake the reader in time.
  auto reader = OpenOrFail({.conninfo = conninfo, .head_poll_interval = std::chrono::seconds(60)});
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the listener is listening
  for (int round = 0; round < 3; ++round) {
    const Position head = reader->Head();
    std::promise<Position> watched;
    std::future<Position> fired = watched.get_future();
    reader->WatchHead(head, [&](Position p) { watched.set_value(p); });
    std::thread later([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      EXPECT_TRUE(writer->Append(OneEvent("order-1")).ok());
    });
    const auto start = Clock::now();
    EXPECT_GT(reader->WaitForHead(head, std::chrono::seconds(20)), head);
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
    ASSERT_EQ(fired.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    EXPECT_GT(fired.get(), head);
    later.join();
  }
}

TEST(PostgresStoreTest, NoFreeConnectionWithinTheCheckoutTimeoutIsUnavailable) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto store = OpenOrFail(
      {.conninfo = conninfo, .pool_size = 1, .checkout_timeout = std::chrono::milliseconds(200)});
  ASSERT_NE(store, nullptr);
  // Another session holds the log head: the store's one connection waits in an append.
  auto admin = Admin(conninfo);
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(admin->ExecScript("BEGIN; LOCK TABLE log_head IN EXCLUSIVE MODE").ok());
  auto blocked = std::async(std::launch::async, [&] { return store->Append(OneEvent("a-1")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = Clock::now();
  Result<ReadAllResult> read = store->ReadAll({});
  EXPECT_EQ(read.status().code(), StatusCode::kUnavailable) << read.status().ToString();
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(190));
  ASSERT_TRUE(admin->ExecScript("ROLLBACK").ok());
  Result<AppendResult> appended = blocked.get();
  EXPECT_TRUE(appended.ok()) << appended.status().ToString();
  EXPECT_TRUE(store->ReadAll({}).ok());
}

TEST(PostgresStoreTest, AStatementTimeoutIsUnavailableAndWritesNothing) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto store =
      OpenOrFail({.conninfo = conninfo, .statement_timeout = std::chrono::milliseconds(300)});
  ASSERT_NE(store, nullptr);
  auto admin = Admin(conninfo);
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(admin->ExecScript("BEGIN; LOCK TABLE log_head IN EXCLUSIVE MODE").ok());
  Result<AppendResult> appended = store->Append(OneEvent("a-1"));
  EXPECT_EQ(appended.status().code(), StatusCode::kUnavailable) << appended.status().ToString();
  ASSERT_TRUE(admin->ExecScript("ROLLBACK").ok());
  EXPECT_EQ(store->GetStreamInfo("a-1").status().code(), StatusCode::kNotFound);
  Result<ReadAllResult> read = store->ReadAll({});
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->events.empty());
  EXPECT_TRUE(store->Append(OneEvent("a-1")).ok());  // and the store goes on
}

TEST(PostgresStoreTest, ClosingRunsPendingWatchesWithTheUnchangedHead) {
  auto store = OpenOrFail({.conninfo = pg::testing::FreshSchemaConninfo()});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Append(OneEvent("a-1")).ok());
  const Position head = store->Head();
  std::promise<Position> fired;
  std::future<Position> given = fired.get_future();
  store->WatchHead(head, [&](Position p) { fired.set_value(p); });
  EXPECT_EQ(given.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  store.reset();
  ASSERT_EQ(given.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(given.get(), head);
}

TEST(PostgresStoreTest, AsyncAppendsShareCommitsAndCloseCompletesThemAll) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto store = OpenOrFail({.conninfo = conninfo, .async_threads = 1});
  ASSERT_NE(store, nullptr);
  constexpr int kAppends = 200;
  std::atomic<int> ok{0};
  std::atomic<int> completed{0};
  std::promise<void> all_done;
  for (int i = 0; i < kAppends; ++i) {
    store->AppendAsync(OneEvent("s-" + std::to_string(i)), [&](Result<AppendResult> r) {
      if (r.ok()) ++ok;
      if (++completed == kAppends) all_done.set_value();
    });
  }
  ASSERT_EQ(all_done.get_future().wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_EQ(ok.load(), kAppends);
  Result<ReadAllResult> read = store->ReadAll({});
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->events.size(), size_t{kAppends});
  // Appends committed together share their commit time: far fewer commits than appends.
  std::set<int64_t> commits;
  for (const RecordedEvent& e : read->events) commits.insert(e.created.ticks);
  EXPECT_LT(commits.size(), size_t{kAppends / 4});

  // Appends still queued when the store closes are committed (or refused), never dropped.
  std::atomic<int> late{0};
  for (int i = 0; i < 50; ++i) {
    store->AppendAsync(OneEvent("late-" + std::to_string(i)), [&](Result<AppendResult> r) {
      EXPECT_TRUE(r.ok() || r.status().code() == StatusCode::kUnavailable) << r.status().ToString();
      ++late;
    });
  }
  store.reset();
  EXPECT_EQ(late.load(), 50);
}

TEST(PostgresStoreTest, TheSameIdsRacingIntoTwoStreamsCommitOnce) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto a = OpenOrFail({.conninfo = conninfo});
  auto b = OpenOrFail({.conninfo = conninfo});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  for (int round = 0; round < 20; ++round) {
    AppendRequest first = OneEvent("left-" + std::to_string(round));
    first.events[0].id = Uuid::Random();
    AppendRequest second = first;
    second.stream = "right-" + std::to_string(round);
    auto left = std::async(std::launch::async, [&] { return a->Append(first); });
    auto right = std::async(std::launch::async, [&] { return b->Append(second); });
    Result<AppendResult> l = left.get();
    Result<AppendResult> r = right.get();
    EXPECT_NE(l.ok(), r.ok()) << l.status().ToString() << " / " << r.status().ToString();
    const Status& refused = l.ok() ? r.status() : l.status();
    EXPECT_EQ(refused.code(), StatusCode::kIdempotencyConflict) << refused.ToString();
  }
}

}  // namespace
}  // namespace annals
