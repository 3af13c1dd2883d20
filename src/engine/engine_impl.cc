// Opening, closing, live notification, statistics and verification of the engine.
#include "engine/engine_impl.h"

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/binary.h"
#include "engine/log/log_format.h"
#include "engine/log/log_reader.h"
#include "engine/recovery/recovery.h"

namespace annals::engine {

Result<std::unique_ptr<Engine>> EngineImpl::Open(const EngineOptions& options) {
  if (options.data_dir.empty()) {
    return Status(StatusCode::kInvalidArgument, "data_dir: must not be empty");
  }
  std::unique_ptr<EngineImpl> engine(new EngineImpl(options));
  ANNALS_RETURN_IF_ERROR(engine->Start());
  return std::unique_ptr<Engine>(std::move(engine));
}

Status EngineImpl::Start() {
  auto dir = DataDir::Open(options_.data_dir, options_.segment_bytes);
  if (!dir.ok()) return dir.status();
  dir_ = std::move(dir).value();
  const uint64_t largest_append =
      options_.limits.max_append_bytes + 2 * log::kEventBodyFixedBytes + 4096;
  if (largest_append + log::kSegmentHeaderBytes + log::kSegmentEndRecordBytes >
      dir_->segment_bytes()) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("max_append_bytes {} does not fit in a {}-byte segment",
                              options_.limits.max_append_bytes, dir_->segment_bytes()));
  }
  segments_ = std::make_unique<log::SegmentSet>(dir_->log_dir(), dir_->segment_bytes());
  ANNALS_RETURN_IF_ERROR(segments_->RemoveLeftovers());
  ANNALS_RETURN_IF_ERROR(segments_->OpenAll());

  RecoveryOptions recovery_options;
  recovery_options.policy = options_.corruption_policy;
  recovery_options.durability = options_.durability;
  recovery_options.quarantine_dir = dir_->quarantine_dir();
  Result<RecoveryResult> recovered = Status(StatusCode::kInternal, "recovery did not run");
  // Where the last clean shutdown saw the log end, kept across a rebuild of the index: an index
  // that does not fit the log after a clean shutdown means the log lost committed bytes (a
  // damaged last record, a missing segment), which must not pass for a torn tail.
  uint64_t clean_end = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto opened = index::Index::Open(dir_->index_dir(), options_.index_cache_bytes);
    // An index the disk could not open or write (a full disk opening it writes a manifest) is
    // not damaged: destroying it would cost a rebuild from the log, which the same disk would
    // refuse. The caller hears of the I/O error instead.
    if (!opened.ok() && opened.status().code() == StatusCode::kIoError) return opened.status();
    uint64_t applied = 0;
    if (opened.ok()) {
      index_ = std::move(opened).value();
      auto a = index_->GetMeta(index::kAppliedKey);
      auto c = index_->GetMeta(index::kCleanEndKey);
      auto f = index_->GetMeta(index::kFormatKey);
      if (c.ok()) clean_end = std::max(clean_end, *c);
      // An index written in another format (version 1 stored none) is rebuilt; an empty one
      // is stamped with this version.
      const bool other_format = a.ok() && f.ok() && *a != 0 && *f != index::kIndexFormatVersion;
      if (other_format) {
        spdlog::warn("the index of {} has format {}, this build writes {}", dir_->path(), *f,
                     index::kIndexFormatVersion);
      }
      if (a.ok() && c.ok() && f.ok() && !other_format) {
        if (*f == 0) {
          index::IndexBatch stamp;
          std::string version;
          PutFixed64(&version, index::kIndexFormatVersion);
          index_->Put(&stamp, index::kFormatKey, version);
          ANNALS_RETURN_IF_ERROR(index_->Write(&stamp));
        }
        applied = *a;
        recovery_options.clean_end = clean_end;
        applier_ =
            std::make_unique<index::IndexApplier>(index_.get(), options_.stream_cache_entries);
        ANNALS_RETURN_IF_ERROR(applier_->Init());
        recovered = RecoverLog(*segments_, *index_, *applier_, applied, recovery_options);
        if (recovered.ok() || recovered.status().code() != StatusCode::kNotFound) break;
      }
    }
    // The index is unreadable or ahead of the log: it is derived, so rebuild it from the log.
    spdlog::warn("rebuilding the index of {} from the log", dir_->path());
    applier_.reset();
    index_.reset();
    ANNALS_RETURN_IF_ERROR(index::Index::Destroy(dir_->index_dir()));
    std::error_code ec;
    std::filesystem::remove_all(dir_->index_dir(), ec);
  }
  if (!recovered.ok()) return recovered.status();
  if (!recovered->report.empty())
    spdlog::warn("recovery of {}: {}", dir_->path(), recovered->report);
  recovered_records_ = recovered->replayed_records;
  truncated_bytes_ = recovered->truncated_bytes;

  // The next shutdown is clean only if it says so again.
  index::IndexBatch batch;
  std::string zero;
  PutFixed64(&zero, 0);
  index_->Put(&batch, index::kCleanEndKey, zero);
  ANNALS_RETURN_IF_ERROR(index_->Write(&batch));

  cursor_ = recovered->end;
  write_start_ = cursor_;
  head_.store(cursor_, std::memory_order_release);
  PublishView(cursor_);
  // Timestamps continue from the last event's, so `created` never goes backwards.
  log::BackwardScanner last(*segments_, cursor_);
  log::LogEvent event;
  auto found = last.Next(&event);
  if (!found.ok()) return found.status();
  if (*found) last_ticks_ = event.event.created.ticks;

  writer_ = std::thread([this] { WriterLoop(); });
  return Status::Ok();
}

