// The write path: the single writer thread and group commit (see engine_impl.h).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <rocksdb/perf_level.h>

#include "core/expected_revision_check.h"
#include "core/stream_metadata_codec.h"
#include "engine/engine_impl.h"
#include "engine/log/log_format.h"

namespace annals::engine {
namespace {

// Appends wait in memory while the writer works; past this many bytes callers are told to retry.
constexpr uint64_t kMaxQueuedBytes = 1ull << 30;

uint64_t RequestBytes(const AppendRequest& request) {
  uint64_t bytes = request.stream.size();
  for (const auto& e : request.events) {
    bytes += log::EventRecordBytes(request.stream, e.type, e.content_type, e.data.size(),
                                   e.metadata.size());
  }
  return bytes;
}

Status Stopped() { return Status(StatusCode::kUnavailable, "the store is closed"); }

}  // namespace

bool EngineImpl::EnqueueLocked(Request& request) {
  if (stopping_) {
    request.done(Stopped());
    return false;
  }
  if (queued_bytes_ + request.bytes > kMaxQueuedBytes && !queue_.empty()) {
    request.done(
        Status(StatusCode::kUnavailable, "too many appends are waiting for the disk; retry later"));
    return false;
  }
  queued_bytes_ += request.bytes;
  queue_.push_back(std::move(request));
  return true;
}

void EngineImpl::Enqueue(Request request) {
  {
    std::lock_guard lock(queue_mu_);
    if (!EnqueueLocked(request)) return;
  }
  queue_cv_.notify_one();
}

std::vector<EngineImpl::Request> EngineImpl::TakeBatchLocked() {
  std::vector<Request> batch;
  uint64_t bytes = 0;
  while (!queue_.empty() &&
         (batch.empty() || bytes + queue_.front().bytes <= options_.max_batch_bytes)) {
    bytes += queue_.front().bytes;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  queued_bytes_ -= bytes;
  return batch;
}

void EngineImpl::CommitTakenBatch(std::unique_lock<std::mutex>& lock) {
  committing_ = true;
  std::vector<Request> batch = TakeBatchLocked();
  lock.unlock();
  // RocksDB counts comparisons per thread by default: measurable in every memtable insert.
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  CommitBatch(batch);
  lock.lock();
  committing_ = false;
}

Result<AppendResult> EngineImpl::Submit(Request request) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<AppendResult>> result;
  request.done = [&](Result<AppendResult> r) {
    std::lock_guard lock(mu);
    result.emplace(std::move(r));
    cv.notify_one();
  };
  {
    std::unique_lock lock(queue_mu_);
    // While a batch is being committed, the request waits for the next one: the writer
    // thread takes it, or is woken for it by the caller committing now. When nobody commits,
    // this caller commits on its own thread, sparing the writer thread's wake-up and its own
    // (docs/performance.md, "Append path"), and leaves what others queued meanwhile to the
    // writer thread.
    if (EnqueueLocked(request) && !committing_) {
      CommitTakenBatch(lock);
      if (!queue_.empty() || stopping_) queue_cv_.notify_one();
    }
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return result.has_value(); });
  return std::move(*result);
}

Result<AppendResult> EngineImpl::Append(const AppendRequest& request) {
  Status valid = ValidateAppend(request, options_.limits);
  if (!valid.ok()) return valid;
  Request r;
  r.kind = Request::Kind::kAppend;
  r.append = request;
  r.bytes = RequestBytes(request);
  return Submit(std::move(r));
}

void EngineImpl::AppendAsync(AppendRequest request,
                             std::function<void(Result<AppendResult>)> done) {
  Status valid = ValidateAppend(request, options_.limits);
  if (!valid.ok()) {
    done(valid);
    return;
  }
  Request r;
  r.kind = Request::Kind::kAppend;
  r.bytes = RequestBytes(request);
  r.append = std::move(request);
  r.done = std::move(done);
  Enqueue(std::move(r));
}

Result<AppendResult> EngineImpl::SetStreamMetadata(const std::string& stream,
                                                   ExpectedRevision expected,
                                                   const StreamMetadata& metadata) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, options_.limits));
  // A bad `$acl` or custom object fails here, never in the log (recovery must parse it).
  ANNALS_RETURN_IF_ERROR(ValidateStreamMetadataWrite(metadata, options_.limits));
  Request r;
  r.kind = Request::Kind::kSetMetadata;
  r.append.stream = stream;
  r.append.expected = expected;
  r.metadata = metadata;
  r.bytes = stream.size() + metadata.acl_json.size() + metadata.custom_json.size() + 256;
  return Submit(std::move(r));
}

