// Append for the PostgreSQL store, with group commit: appends from many threads share one
// transaction, so one WAL flush and one turn at the log head serve them all (the head is held
// until the commit is flushed, which otherwise allows one append per flush; docs/postgres.md).
//
// A batch holds at most one append per stream, so every append's checks read the database as
// its own transaction would; all stream rows are locked (in name order, one order for every
// writer) before the log head is taken, once, for all the batch's records.
//
// Every queued event carries an id (the store draws those the caller left out), so a batch
// whose commit is in doubt (the connection broke before the answer came) is tried again on a
// new connection: what had committed is found by its ids and answered from the log (rule
// Append.4), what had not is written then. Ids are unique in `events`, so the two attempts
// cannot both write, even when the first one's session is still running.
#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <utility>

#include "annals/limits.h"
#include "core/expected_revision_check.h"
#include "postgres/postgres_store_impl.h"

namespace annals::pg {
namespace {

constexpr size_t kMaxBatchAppends = 256;
constexpr uint64_t kMaxBatchBytes = 64ull << 20;  // past the first append

bool MissesIds(const AppendRequest& request) {
  return std::any_of(request.events.begin(), request.events.end(),
                     [](const ProposedEvent& event) { return !event.id; });
}

void DrawMissingIds(AppendRequest& request) {
  for (ProposedEvent& event : request.events) {
    if (!event.id) event.id = Uuid::Random();
  }
}

uint64_t BytesOf(const AppendRequest& request) {
  uint64_t bytes = 0;
  for (const ProposedEvent& event : request.events)
    bytes += event.data.size() + event.metadata.size();
  return bytes;
}

// nullopt: none of the request's ids was used before, go on; a value: the original result of
// a retry (rule Append.4).
Result<std::optional<AppendResult>> IdempotentResult(Connection& c, const AppendRequest& request) {
  std::vector<Uuid> ids;
  for (const ProposedEvent& event : request.events) ids.push_back(*event.id);
  Result<Rows> rows =
      c.Exec("SELECT id, stream, revision, position FROM events WHERE id = ANY($1::uuid[])",
             Params().UuidArray(ids));
  if (!rows.ok()) return rows.status();
  if (rows->size() == 0) return std::optional<AppendResult>();
  struct Used {
    std::string stream;
    uint64_t revision;
    uint64_t position;
  };
  std::map<Uuid, Used> found;
  for (int row = 0; row < rows->size(); ++row) {
    found[rows->Uuid(row, 0)] =
        Used{rows->Bytes(row, 1), static_cast<uint64_t>(rows->Int64(row, 2)),
             static_cast<uint64_t>(rows->Int64(row, 3))};
  }
  const Status conflict(StatusCode::kIdempotencyConflict,
                        "event ids already used differently (stream '" + request.stream + "')");
  // Every event's id must have been used, in this stream, at consecutive revisions in request
  // order.
  std::vector<const Used*> used;
  for (const ProposedEvent& event : request.events) {
    auto it = found.find(*event.id);
    if (it == found.end()) return conflict;
    used.push_back(&it->second);
  }
  for (size_t i = 0; i < used.size(); ++i) {
    if (used[i]->stream != request.stream || used[i]->revision != used[0]->revision + i) {
      return conflict;
    }
  }
  return std::optional<AppendResult>(AppendResult{Revision{used.front()->revision},
                                                  Revision{used.back()->revision},
                                                  Position{used.back()->position}, true});
}

// What one append of a batch will write, decided under its stream's row lock.
struct PreparedAppend {
  std::optional<AppendResult> answer;  // an idempotent retry: nothing to write
  std::vector<NewRecord> records;
  std::vector<CatalogChange> changes;  // last_record counts within `records`
  Revision first;
  Revision last;
};

// Rules 3-7 of Append for one request, in a transaction: locks the stream's row (and, to
// recreate a soft-deleted stream, its `$$` row) and returns what to insert. A refused append
// writes nothing.
Result<PreparedAppend> PrepareAppend(Connection& c, const AppendRequest& request) {
  for (;;) {
    Result<LockedStream> locked = LockStream(c, request.stream);
    if (!locked.ok()) return locked.status();
    const StreamRow& row = locked->row;
    // 3. Tombstone.
    if (row.state == StoredState::kTombstoned) return StreamDeleted(request.stream);
    // 4. Idempotency.
    Result<std::optional<AppendResult>> previous = IdempotentResult(c, request);
    if (!previous.ok()) return previous.status();
    if (previous->has_value()) return PreparedAppend{.answer = **previous};
    // 5. Expected revision.
    const bool soft_deleted = row.state == StoredState::kSoftDeleted;
    ANNALS_RETURN_IF_ERROR(
        CheckExpectedRevision(request.stream, request.expected, row.last_revision, soft_deleted));
    Result<StreamMetadata> metadata = MetadataOf(request.stream, row);
    if (!metadata.ok()) return metadata.status();
    Result<bool> claimed = ClaimStream(c, request.stream, *locked);
    if (!claimed.ok()) return claimed.status();
    if (!*claimed) continue;  // the stream was created meanwhile: check again on its row
    // 6-7. The recreation metadata first when soft-deleted, then the events.
    PreparedAppend prepared;
    prepared.first = Revision{row.last_revision ? row.last_revision->value + 1 : 0};
    prepared.last = Revision{prepared.first.value + request.events.size() - 1};
    if (soft_deleted) {
      metadata->truncate_before = prepared.first;
      Result<NewRecord> recreation =
          MetadataRecord(c, request.stream, *metadata, Uuid::Random(), 1, prepared.changes);
      if (!recreation.ok()) return recreation.status();
      prepared.records.push_back(std::move(recreation).value());
    }
    for (size_t i = 0; i < request.events.size(); ++i) {
      const ProposedEvent& event = request.events[i];
      prepared.records.push_back(NewRecord{.stream = request.stream,
                                           .revision = Revision{prepared.first.value + i},
                                           .id = *event.id,
                                           .type = event.type,
                                           .content_type = event.content_type,
                                           .data = event.data,
                                           .metadata = event.metadata});
    }
    prepared.changes.push_back(CatalogChange{
        .stream = request.stream,
        .state = StateFor(request.stream, /*has_events=*/true, /*tombstoned=*/false, *metadata),
        .last_revision = prepared.last,
        .added_events = request.events.size(),
        .revision_base = soft_deleted ? std::optional<Revision>(prepared.first) : std::nullopt,
        .last_record = static_cast<uint32_t>(prepared.records.size())});
    return prepared;
  }
}

// Whether the transaction survived a failed statement (a refused append) or is lost with it.
bool TransactionFailed(Connection& c) {
  return c.broken() || PQtransactionStatus(c.raw()) != PQTRANS_INTRANS;
}

}  // namespace

// Rules 1-2 of Append: validation, system streams, reserved types, before any database work.
Status PostgresStore::CheckAppend(const AppendRequest& request) const {
  ANNALS_RETURN_IF_ERROR(ValidateAppend(request, limits_));
  // Only Annals' own components write `$` streams, and `$$<stream>` only through metadata.
  if (IsSystemName(request.stream) &&
      (!request.system_writer || request.stream.starts_with("$$"))) {
    return Status(StatusCode::kInvalidArgument,
                  "cannot append to system stream '" + request.stream + "'");
  }
  for (const ProposedEvent& event : request.events) {
    if (IsSystemName(event.type)) {
      return Status(StatusCode::kInvalidArgument, "reserved event type " + event.type);
    }
  }
  return Status::Ok();
}

Result<AppendResult> PostgresStore::Append(const AppendRequest& request) {
  ANNALS_RETURN_IF_ERROR(CheckAppend(request));
  std::optional<AppendRequest> with_ids;
  if (MissesIds(request)) DrawMissingIds(with_ids.emplace(request));
  PendingAppend me{.request = with_ids ? &*with_ids : &request};
  std::unique_lock lock(batch_mu_);
  pending_.push_back(&me);
  while (!me.result) {
    if (committing_) {
      batch_done_.wait(lock);
      continue;
    }
    // No batch in flight: this thread commits the next one (which may not include its own
    // append, if others queued before it; then it goes round again).
    CommitNextBatchLocked(lock);
  }
  return std::move(*me.result);
}

void PostgresStore::AppendAsync(AppendRequest request,
                                std::function<void(Result<AppendResult>)> done) {
  if (Status invalid = CheckAppend(request); !invalid.ok()) {
    done(std::move(invalid));
    return;
  }
  DrawMissingIds(request);
  // Queued like a synchronous append, so it shares batches with them; a worker thread commits
  // when no one else is, and no thread waits for the commit on this append's behalf.
  auto* pending = new PendingAppend{.done = std::move(done),
                                    .owned = std::make_unique<AppendRequest>(std::move(request))};
  pending->request = pending->owned.get();
  std::unique_lock lock(batch_mu_);
  pending_.push_back(pending);
  PostLeaderLocked(lock);
}

void PostgresStore::PostLeaderLocked(std::unique_lock<std::mutex>& lock) {
  if (committing_ || pending_.empty() || leader_posted_) return;
  leader_posted_ = true;
  lock.unlock();
  const bool posted = async_.Post([this] {
    std::unique_lock lead(batch_mu_);
    leader_posted_ = false;
    while (!committing_ && !pending_.empty()) CommitNextBatchLocked(lead);
  });
  lock.lock();
  // Closing: the destructor commits what is left (DrainPendingAppends).
  if (!posted) leader_posted_ = false;
}

void PostgresStore::CommitNextBatchLocked(std::unique_lock<std::mutex>& lock) {
  committing_ = true;
  std::vector<PendingAppend*> batch = TakeBatchLocked();
  lock.unlock();
  std::vector<const AppendRequest*> requests;
  for (PendingAppend* pending : batch) requests.push_back(pending->request);
  std::vector<Result<AppendResult>> results = CommitAppends(requests);
  std::vector<std::pair<std::function<void(Result<AppendResult>)>, Result<AppendResult>>> done;
  lock.lock();
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i]->done) {  // asynchronous: this thread completes it
      done.emplace_back(std::move(batch[i]->done), std::move(results[i]));
      delete batch[i];
    } else {
      batch[i]->result = std::move(results[i]);
    }
  }
  committing_ = false;
  batch_done_.notify_all();
  // Asynchronous appends left behind have no thread waiting for them: hand them to a worker.
  PostLeaderLocked(lock);
  lock.unlock();
  for (auto& [callback, result] : done) callback(std::move(result));
  lock.lock();
}

