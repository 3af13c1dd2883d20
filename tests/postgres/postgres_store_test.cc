// The PostgreSQL store's own behaviour beyond the conformance suite: schema versions, lost
// connections, pool and statement timeouts mapped onto Status codes, and closing.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "annals/postgres_store.h"
#include "captured_log.h"
#include "cutting_proxy.h"
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
  EXPECT_EQ(versions->Int64(0, 0), PostgresSchemaVersion());  // one row per migration
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

TEST(PostgresSchemaTest, AVersionOneDatabaseIsUpgradedAndKeepsItsEvents) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  {
    auto store = OpenOrFail({.conninfo = conninfo});
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Append(OneEvent("before-1")).ok());
  }
  // What migration 2 added, taken away again: the database as version 1 left it.
  auto admin = Admin(conninfo);
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(admin
                  ->ExecScript("DROP FUNCTION annals_append; "
                               "DELETE FROM schema_version WHERE version = 2")
                  .ok());
  Result<std::unique_ptr<EventStore>> refused =
      OpenPostgres({.conninfo = conninfo, .migrate = false});
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("version 1; this build needs 2"), std::string::npos)
      << refused.status().ToString();
  auto store = OpenOrFail({.conninfo = conninfo});
  ASSERT_NE(store, nullptr);
  Result<AppendResult> after = store->Append(OneEvent("after-1"));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->position, Position{2});
  Result<ReadAllResult> all = store->ReadAll({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->events.size(), 2u);
  EXPECT_EQ(all->events[0].stream, "before-1");
  auto function = admin->Exec(
      "SELECT count(*)::bigint FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
      "WHERE p.proname = 'annals_append' AND n.nspname = current_schema()");
  ASSERT_TRUE(function.ok());
  EXPECT_EQ(function->Int64(0, 0), 1);
}

// The server's port, from the test server's connection string ("... port=N ...").
std::string ServerPort() {
  const std::string& conninfo = pg::testing::ServerConninfo();
  const size_t at = conninfo.find("port=");
  if (at == std::string::npos) return "";
  return conninfo.substr(at + 5, conninfo.find(' ', at) - at - 5);
}

int SocketOption(int fd, int level, int name) {
  int value = -1;
  socklen_t size = sizeof(value);
  EXPECT_EQ(getsockopt(fd, level, name, &value, &size), 0);
  return value;
}

