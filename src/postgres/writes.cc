// The write paths of the PostgreSQL store other than Append (appends.cc): SetStreamMetadata
// and DeleteStream, each one transaction that locks the stream's catalog row, applies the rules
// of docs/event-store-semantics.md in their order, and ends with CommitRecords (the log head);
// and the helpers both files share.
#include <map>
#include <utility>

#include "annals/limits.h"
#include "core/expected_revision_check.h"
#include "core/stream_metadata_codec.h"
#include "postgres/postgres_store_impl.h"

namespace annals::pg {

// A transaction that failed in one of these ways is retried from the start: the race it lost
// resolves on a retry (the event id is then found by the idempotency check).
bool Retryable(const Connection& c) {
  const std::string& sqlstate = c.last_sqlstate();
  return (sqlstate == kUniqueViolation && c.last_constraint() == "events_id_unique") ||
         sqlstate == kSerializationFailure || sqlstate == kDeadlockDetected;
}

Status StreamDeleted(const std::string& stream) {
  return Status(StatusCode::kStreamDeleted, "stream '" + stream + "' is deleted");
}

Status InDoubt(const Status& failure, std::string_view write) {
  return Status(failure.code(), failure.message() + " (the " + std::string(write) +
                                    " may or may not have committed)");
}

namespace {

// The record `id`, when a write whose commit was in doubt had committed it.
struct FoundRecord {
  Position position;
  Revision revision;
};
Result<std::optional<FoundRecord>> FindRecord(Connection& c, const Uuid& id) {
  Result<Rows> rows = c.Exec("SELECT position, revision FROM events WHERE id = ANY($1::uuid[])",
                             Params().UuidArray({id}));
  if (!rows.ok()) return rows.status();
  if (rows->size() == 0) return std::optional<FoundRecord>();
  return std::optional<FoundRecord>(
      FoundRecord{Position{static_cast<uint64_t>(rows->Int64(0, 0))},
                  Revision{static_cast<uint64_t>(rows->Int64(0, 1))}});
}

}  // namespace

// Appends a `$metadata` event holding `metadata` to `$$stream` (locking that stream's row) and
// stores it as the stream's current metadata. Returns its record; adds its catalog change.
Result<NewRecord> MetadataRecord(Connection& c, const std::string& stream,
                                 const StreamMetadata& metadata, const Uuid& id,
                                 uint32_t record_index, std::vector<CatalogChange>& changes) {
  const std::string metadata_stream = MetadataStreamOf(stream);
  Result<StreamRow> row = LockOrCreateStreamRow(c, metadata_stream);
  if (!row.ok()) return row.status();
  const std::optional<Revision> last = row->last_revision;
  const Revision revision{last ? last->value + 1 : 0};
  NewRecord record;
  record.stream = metadata_stream;
  record.revision = revision;
  record.id = id;
  record.type = std::string(kMetadataEventType);
  record.content_type = std::string(kContentTypeJson);
  record.owned_data = StreamMetadataToJson(metadata);
  ANNALS_RETURN_IF_ERROR(StoreMetadata(c, stream, revision, record.owned_data));
  changes.push_back(CatalogChange{.stream = metadata_stream,
                                  .state = StoredState::kActive,
                                  .last_revision = revision,
                                  .added_events = 1,
                                  .last_record = record_index});
  return record;
}

// `owned_data` moves with the record, so `data` is pointed at it only once the records are
// in their final place.
void PointAtOwnedData(std::vector<NewRecord>& records) {
  for (NewRecord& record : records) {
    if (!record.owned_data.empty()) record.data = record.owned_data;
  }
}

Result<LockedStream> LockStream(Connection& c, const std::string& stream) {
  Result<std::optional<StreamRow>> row = ReadStreamRow(c, stream, /*lock=*/true);
  if (!row.ok()) return row.status();
  return LockedStream{row->value_or(StreamRow{}), row->has_value()};
}

Result<bool> ClaimStream(Connection& c, const std::string& stream, const LockedStream& locked) {
  if (locked.exists) return true;
  return CreateStreamRow(c, stream);
}

template <typename T, typename Body>
Result<T> PostgresStore::RunWrite(Body body) {
  Result<ConnectionPool::Lease> lease = pool_.Checkout();
  if (!lease.ok()) return lease.status();
  bool fresh_connection_tried = false;
  bool in_doubt = false;  // an earlier attempt's COMMIT got no answer
  auto failed = [&](const Status& failure) {
    return in_doubt ? InDoubt(failure, "write") : failure;
  };
  for (int attempt = 1;; ++attempt) {
    Status begun = (*lease)->ExecScript("BEGIN");
    if (!begun.ok() && (*lease)->broken() && !fresh_connection_tried) {
      // A pooled connection that died while idle (e.g. a server restart): nothing was sent
      // for this request yet, so it is safe to start over on a new connection.
      fresh_connection_tried = true;
      lease = pool_.Renew(std::move(*lease));
      if (!lease.ok()) return failed(lease.status());
      begun = (*lease)->ExecScript("BEGIN");
    }
    if (!begun.ok()) return failed(begun);
    Connection& c = **lease;
    Result<WriteOutcome<T>> outcome = body(c, in_doubt);
    if (!outcome.ok()) {
      const bool retry = Retryable(c) && attempt < kWriteAttempts;
      c.RollbackIfOpen();
      if (retry) continue;
      return failed(outcome.status());
    }
    if (!outcome->head) {  // nothing written
      Status committed = c.ExecScript("COMMIT");
      if (!committed.ok()) return failed(committed);
      return std::move(outcome->value);
    }
    // NOTIFY is delivered to listeners only once the commit is.
    Status committed = c.ExecScript("NOTIFY " + std::string(kHeadChannel) + "; COMMIT");
    if (committed.ok()) {
      notifier_.Advance(*outcome->head);
      return std::move(outcome->value);
    }
    if (!c.broken()) {  // the server answered: nothing was committed
      const bool retry = Retryable(c) && attempt < kWriteAttempts;
      c.RollbackIfOpen();
      if (retry) continue;
      return failed(committed);
    }
    // No answer: the write may have committed. The next attempt, on a new connection, first
    // waits for the stream's row lock, which an attempt still running holds until it ends,
    // and then finds the record by its id or writes it.
    in_doubt = true;
    if (attempt == kWriteAttempts) return failed(committed);
    lease = pool_.Renew(std::move(*lease));
    if (!lease.ok()) return failed(lease.status());
  }
}

Result<AppendResult> PostgresStore::SetStreamMetadata(const std::string& stream,
                                                      ExpectedRevision expected,
                                                      const StreamMetadata& metadata) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, limits_));
  ANNALS_RETURN_IF_ERROR(ValidateStreamMetadataWrite(metadata, limits_));
  const Uuid record_id = Uuid::Random();
  return RunWrite<AppendResult>([&](Connection& c, bool in_doubt) {
    return SetMetadataTx(c, stream, expected, metadata, record_id, in_doubt);
  });
}

