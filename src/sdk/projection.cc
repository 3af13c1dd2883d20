#include "annals/projection.h"

#include <sqlite3.h>

#include "annals/sqlite_statement.h"

namespace annals {

using Statement = SqlStatement;

Status SqlExec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    Status s(StatusCode::kInternal, "sqlite: " + std::string(error ? error : "?") + " in: " + sql);
    sqlite3_free(error);
    return s;
  }
  return Status::Ok();
}

ProjectionRunner::ProjectionRunner(EventStore& store, sqlite3* db, ProjectionOptions options,
                                   ProjectionHandler handler)
    : store_(store), db_(db), options_(std::move(options)), handler_(std::move(handler)) {}

Status ProjectionRunner::EnsureTable() {
  return SqlExec(db_,
                 "CREATE TABLE IF NOT EXISTS annals_checkpoint (name TEXT PRIMARY KEY, "
                 "position INTEGER NOT NULL)");
}

Result<Position> ProjectionRunner::Checkpoint() {
  ANNALS_RETURN_IF_ERROR(EnsureTable());
  Statement q(db_, "SELECT position FROM annals_checkpoint WHERE name = ?1");
  q.Bind(1, options_.name);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return Position::Start();
  if (rc != SQLITE_ROW) return q.Error();
  return Position{static_cast<uint64_t>(q.Int(0))};
}

Result<uint64_t> ProjectionRunner::CatchUp() {
  Result<Position> from = Checkpoint();
  if (!from.ok()) return from.status();
  ReadAllRequest request{
      .from = *from, .max_count = options_.batch_events, .filter = options_.filter};
  uint64_t applied = 0;
  while (true) {
    Result<ReadAllResult> page = store_.ReadAll(request);
    if (!page.ok()) return page.status();
    if (page->next == request.from && page->events.empty()) return applied;
    // One transaction per page: the handler's changes and the new checkpoint commit together.
    ANNALS_RETURN_IF_ERROR(SqlExec(db_, "BEGIN IMMEDIATE"));
    Status status;
    for (const RecordedEvent& e : page->events) {
      status = handler_(db_, e);
      if (!status.ok()) break;
    }
    if (status.ok()) {
      Statement up(db_,
                   "INSERT INTO annals_checkpoint (name, position) VALUES (?1, ?2) "
                   "ON CONFLICT (name) DO UPDATE SET position = excluded.position");
      up.Bind(1, options_.name);
      up.Bind(2, static_cast<int64_t>(page->next.value));
      if (up.Step() != SQLITE_DONE) status = up.Error();
    }
    if (status.ok()) status = SqlExec(db_, "COMMIT");
    if (!status.ok()) {
      (void)SqlExec(db_, "ROLLBACK");
      return status;
    }
    applied += page->events.size();
    if (page->end_of_log) return applied;
    request.from = page->next;
  }
}

Status ProjectionRunner::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    const Position head = store_.Head();
    Result<uint64_t> applied = CatchUp();
    if (!applied.ok()) return applied.status();
    // Everything before `head` is applied: wait for a commit after it.
    if (!stop.load()) store_.WaitForHead(Position{head.value}, options_.poll_wait);
  }
  return Status::Ok();
}

Status ProjectionRunner::Reset(const std::function<Status(sqlite3*)>& drop) {
  ANNALS_RETURN_IF_ERROR(EnsureTable());
  ANNALS_RETURN_IF_ERROR(SqlExec(db_, "BEGIN IMMEDIATE"));
  Status status = drop(db_);
  if (status.ok()) {
    Statement del(db_, "DELETE FROM annals_checkpoint WHERE name = ?1");
    del.Bind(1, options_.name);
    if (del.Step() != SQLITE_DONE) status = del.Error();
  }
  if (status.ok()) status = SqlExec(db_, "COMMIT");
  if (!status.ok()) (void)SqlExec(db_, "ROLLBACK");
  return status;
}

IdempotentConsumer::IdempotentConsumer(sqlite3* db, std::string consumer)
    : db_(db), consumer_(std::move(consumer)) {}

Status IdempotentConsumer::EnsureTable() {
  if (table_ready_) return Status::Ok();
  ANNALS_RETURN_IF_ERROR(
      SqlExec(db_,
              "CREATE TABLE IF NOT EXISTS annals_handled (consumer TEXT NOT "
              "NULL, event_id TEXT NOT NULL, PRIMARY KEY (consumer, event_id))"));
  table_ready_ = true;
  return Status::Ok();
}

Result<bool> IdempotentConsumer::WasHandled(const Uuid& event_id) {
  ANNALS_RETURN_IF_ERROR(EnsureTable());
  Statement q(db_, "SELECT 1 FROM annals_handled WHERE consumer = ?1 AND event_id = ?2");
  q.Bind(1, consumer_);
  q.Bind(2, event_id.ToString());
  const int rc = q.Step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return q.Error();
}

Result<bool> IdempotentConsumer::HandleOnce(const Uuid& event_id,
                                            const std::function<Status(sqlite3*)>& handle) {
  ANNALS_RETURN_IF_ERROR(EnsureTable());
  ANNALS_RETURN_IF_ERROR(SqlExec(db_, "BEGIN IMMEDIATE"));
  // The insert is the check: a duplicate id changes no row.
  Statement mark(db_,
                 "INSERT INTO annals_handled (consumer, event_id) VALUES (?1, ?2) "
                 "ON CONFLICT DO NOTHING");
  mark.Bind(1, consumer_);
  mark.Bind(2, event_id.ToString());
  Status status;
  bool fresh = false;
  if (mark.Step() != SQLITE_DONE) {
    status = mark.Error();
  } else {
    fresh = sqlite3_changes(db_) == 1;
    if (fresh) status = handle(db_);
  }
  if (status.ok()) status = SqlExec(db_, "COMMIT");
  if (!status.ok()) {
    (void)SqlExec(db_, "ROLLBACK");
    return status;
  }
  return fresh;
}

}  // namespace annals
