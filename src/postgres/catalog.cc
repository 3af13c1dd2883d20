// Statements on the catalog (streams, stream_metadata) and the commit of new records, shared
// by the write and read paths of the PostgreSQL store.
#include <string>

#include "core/stream_metadata_codec.h"
#include "postgres/postgres_store_impl.h"

namespace annals::pg {
namespace {

constexpr std::string_view kSelectStreamRow =
    "SELECT s.state, s.last_revision, s.event_count, s.created, s.last_updated, "
    "s.last_position, m.revision, m.metadata "
    "FROM streams s LEFT JOIN stream_metadata m ON m.stream = s.name WHERE s.name = $1";

}  // namespace

StreamRow StreamRowAt(const Rows& rows, int row) {
  StreamRow out;
  out.state = static_cast<StoredState>(rows.Int16(row, 0));
  if (!rows.IsNull(row, 1)) out.last_revision = Revision{static_cast<uint64_t>(rows.Int64(row, 1))};
  out.event_count = static_cast<uint64_t>(rows.Int64(row, 2));
  out.created = rows.OptionalInt64(row, 3);
  out.last_updated = rows.OptionalInt64(row, 4);
  out.last_position = rows.OptionalInt64(row, 5);
  if (!rows.IsNull(row, 6)) {
    out.metadata_revision = Revision{static_cast<uint64_t>(rows.Int64(row, 6))};
  }
  out.metadata_json = rows.Bytes(row, 7);
  return out;
}

Result<std::optional<StreamRow>> ReadStreamRow(Connection& c, const std::string& stream,
                                               bool lock) {
  if (lock) {
    // The lock first, in a statement of its own. A `FOR UPDATE` that waited for another
    // writer re-reads the locked row at its newest version, but not the rows joined to it:
    // in the same statement the stream's metadata would be as the statement's snapshot saw it,
    // before that writer. Two nodes recreating a soft-deleted stream both saw it soft-deleted
    // (each wrote a `$tb`, hiding the other's acknowledged events), an append after a racing
    // soft delete set the stream back to soft-deleted, and concurrent metadata writes all
    // passed the same expected revision. The SELECT below takes a new snapshot (READ
    // COMMITTED), after the lock: everything the previous holder committed.
    Result<Rows> locked =
        c.Exec("SELECT 1 FROM streams WHERE name = $1 FOR UPDATE", Params().Text(stream));
    if (!locked.ok()) return locked.status();
    if (locked->size() == 0) return std::optional<StreamRow>();
  }
  Result<Rows> rows = c.Exec(std::string(kSelectStreamRow), Params().Text(stream));
  if (!rows.ok()) return rows.status();
  if (rows->size() == 0) return std::optional<StreamRow>();
  return std::optional<StreamRow>(StreamRowAt(*rows, 0));
}

Result<bool> CreateStreamRow(Connection& c, const std::string& stream) {
  // A concurrent creator makes this wait for its commit, and then do nothing.
  Result<Rows> inserted =
      c.Exec("INSERT INTO streams (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING 1",
             Params().Text(stream));
  if (!inserted.ok()) return inserted.status();
  return inserted->size() == 1;
}

Result<StreamRow> LockOrCreateStreamRow(Connection& c, const std::string& stream) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    Result<std::optional<StreamRow>> row = ReadStreamRow(c, stream, /*lock=*/true);
    if (!row.ok()) return row.status();
    if (*row) return **row;
    Result<bool> created = CreateStreamRow(c, stream);
    if (!created.ok()) return created.status();
    if (*created) return StreamRow{};
    // Someone else created it meanwhile (and committed): the second SELECT finds it.
  }
  return Status(StatusCode::kInternal, "postgres: stream row of '" + stream + "' vanished");
}

Result<StreamMetadata> MetadataOf(const std::string& stream, const StreamRow& row) {
  if (IsSystemName(stream) || row.metadata_json.empty()) return StreamMetadata{};
  Result<StreamMetadata> parsed = ParseStreamMetadataJson(row.metadata_json);
  if (!parsed.ok()) {
    return Status(StatusCode::kCorruption, "postgres: stored metadata of '" + stream +
                                               "' does not parse: " + parsed.status().message());
  }
  return parsed;
}

StoredState StateFor(const std::string& stream, bool has_events, bool tombstoned,
                     const StreamMetadata& metadata) {
  if (tombstoned) return StoredState::kTombstoned;
  const bool soft_deleted = !IsSystemName(stream) && has_events && metadata.truncate_before &&
                            metadata.truncate_before->value == kSoftDeletedTruncateBefore;
  return soft_deleted ? StoredState::kSoftDeleted : StoredState::kActive;
}

Status StoreMetadata(Connection& c, const std::string& stream, Revision revision,
                     const std::string& json) {
  return c
      .Exec(
          "INSERT INTO stream_metadata (stream, revision, metadata) VALUES ($1, $2, $3) "
          "ON CONFLICT (stream) DO UPDATE SET revision = EXCLUDED.revision, "
          "metadata = EXCLUDED.metadata",
          Params().Text(stream).Int64(static_cast<int64_t>(revision.value)).Text(json))
      .status();
}

