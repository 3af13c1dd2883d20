// The PostgreSQL EventStore (include/annals/postgres_store.h). Appends (group commit) are in
// appends.cc and, their common case in one statement, append_statement.cc; the other writes in
// writes.cc, reads in reads.cc, the catalog statements and the log-head commit in catalog.cc,
// opening and live notification in postgres_store.cc; docs/postgres.md has the schema and why
// positions are gap-free and in commit order.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "annals/event_store.h"
#include "annals/postgres_store.h"
#include "core/workers.h"
#include "postgres/connection_pool.h"
#include "postgres/head_notifier.h"

namespace annals::pg {

// The first position of the log; Head() of an empty log.
inline constexpr uint64_t kFirstPosition = 1;

// streams.state.
enum class StoredState : int16_t { kActive = 0, kSoftDeleted = 1, kTombstoned = 2 };

// A row of `streams` joined with the stream's `stream_metadata`.
struct StreamRow {
  StoredState state = StoredState::kActive;
  std::optional<Revision> last_revision;
  uint64_t event_count = 0;
  std::optional<int64_t> created;
  std::optional<int64_t> last_updated;
  std::optional<int64_t> last_position;
  std::optional<Revision> metadata_revision;
  std::string metadata_json;  // empty: never set
};

// One event to insert; CommitRecords gives it its position and created time.
struct NewRecord {
  std::string stream;
  Revision revision;
  Uuid id;
  std::string type;
  std::string content_type;
  std::string_view data;  // borrowed from the request (or from `owned_data`)
  std::string_view metadata;
  std::string owned_data;
};

// How a write changes one catalog row, applied in the same statement as the inserts.
struct CatalogChange {
  std::string stream;
  StoredState state = StoredState::kActive;
  std::optional<Revision> last_revision;  // nullopt: unchanged
  uint64_t added_events = 0;
  std::optional<Revision> revision_base;  // nullopt: unchanged
  // 1-based index in the records of this stream's last record, which becomes its last
  // position and time; 0: neither changes.
  uint32_t last_record = 0;
};

struct Committed {
  Position first;  // of the first record
  Timestamp created;
};

class PostgresStore final : public EventStore {
 public:
  PostgresStore(const PostgresOptions& options, ConnectOptions connect, Position head);
  ~PostgresStore() override;

  Result<AppendResult> Append(const AppendRequest& request) override;
  void AppendAsync(AppendRequest request, std::function<void(Result<AppendResult>)> done) override;
  Result<ReadStreamResult> ReadStream(const ReadStreamRequest& request) override;
  Result<ReadAllResult> ReadAll(const ReadAllRequest& request) override;
  Result<StreamInfo> GetStreamInfo(const std::string& stream) override;
  Result<ListStreamsResult> ListStreams(const ListStreamsRequest& request) override;
  Result<StreamMetadataResult> GetStreamMetadata(const std::string& stream) override;
  Result<AppendResult> SetStreamMetadata(const std::string& stream, ExpectedRevision expected,
                                         const StreamMetadata& metadata) override;
  Result<DeleteResult> DeleteStream(const std::string& stream, ExpectedRevision expected,
                                    DeleteMode mode) override;
  Position Head() const override;
  Position WaitForHead(Position after, std::chrono::milliseconds timeout) override;
  uint64_t WatchHead(Position after, CommitCallback callback) override;
  void CancelHeadWatch(uint64_t id) override;
  // `SELECT 1` on a pooled connection, at most once a second: a probe storm costs the database
  // nothing more, and callers in the meantime get the last answer.
  Status CheckHealth() override;

 private:
  // What a write transaction's body hands back: its result, and the head just past its
  // records when it wrote any (nullopt: nothing written, e.g. an idempotent retry).
  template <typename T>
  struct WriteOutcome {
    T value;
    std::optional<Position> head;
  };
  // Runs `body(connection, in_doubt)` in a transaction on a pooled connection and commits it
  // (with a NOTIFY to the live listeners) when it wrote. Retries the whole transaction when it
  // lost a race that a retry resolves (an event id inserted concurrently, a deadlock), and on a
  // new connection when its COMMIT got no answer: `in_doubt` then tells the body that an
  // earlier attempt may have committed, which it settles by its record's id (drawn once per
  // write, before the first attempt).
  template <typename T, typename Body>
  Result<T> RunWrite(Body body);