Result<DeleteResult> EngineImpl::DeleteStream(const std::string& stream, ExpectedRevision expected,
                                              DeleteMode mode) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, options_.limits));
  Request r;
  r.kind = Request::Kind::kDelete;
  r.append.stream = stream;
  r.append.expected = expected;
  r.delete_mode = mode;
  r.bytes = stream.size() + 256;
  auto result = Submit(std::move(r));
  if (!result.ok()) return result.status();
  return DeleteResult{result->position};
}

// ---------------------------------------------------------------------------------------------

void EngineImpl::WriterLoop() {
  std::unique_lock lock(queue_mu_);
  while (true) {
    queue_cv_.wait(lock, [&] { return !committing_ && (!queue_.empty() || stopping_); });
    if (queue_.empty()) return;  // stopping, and everything queued is done
    CommitTakenBatch(lock);
  }
}

void EngineImpl::CommitBatch(std::vector<Request>& batch) {
  std::vector<Result<AppendResult>> results;
  results.reserve(batch.size());
  buffer_.clear();
  write_start_ = cursor_;
  for (Request& request : batch) {
    results.push_back(failed_.ok() ? Process(request) : failed_);
  }
  Status written = failed_;
  std::shared_ptr<log::SegmentFile> segment;
  if (written.ok()) written = WriteBuffer(&segment);
  const bool syncing = written.ok() && segment && options_.durability == Durability::kFsync;
  // A commit of one event has an index batch of a few microseconds: less than handing the
  // fdatasync to the sync thread and being woken back, so this thread syncs it itself (a lone
  // writer: +6% appends/s, p50 0.131 -> 0.124 ms). Bigger commits write their index meanwhile
  // (at 8 writers, inline syncs of up to 16 events lost up to 10%; docs/performance.md).
  size_t events = 0;
  for (const Request& r : batch) events += r.append.events.size();
  const bool inline_sync = syncing && events <= 1;
  if (syncing && !inline_sync) sync_.Start(segment);
  if (written.ok()) {
    // The index batch is written while (one event: just before) the disk syncs the log.
    // Either way it can reach memory before the log is durable. Should the process die before
    // the sync completes, the index is only in memory; should the machine die and a memtable
    // flush have raced ahead, recovery finds the index past the log's end and rebuilds it.
    index::IndexBatch index_batch;
    applier_->Finish(LogEnd(), &index_batch);
    written = index_->Write(&index_batch);
  }
  if (syncing) {
    std::chrono::nanoseconds took{0};
    Status synced;
    if (inline_sync) {
      const auto started = std::chrono::steady_clock::now();
      synced = segment->Sync();
      took = std::chrono::steady_clock::now() - started;
    } else {
      synced = sync_.Wait(&took);
    }
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
    fsync_seconds_.Observe(kFsyncSecondsBounds, std::chrono::duration<double>(took).count());
    if (!synced.ok()) written = synced;
  }
  if (!written.ok()) {
    // After a failed write or fsync nobody knows what reached the disk (a retried fsync can
    // report success for lost pages), so the engine stops writing until it is reopened, when
    // recovery finds the true end of the log.
    StopWrites(written);
    applier_->Abort();
    for (auto& r : results) {
      if (r.ok()) r = failed_;
    }
  } else {
    group_commits_.fetch_add(1, std::memory_order_relaxed);
    group_commit_requests_.Observe(kCommitBatchBounds, static_cast<double>(batch.size()));
    PublishHead(LogEnd());
    PrepareSegmentAfter(segments_->SegmentOf(LogEnd()));
  }
  for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
}

Result<AppendResult> EngineImpl::Process(Request& request) {
  switch (request.kind) {
    case Request::Kind::kAppend:
      return ProcessAppend(request);
    case Request::Kind::kSetMetadata:
      return ProcessSetMetadata(request);
    case Request::Kind::kDelete:
      return ProcessDelete(request);
  }
  return Status(StatusCode::kInternal, "unknown request kind");
}

