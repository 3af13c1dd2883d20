// Opening the PostgreSQL store, its lifetime and live notification.
#include <utility>

#include "postgres/advisory_leases.h"
#include "postgres/postgres_store_impl.h"
#include "postgres/schema.h"

namespace annals {
namespace pg {

PostgresStore::PostgresStore(const PostgresOptions& options, ConnectOptions connect, Position head)
    : limits_(options.limits),
      checkout_timeout_(options.checkout_timeout),
      pool_(connect, options.pool_size, options.checkout_timeout),
      // The listener's reconnections tell the pool of an outage no request has noticed yet.
      notifier_(connect, head, options.head_poll_interval,
                [this](const Status& opened, ConnectionPool::Clock::time_point started) {
                  pool_.NoteOpen(opened, started);
                }),
      async_(options.async_threads) {}

PostgresStore::~PostgresStore() {
  async_.Stop();  // queued appends complete first
  DrainPendingAppends();
  notifier_.Close();  // then waiters and watches are released
  pool_.Close();
}

Position PostgresStore::WaitForHead(Position after, std::chrono::milliseconds timeout) {
  // A fresh read first: another node's commit may not have been notified yet.
  if (Head() > after) return notifier_.head();
  return notifier_.Wait(after, timeout);
}

uint64_t PostgresStore::WatchHead(Position after, CommitCallback callback) {
  Head();  // raises the notifier's head to the committed one, so a due watch fires at once
  return notifier_.Watch(after, std::move(callback));
}

void PostgresStore::CancelHeadWatch(uint64_t id) { notifier_.Cancel(id); }

namespace {

ConnectOptions ConnectOptionsOf(const PostgresOptions& options) {
  return ConnectOptions{.conninfo = options.conninfo,
                        .connect_timeout = options.connect_timeout,
                        .statement_timeout = options.statement_timeout,
                        .application_name = options.application_name};
}

}  // namespace
}  // namespace pg

Result<std::unique_ptr<EventStore>> OpenPostgres(const PostgresOptions& options) {
  const pg::ConnectOptions connect = pg::ConnectOptionsOf(options);
  Result<std::unique_ptr<pg::Connection>> connection = pg::Connection::Open(connect);
  if (!connection.ok()) return connection.status();
  if (options.migrate) ANNALS_RETURN_IF_ERROR(pg::Migrate(**connection));
  ANNALS_RETURN_IF_ERROR(pg::CheckSchemaVersion(**connection));
  Result<pg::Rows> head = (*connection)->Exec("SELECT next_position FROM log_head");
  if (!head.ok()) return head.status();
  if (head->size() != 1) {
    return Status(StatusCode::kCorruption, "postgres: log_head does not hold exactly one row");
  }
  return std::unique_ptr<EventStore>(std::make_unique<pg::PostgresStore>(
      options, connect, Position{static_cast<uint64_t>(head->Int64(0, 0))}));
}

Status MigratePostgres(const std::string& conninfo) {
  Result<std::unique_ptr<pg::Connection>> connection =
      pg::Connection::Open(pg::ConnectOptions{.conninfo = conninfo});
  if (!connection.ok()) return connection.status();
  return pg::Migrate(**connection);
}

Result<std::unique_ptr<CursorLeases>> OpenPostgresLeases(const PostgresOptions& options) {
  auto leases = pg::AdvisoryLeases::Open(pg::ConnectOptionsOf(options));
  if (!leases.ok()) return leases.status();
  return std::unique_ptr<CursorLeases>(std::move(*leases));
}

int PostgresSchemaVersion() { return pg::kSchemaVersion; }

}  // namespace annals