  // Runs `read` on a pooled connection; once more on a fresh connection when the pooled one
  // turned out to be dead (reads have no side effects to repeat).
  template <typename T, typename Read>
  Result<T> RunRead(Read read) const;
  // The same, waiting at most `checkout` for a connection.
  template <typename T, typename Read>
  Result<T> RunRead(Read read, std::chrono::milliseconds checkout) const;

  // Group commit (appends.cc): concurrent Appends queue up, and one of their threads at a time
  // commits a batch of them in one transaction (one WAL flush, one turn at the log head).
  struct PendingAppend {
    // Every event has an id: the store draws the missing ones before it queues the append, so
    // a batch whose commit is in doubt can be tried again (appends.cc).
    const AppendRequest* request = nullptr;
    std::optional<Result<AppendResult>> result;  // synchronous: set under batch_mu_
    // Asynchronous: called once committed (this entry is then deleted), and its request.
    std::function<void(Result<AppendResult>)> done;
    std::unique_ptr<AppendRequest> owned;
  };
  Status CheckAppend(const AppendRequest& request) const;
  // Commits the next batch from `pending_` (the caller holds `lock` and no batch is in flight)
  // and completes its appends.
  void CommitNextBatchLocked(std::unique_lock<std::mutex>& lock);
  // Has a worker thread commit the pending appends when no thread is committing.
  void PostLeaderLocked(std::unique_lock<std::mutex>& lock);
  // Commits every pending append (at close, after the workers stopped).
  void DrainPendingAppends();
  std::vector<PendingAppend*> TakeBatchLocked();
  // The batch in one statement where it can (AppendInOneStatement), the rest the long way.
  std::vector<Result<AppendResult>> CommitAppends(const std::vector<const AppendRequest*>& batch);
  // The batch in a transaction of several statements, which handles every case. `in_doubt`:
  // an earlier attempt may have committed the batch; a failure then says so.
  std::vector<Result<AppendResult>> CommitAppendsInTransaction(
      const std::vector<const AppendRequest*>& batch, bool in_doubt = false);
  // One attempt in one transaction; an error status when the transaction failed as a whole,
  // with *commit_lost set when that was its COMMIT getting no answer (it may have committed).
  Result<std::vector<Result<AppendResult>>> TryCommitAppends(
      Connection& c, const std::vector<const AppendRequest*>& batch, bool* commit_lost);
  // The bodies of SetStreamMetadata and DeleteStream: `record_id` is the id of the record the
  // write adds (the same on every attempt).
  Result<WriteOutcome<AppendResult>> SetMetadataTx(Connection& c, const std::string& stream,
                                                   ExpectedRevision expected,
                                                   const StreamMetadata& metadata,
                                                   const Uuid& record_id, bool in_doubt);
  Result<WriteOutcome<DeleteResult>> DeleteTx(Connection& c, const std::string& stream,
                                              ExpectedRevision expected, DeleteMode mode,
                                              const Uuid& record_id, bool in_doubt);