Result<AppendResult> EngineImpl::ProcessAppend(Request& request) {
  AppendRequest& append = request.append;
  auto loaded = applier_->Load(append.stream);
  if (!loaded.ok()) return loaded.status();
  index::StreamRecord* stream = *loaded;
  if (stream->tombstoned) {
    return Status(StatusCode::kStreamDeleted,
                  fmt::format("stream '{}' is tombstoned", append.stream));
  }

  // Idempotency: decided by the ids alone, before the expected revision (a retry of a
  // successful append must get its original answer).
  size_t with_ids = 0, found = 0;
  std::optional<index::EventIdEntry> first_found, last_found;
  bool consecutive = true;
  for (size_t i = 0; i < append.events.size(); ++i) {
    const auto& id = append.events[i].id;
    if (!id) continue;
    ++with_ids;
    auto entry = applier_->FindEventId(*id);
    if (!entry.ok()) return entry.status();
    if (!entry->has_value()) continue;
    const index::EventIdEntry& e = **entry;
    if (stream->id == 0 || e.stream_id != stream->id) {
      return Status(StatusCode::kIdempotencyConflict,
                    fmt::format("events[{}].id {} was already used by an event of another stream",
                                i, id->ToString()));
    }
    if (first_found && e.revision != first_found->revision + found) consecutive = false;
    if (!first_found) first_found = e;
    last_found = e;
    ++found;
    if (found != i + 1) consecutive = false;
  }
  if (found > 0) {
    if (found != append.events.size() || !consecutive) {
      return Status(StatusCode::kIdempotencyConflict,
                    fmt::format("{} of the {} events were already appended to '{}' and {} were "
                                "not, or not in this order: a retry must repeat the original "
                                "append exactly",
                                found, append.events.size(), append.stream, with_ids - found));
    }
    return AppendResult{Revision{first_found->revision}, Revision{last_found->revision},
                        Position{last_found->position}, /*idempotent=*/true};
  }

  ANNALS_RETURN_IF_ERROR(CheckExpectedRevision(append.stream, append.expected,
                                               stream->LastRevision(), stream->SoftDeleted()));

  const Timestamp created = NextTimestamp();
  std::vector<PendingRecord> records;
  records.reserve(append.events.size() + 1);
  uint64_t revision = stream->has_events ? stream->last_revision + 1 : 0;
  const uint64_t first_revision = revision;
  std::string metadata_stream;
  if (stream->SoftDeleted()) {
    // Recreating a soft-deleted stream: hide its old events from now on, atomically with the
    // new ones, keeping its other metadata.
    metadata_stream = MetadataStreamOf(append.stream);
    auto meta_loaded = applier_->Load(metadata_stream);
    if (!meta_loaded.ok()) return meta_loaded.status();
    StreamMetadata metadata = stream->metadata;
    metadata.truncate_before = Revision{revision};
    PendingRecord& r = records.emplace_back();
    r.owned_data = StreamMetadataToJson(metadata);
    r.view.stream = metadata_stream;
    r.view.type = kMetadataEventType;
    r.view.revision = Revision{(*meta_loaded)->has_events ? (*meta_loaded)->last_revision + 1 : 0};
  }
  for (const ProposedEvent& e : append.events) {
    PendingRecord& r = records.emplace_back();
    r.view.stream = append.stream;
    r.view.type = e.type;
    r.view.content_type = e.content_type;
    r.view.data = e.data;
    r.view.metadata = e.metadata;
    r.view.id = e.id ? *e.id : Uuid::Random();
    r.view.revision = Revision{revision++};
  }
  for (PendingRecord& r : records) r.view.created = created;
  auto last_position = WriteCommit(records);
  if (!last_position.ok()) return last_position.status();
  appends_.fetch_add(1, std::memory_order_relaxed);
  events_appended_.fetch_add(append.events.size(), std::memory_order_relaxed);
  bytes_appended_.fetch_add(request.bytes, std::memory_order_relaxed);
  return AppendResult{Revision{first_revision}, Revision{revision - 1}, Position{*last_position},
                      false};
}