void PostgresStore::DrainPendingAppends() {
  std::unique_lock lock(batch_mu_);
  while (!pending_.empty()) {
    if (committing_) {
      batch_done_.wait(lock);
      continue;
    }
    CommitNextBatchLocked(lock);
  }
}

std::vector<PostgresStore::PendingAppend*> PostgresStore::TakeBatchLocked() {
  std::vector<PendingAppend*> batch;
  std::set<std::string_view> streams;
  uint64_t bytes = 0;
  for (auto it = pending_.begin(); it != pending_.end() && batch.size() < kMaxBatchAppends;) {
    const AppendRequest& request = *(*it)->request;
    const uint64_t request_bytes = BytesOf(request);
    // One append per stream and batch; a later one to the same stream waits its turn, so
    // appends to one stream keep their order.
    if (streams.contains(request.stream) ||
        (!batch.empty() && bytes + request_bytes > kMaxBatchBytes)) {
      ++it;
      continue;
    }
    streams.insert(request.stream);
    bytes += request_bytes;
    batch.push_back(*it);
    it = pending_.erase(it);
  }
  return batch;
}

std::vector<Result<AppendResult>> PostgresStore::CommitAppends(
    const std::vector<const AppendRequest*>& batch) {
  std::vector<std::optional<AppendResult>> written;
  std::optional<Status> failure;
  bool broken = false;
  bool retryable = false;
  {
    Result<ConnectionPool::Lease> lease = pool_.Checkout();
    if (!lease.ok()) return std::vector<Result<AppendResult>>(batch.size(), lease.status());
    Result<OneStatementAppends> quick = AppendInOneStatement(**lease, batch);
    if (quick.ok()) {
      if (quick->head) notifier_.Advance(*quick->head);
      written = std::move(quick->written);
    } else {
      failure = quick.status();
      broken = (*lease)->broken();
      retryable = Retryable(**lease);
    }
  }  // the connection goes back before the long way takes one
  if (failure) {
    // The statement commits on its own: when the connection broke, it may have. The long way,
    // on another connection, settles that by the events' ids.
    if (broken) return CommitAppendsInTransaction(batch, /*in_doubt=*/true);
    // It wrote nothing. A timeout or a server shutting down would stop the long way too; a
    // race (an event id inserted by another node meanwhile, a deadlock) or a failure that may
    // be one append's own is sorted out by the long way, append by append if need be.
    if (failure->code() == StatusCode::kUnavailable && !retryable) {
      return std::vector<Result<AppendResult>>(batch.size(), *failure);
    }
    return CommitAppendsInTransaction(batch);
  }
  std::vector<const AppendRequest*> declined;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!written[i]) declined.push_back(batch[i]);
  }
  std::vector<Result<AppendResult>> long_way;
  if (!declined.empty()) long_way = CommitAppendsInTransaction(declined);
  std::vector<Result<AppendResult>> results;
  results.reserve(batch.size());
  size_t next_declined = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (written[i]) {
      results.emplace_back(*written[i]);
    } else {
      results.push_back(std::move(long_way[next_declined++]));
    }
  }
  return results;
}