  const Limits limits_;
  const std::chrono::milliseconds checkout_timeout_;
  std::mutex batch_mu_;
  std::condition_variable batch_done_;
  std::deque<PendingAppend*> pending_;
  bool committing_ = false;     // a thread is committing a batch
  bool leader_posted_ = false;  // a worker task will commit pending appends
  mutable ConnectionPool pool_;
  mutable HeadNotifier notifier_;
  std::mutex health_mu_;  // one health check at a time; the others wait for its answer
  std::chrono::steady_clock::time_point health_checked_{};
  Status health_;
  Workers async_;
};

// ---- Statements shared by the write and read paths (catalog.cc). ----

// The stream's catalog row and metadata; nullopt when it has no row. With `lock`, the row is
// locked FOR UPDATE, so concurrent writers of one stream serialise on it.
Result<std::optional<StreamRow>> ReadStreamRow(Connection& c, const std::string& stream, bool lock);
// Inserts an empty catalog row (which stays locked by this transaction); false when another
// transaction created it first (after waiting for that one to commit): read it again.
Result<bool> CreateStreamRow(Connection& c, const std::string& stream);
// The stream's row, locked; created empty when missing.
Result<StreamRow> LockOrCreateStreamRow(Connection& c, const std::string& stream);
// ---- Helpers of the write paths (writes.cc). ----

// A stream's catalog row locked for a write, or an empty row when it has none yet.
struct LockedStream {
  StreamRow row;
  bool exists = false;
};
// Locks the stream's row when it exists. A write checks its rules first and creates a missing
// row only once they pass (ClaimStream), so a refused write leaves nothing behind.
Result<LockedStream> LockStream(Connection& c, const std::string& stream);
// Makes sure the locked stream has a row before the write; false when another writer created
// it meanwhile: the write must start over on that row.
Result<bool> ClaimStream(Connection& c, const std::string& stream, const LockedStream& locked);
// A transaction that failed this way is retried from the start: the race it lost resolves on
// a retry (a concurrently inserted event id is then found by the idempotency check).
bool Retryable(const Connection& c);
inline constexpr int kWriteAttempts = 5;
Status StreamDeleted(const std::string& stream);
// The answer to a write whose commit is in doubt and could not be settled.
Status InDoubt(const Status& failure, std::string_view write);
// The `$metadata` event `id` holding `metadata` for `$$stream` (locking that stream's row,
// creating it when missing), stored as the stream's current metadata; adds `$$stream`'s catalog
// change with `record_index` (1-based) as its last record.
Result<NewRecord> MetadataRecord(Connection& c, const std::string& stream,
                                 const StreamMetadata& metadata, const Uuid& id,
                                 uint32_t record_index, std::vector<CatalogChange>& changes);
// Points each record's `data` at its `owned_data` once the records are in their final place.
void PointAtOwnedData(std::vector<NewRecord>& records);

// A StreamRow from columns 0..7 of `rows`: state, last_revision, event_count, created,
// last_updated, last_position, metadata revision, metadata JSON.
StreamRow StreamRowAt(const Rows& rows, int row);
// Parses a row's metadata JSON (empty metadata when never set or for `$` streams).
Result<StreamMetadata> MetadataOf(const std::string& stream, const StreamRow& row);
// The state a stream is in after a write: soft-deleted when it has events and its metadata
// carries the soft-delete `$tb` (KurrentDB's rule, whoever wrote that metadata).
StoredState StateFor(const std::string& stream, bool has_events, bool tombstoned,
                     const StreamMetadata& metadata);
// Replaces the stored metadata of `stream` (the `$metadata` event at `revision` of `$$stream`).
Status StoreMetadata(Connection& c, const std::string& stream, Revision revision,
                     const std::string& json);
// Takes the log head (the serialisation point of all writers: see docs/postgres.md), inserts
// `records` at the positions it hands out and applies `changes` to the catalog, in one
// statement. Call it last before COMMIT.
Result<Committed> CommitRecords(Connection& c, const std::vector<NewRecord>& records,
                                const std::vector<CatalogChange>& changes);
// What AppendInOneStatement wrote: the result of each append it wrote (nullopt: declined,
// nothing written), and the head just past its records when it wrote any.
struct OneStatementAppends {
  std::vector<std::optional<AppendResult>> written;
  std::optional<Position> head;
};
// The batch's appends in one autocommitted call of `annals_append` (append_statement.cc), on a
// connection outside any transaction. Every event must carry its id. An error status: nothing
// was written, unless the connection broke, when the outcome is unknown.
Result<OneStatementAppends> AppendInOneStatement(Connection& c,
                                                 const std::vector<const AppendRequest*>& batch);
// The event in columns position, stream, revision, id, type, content_type, data, metadata,
// created from `first_column` on (reads.cc selects them).
RecordedEvent EventAt(const Rows& rows, int row, int first_column);

// A uint64 request value as a bigint parameter (values beyond INT64_MAX mean "no bound").
inline int64_t ClampToInt64(uint64_t value) {
  return value > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(value);
}

}  // namespace annals::pg
