// In-process append benchmark of the PostgreSQL store with the peers' event model
// (event_model.h: stream visit-<w>-<n>, 10 events per stream, an exact expected revision on
// every append). Each writer thread has its own pooled connection.
//
//   scripts/pg-test-server start /tmp/pgb      # prints the connection string
//   annals_postgres_bench --conninfo "host=/tmp/pgb port=... user=postgres" --writers 16
//
// Opens (and migrates) a fresh schema per run, so runs do not see each other's events, and
// prints one line: `annals-postgres case=... appends_per_s=... p50_ms=... p99_ms=...`.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "annals/postgres_store.h"
#include "event_model.h"
#include "postgres/pg_connection.h"

namespace {

using namespace annals;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string conninfo;
  int writers = 1;
  int batch = 1;
  double seconds = 10;
};

// A new schema for this run, and a connection string that uses it.
std::string FreshSchema(const std::string& conninfo) {
  auto admin = pg::Connection::Open({.conninfo = conninfo});
  if (!admin.ok()) {
    fmt::print(stderr, "connect: {}\n", admin.status().ToString());
    std::exit(1);
  }
  const std::string schema =
      fmt::format("bench_{}_{}", getpid(), Clock::now().time_since_epoch().count());
  Status created = (*admin)->ExecScript("CREATE SCHEMA " + schema);
  if (!created.ok()) {
    fmt::print(stderr, "create schema: {}\n", created.ToString());
    std::exit(1);
  }
  return conninfo + " options='-csearch_path=" + schema + "'";
}

int RunAppend(const Options& o) {
  PostgresOptions options;
  options.conninfo = FreshSchema(o.conninfo);
  options.pool_size = static_cast<uint32_t>(o.writers);
  auto store = OpenPostgres(options);
  if (!store.ok()) {
    fmt::print(stderr, "open: {}\n", store.status().ToString());
    return 1;
  }
  bench::AppendRun run = bench::RunAppendWriters(**store, o.writers, o.batch, o.seconds);
  std::vector<double>& all = run.latencies_ms;
  fmt::print(
      "annals-postgres case=append_batch{}_c{} events={} events_per_s={:.0f} "
      "appends_per_s={:.0f} p50_ms={:.3f} p99_ms={:.3f} max_ms={:.3f} occ_conflict={}\n",
      o.batch, o.writers, run.events, static_cast<double>(run.events) / run.seconds,
      static_cast<double>(all.size()) / run.seconds, bench::Percentile(all, 0.5),
      bench::Percentile(all, 0.99), bench::Percentile(all, 1.0),
      run.conflicts_detected == static_cast<uint64_t>(o.writers) ? "detected" : "MISSED");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("PostgreSQL store append benchmark");
  app.add_option("--conninfo", o.conninfo, "libpq connection string")->required();
  app.add_option("--writers", o.writers, "concurrent writer threads");
  app.add_option("--batch", o.batch, "events per append");
  app.add_option("--seconds", o.seconds, "duration");
  CLI11_PARSE(app, argc, argv);
  return RunAppend(o);
}