std::vector<Result<AppendResult>> PostgresStore::CommitAppendsInTransaction(
    const std::vector<const AppendRequest*>& batch, bool in_doubt) {
  // A failure of the whole batch; one that follows a commit in doubt leaves it in doubt.
  auto failed = [&](const Status& failure) {
    return std::vector<Result<AppendResult>>(batch.size(),
                                             in_doubt ? InDoubt(failure, "append") : failure);
  };
  Status failure;
  bool one_by_one = false;
  {
    Result<ConnectionPool::Lease> lease = pool_.Checkout();
    if (!lease.ok()) return failed(lease.status());
    for (int attempt = 1; attempt <= kWriteAttempts; ++attempt) {
      // An error result means the transaction did not commit, or, when its COMMIT got no
      // answer, that it may have; either way trying again with the same ids is safe.
      bool commit_lost = false;
      Result<std::vector<Result<AppendResult>>> results =
          TryCommitAppends(**lease, batch, &commit_lost);
      if (results.ok()) return std::move(results).value();
      failure = results.status();
      in_doubt = in_doubt || commit_lost;
      if ((*lease)->broken() && (attempt == 1 || commit_lost)) {
        // A pooled connection that died while idle (e.g. a server restart), or one that broke
        // during the COMMIT: a new one.
        lease = pool_.Renew(std::move(*lease));
        if (!lease.ok()) return failed(lease.status());
        continue;
      }
      // A race one append lost (retryable), or a failure that may be one append's own (not
      // the server's or the connection's): the others must not share its fate.
      const bool own_failure = failure.code() != StatusCode::kUnavailable;
      if (batch.size() > 1 && (Retryable(**lease) || own_failure)) {
        one_by_one = true;
        break;
      }
      if (!Retryable(**lease)) break;
    }
  }
  if (!one_by_one) return failed(failure);
  // Commit each on its own: the one that lost a race (e.g. its event id was inserted by another
  // node meanwhile) retries alone, and one that fails fails alone.
  std::vector<Result<AppendResult>> results;
  for (const AppendRequest* request : batch) {
    results.push_back(std::move(CommitAppendsInTransaction({request}, in_doubt)[0]));
  }
  return results;
}

