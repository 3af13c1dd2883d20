// The SDK helpers against a real `annals serve` (memory store) through the remote store:
// typed events, the aggregate helper under racing writers, the projection runner's
// checkpoint-in-the-same-transaction, the idempotent consumer, and `annals replay`.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "../delivery/test_receiver.h"
#include "../http/test_support.h"
#include "annals/aggregate.h"
#include "annals/engine.h"
#include "annals/projection.h"
#include "annals/remote_store.h"
#include "annals/sqlite_statement.h"
#include "child_process.h"
#include "visit_events.h"

namespace hospital::testing {
namespace {

using annals::http::testing::Json;
using annals::http::testing::ServerProcess;

struct Counter {
  int64_t value = 0;
};

// The helpers run over the EventStore interface: each test runs twice, on the embedded engine
// in this process and on the remote store talking to a real server, with the same code and
// the same expectations.
class Sdk : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hospital-sdk-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    if (GetParam() == "Embedded") {
      auto engine = annals::OpenEngine(
          {.data_dir = dir_ + "/engine", .durability = annals::Durability::kUnsafeNoSync});
      ASSERT_TRUE(engine.ok()) << engine.status().ToString();
      store_ = std::move(engine).value();
    } else {
      server_ = std::make_unique<ServerProcess>();
      auto store = annals::ConnectRemote({.url = server_->Url("")});
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      store_ = std::move(store).value();
    }
    // Two connections: the one the helpers write with, and one to watch committed state.
    ASSERT_EQ(sqlite3_open((dir_ + "/model.db").c_str(), &db_), SQLITE_OK);
    ASSERT_EQ(sqlite3_open((dir_ + "/model.db").c_str(), &reader_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
    sqlite3_busy_timeout(reader_, 5000);
  }
  void TearDown() override {
    sqlite3_close(db_);
    sqlite3_close(reader_);
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  int64_t CountRows(const std::string& table) {
    annals::SqlStatement q(reader_, "SELECT count(*) FROM " + table);
    return q.Step() == SQLITE_ROW ? q.Int(0) : -1;
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<annals::EventStore> store_;
  std::string dir_;
  sqlite3* db_ = nullptr;
  sqlite3* reader_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Backends, Sdk, ::testing::Values("Embedded", "Remote"),
                         [](const auto& info) { return info.param; });

// `annals replay` against a server.
class Replay : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = annals::ConnectRemote({.url = server_.Url("")});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  ServerProcess server_;
  std::unique_ptr<annals::EventStore> store_;
};

TEST(TypedEvents, RoundTripAndDerivedIds) {
  const PatientTested t{"blood", "v1"};
  annals::ProposedEvent p = annals::ToProposed(t, annals::DeriveEventId("cmd-1"));
  EXPECT_EQ(p.type, "PatientTested");
  EXPECT_EQ(Json::parse(p.data), Json::parse(R"({"test":"blood","visitId":"v1"})"));
  annals::RecordedEvent r;
  r.type = p.type;
  r.data = p.data;
  auto any = annals::DecodeAny<PatientCheckedIn, PatientTested>(r);
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(std::get<PatientTested>(*any).test, "blood");
  EXPECT_FALSE(annals::DecodeAs<RoomAssigned>(r).has_value());
  r.data = R"({"test":1})";
  EXPECT_FALSE(annals::DecodeAs<PatientTested>(r).has_value());
  EXPECT_EQ(annals::DeriveEventId("cmd-1"), annals::DeriveEventId("cmd-1"));
  EXPECT_NE(annals::DeriveEventId("cmd-1", 0), annals::DeriveEventId("cmd-1", 1));
  EXPECT_NE(annals::DeriveEventId("cmd-1"), annals::DeriveEventId("cmd-2"));
  EXPECT_EQ(annals::DeriveEventId("x").ToString()[14], '5');  // version 5
}

TEST_P(Sdk, AggregateRetriesConflictsAndLosesNothing) {
  constexpr int kWriters = 6;
  std::vector<std::thread> writers;
  std::atomic<int> ok{0};
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto outcome = annals::Execute<Counter>(
          *store_, "counter-1", [](Counter& c, const annals::RecordedEvent&) { ++c.value; },
          [&](const Counter& c, std::optional<annals::Revision>)
              -> annals::Result<std::vector<annals::ProposedEvent>> {
            annals::ProposedEvent e;
            e.type = "Incremented";
            e.data = "{\"from\":" + std::to_string(c.value) + "}";
            e.id = annals::DeriveEventId("inc-" + std::to_string(w));
            return std::vector{e};
          },
          {.max_attempts = 50, .backoff = std::chrono::milliseconds(1)});
      ok += outcome.ok();
      if (!outcome.ok()) ADD_FAILURE() << outcome.status().ToString();
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(ok.load(), kWriters);
  auto read = store_->ReadStream({.stream = "counter-1"});
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->events.size(), static_cast<size_t>(kWriters));
  // Each decision saw every earlier event: the counts are 0..n-1, none decided on stale state.
  for (size_t i = 0; i < read->events.size(); ++i) {
    EXPECT_EQ(read->events[i].data, "{\"from\":" + std::to_string(i) + "}");
  }
  // A command repeated after it succeeded is an idempotent append (same derived ids)...
  auto repeat = annals::Execute<Counter>(
      *store_, "counter-1", [](Counter&, const annals::RecordedEvent&) {},
      [&](const Counter&,
          std::optional<annals::Revision>) -> annals::Result<std::vector<annals::ProposedEvent>> {
        annals::ProposedEvent e;
        e.type = "Incremented";
        e.data = read->events[2].data;
        e.id = read->events[2].id;
        return std::vector{e};
      });
  ASSERT_TRUE(repeat.ok()) << repeat.status().ToString();
  EXPECT_TRUE(repeat->append->idempotent);
  // ...and a refusal comes back as decided.
  auto refused = annals::Execute<Counter>(
      *store_, "counter-1", [](Counter&, const annals::RecordedEvent&) {},
      [](const Counter&, std::optional<annals::Revision> version)
          -> annals::Result<std::vector<annals::ProposedEvent>> {
        EXPECT_EQ(version, annals::Revision{kWriters - 1});
        return annals::Status(annals::StatusCode::kInvalidArgument, "no");
      });
  EXPECT_EQ(refused.status().code(), annals::StatusCode::kInvalidArgument);
}

TEST_P(Sdk, ProjectionCheckpointCommitsWithTheChanges) {
  ASSERT_TRUE(annals::SqlExec(db_, "CREATE TABLE seen (stream TEXT, revision INTEGER)").ok());
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(store_
                    ->Append({.stream = "order-" + std::to_string(i % 5),
                              .events = {{.type = "Placed", .data = "{}"}}})
                    .ok());
  }
  ASSERT_TRUE(store_->Append({.stream = "other-1", .events = {{.type = "X", .data = "{}"}}}).ok());
  int calls = 0;
  int fail_at = 12;  // the 12th event fails once: its whole batch rolls back
  auto handler = [&](sqlite3* db, const annals::RecordedEvent& e) -> annals::Status {
    if (++calls == fail_at) return annals::Status(annals::StatusCode::kUnavailable, "boom");
    return annals::SqlStatement(db, "INSERT INTO seen VALUES (?1, ?2)")
        .Bind(1, e.stream)
        .Bind(2, static_cast<int64_t>(e.revision.value))
        .Done();
  };
  annals::ProjectionRunner runner(
      *store_, db_, {.name = "orders", .filter = {.category = "order"}, .batch_events = 10},
      handler);
  auto first = runner.CatchUp();
  EXPECT_EQ(first.status().code(), annals::StatusCode::kUnavailable);
  auto seen = [&] { return CountRows("seen"); };
  EXPECT_EQ(seen(), 10);  // the first batch committed, the second rolled back whole
  fail_at = -1;
  auto second = runner.CatchUp();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, 15u);
  EXPECT_EQ(seen(), 25);
  EXPECT_EQ(CountRows("(SELECT DISTINCT stream, revision FROM seen)"), 25);
  // Live: Run applies what commits later, and stops when asked.
  std::atomic<bool> stop{false};
  std::thread run([&] { EXPECT_TRUE(runner.Run(stop).ok()); });
  ASSERT_TRUE(
      store_->Append({.stream = "order-9", .events = {{.type = "Placed", .data = "{}"}}}).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (seen() < 26 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  run.join();
  EXPECT_EQ(seen(), 26);
  // Reset drops the model and the checkpoint together: a rebuild replays the log.
  ASSERT_TRUE(
      runner.Reset([](sqlite3* db) { return annals::SqlExec(db, "DELETE FROM seen"); }).ok());
  EXPECT_EQ(runner.Checkpoint()->value, 0u);
  EXPECT_EQ(*runner.CatchUp(), 26u);
  EXPECT_EQ(seen(), 26);
}

TEST_P(Sdk, IdempotentConsumerHandlesEachEventOnce) {
  annals::IdempotentConsumer consumer(db_, "mailer");
  ASSERT_TRUE(annals::SqlExec(db_, "CREATE TABLE mails (n INTEGER)").ok());
  const annals::Uuid a = annals::Uuid::Random(), b = annals::Uuid::Random();
  auto send = [](sqlite3* db) { return annals::SqlExec(db, "INSERT INTO mails VALUES (1)"); };
  EXPECT_TRUE(*consumer.HandleOnce(a, send));
  EXPECT_FALSE(*consumer.HandleOnce(a, send));  // redelivered
  // A failed handling records nothing: the redelivery is handled.
  auto failed = consumer.HandleOnce(
      b, [](sqlite3*) { return annals::Status(annals::StatusCode::kUnavailable, "smtp down"); });
  EXPECT_FALSE(failed.ok());
  EXPECT_FALSE(*consumer.WasHandled(b));
  EXPECT_TRUE(*consumer.HandleOnce(b, send));
  EXPECT_EQ(CountRows("mails"), 2);
  // Another consumer in the same database keeps its own ledger.
  annals::IdempotentConsumer other(db_, "auditor");
  EXPECT_TRUE(*other.HandleOnce(a, [](sqlite3*) { return annals::Status::Ok(); }));
}

TEST_P(Sdk, ErrorsAreTheSameStatusCodes) {
  auto first = store_->Append({.stream = "visit-x",
                               .expected = annals::ExpectedRevision::NoStream(),
                               .events = {{.type = "A", .data = "{\"a\": [1, 2]}"}}});
  ASSERT_TRUE(first.ok());
  auto again = store_->Append({.stream = "visit-x",
                               .expected = annals::ExpectedRevision::NoStream(),
                               .events = {{.type = "A", .data = "{}"}}});
  EXPECT_EQ(again.status().code(), annals::StatusCode::kWrongExpectedRevision);
  ASSERT_TRUE(again.status().conflict().has_value());
  EXPECT_EQ(again.status().conflict()->actual, annals::Revision{0});
  EXPECT_EQ(store_->ReadStream({.stream = "visit-none"}).status().code(),
            annals::StatusCode::kNotFound);
  EXPECT_EQ(
      store_->Append({.stream = "visit-x", .events = {{.type = "A", .data = "{"}}}).status().code(),
      annals::StatusCode::kInvalidArgument);
  auto read = store_->ReadStream({.stream = "visit-x"});
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->events[0].data, "{\"a\": [1, 2]}");  // byte for byte
  EXPECT_EQ(store_
                ->Append({.stream = "visit-x",
                          .events = {{.type = "A", .data = std::string(17 << 20, ' ')}}})
                .status()
                .code(),
            annals::StatusCode::kTooLarge);
  ASSERT_TRUE(
      store_
          ->DeleteStream("visit-x", annals::ExpectedRevision::Any(), annals::DeleteMode::kTombstone)
          .ok());
  EXPECT_EQ(store_->ReadStream({.stream = "visit-x"}).status().code(),
            annals::StatusCode::kStreamDeleted);
  if (GetParam() == "Remote") {
    auto down = annals::ConnectRemote({.url = "http://127.0.0.1:1"});
    EXPECT_EQ(down.status().code(), annals::StatusCode::kUnavailable);
  }
}

TEST_F(Replay, WritesJsonLinesFromAPositionAndTime) {
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(store_
                    ->Append({.stream = "visit-" + std::to_string(i % 3),
                              .events = {{.type = i % 2 ? "Odd" : "Even",
                                          .data = "{\"i\":" + std::to_string(i) + "}"}}})
                    .ok());
  }
  ASSERT_TRUE(
      store_->Append({.stream = "other-1", .events = {{.type = "Even", .data = "{}"}}}).ok());
  std::string out;
  ASSERT_EQ(
      RunProgram("annals", {"replay", "--server", server_.Url(""), "--category", "visit"}, &out), 0)
      << out;
  std::vector<Json> lines;
  for (size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1) {
    lines.push_back(Json::parse(out.substr(at, nl - at)));
  }
  ASSERT_EQ(lines.size(), 30u);  // no progress bar: stdout is not a terminal
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["data"]["i"], i);
  // From the position of the 11th event, only Even ones.
  const std::string from = std::to_string(lines[10]["position"].get<uint64_t>());
  ASSERT_EQ(RunProgram("annals",
                       {"replay", "--server", server_.Url(""), "--category", "visit", "--type",
                        "Even", "--from", from},
                       &out),
            0);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 10);
  // One stream, from a time after every event: nothing.
  ASSERT_EQ(RunProgram("annals",
                       {"replay", "--server", server_.Url(""), "--stream", "visit-1", "--since",
                        "2999-01-01T00:00:00Z"},
                       &out),
            0);
  EXPECT_EQ(out, "");
  ASSERT_EQ(
      RunProgram("annals", {"replay", "--server", server_.Url(""), "--stream", "visit-1"}, &out),
      0);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 10);
  EXPECT_EQ(out.find("ETA"), std::string::npos);
  // On a terminal (script(1) gives it a pseudo-terminal) the progress bar appears on stderr.
  const std::string command =
      BinDir() + "/annals replay --server " + server_.Url("") + " --stream visit-1 > /dev/tty";
  ASSERT_EQ(RunProgram("/usr/bin/script", {"-qec", command, "/dev/null"}, &out), 0) << out;
  EXPECT_NE(out.find("100%  10 events"), std::string::npos) << out;
  EXPECT_NE(out.find("ETA"), std::string::npos) << out;
}

