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
    // 2: annals_append, the common case of a batch of appends in one statement (docs/postgres.md,
    // "Appends in one statement"). What it does not write, the store writes the long way.
    R"sql(
CREATE FUNCTION annals_append(
    p_streams text[],          -- one per append, distinct
    p_kinds smallint[],        -- expected revision: 0 any, 1 no stream, 2 stream exists, 3 exact
    p_expected bigint[],       -- the revision of kind 3
    p_counts bigint[],         -- the append's number of events
    p_event_append bigint[],   -- for each event, its append (1-based); an append's events are
    p_event_offset bigint[],   -- consecutive, in append order; its index within the append
    p_ids uuid[], p_types text[], p_content_types text[], p_data bytea[], p_metadata bytea[],
    p_channel text)
  RETURNS TABLE (out_append bigint, out_first_revision bigint, out_last_position bigint)
  LANGUAGE plpgsql
  -- A batch is small against the tables: every statement here is index probes, whatever the
  -- arguments, so each is planned once (generic plans) rather than at every call (planning
  -- was a quarter of a call's time). Without the enable_* settings, a plan made while the
  -- tables are nearly empty would scan them, and be kept. Disabled plans cost 1e10, which
  -- would have every statement JIT-compiled (~100 ms): no JIT.
  SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off
  AS $fn$
DECLARE
  n integer := coalesce(cardinality(p_streams), 0);
  ok boolean[] := array_fill(false, ARRAY[n]);
  id_used boolean[] := array_fill(false, ARRAY[n]);
  first_rev bigint[] := array_fill(0::bigint, ARRAY[n]);
  last_pos bigint[] := array_fill(0::bigint, ARRAY[n]);
  accepted bigint := 0;
  head_first bigint;
  head_created bigint;
  pos bigint;
  r record;
BEGIN
  -- An event id used before: the long way answers (an idempotent retry, or a conflict).
  FOR r IN
    SELECT DISTINCT u.a FROM unnest(p_ids, p_event_append) AS u(id, a) JOIN events e ON e.id = u.id
  LOOP
    id_used[r.a::integer] := true;
  END LOOP;
  -- A row for each stream that may be new, in name order; an insert that races another
  -- transaction's waits for its commit, then does nothing. None for a declined append: a
  -- refused append leaves nothing behind.
  INSERT INTO streams (name)
  SELECT u.name FROM unnest(p_streams, p_kinds) WITH ORDINALITY AS u(name, kind, i)
   WHERE u.kind IN (0, 1) AND NOT id_used[u.i::integer] ORDER BY u.name
  ON CONFLICT (name) DO NOTHING;
  -- Every stream's row, locked in name order (every writer's order: no deadlock cycle). Only an
  -- active stream whose metadata does not soft-delete it and whose expectation holds is
  -- written here.
  FOR r IN
    SELECT u.i, u.kind, u.expected, s.state, s.last_revision, m.metadata
      FROM unnest(p_streams, p_kinds, p_expected) WITH ORDINALITY AS u(name, kind, expected, i)
      JOIN streams s ON s.name = u.name
      LEFT JOIN stream_metadata m ON m.stream = s.name
     ORDER BY s.name
       FOR UPDATE OF s
  LOOP
    ok[r.i::integer] := NOT id_used[r.i::integer] AND coalesce(
        r.state = 0
        AND (r.metadata IS NULL OR (r.metadata::jsonb -> '$tb') IS DISTINCT FROM
                                   to_jsonb(9223372036854775807::bigint))
        AND CASE r.kind WHEN 0 THEN true
                        WHEN 1 THEN r.last_revision IS NULL
                        WHEN 2 THEN r.last_revision IS NOT NULL
                        ELSE r.last_revision = r.expected END,
        false);
    first_rev[r.i::integer] := coalesce(r.last_revision + 1, 0);
  END LOOP;
  FOR i IN 1..n LOOP
    IF ok[i] THEN accepted := accepted + p_counts[i]; END IF;
  END LOOP;
  IF accepted = 0 THEN
    RETURN;
  END IF;
  -- The log head last: it is held until the commit (docs/postgres.md, "Ordering").
  UPDATE log_head
     SET next_position = next_position + accepted,
         last_created = greatest(last_created,
                                 (extract(epoch from clock_timestamp()) * 10000000)::bigint)
  RETURNING next_position - accepted, last_created INTO head_first, head_created;
  pos := head_first - 1;
  FOR i IN 1..n LOOP
    IF ok[i] THEN
      pos := pos + p_counts[i];
      last_pos[i] := pos;
      out_append := i;
      out_first_revision := first_rev[i];
      out_last_position := pos;
      RETURN NEXT;
    END IF;
  END LOOP;
  INSERT INTO events (position, stream, revision, id, type, content_type, data, metadata, created)
  SELECT head_first + row_number() OVER (ORDER BY e.ord) - 1, p_streams[e.a::integer],
         first_rev[e.a::integer] + e.off, e.id, e.type, e.content_type, e.data, e.metadata,
         head_created
    FROM unnest(p_event_append, p_event_offset, p_ids, p_types, p_content_types, p_data,
                p_metadata) WITH ORDINALITY AS e(a, off, id, type, content_type, data, metadata, ord)
   WHERE ok[e.a::integer];
  UPDATE streams s
     SET last_revision = first_rev[u.i::integer] + p_counts[u.i::integer] - 1,
         event_count = s.event_count + p_counts[u.i::integer],
         last_position = last_pos[u.i::integer],
         last_updated = head_created,
         created = coalesce(s.created, head_created)
    FROM unnest(p_streams) WITH ORDINALITY AS u(name, i)
   WHERE ok[u.i::integer] AND s.name = u.name;
  PERFORM pg_notify(p_channel, '');
END
$fn$;
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
