// In-process benchmark of the PostgreSQL store with the peers' event model (event_model.h).
//
// Appends: stream visit-<w>-<n>, 10 events per stream, an exact expected revision on every
// append; each writer thread has its own pooled connection.
//   annals_postgres_bench --conninfo "host=/tmp/pgb port=... user=postgres" --writers 16
//
// Reads of $all (the peers' read_all): `--read-all --readers N --nodes K` loads `--events`
// events (100,000 streams of 10, interleaved in the log, as the peers load theirs) with SQL
// straight into the store's tables (docs/postgres.md, "Schema"), then N threads, spread over
// K stores (K Annals nodes on one database, each with its own pool), read pages of 1,000
// events from random positions.
//
// Opens (and migrates) a fresh schema per run, so runs do not see each other's events, and
// prints one line: `annals-postgres case=... events_per_s=... p50_ms=... p99_ms=...`.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
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
  bool read_all = false;
  std::vector<int> readers = {1};
  std::vector<int> nodes = {1};
  uint64_t events = 1'000'000;
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

void Check(const Status& status, const char* what) {
  if (status.ok()) return;
  fmt::print(stderr, "{}: {}\n", what, status.ToString());
  std::exit(1);
}

// `events` events in the store's tables, as appends of whole streams would have left them:
// stream visit-<s> (s from 1) holds revisions 0..9, and the log interleaves the streams
// (position = v * streams + s), like the peers' table.
void Load(const std::string& conninfo, uint64_t events) {
  auto admin = pg::Connection::Open({.conninfo = conninfo});
  Check(admin.status(), "connect");
  const uint64_t streams = std::max<uint64_t>(1, events / bench::kEventsPerStream);
  std::string types = "ARRAY[";
  for (int i = 0; i < bench::kEventsPerStream; ++i) {
    types += fmt::format("{}'{}'", i ? "," : "", bench::kEventTypes[i]);
  }
  types += "]";
  const std::string sql = fmt::format(
      R"sql(
BEGIN;
INSERT INTO events (position, stream, revision, id, type, content_type, data, metadata, created)
SELECT v * {0} + s, 'visit-' || s, v, gen_random_uuid(), ({1})[v + 1], 'application/json',
       convert_to($data${2}$data$, 'UTF8'), convert_to($meta${3}$meta$, 'UTF8'),
       (extract(epoch from clock_timestamp()) * 10000000)::bigint
  FROM generate_series(0, {4} - 1) v, generate_series(1, {0}) s
 ORDER BY v, s;
INSERT INTO streams (name, state, last_revision, event_count, revision_base, created,
                     last_updated, last_position)
SELECT 'visit-' || s, 0, {4} - 1, {4}, 0, 0, 0, ({4} - 1) * {0} + s
  FROM generate_series(1, {0}) s;
UPDATE log_head SET next_position = {0} * {4} + 1;
COMMIT;
)sql",
      streams, types, bench::kEventData, bench::kEventMetadata, bench::kEventsPerStream);
  Check((*admin)->ExecScript(sql), "load");
  // VACUUM runs on its own, outside a multi-statement string.
  Check((*admin)->ExecScript("VACUUM ANALYZE events"), "vacuum");
  Check((*admin)->ExecScript("VACUUM ANALYZE streams"), "vacuum");
}

// `readers` threads over `node_count` stores read pages for `seconds`; prints the case's line.
int ReadAllCase(const std::string& conninfo, uint64_t loaded, int readers, int node_count,
                double seconds) {
  std::vector<std::unique_ptr<EventStore>> nodes;
  for (int n = 0; n < node_count; ++n) {
    PostgresOptions options;
    options.conninfo = conninfo;
    options.pool_size = static_cast<uint32_t>((readers + node_count - 1) / node_count);
    auto store = OpenPostgres(options);
    Check(store.status(), "open");
    nodes.push_back(std::move(store).value());
  }
  constexpr uint64_t kPage = 1000;
  std::atomic<uint64_t> events{0};
  std::atomic<bool> failed{false};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(readers));
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < readers; ++t) {
    threads.emplace_back([&, t] {
      EventStore& store = *nodes[static_cast<size_t>(t % node_count)];
      uint64_t seed = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(t + 1);
      while (Clock::now() < end && !failed) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;  // xorshift64
        ReadAllRequest request;
        request.from = Position{1 + seed % (loaded - std::min(loaded - 1, kPage))};
        request.max_count = kPage;
        const auto start = Clock::now();
        Result<ReadAllResult> page = store.ReadAll(request);
        if (!page.ok() || page->events.size() != std::min(kPage, loaded + 1 - request.from.value)) {
          fmt::print(
              stderr, "read: {}\n",
              page.ok() ? fmt::format("{} events", page->events.size()) : page.status().ToString());
          failed = true;
          return;
        }
        latencies[static_cast<size_t>(t)].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        events += page->events.size();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  if (failed) return 1;
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  fmt::print(
      "annals-postgres case=read_all_c{}{} events={} events_per_s={:.0f} pages_per_s={:.0f} "
      "p50_ms={:.3f} p99_ms={:.3f} max_ms={:.3f}\n",
      readers, node_count > 1 ? fmt::format("_nodes{}", node_count) : "", events.load(),
      static_cast<double>(events.load()) / elapsed, static_cast<double>(all.size()) / elapsed,
      bench::Percentile(all, 0.5), bench::Percentile(all, 0.99), bench::Percentile(all, 1.0));
  std::fflush(stdout);
  return 0;
}

// Loads the events once, then runs every readers x nodes case on them.
int RunReadAll(const Options& o) {
  const std::string conninfo = FreshSchema(o.conninfo);
  {
    auto migrated = OpenPostgres({.conninfo = conninfo});  // creates the schema
    Check(migrated.status(), "open");
  }
  const auto load_start = Clock::now();
  Load(conninfo, o.events);
  const uint64_t loaded =
      std::max<uint64_t>(1, o.events / bench::kEventsPerStream) * bench::kEventsPerStream;
  fmt::print(stderr, "# loaded {} events in {:.1f} s\n", loaded,
             std::chrono::duration<double>(Clock::now() - load_start).count());
  for (int readers : o.readers) {
    for (int nodes : o.nodes) {
      if (ReadAllCase(conninfo, loaded, readers, nodes, o.seconds) != 0) return 1;
    }
  }
  return 0;
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
  app.add_flag("--read-all", o.read_all, "read $all in pages of 1000 instead of appending");
  app.add_option("--readers", o.readers, "concurrent reader threads (--read-all; several: each)")
      ->delimiter(',');
  app.add_option("--nodes", o.nodes, "stores (Annals nodes) the readers are spread over (each)")
      ->delimiter(',');
  app.add_option("--events", o.events, "events loaded before reading (--read-all)");
  CLI11_PARSE(app, argc, argv);
  return o.read_all ? RunReadAll(o) : RunAppend(o);
}