Result<AppendResult> EngineImpl::ProcessSetMetadata(Request& request) {
  const std::string& name = request.append.stream;
  auto loaded = applier_->Load(name);
  if (!loaded.ok()) return loaded.status();
  if ((*loaded)->tombstoned) {
    return Status(StatusCode::kStreamDeleted, fmt::format("stream '{}' is tombstoned", name));
  }
  const std::string metadata_stream = MetadataStreamOf(name);
  auto meta_loaded = applier_->Load(metadata_stream);
  if (!meta_loaded.ok()) return meta_loaded.status();
  index::StreamRecord* meta = *meta_loaded;
  ANNALS_RETURN_IF_ERROR(
      CheckExpectedRevision(metadata_stream, request.append.expected, meta->LastRevision(), false));
  std::vector<PendingRecord> records(1);
  PendingRecord& r = records[0];
  r.owned_data = StreamMetadataToJson(request.metadata);
  r.view.stream = metadata_stream;
  r.view.type = kMetadataEventType;
  r.view.revision = Revision{meta->has_events ? meta->last_revision + 1 : 0};
  r.view.created = NextTimestamp();
  const Revision revision = r.view.revision;
  auto position = WriteCommit(records);
  if (!position.ok()) return position.status();
  return AppendResult{revision, revision, Position{*position}, false};
}

Result<AppendResult> EngineImpl::ProcessDelete(Request& request) {
  const std::string& name = request.append.stream;
  auto loaded = applier_->Load(name);
  if (!loaded.ok()) return loaded.status();
  index::StreamRecord* stream = *loaded;
  if (stream->tombstoned) {
    return Status(StatusCode::kStreamDeleted, fmt::format("stream '{}' is tombstoned", name));
  }
  ANNALS_RETURN_IF_ERROR(CheckExpectedRevision(name, request.append.expected,
                                               stream->LastRevision(), stream->SoftDeleted()));
  std::vector<PendingRecord> records(1);
  PendingRecord& r = records[0];
  std::string metadata_stream;
  if (request.delete_mode == DeleteMode::kSoft) {
    if (!stream->has_events || stream->SoftDeleted()) {
      return Status(StatusCode::kNotFound, fmt::format("stream '{}' does not exist", name));
    }
    metadata_stream = MetadataStreamOf(name);
    auto meta_loaded = applier_->Load(metadata_stream);
    if (!meta_loaded.ok()) return meta_loaded.status();
    StreamMetadata metadata = stream->metadata;
    metadata.truncate_before = Revision{kSoftDeletedTruncateBefore};
    r.owned_data = StreamMetadataToJson(metadata);
    r.view.stream = metadata_stream;
    r.view.type = kMetadataEventType;
    r.view.revision = Revision{(*meta_loaded)->has_events ? (*meta_loaded)->last_revision + 1 : 0};
  } else {
    r.view.stream = name;
    r.view.type = kTombstoneEventType;
    r.view.revision = Revision{kTombstoneRevision};
  }
  r.view.created = NextTimestamp();
  const Revision revision = r.view.revision;
  auto position = WriteCommit(records);
  if (!position.ok()) return position.status();
  return AppendResult{revision, revision, Position{*position}, false};
}

Result<uint64_t> EngineImpl::WriteCommit(std::vector<PendingRecord>& records) {
  uint64_t bytes = 0;
  for (PendingRecord& r : records) {
    if (!r.owned_data.empty()) {
      r.view.data = r.owned_data;
      r.view.content_type = kContentTypeJson;
    } else if (r.view.content_type.empty()) {
      r.view.content_type = kContentTypeOctetStream;  // a tombstone has no payload
    }
    if (r.view.id.IsNil()) r.view.id = Uuid::Random();
    bytes += log::EventRecordBytes(r.view.stream, r.view.type, r.view.content_type,
                                   r.view.data.size(), r.view.metadata.size());
  }
  if (unlinked_end_ || segments_->OffsetOf(cursor_) + bytes + log::kSegmentEndRecordBytes >
                           segments_->segment_bytes()) {
    ANNALS_RETURN_IF_ERROR(RollSegment());
  }
  uint64_t position = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    position = cursor_;
    const uint8_t flags = i + 1 == records.size() ? log::kFlagCommitEnd : 0;
    cursor_ += log::AppendEventRecord(&buffer_, records[i].view, position, write_start_, flags);
    Status applied = applier_->Apply(records[i].view, position);
    if (!applied.ok()) {
      // Part of a commit is in the buffer: nothing of this batch may reach the disk.
      StopWrites(applied);
      return applied;
    }
  }
  return position;
}

Status EngineImpl::WriteBuffer(std::shared_ptr<log::SegmentFile>* segment) {
  if (buffer_.empty()) return Status::Ok();
  *segment = segments_->Get(segments_->SegmentOf(write_start_));
  ANNALS_RETURN_IF_ERROR((*segment)->Write(segments_->OffsetOf(write_start_), buffer_));
  buffer_.clear();
  write_start_ = cursor_;
  return Status::Ok();
}

