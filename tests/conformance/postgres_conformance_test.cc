// The conformance suite against the PostgreSQL store on a real PostgreSQL 15 (a private server
// started for this binary by scripts/pg-test-server), at its default durability.
//
// Each test's directory names a fresh schema in that server: the first open creates the
// schema (and the store's tables in it), and a reopen after the store was destroyed opens the
// same schema again. Every capability applies: the store runs in-process (system writer) and
// honours max_scan per call.
#include <map>
#include <mutex>

#include "annals/postgres_store.h"
#include "conformance/conformance_suite.h"
#include "pg_test_server.h"

namespace annals {
namespace {

std::unique_ptr<EventStore> OpenPostgresForTest(const std::string& dir) {
  static std::mutex mu;
  static std::map<std::string, std::string> conninfo_of_dir;
  std::string conninfo;
  {
    std::lock_guard lock(mu);
    std::string& known = conninfo_of_dir[dir];
    if (known.empty()) known = pg::testing::FreshSchemaConninfo();
    conninfo = known;
  }
  PostgresOptions options;
  options.conninfo = conninfo;
  auto store = OpenPostgres(options);
  if (!store.ok()) {
    ADD_FAILURE() << "OpenPostgres: " << store.status().ToString();
    return nullptr;
  }
  return std::move(store).value();
}

}  // namespace
}  // namespace annals

ANNALS_CONFORMANCE_BACKEND(Postgres, /*reopenable=*/true, annals::OpenPostgresForTest);
