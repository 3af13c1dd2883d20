// `annals serve --store postgres://...` and `annals migrate` against the test server: the CLI
// wiring of the PostgreSQL backend (the store itself is covered by the conformance suite).
#include <gtest/gtest.h>

#include "../http/test_support.h"
#include "annals/postgres_store.h"
#include "annals/remote_store.h"
#include "pg_test_server.h"

namespace annals {
namespace {

using http::testing::RunAnnals;
using http::testing::ServerProcess;

TEST(PostgresCliTest, MigrateCreatesTheSchemaAndRefusesOtherStores) {
  const std::string uri = pg::testing::FreshSchemaUri();
  std::string out;
  EXPECT_EQ(RunAnnals({"migrate", "--store", uri}, &out), 0);
  EXPECT_EQ(out,
            "annals migrate: schema version " + std::to_string(PostgresSchemaVersion()) + "\n");
  EXPECT_EQ(RunAnnals({"migrate", "--store", uri}, &out), 0);  // already current
  EXPECT_EQ(RunAnnals({"migrate", "--store", "engine"}, &out), 2);
  EXPECT_EQ(RunAnnals({"migrate", "--store", "postgresql://x@/db?host=/nonexistent&port=1"}, &out),
            9);  // unavailable
  // The schema is there: a store opens on it without migrating.
  EXPECT_TRUE(OpenPostgres({.conninfo = uri, .migrate = false}).ok());
}

TEST(PostgresCliTest, ServeStoresInTheDatabase) {
  const std::string uri = pg::testing::FreshSchemaUri();
  const std::string key =
      (std::filesystem::path(::testing::TempDir()) / "annals-pg-serve-test.key").string();
  std::filesystem::remove(key);
  ServerProcess server(
      {"--store", uri, "--secrets-key-file", key, "--io-threads", "1", "--log-level", "warn"});
  RemoteOptions options;
  options.url = server.Url("");
  auto remote = ConnectRemote(options);
  ASSERT_TRUE(remote.ok()) << remote.status().ToString();
  AppendRequest request;
  request.stream = "order-1";
  request.events.push_back(ProposedEvent{.type = "Placed", .data = "{\"n\":1}"});
  Result<AppendResult> appended = (*remote)->Append(request);
  ASSERT_TRUE(appended.ok()) << appended.status().ToString() << server.Stderr();
  // Another node on the same database reads what the server stored.
  auto direct = OpenPostgres({.conninfo = uri});
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  Result<ReadStreamResult> read = (*direct)->ReadStream({.stream = "order-1"});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->events.size(), 1u);
  EXPECT_EQ(read->events[0].data, "{\"n\":1}");
  EXPECT_EQ(read->events[0].position, appended->position);
  EXPECT_EQ(server.Terminate(SIGTERM), 0) << server.Stderr();
  std::filesystem::remove(key);
}

TEST(PostgresCliTest, ServeRefusesAPostgresStoreWithoutASecretsKeyOrWithUnsafeDurability) {
  const std::string uri = pg::testing::FreshSchemaUri();
  std::string out;
  EXPECT_EQ(RunAnnals({"serve", "--store", uri, "--http", "127.0.0.1:0"}, &out), 2);
  EXPECT_EQ(RunAnnals({"serve", "--store", uri, "--http", "127.0.0.1:0", "--durability",
                       "unsafe-no-sync", "--secrets-key-file", "/nonexistent/key"},
                      &out),
            2);
}

}  // namespace
}  // namespace annals