Result<PostgresStore::WriteOutcome<AppendResult>> PostgresStore::SetMetadataTx(
    Connection& c, const std::string& stream, ExpectedRevision expected,
    const StreamMetadata& metadata, const Uuid& record_id, bool in_doubt) {
  // The stream's row first (always before its `$$` row: one lock order for every writer), so
  // an append computing the stream's state sees this metadata or runs after it.
  Result<LockedStream> locked = LockStream(c, stream);
  if (!locked.ok()) return locked.status();
  if (in_doubt) {
    Result<std::optional<FoundRecord>> found = FindRecord(c, record_id);
    if (!found.ok()) return found.status();
    if (*found) {  // the earlier attempt committed: this call's write, answered from the log
      const FoundRecord& record = **found;
      return WriteOutcome<AppendResult>{
          AppendResult{record.revision, record.revision, record.position, false}, std::nullopt};
    }
  }
  const StreamRow& row = locked->row;
  if (row.state == StoredState::kTombstoned) return StreamDeleted(stream);
  const std::string metadata_stream = MetadataStreamOf(stream);
  ANNALS_RETURN_IF_ERROR(
      CheckExpectedRevision(metadata_stream, expected, row.metadata_revision, false));
  Result<bool> claimed = ClaimStream(c, stream, *locked);
  if (!claimed.ok()) return claimed.status();
  if (!*claimed) {  // created meanwhile
    return SetMetadataTx(c, stream, expected, metadata, record_id, in_doubt);
  }
  std::vector<CatalogChange> changes;
  Result<NewRecord> record = MetadataRecord(c, stream, metadata, record_id, 1, changes);
  if (!record.ok()) return record.status();
  std::vector<NewRecord> records;
  records.push_back(std::move(record).value());
  PointAtOwnedData(records);
  changes.push_back(CatalogChange{
      .stream = stream, .state = StateFor(stream, row.last_revision.has_value(), false, metadata)});
  Result<Committed> committed = CommitRecords(c, records, changes);
  if (!committed.ok()) return committed.status();
  const Revision revision = records[0].revision;
  return WriteOutcome<AppendResult>{AppendResult{revision, revision, committed->first, false},
                                    Position{committed->first.value + 1}};
}

