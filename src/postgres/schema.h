// The versioned schema of the PostgreSQL backend (docs/postgres.md, "Schema", documents every
// table and column). Version history:
//   1  log_head, events, streams, stream_metadata, schema_version.
//   2  the function annals_append (appends in one statement).
#pragma once

#include "annals/status.h"
#include "postgres/pg_connection.h"

namespace annals::pg {

inline constexpr int kSchemaVersion = 2;

// Creates or upgrades the schema in the connection's current schema (search_path), in one
// transaction under an advisory lock so concurrent migrators do not race.
Status Migrate(Connection& connection);

// Ok when the database holds exactly kSchemaVersion; kInvalidArgument otherwise, saying what
// it found and what to do.
Status CheckSchemaVersion(Connection& connection);

}  // namespace annals::pg
