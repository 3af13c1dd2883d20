// Read models in SQLite, fed from the log exactly once per event.
//
// ProjectionRunner: a catch-up subscription (ReadAll with a filter, then WaitForHead for what
// commits later) → the handler → the checkpoint, stored in the read model's own database in the
// same transaction as the handler's changes. A crash before COMMIT loses the changes and the
// checkpoint together, so the events are applied again; after COMMIT neither is lost. Each
// event thus takes effect exactly once, without the handler having to be idempotent.
//
//   sqlite3* db = ...;  // the read model
//   annals::ProjectionRunner runner(store, db, {.name = "visits", .filter = {.category = "visit"}},
//       [](sqlite3* db, const annals::RecordedEvent& e) -> annals::Status { ... });
//   runner.Run(stop);   // until `stop` is set
//
// IdempotentConsumer: for consumers that are not fed by a runner (a consumer group's polls,
// webhooks), remembers the ids of handled events in the consumer's own database, in the same
// transaction as the handling, so a redelivered event is recognised and skipped.
//
// Tables (created when missing): `annals_checkpoint(name TEXT PRIMARY KEY, position INTEGER)`
// and `annals_handled(consumer TEXT, event_id TEXT, PRIMARY KEY (consumer, event_id))`.
//
// Thread safety: a runner or consumer is used by one thread at a time; the sqlite3 handle
// belongs to the caller, who must not use it concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "annals/event_store.h"

struct sqlite3;

namespace annals {

struct ProjectionOptions {
  std::string name;  // the checkpoint's key in annals_checkpoint
  EventFilter filter;
  uint64_t batch_events = 500;  // events per transaction at most
  // How long one wait for new commits lasts before Run checks `stop` again.
  std::chrono::milliseconds poll_wait{500};
};

// Applies one event to the read model, inside the runner's transaction. A non-ok Status rolls
// the batch back and stops the runner (the event is applied again on the next run).
using ProjectionHandler = std::function<Status(sqlite3* db, const RecordedEvent& event)>;

class ProjectionRunner {
 public:
  ProjectionRunner(EventStore& store, sqlite3* db, ProjectionOptions options,
                   ProjectionHandler handler);

  // The position the next run starts from (0 before the first event).
  Result<Position> Checkpoint();
  // Applies every matching event committed now; returns how many were applied.
  Result<uint64_t> CatchUp();
  // CatchUp, then waits for commits and applies them, until `stop` is true.
  Status Run(const std::atomic<bool>& stop);
  // Runs `drop` (which deletes the model's rows) and removes the checkpoint in one
  // transaction: the next run replays the log from the start.
  Status Reset(const std::function<Status(sqlite3*)>& drop);

 private:
  Status EnsureTable();

  EventStore& store_;
  sqlite3* db_;
  ProjectionOptions options_;
  ProjectionHandler handler_;
};

class IdempotentConsumer {
 public:
  IdempotentConsumer(sqlite3* db, std::string consumer);

  // In one transaction: if `event_id` was not handled by this consumer before, runs `handle`
  // and records the id; a failed `handle` rolls both back. Returns true when `handle` ran, false
  // for a duplicate delivery.
  Result<bool> HandleOnce(const Uuid& event_id, const std::function<Status(sqlite3*)>& handle);
  Result<bool> WasHandled(const Uuid& event_id);

 private:
  Status EnsureTable();

  sqlite3* db_;
  std::string consumer_;
  bool table_ready_ = false;
};

// Small SQLite conveniences for handlers: runs `sql` (no results); kInternal with SQLite's
// message on failure.
Status SqlExec(sqlite3* db, const std::string& sql);

}  // namespace annals
