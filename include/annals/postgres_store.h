// The PostgreSQL backend: an EventStore over a PostgreSQL 15 database, for deployments that
// outgrow one machine (several Annals nodes over one database). The schema, the ordering design
// (gap-free, commit-ordered global positions) and its cost are in docs/postgres.md.
//
// Durability: an ok append is committed with the server's `synchronous_commit` (on by default:
// flushed to the WAL on disk).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "annals/cursor_leases.h"
#include "annals/event_store.h"
#include "annals/limits.h"
#include "annals/status.h"

namespace annals {

struct PostgresOptions {
  // A libpq connection string ("host=/run/pg port=5432 dbname=annals" or a postgres:// URI).
  // The tables live in the connection's search_path schema (first entry).
  std::string conninfo;
  // Connections for requests (reads and appends); the live-notification listener holds one
  // more. Fixed at open.
  uint32_t pool_size = 8;
  // How long a request waits for a free pooled connection before kUnavailable.
  std::chrono::milliseconds checkout_timeout{5000};
  // libpq's connect_timeout (whole seconds, at least 1) for every new connection.
  std::chrono::seconds connect_timeout{5};
  // Server-side statement_timeout of every request's statements; 0 means none.
  std::chrono::milliseconds statement_timeout{30000};
  // Threads that commit queued AppendAsync requests when no caller is committing.
  uint32_t async_threads = 2;
  // Creates or upgrades the schema at open (MigratePostgres). When false, a database without
  // the current schema is refused.
  bool migrate = true;
  // How often the live listener reads the head even without a notification (safety net for a
  // lost notification or connection).
  std::chrono::milliseconds head_poll_interval{1000};
  // The name of every connection's session (pg_stat_activity's application_name). `annals
  // serve` names its node ("annals 10.0.0.5:2113"): the leases' Holder reports it, so a node
  // can tell a pull consumer which node drives its group.
  std::string application_name = "annals";
  Limits limits;
};

// Opens a store. Fails with kUnavailable when the server cannot be reached, kInvalidArgument
// when the database holds a schema version this build does not know (newer), or, with
// `migrate` false, an older or missing schema.
Result<std::unique_ptr<EventStore>> OpenPostgres(const PostgresOptions& options);

// Creates the schema in an empty database (schema), or upgrades an older version to the
// current one, in one transaction serialised by an advisory lock; a no-op when current.
// kInvalidArgument for a newer schema version than this build knows.
Status MigratePostgres(const std::string& conninfo);

// Cursor leases for the delivery of several nodes over one database (each cursor driven by
// one node at a time): advisory locks on a dedicated connection, keyed by the schema of
// `options.conninfo` (docs/postgres.md, "Delivery leases"). kUnavailable when the server
// cannot be reached.
Result<std::unique_ptr<CursorLeases>> OpenPostgresLeases(const PostgresOptions& options);

// The schema version this build creates and reads.
int PostgresSchemaVersion();

// Whether `text` is a PostgreSQL connection URI (postgres:// or postgresql://), the form the
// CLI's --store takes for this backend.
inline bool IsPostgresUri(std::string_view text) {
  return text.starts_with("postgres://") || text.starts_with("postgresql://");
}

}  // namespace annals