TEST_F(Replay, PostsEachEventToAWebhook) {
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(
        store_
            ->Append({.stream = "visit-7",
                      .events = {{.type = "Seen", .data = "{\"i\":" + std::to_string(i) + "}"}}})
            .ok());
  }
  annals::delivery::testing::TestReceiver receiver;
  receiver.Start();
  std::string out;
  ASSERT_EQ(RunProgram("annals",
                       {"replay", "--server", server_.Url(""), "--stream", "visit-7", "--from", "4",
                        "--webhook", receiver.Url()},
                       &out),
            0)
      << out;
  const auto got = receiver.Accepted();
  ASSERT_EQ(got.size(), 8u);
  for (size_t i = 0; i < got.size(); ++i) {
    const Json e = Json::parse(got[i].body);
    EXPECT_EQ(e["revision"], i + 4);
    EXPECT_EQ(e["data"]["i"], i + 4);
    EXPECT_EQ(got[i].Header("annals-stream"), "visit-7");
  }
  // A receiver that fails stops the replay with an error naming where to resume.
  receiver.SetBehaviour(
      [](const auto&) { return annals::delivery::testing::Reply{.status = 500}; });
  EXPECT_NE(RunProgram("annals",
                       {"replay", "--server", server_.Url(""), "--stream", "visit-7", "--webhook",
                        receiver.Url()},
                       &out),
            0);
  EXPECT_NE(out.find("resume with --from"), std::string::npos) << out;
}

TEST(ReplayEmbedded, ReadsTheLocalDataDirectoryThroughTheSameCode) {
  char tmpl[] = "/tmp/hospital-replay-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = std::string(tmpl) + "/data";
  std::string out;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(
        RunProgram("annals",
                   {"append", "--data-dir", dir, "--durability", "unsafe-no-sync", "--stream",
                    "visit-9", "--type", "Seen", "--data", "{\"i\":" + std::to_string(i) + "}"},
                   &out),
        0)
        << out;
  }
  ASSERT_EQ(RunProgram("annals", {"replay", "--data-dir", dir, "--category", "visit"}, &out), 0)
      << out;
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 3) << out;
  EXPECT_EQ(Json::parse(out.substr(0, out.find('\n')))["data"]["i"], 0);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace hospital::testing