Result<std::vector<Result<AppendResult>>> PostgresStore::TryCommitAppends(
    Connection& c, const std::vector<const AppendRequest*>& batch, bool* commit_lost) {
  ANNALS_RETURN_IF_ERROR(c.ExecScript("BEGIN"));
  std::vector<Result<AppendResult>> results(batch.size(), Status(StatusCode::kInternal, ""));
  // Rows in name order: two batches (of two nodes) never wait for each other in a cycle.
  std::vector<size_t> order(batch.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return batch[a]->stream < batch[b]->stream; });
  std::vector<NewRecord> records;
  std::vector<CatalogChange> changes;
  std::vector<std::pair<size_t, PreparedAppend>> writing;  // (batch index, what it writes)
  for (size_t i : order) {
    Result<PreparedAppend> prepared = PrepareAppend(c, *batch[i]);
    if (!prepared.ok()) {
      if (TransactionFailed(c)) {
        c.RollbackIfOpen();
        return prepared.status();
      }
      results[i] = prepared.status();  // refused: it wrote nothing
    } else if (prepared->answer) {
      results[i] = *prepared->answer;
    } else {
      for (CatalogChange& change : prepared->changes) {
        if (change.last_record != 0) change.last_record += records.size();
      }
      for (NewRecord& record : prepared->records) records.push_back(std::move(record));
      changes.insert(changes.end(), prepared->changes.begin(), prepared->changes.end());
      writing.emplace_back(i, std::move(prepared).value());
    }
  }
  if (records.empty()) {
    ANNALS_RETURN_IF_ERROR(c.ExecScript("COMMIT"));
    return results;
  }
  PointAtOwnedData(records);
  Result<Committed> committed = CommitRecords(c, records, changes);
  if (!committed.ok()) {
    c.RollbackIfOpen();
    return committed.status();
  }
  // NOTIFY is delivered to listeners only once the commit is.
  Status done = c.ExecScript("NOTIFY " + std::string(kHeadChannel) + "; COMMIT");
  if (!done.ok()) {
    c.MarkBroken();
    *commit_lost = true;
    return done;
  }
  for (const auto& [i, prepared] : writing) {
    // The record whose catalog change names this stream's last record.
    const uint32_t last_record = prepared.changes.back().last_record;
    results[i] = AppendResult{prepared.first, prepared.last,
                              Position{committed->first.value + last_record - 1}, false};
  }
  notifier_.Advance(Position{committed->first.value + records.size()});
  return results;
}

}  // namespace annals::pg