Result<Committed> CommitRecords(Connection& c, const std::vector<NewRecord>& records,
                                const std::vector<CatalogChange>& changes) {
  // The UPDATE of the single log_head row is the serialisation point: it row-locks log_head
  // until COMMIT, so the next writer's positions start where this one's end and become
  // visible only after this commit is. The inserts and the catalog changes ride in the same
  // statement to hold that lock for as short a time as possible.
  static const std::string kSql = std::string(R"sql(
WITH head AS (
  UPDATE log_head
     SET next_position = next_position + $1,
         last_created = greatest(last_created, )sql") +
                                  std::string(kNowTicksSql) + R"sql()
  RETURNING next_position - $1 AS first_position, last_created AS created),
records AS (
  SELECT * FROM unnest($2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::text[],
                       $7::bytea[], $8::bytea[])
           WITH ORDINALITY AS r(stream, revision, id, type, content_type, data, metadata, ordinal)),
inserted AS (
  INSERT INTO events (position, stream, revision, id, type, content_type, data, metadata, created)
  SELECT head.first_position + records.ordinal - 1, records.stream, records.revision, records.id,
         records.type, records.content_type, records.data, records.metadata, head.created
    FROM head, records),
catalog AS (
  UPDATE streams s
     SET state = u.state,
         last_revision = CASE WHEN u.last_revision < 0 THEN s.last_revision ELSE u.last_revision END,
         event_count = s.event_count + u.added_events,
         revision_base = CASE WHEN u.revision_base < 0 THEN s.revision_base ELSE u.revision_base END,
         last_position = CASE WHEN u.last_record = 0 THEN s.last_position
                              ELSE head.first_position + u.last_record - 1 END,
         last_updated = CASE WHEN u.last_record = 0 THEN s.last_updated ELSE head.created END,
         created = CASE WHEN u.last_record = 0 THEN s.created
                        ELSE coalesce(s.created, head.created) END
    FROM head, unnest($9::text[], $10::smallint[], $11::bigint[], $12::bigint[], $13::bigint[],
                      $14::bigint[])
               AS u(name, state, last_revision, added_events, revision_base, last_record)
   WHERE s.name = u.name)
SELECT first_position, created FROM head)sql";

  std::vector<std::string_view> streams, types, content_types, datas, metadatas;
  std::vector<int64_t> revisions;
  std::vector<Uuid> ids;
  for (const NewRecord& record : records) {
    streams.push_back(record.stream);
    revisions.push_back(ClampToInt64(record.revision.value));
    ids.push_back(record.id);
    types.push_back(record.type);
    content_types.push_back(record.content_type);
    datas.push_back(record.data);
    metadatas.push_back(record.metadata);
  }
  std::vector<std::string_view> names;
  std::vector<int16_t> states;
  std::vector<int64_t> last_revisions, added, bases, last_records;
  for (const CatalogChange& change : changes) {
    names.push_back(change.stream);
    states.push_back(static_cast<int16_t>(change.state));
    last_revisions.push_back(change.last_revision ? ClampToInt64(change.last_revision->value) : -1);
    added.push_back(static_cast<int64_t>(change.added_events));
    bases.push_back(change.revision_base ? ClampToInt64(change.revision_base->value) : -1);
    last_records.push_back(change.last_record);
  }
  Params params;
  params.Int64(static_cast<int64_t>(records.size()))
      .TextArray(streams)
      .Int64Array(revisions)
      .UuidArray(ids)
      .TextArray(types)
      .TextArray(content_types)
      .ByteaArray(datas)
      .ByteaArray(metadatas)
      .TextArray(names)
      .Int16Array(states)
      .Int64Array(last_revisions)
      .Int64Array(added)
      .Int64Array(bases)
      .Int64Array(last_records);
  Result<Rows> rows = c.Exec(kSql, params);
  if (!rows.ok()) return rows.status();
  return Committed{Position{static_cast<uint64_t>(rows->Int64(0, 0))},
                   Timestamp{rows->Int64(0, 1)}};
}

RecordedEvent EventAt(const Rows& rows, int row, int first_column) {
  RecordedEvent event;
  event.position = Position{static_cast<uint64_t>(rows.Int64(row, first_column))};
  event.stream = rows.Bytes(row, first_column + 1);
  event.revision = Revision{static_cast<uint64_t>(rows.Int64(row, first_column + 2))};
  event.id = rows.Uuid(row, first_column + 3);
  event.type = rows.Bytes(row, first_column + 4);
  event.content_type = rows.Bytes(row, first_column + 5);
  event.data = rows.Bytes(row, first_column + 6);
  event.metadata = rows.Bytes(row, first_column + 7);
  event.created = Timestamp{rows.Int64(row, first_column + 8)};
  return event;
}

}  // namespace annals::pg