Result<DeleteResult> PostgresStore::DeleteStream(const std::string& stream,
                                                 ExpectedRevision expected, DeleteMode mode) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, limits_));
  const Uuid record_id = Uuid::Random();
  return RunWrite<DeleteResult>([&](Connection& c, bool in_doubt) {
    return DeleteTx(c, stream, expected, mode, record_id, in_doubt);
  });
}

Result<PostgresStore::WriteOutcome<DeleteResult>> PostgresStore::DeleteTx(
    Connection& c, const std::string& stream, ExpectedRevision expected, DeleteMode mode,
    const Uuid& record_id, bool in_doubt) {
  Result<LockedStream> locked = LockStream(c, stream);
  if (!locked.ok()) return locked.status();
  if (in_doubt) {
    Result<std::optional<FoundRecord>> found = FindRecord(c, record_id);
    if (!found.ok()) return found.status();
    if (*found) {  // the earlier attempt committed
      return WriteOutcome<DeleteResult>{DeleteResult{(*found)->position}, std::nullopt};
    }
  }
  const StreamRow& row = locked->row;
  if (row.state == StoredState::kTombstoned) return StreamDeleted(stream);
  const bool soft_deleted = row.state == StoredState::kSoftDeleted;
  ANNALS_RETURN_IF_ERROR(CheckExpectedRevision(stream, expected, row.last_revision, soft_deleted));
  std::vector<NewRecord> records;
  std::vector<CatalogChange> changes;
  if (mode == DeleteMode::kSoft) {
    if (!row.last_revision || soft_deleted) {
      return Status(StatusCode::kNotFound, "stream '" + stream + "' not found");
    }
    Result<StreamMetadata> metadata = MetadataOf(stream, row);
    if (!metadata.ok()) return metadata.status();
    metadata->truncate_before = Revision{kSoftDeletedTruncateBefore};
    Result<NewRecord> record = MetadataRecord(c, stream, *metadata, record_id, 1, changes);
    if (!record.ok()) return record.status();
    records.push_back(std::move(record).value());
    changes.push_back(
        CatalogChange{.stream = stream, .state = StateFor(stream, true, false, *metadata)});
  } else {
    Result<bool> claimed = ClaimStream(c, stream, *locked);
    if (!claimed.ok()) return claimed.status();
    if (!*claimed) {  // created meanwhile
      return DeleteTx(c, stream, expected, mode, record_id, in_doubt);
    }
    records.push_back(NewRecord{.stream = stream,
                                .revision = Revision{kTombstoneRevision},
                                .id = record_id,
                                .type = std::string(kTombstoneEventType),
                                .content_type = std::string(kContentTypeOctetStream)});
    changes.push_back(
        CatalogChange{.stream = stream, .state = StoredState::kTombstoned, .last_record = 1});
  }
  PointAtOwnedData(records);
  Result<Committed> committed = CommitRecords(c, records, changes);
  if (!committed.ok()) return committed.status();
  return WriteOutcome<DeleteResult>{DeleteResult{committed->first},
                                    Position{committed->first.value + 1}};
}

}  // namespace annals::pg