// A database host that vanishes must not hold a request for minutes: every TCP connection
// probes an idle peer and gives up on unacknowledged data (pg_connection.cc).
TEST(PostgresStoreTest, TcpConnectionsProbeTheServerAndTimeOutUnansweredData) {
  const std::string port = ServerPort();
  ASSERT_FALSE(port.empty()) << pg::testing::ServerConninfo();
  const std::string tcp = "host=127.0.0.1 port=" + port + " user=postgres dbname=postgres";
  auto connection = pg::Connection::Open({.conninfo = tcp});
  ASSERT_TRUE(connection.ok()) << connection.status().ToString();
  const int fd = PQsocket((*connection)->raw());
  EXPECT_EQ(SocketOption(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(SocketOption(fd, IPPROTO_TCP, TCP_KEEPIDLE), 5);
  EXPECT_EQ(SocketOption(fd, IPPROTO_TCP, TCP_KEEPINTVL), 2);
  EXPECT_EQ(SocketOption(fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
  EXPECT_EQ(SocketOption(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 10000);
  // The user's connection string has the last word.
  auto own = pg::Connection::Open({.conninfo = tcp + " keepalives_idle=30 tcp_user_timeout=0"});
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(SocketOption(PQsocket((*own)->raw()), IPPROTO_TCP, TCP_KEEPIDLE), 30);
  EXPECT_EQ(SocketOption(PQsocket((*own)->raw()), IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
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
  // A busy pool is load, not an outage: readiness says so without waiting for a connection.
  const auto probed = Clock::now();
  EXPECT_TRUE(store->CheckHealth().ok()) << store->CheckHealth().ToString();
  EXPECT_LT(Clock::now() - probed, std::chrono::milliseconds(150));
  ASSERT_TRUE(admin->ExecScript("ROLLBACK").ok());
  Result<AppendResult> appended = blocked.get();
  EXPECT_TRUE(appended.ok()) << appended.status().ToString();
  EXPECT_TRUE(store->ReadAll({}).ok());
}

using pg::testing::CapturedLog;

TEST(PostgresStoreTest, OneSessionEndedByTheServerIsNotAnOutage) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto store = OpenOrFail({.conninfo = conninfo, .pool_size = 2});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Append(OneEvent("a-1")).ok());
  CapturedLog log;
  // The store's append waits for the log head, and the server ends that one session.
  auto admin = Admin(conninfo);
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(admin->ExecScript("BEGIN; LOCK TABLE log_head IN EXCLUSIVE MODE").ok());
  auto blocked = std::async(std::launch::async, [&] { return store->Append(OneEvent("a-2")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto killed = admin->Exec(
      "SELECT count(*)::bigint FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE application_name = 'annals' AND wait_event_type = 'Lock') t");
  ASSERT_TRUE(killed.ok()) << killed.status().ToString();
  EXPECT_EQ(killed->Int64(0, 0), 1);
  // The ended session's call may or may not have committed; the store settles that on
  // another connection, which waits for the log head as the first one did.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(admin->ExecScript("ROLLBACK").ok());
  Result<AppendResult> appended = blocked.get();
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  EXPECT_FALSE(appended->idempotent);  // the first call never got the head: written now
  Result<ReadStreamResult> stream = store->ReadStream({.stream = "a-2"});
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  ASSERT_EQ(stream->events.size(), 1u);
  EXPECT_EQ(stream->events[0].position, appended->position);
  // The database never went away: the store goes on, and its log raises no alarm.
  EXPECT_TRUE(store->Append(OneEvent("a-3")).ok());
  EXPECT_TRUE(store->CheckHealth().ok());
  EXPECT_EQ(log.Text().find("unavailable"), std::string::npos) << log.Text();
}

// A store whose connections pass through a proxy that can lose the server's answers.
struct StoreBehindProxy {
  pg::testing::CuttingProxy proxy{std::stoi(ServerPort())};
  std::unique_ptr<EventStore> store =
      OpenOrFail({.conninfo = pg::testing::FreshSchemaConninfo() +
                              " host=127.0.0.1 port=" + std::to_string(proxy.port()),
                  .pool_size = 1,
                  .head_poll_interval = std::chrono::seconds(60)});
};

// The one event of `stream`, which must be the one `appended` answered for.
void ExpectStoredOnce(EventStore& store, const std::string& stream, const AppendResult& appended) {
  Result<ReadStreamResult> read = store.ReadStream({.stream = stream});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->events.size(), 1u);
  EXPECT_EQ(read->events[0].position, appended.position);
  EXPECT_EQ(read->events[0].revision, appended.last_revision);
}

// The answer of a committed append is lost with its connection. The append carried no event
// ids: the store's own, drawn when it queued it, find it in the log, so the caller gets its
// result instead of "may or may not have committed", and it is stored once.
TEST(PostgresStoreTest, AnAppendWhoseAnswerWasLostIsAnsweredFromTheLog) {
  StoreBehindProxy behind;
  ASSERT_NE(behind.store, nullptr);
  ASSERT_TRUE(behind.store->Append(OneEvent("a-1")).ok());
  // The answer to the call of annals_append names its columns.
  behind.proxy.CutAnswerContaining("out_last_position");
  Result<AppendResult> appended = behind.store->Append(OneEvent("a-2"));
  EXPECT_EQ(behind.proxy.cuts(), 1);
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  EXPECT_TRUE(appended->idempotent);  // found, not written again
  ExpectStoredOnce(*behind.store, "a-2", *appended);
  Result<ReadAllResult> all = behind.store->ReadAll({});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->events.size(), 2u);
}

// The same for the long way (a soft-deleted stream appended to again, which annals_append
// declines): its COMMIT is answered into a connection that is gone.
TEST(PostgresStoreTest, ALostCommitIsAnsweredFromTheLog) {
  StoreBehindProxy behind;
  ASSERT_NE(behind.store, nullptr);
  ASSERT_TRUE(behind.store->Append(OneEvent("b-1")).ok());
  ASSERT_TRUE(behind.store->DeleteStream("b-1", ExpectedRevision::Any(), DeleteMode::kSoft).ok());
  behind.proxy.CutAnswerContaining(std::string("COMMIT\0", 7));  // its CommandComplete
  Result<AppendResult> appended = behind.store->Append(OneEvent("b-1"));
  EXPECT_EQ(behind.proxy.cuts(), 1);
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  EXPECT_TRUE(appended->idempotent);
  EXPECT_EQ(appended->last_revision, Revision{1});
  ExpectStoredOnce(*behind.store, "b-1", *appended);
}

// The events of `stream` (system streams included), or a failure.
std::vector<RecordedEvent> EventsOf(EventStore& store, const std::string& stream) {
  Result<ReadStreamResult> read = store.ReadStream({.stream = stream});
  EXPECT_TRUE(read.ok()) << read.status().ToString();
  return read.ok() ? read->events : std::vector<RecordedEvent>{};
}

// Metadata writes and deletes whose COMMIT got no answer are settled like appends: the write's
// record id is drawn once, and the next attempt finds the record or writes it.
TEST(PostgresStoreTest, AMetadataWriteWhoseCommitAnswerWasLostIsAnsweredFromTheLog) {
  StoreBehindProxy behind;
  ASSERT_NE(behind.store, nullptr);
  ASSERT_TRUE(behind.store->Append(OneEvent("m-1")).ok());
  behind.proxy.CutAnswerContaining(std::string("COMMIT\0", 7));
  Result<AppendResult> written =
      behind.store->SetStreamMetadata("m-1", ExpectedRevision::NoStream(), {.max_count = 5});
  EXPECT_EQ(behind.proxy.cuts(), 1);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(written->last_revision, Revision{0});
  const std::vector<RecordedEvent> records = EventsOf(*behind.store, "$$m-1");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].position, written->position);
  Result<StreamMetadataResult> metadata = behind.store->GetStreamMetadata("m-1");
  ASSERT_TRUE(metadata.ok()) << metadata.status().ToString();
  EXPECT_EQ(metadata->metadata.max_count, 5u);
}

TEST(PostgresStoreTest, DeletesWhoseCommitAnswerWasLostAreAnsweredFromTheLog) {
  StoreBehindProxy behind;
  ASSERT_NE(behind.store, nullptr);
  ASSERT_TRUE(behind.store->Append(OneEvent("d-1")).ok());
  ASSERT_TRUE(behind.store->Append(OneEvent("d-2")).ok());
  behind.proxy.CutAnswerContaining(std::string("COMMIT\0", 7));
  Result<DeleteResult> soft =
      behind.store->DeleteStream("d-1", ExpectedRevision::Exact(Revision{0}), DeleteMode::kSoft);
  EXPECT_EQ(behind.proxy.cuts(), 1);
  ASSERT_TRUE(soft.ok()) << soft.status().ToString();
  const std::vector<RecordedEvent> soft_records = EventsOf(*behind.store, "$$d-1");
  ASSERT_EQ(soft_records.size(), 1u);
  EXPECT_EQ(soft_records[0].position, soft->position);
  EXPECT_EQ(behind.store->ReadStream({.stream = "d-1"}).status().code(), StatusCode::kNotFound);

  behind.proxy.CutAnswerContaining(std::string("COMMIT\0", 7));
  Result<DeleteResult> tombstone = behind.store->DeleteStream(
      "d-2", ExpectedRevision::Exact(Revision{0}), DeleteMode::kTombstone);
  EXPECT_EQ(behind.proxy.cuts(), 2);
  ASSERT_TRUE(tombstone.ok()) << tombstone.status().ToString();
  EXPECT_EQ(behind.store->ReadStream({.stream = "d-2"}).status().code(),
            StatusCode::kStreamDeleted);
  Result<ReadAllResult> all = behind.store->ReadAll({});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  // Two events, one metadata record, one tombstone: each write stored once.
  ASSERT_EQ(all->events.size(), 4u);
  EXPECT_EQ(all->events[2].position, soft->position);
  EXPECT_EQ(all->events[3].position, tombstone->position);
  EXPECT_EQ(all->events[3].stream, "d-2");
  EXPECT_EQ(all->events[3].type, "$streamDeleted");
}

// The COMMIT itself is lost on its way: the first attempt's session ends without committing,
// and the next attempt writes the record, once.
TEST(PostgresStoreTest, AMetadataWriteWhoseCommitWasLostIsWrittenOnce) {
  StoreBehindProxy behind;
  ASSERT_NE(behind.store, nullptr);
  behind.proxy.CutRequestContaining("; COMMIT");
  Result<AppendResult> written =
      behind.store->SetStreamMetadata("n-1", ExpectedRevision::Any(), {.max_count = 7});
  EXPECT_EQ(behind.proxy.cuts(), 1);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  const std::vector<RecordedEvent> records = EventsOf(*behind.store, "$$n-1");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].position, written->position);
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

// One batch whose appends are written in one statement and declined to the long way
// (append_statement.cc): every append still gets its own, exact answer.
TEST(PostgresStoreTest, EveryAppendOfAMixedBatchGetsItsOwnAnswer) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto store = OpenOrFail({.conninfo = conninfo, .async_threads = 1});
  ASSERT_NE(store, nullptr);
  for (const char* stream : {"kept", "deleted", "gone"}) {
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(store->Append(OneEvent(stream)).ok());
  }
  ASSERT_TRUE(store->DeleteStream("deleted", ExpectedRevision::Any(), DeleteMode::kSoft).ok());
  ASSERT_TRUE(store->DeleteStream("gone", ExpectedRevision::Any(), DeleteMode::kTombstone).ok());
  AppendRequest retried = OneEvent("retried");
  retried.events[0].id = Uuid::Random();
  Result<AppendResult> original = store->Append(retried);
  ASSERT_TRUE(original.ok());
  ASSERT_TRUE(store->SetStreamMetadata("limited", ExpectedRevision::Any(), {.max_count = 5}).ok());

  struct Case {
    AppendRequest request;
    StatusCode code;
    uint64_t first_revision = 0;
  };
  auto with = [](std::string stream, ExpectedRevision expected) {
    AppendRequest request = OneEvent(std::move(stream));
    request.expected = expected;
    return request;
  };
  std::vector<Case> cases = {
      {with("kept", ExpectedRevision::Exact(Revision{1})), StatusCode::kOk, 2},
      {with("new", ExpectedRevision::NoStream()), StatusCode::kOk, 0},
      {with("deleted", ExpectedRevision::NoStream()), StatusCode::kOk, 2},
      {with("gone", ExpectedRevision::Any()), StatusCode::kStreamDeleted},
      {retried, StatusCode::kOk, original->first_revision.value},
      {with("missing", ExpectedRevision::StreamExists()), StatusCode::kWrongExpectedRevision},
      {with("stale", ExpectedRevision::Exact(Revision{4})), StatusCode::kWrongExpectedRevision},
      {with("limited", ExpectedRevision::NoStream()), StatusCode::kOk, 0},
      {with("borrower", ExpectedRevision::Any()), StatusCode::kIdempotencyConflict},
  };
  cases.back().request.events[0].id = retried.events[0].id;       // used in another stream
  cases[0].request.events.push_back(cases[0].request.events[0]);  // two events
  // Queued at once, so they share batches (a single worker commits them).
  std::vector<std::promise<Result<AppendResult>>> answers(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    store->AppendAsync(cases[i].request,
                       [&answers, i](Result<AppendResult> r) { answers[i].set_value(r); });
  }
  std::set<uint64_t> written_positions;
  for (size_t i = 0; i < cases.size(); ++i) {
    Result<AppendResult> answer = answers[i].get_future().get();
    ASSERT_EQ(answer.status().code(), cases[i].code)
        << cases[i].request.stream << ": " << answer.status().ToString();
    if (!answer.ok()) continue;
    EXPECT_EQ(answer->first_revision.value, cases[i].first_revision) << cases[i].request.stream;
    EXPECT_EQ(answer->last_revision.value,
              cases[i].first_revision + cases[i].request.events.size() - 1);
    if (cases[i].request.stream == "retried") {
      EXPECT_TRUE(answer->idempotent);
      EXPECT_EQ(*answer, (AppendResult{original->first_revision, original->last_revision,
                                       original->position, true}));
      continue;
    }
    EXPECT_FALSE(answer->idempotent) << cases[i].request.stream;
    // The answer's position holds the append's last event.
    Result<ReadAllResult> at = store->ReadAll({.from = answer->position, .max_count = 1});
    ASSERT_TRUE(at.ok());
    ASSERT_EQ(at->events.size(), 1u);
    EXPECT_EQ(at->events[0].stream, cases[i].request.stream);
    EXPECT_EQ(at->events[0].revision, answer->last_revision);
    written_positions.insert(answer->position.value);
  }
  EXPECT_EQ(written_positions.size(), 4u);
  // The log stays dense, and the catalog agrees with what was written.
  Result<ReadAllResult> all = store->ReadAll({});
  ASSERT_TRUE(all.ok());
  for (size_t i = 0; i < all->events.size(); ++i) {
    EXPECT_EQ(all->events[i].position.value, i + 1);
  }
  EXPECT_EQ(store->Head().value, all->events.size() + 1);
  Result<StreamInfo> kept = store->GetStreamInfo("kept");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->last_revision, Revision{3});
  // Refused appends to streams without events leave no catalog row behind.
  auto admin = Admin(conninfo);
  ASSERT_NE(admin, nullptr);
  auto rows = admin->Exec(
      "SELECT count(*)::bigint FROM streams WHERE name IN ('stale', 'missing', 'borrower')");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->Int64(0, 0), 0);
  Result<ReadStreamResult> deleted = store->ReadStream({.stream = "deleted"});
  ASSERT_TRUE(deleted.ok());
  ASSERT_EQ(deleted->events.size(), 1u);  // the recreated stream shows only the new event
  EXPECT_EQ(deleted->events[0].revision, Revision{2});
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

// Three stores on one database (as three nodes) race the writes that read a stream's metadata
// under its row lock. A `SELECT ... FOR UPDATE` that waited re-read the stream's row but not
// its joined metadata: two recreations of a soft-deleted stream each wrote a `$tb` (hiding the
// other's acknowledged events), an append after a racing soft delete set the stream back to
// soft-deleted, and concurrent metadata writes all passed one expected revision.
TEST(PostgresStoreTest, NodesRacingOnAStreamsMetadataAgreeWithEveryAnswer) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  std::vector<std::unique_ptr<EventStore>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(OpenOrFail({.conninfo = conninfo}));
    ASSERT_NE(nodes.back(), nullptr);
  }
  auto visible = [&](const std::string& stream) {
    std::set<uint64_t> revisions;
    auto read = nodes[0]->ReadStream({.stream = stream, .max_count = 100});
    if (read.ok()) {
      for (const auto& e : read->events) revisions.insert(e.revision.value);
    }
    return revisions;
  };
  for (int round = 0; round < 12; ++round) {
    // Appends racing each other to recreate a soft-deleted stream: every one acknowledged
    // is visible.
    const std::string recreated = "recreated-" + std::to_string(round);
    ASSERT_TRUE(nodes[0]->Append(OneEvent(recreated)).ok());
    ASSERT_TRUE(nodes[0]->DeleteStream(recreated, ExpectedRevision::Any(), DeleteMode::kSoft).ok());
    std::vector<std::future<Result<AppendResult>>> appends;
    for (auto& node : nodes) {
      appends.push_back(std::async(
          std::launch::async, [&node, &recreated] { return node->Append(OneEvent(recreated)); }));
    }
    std::set<uint64_t> acknowledged;
    for (auto& a : appends) {
      Result<AppendResult> r = a.get();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      acknowledged.insert(r->first_revision.value);
    }
    EXPECT_EQ(visible(recreated), acknowledged) << recreated;

    // A soft delete racing two appends: the appends that commit after it are visible.
    const std::string raced = "raced-" + std::to_string(round);
    ASSERT_TRUE(nodes[0]->Append(OneEvent(raced)).ok());
    auto deleted = std::async(std::launch::async, [&] {
      return nodes[0]->DeleteStream(raced, ExpectedRevision::Any(), DeleteMode::kSoft);
    });
    auto first = std::async(std::launch::async, [&] { return nodes[1]->Append(OneEvent(raced)); });
    auto second = std::async(std::launch::async, [&] { return nodes[2]->Append(OneEvent(raced)); });
    Result<DeleteResult> d = deleted.get();
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    std::set<uint64_t> after_delete;
    for (auto* f : {&first, &second}) {
      Result<AppendResult> r = f->get();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (r->position.value > d->position.value) after_delete.insert(r->first_revision.value);
    }
    EXPECT_EQ(visible(raced), after_delete) << raced;

    // Metadata writes with one expected revision: exactly one wins.
    const std::string described = "described-" + std::to_string(round);
    ASSERT_TRUE(nodes[0]->Append(OneEvent(described)).ok());
    std::vector<std::future<Result<AppendResult>>> writes;
    for (size_t i = 0; i < nodes.size(); ++i) {
      writes.push_back(std::async(std::launch::async, [&, i] {
        StreamMetadata metadata;
        metadata.max_count = 10 + i;
        return nodes[i]->SetStreamMetadata(described, ExpectedRevision::NoStream(), metadata);
      }));
    }
    int won = 0;
    for (auto& w : writes) {
      Result<AppendResult> r = w.get();
      if (r.ok()) {
        ++won;
      } else {
        EXPECT_EQ(r.status().code(), StatusCode::kWrongExpectedRevision) << r.status().ToString();
      }
    }
    EXPECT_EQ(won, 1) << described;
  }
}

}  // namespace
}  // namespace annals
