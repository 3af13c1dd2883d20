#include "postgres/schema.h"

#include <optional>
#include <string>

namespace annals::pg {
namespace {

// Migration N takes a database at version N-1 to version N. Never edit a released migration:
// add the next one.
const char* const kMigrations[] = {
    // 1: the initial schema.
    R"sql(
CREATE TABLE schema_version (
  version    integer PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE log_head (
  singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  next_position bigint NOT NULL,
  last_created  bigint NOT NULL
);
INSERT INTO log_head (next_position, last_created) VALUES (1, 0);
CREATE TABLE events (
  position     bigint PRIMARY KEY,
  stream       text COLLATE "C" NOT NULL,
  revision     bigint NOT NULL,
  id           uuid NOT NULL,
  type         text COLLATE "C" NOT NULL,
  category     text COLLATE "C" GENERATED ALWAYS AS (split_part(stream, '-', 1)) STORED,
  content_type text NOT NULL,
  data         bytea NOT NULL,
  metadata     bytea NOT NULL,
  created      bigint NOT NULL,
  CONSTRAINT events_id_unique UNIQUE (id),
  CONSTRAINT events_stream_revision_unique UNIQUE (stream, revision)
);
CREATE INDEX events_type_position ON events (type, position);
CREATE INDEX events_category_position ON events (category, position);
CREATE TABLE streams (
  name          text COLLATE "C" PRIMARY KEY,
  state         smallint NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
  last_revision bigint,
  event_count   bigint NOT NULL DEFAULT 0,
  revision_base bigint NOT NULL DEFAULT 0,
  created       bigint,
  last_updated  bigint,
  last_position bigint
);
CREATE TABLE stream_metadata (
  stream   text COLLATE "C" PRIMARY KEY,
  revision bigint NOT NULL,
  metadata text NOT NULL
);
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion, "one migration per schema version");

// An arbitrary key for pg_advisory_xact_lock: "annals" in ASCII.
constexpr int64_t kMigrationLockKey = 0x616e6e616c73;

// The version recorded in the database; nullopt when it has no schema_version table.
Result<std::optional<int>> ReadVersion(Connection& connection) {
  Result<Rows> exists = connection.Exec("SELECT to_regclass('schema_version') IS NOT NULL");
  if (!exists.ok()) return exists.status();
  if (!exists->Bool(0, 0)) return std::optional<int>();
  Result<Rows> version =
      connection.Exec("SELECT coalesce(max(version), 0)::bigint FROM schema_version");
  if (!version.ok()) return version.status();
  return std::optional<int>(static_cast<int>(version->Int64(0, 0)));
}

Status NewerVersion(int found) {
  return Status(StatusCode::kInvalidArgument,
                "postgres: the database has Annals schema version " + std::to_string(found) +
                    "; this build knows versions up to " + std::to_string(kSchemaVersion) +
                    " (upgrade Annals)");
}

Status MigrateLocked(Connection& connection) {
  Result<Rows> lock = connection.Exec("SELECT pg_advisory_xact_lock($1) IS NOT NULL",
                                      Params().Int64(kMigrationLockKey));
  if (!lock.ok()) return lock.status();
  Result<std::optional<int>> found = ReadVersion(connection);
  if (!found.ok()) return found.status();
  const int from = found->value_or(0);
  if (from > kSchemaVersion) return NewerVersion(from);
  for (int version = from + 1; version <= kSchemaVersion; ++version) {
    ANNALS_RETURN_IF_ERROR(connection.ExecScript(kMigrations[version - 1]));
    Result<Rows> recorded =
        connection.Exec("INSERT INTO schema_version (version) VALUES ($1::bigint::integer)",
                        Params().Int64(version));
    if (!recorded.ok()) return recorded.status();
  }
  return Status::Ok();
}

}  // namespace

Status Migrate(Connection& connection) {
  ANNALS_RETURN_IF_ERROR(connection.ExecScript("BEGIN"));
  Status status = MigrateLocked(connection);
  if (!status.ok()) {
    connection.RollbackIfOpen();
    return status;
  }
  return connection.ExecScript("COMMIT");
}

Status CheckSchemaVersion(Connection& connection) {
  Result<std::optional<int>> found = ReadVersion(connection);
  if (!found.ok()) return found.status();
  if (!found->has_value() || **found == 0) {
    return Status(StatusCode::kInvalidArgument,
                  "postgres: the database has no Annals schema (create it with MigratePostgres, "
                  "or open with PostgresOptions::migrate)");
  }
  if (**found > kSchemaVersion) return NewerVersion(**found);
  if (**found < kSchemaVersion) {
    return Status(StatusCode::kInvalidArgument,
                  "postgres: the database has Annals schema version " + std::to_string(**found) +
                      "; this build needs " + std::to_string(kSchemaVersion) +
                      " (upgrade it with MigratePostgres)");
  }
  return Status::Ok();
}

}  // namespace annals::pg