Status EngineImpl::FlushBuffer() {
  std::shared_ptr<log::SegmentFile> segment;
  ANNALS_RETURN_IF_ERROR(WriteBuffer(&segment));
  if (segment && options_.durability == Durability::kFsync) {
    const auto started = std::chrono::steady_clock::now();
    ANNALS_RETURN_IF_ERROR(segment->Sync());
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
    fsync_seconds_.Observe(
        kFsyncSecondsBounds,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  return Status::Ok();
}

void EngineImpl::StopWrites(const Status& cause) {
  if (!failed_.ok()) return;
  failed_ =
      Status(cause.code(), "the store stopped accepting writes after an I/O error; reopen it: " +
                               cause.message());
  // Readiness fails with it: the node serves reads but no write until it is restarted.
  std::lock_guard lock(health_mu_);
  health_ = Status(StatusCode::kUnavailable, failed_.message());
}

Status EngineImpl::RollSegment() {
  if (!unlinked_end_) {
    // The end record goes out with the rest of this segment's buffer and is synced before the
    // next segment exists, so recovery never finds a successor to an unterminated segment.
    const uint64_t end_record = cursor_;
    cursor_ += log::AppendSegmentEndRecord(&buffer_, end_record, write_start_);
    Status ended = FlushBuffer();
    if (ended.ok() && options_.durability == Durability::kUnsafeNoSync) {
      ended = segments_->Get(segments_->SegmentOf(end_record))->Sync();
    }
    if (!ended.ok()) {
      StopWrites(ended);  // what reached the disk is unknown (see CommitBatch)
      return ended;
    }
    unlinked_end_ = end_record;
  }
  const uint64_t next = segments_->SegmentOf(*unlinked_end_) + 1;
  if (preparer_.joinable()) preparer_.join();  // long finished, unless segments fill in < 1 s
  // Creating the next segment writes nothing of the log. When it fails (a full disk), this
  // commit fails alone and the next one tries again: writes resume once there is space, with
  // no restart. Recovery also creates a missing successor of an ended segment.
  ANNALS_RETURN_IF_ERROR(segments_->Add(next, *unlinked_end_));
  unlinked_end_.reset();
  cursor_ = segments_->FirstRecordOf(next);
  write_start_ = cursor_;
  return Status::Ok();
}

void EngineImpl::PrepareSegmentAfter(uint64_t segment) {
  // Once the active segment is half full, so a short-lived store never writes a spare file.
  if (prepared_after_ == segment + 1 ||
      segments_->OffsetOf(cursor_) < segments_->segment_bytes() / 2) {
    return;
  }
  prepared_after_ = segment + 1;
  if (preparer_.joinable()) preparer_.join();
  preparer_ = std::thread([this, segment] {
    // A failure only costs speed: Add() then preallocates instead.
    Status s = segments_->Prepare(segment + 1);
    if (!s.ok()) spdlog::warn("preparing segment {}: {}", segment + 1, s.ToString());
  });
}

Timestamp EngineImpl::NextTimestamp() {
  // Never backwards along the log, even if the wall clock steps back.
  last_ticks_ = std::max(last_ticks_, Timestamp::Now().ticks);
  return Timestamp{last_ticks_};
}

void EngineImpl::PublishView(uint64_t head) {
  rocksdb::DB* db = index_->db();
  const rocksdb::Snapshot* snapshot = db->GetSnapshot();
  view_.store(std::shared_ptr<const ReadView>(new ReadView{head, snapshot},
                                              [db](const ReadView* view) {
                                                db->ReleaseSnapshot(view->snapshot);
                                                delete view;
                                              }),
              std::memory_order_release);
}

void EngineImpl::PublishHead(uint64_t head) {
  PublishView(head);
  std::vector<CommitCallback> ready;
  {
    std::lock_guard lock(head_mu_);
    head_.store(head, std::memory_order_release);
    auto end = watchers_.lower_bound(head);
    for (auto it = watchers_.begin(); it != end; ++it) {
      ready.push_back(std::move(it->second.second));
      watcher_after_.erase(it->second.first);
    }
    watchers_.erase(watchers_.begin(), end);
  }
  head_cv_.notify_all();
  for (auto& callback : ready) callback(Position{head});
}

}  // namespace annals::engine