void EngineImpl::Close() {
  std::call_once(close_once_, [this] {
    {
      std::lock_guard lock(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    if (preparer_.joinable()) preparer_.join();
    // Nothing commits after this point: release WaitForHead callers at once and tell pending
    // watches (with the unchanged head) so no subscriber waits on a store that is gone. Later
    // appends answer kUnavailable.
    std::vector<CommitCallback> pending;
    {
      std::lock_guard lock(head_mu_);
      head_closed_ = true;
      for (auto& [after, watch] : watchers_) pending.push_back(std::move(watch.second));
      watchers_.clear();
      watcher_after_.clear();
    }
    head_cv_.notify_all();
    for (auto& callback : pending) callback(Head());
    if (index_ == nullptr) return;
    if (failed_.ok()) {
      index::IndexBatch batch;
      std::string end;
      PutFixed64(&end, LogEnd());
      index_->Put(&batch, index::kCleanEndKey, end);
      Status s = index_->Write(&batch);
      if (s.ok()) s = index_->Flush();
      if (s.ok()) s = index_->CompactTinyFiles();
      if (!s.ok()) spdlog::error("closing {}: {}", dir_->path(), s.ToString());
    }
  });
}

EngineImpl::~EngineImpl() { Close(); }

Position EngineImpl::WaitForHead(Position after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(head_mu_);
  head_cv_.wait_for(lock, timeout, [&] {
    return head_closed_ || head_.load(std::memory_order_acquire) > after.value;
  });
  return Head();
}

uint64_t EngineImpl::WatchHead(Position after, CommitCallback callback) {
  uint64_t head;
  {
    std::lock_guard lock(head_mu_);
    head = head_.load(std::memory_order_acquire);
    if (head <= after.value && !head_closed_) {
      const uint64_t id = next_watch_id_++;
      watchers_.emplace(after.value, std::make_pair(id, std::move(callback)));
      watcher_after_[id] = after.value;
      return id;
    }
  }
  callback(Position{head});
  return 0;
}

void EngineImpl::CancelHeadWatch(uint64_t id) {
  std::lock_guard lock(head_mu_);
  auto it = watcher_after_.find(id);
  if (it == watcher_after_.end()) return;
  auto [begin, end] = watchers_.equal_range(it->second);
  for (auto w = begin; w != end; ++w) {
    if (w->second.first == id) {
      watchers_.erase(w);
      break;
    }
  }
  watcher_after_.erase(it);
}

EngineStats EngineImpl::Stats() const {
  EngineStats s;
  s.head = Head();
  s.events_appended = events_appended_.load(std::memory_order_relaxed);
  s.bytes_appended = bytes_appended_.load(std::memory_order_relaxed);
  s.appends = appends_.load(std::memory_order_relaxed);
  s.group_commits = group_commits_.load(std::memory_order_relaxed);
  s.fsyncs = fsyncs_.load(std::memory_order_relaxed);
  s.segments = segments_->Count();
  s.recovered_records = recovered_records_;
  s.truncated_bytes = truncated_bytes_;
  if (index_ != nullptr) s.unflushed_event_ids = index_->unflushed_event_ids();
  s.durability = options_.durability;
  fsync_seconds_.CopyTo(&s.fsync_seconds.buckets, &s.fsync_seconds.sum);
  group_commit_requests_.CopyTo(&s.group_commit_requests.buckets, &s.group_commit_requests.sum);
  return s;
}

Status EngineImpl::Verify(std::string* report) {
  // Every record of the log is read and checked, and each event's index entries are compared
  // with it; then every stream record is compared with what the log says of that stream.
  const uint64_t head = head_.load(std::memory_order_acquire);
  log::ForwardScanner scanner(*segments_, 0, head);
  log::LogEvent event;
  uint64_t events = 0;
  struct Seen {
    uint64_t last_revision = 0;
    uint64_t count = 0;
    bool tombstoned = false;
  };
  std::unordered_map<std::string, Seen> streams;
  auto problem = [&](std::string what) {
    if (report) *report += what + "\n";
    return Status(StatusCode::kCorruption, std::move(what));
  };
  while (true) {
    auto more = scanner.Next(&event);
    if (!more.ok()) return problem(more.status().message());
    if (!*more) break;
    ++events;
    const log::EventView& e = event.event;
    auto stream = index_->GetStream(e.stream);
    if (!stream.ok()) return stream.status();
    if (!stream->has_value()) {
      return problem(fmt::format("event at {} is in stream '{}', which the index does not know",
                                 event.position, e.stream));
    }
    auto id = index_->GetEventId(e.id);
    if (!id.ok()) return id.status();
    if (!id->has_value() || (*id)->position != event.position) {
      return problem(fmt::format("event id {} at {} is missing from the index", e.id.ToString(),
                                 event.position));
    }
    Seen& seen = streams[std::string(e.stream)];
    if (e.type == kTombstoneEventType && e.revision.value == kTombstoneRevision) {
      seen.tombstoned = true;
      continue;
    }
    std::string position;
    if (!index_->db()
             ->Get(rocksdb::ReadOptions(), index::RevisionKey((*stream)->id, e.revision.value),
                   &position)
             .ok() ||
        position.size() != 8 || DecodeFixed64(position.data()) != event.position) {
      return problem(fmt::format("revision {} of '{}' (position {}) is missing from the index",
                                 e.revision.value, e.stream, event.position));
    }
    if (seen.count > 0 && e.revision.value != seen.last_revision + 1) {
      return problem(fmt::format("stream '{}' jumps from revision {} to {} at position {}",
                                 e.stream, seen.last_revision, e.revision.value, event.position));
    }
    seen.last_revision = e.revision.value;
    ++seen.count;
  }
  for (const auto& [name, seen] : streams) {
    auto stream = index_->GetStream(name);
    if (!stream.ok()) return stream.status();
    const index::StreamRecord& s = **stream;
    if (s.tombstoned != seen.tombstoned || s.event_count != seen.count ||
        (seen.count > 0 && s.last_revision != seen.last_revision)) {
      return problem(
          fmt::format("the index's record of stream '{}' (last revision {}, {} "
                      "events) disagrees with the log (last revision {}, {} events)",
                      name, s.last_revision, s.event_count, seen.last_revision, seen.count));
    }
  }
  if (report) {
    *report += fmt::format("ok: {} events in {} streams, {} segments, head {}\n", events,
                           streams.size(), segments_->Count(), head);
  }
  return Status::Ok();
}

}  // namespace annals::engine

namespace annals {

Result<std::unique_ptr<Engine>> OpenEngine(const EngineOptions& options) {
  return engine::EngineImpl::Open(options);
}

}  // namespace annals
