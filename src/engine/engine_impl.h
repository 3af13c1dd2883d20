// The embedded engine: one writer thread with group commit over the segmented log, RocksDB
// index derived from it, lock-free readers bounded by the committed head.
//
// Write path (writer.cc): callers enqueue; the writer takes everything queued (up to
// max_batch_bytes), checks each request against stream state, encodes the records into one
// buffer, writes it with one pwrite and one fdatasync, writes the index batch, publishes the
// new head, then completes every request of the batch. "The writer" is the writer thread, or
// a synchronous caller that found no commit in progress and commits on its own thread; one
// commits at a time.
// Read path (reads.cc): any thread; reads the index and the log below the head.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "annals/engine.h"
#include "core/atomic_buckets.h"
#include "engine/data_dir.h"
#include "engine/index/index.h"
#include "engine/index/index_applier.h"
#include "engine/log/background_sync.h"
#include "engine/log/record.h"
#include "engine/log/segments.h"

namespace annals::engine {

class EngineImpl final : public Engine {
 public:
  ~EngineImpl() override;
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);

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
  // The published view's head: the view is published before head_ is raised, so a read that
  // ran before a call of Head() never shows a commit at or past the head it returns.
  Position Head() const override { return Position{CurrentView()->head}; }
  // kUnavailable once an I/O error stopped the writer (see StopWrites).
  Status CheckHealth() override {
    std::lock_guard lock(health_mu_);
    return health_;
  }
  Position WaitForHead(Position after, std::chrono::milliseconds timeout) override;
  uint64_t WatchHead(Position after, CommitCallback callback) override;
  void CancelHeadWatch(uint64_t id) override;
  EngineStats Stats() const override;
  Status Verify(std::string* report) override;
  void Close() override;

 private:
  // One queued write: an append, a metadata change or a delete.
  struct Request {
    enum class Kind : uint8_t { kAppend, kSetMetadata, kDelete } kind = Kind::kAppend;
    AppendRequest append;  // stream + expected (+ events for kAppend)
    StreamMetadata metadata;
    DeleteMode delete_mode = DeleteMode::kSoft;
    uint64_t bytes = 0;
    std::function<void(Result<AppendResult>)> done;
  };
  // A record about to be encoded: its fields and where its strings live.
  struct PendingRecord {
    log::EventView view;
    std::string owned_data;  // for records the engine writes itself (metadata JSON)
  };

  explicit EngineImpl(const EngineOptions& options) : options_(options) {}
  Status Start();
  void Enqueue(Request request);
  Result<AppendResult> Submit(Request request);

  // ---- writer thread (writer.cc) ----
  void WriterLoop();
  // Under queue_mu_: queues `request`, or completes it with the reason it cannot be.
  bool EnqueueLocked(Request& request);
  // Under queue_mu_: the next group commit's requests, from the front of the queue.
  std::vector<Request> TakeBatchLocked();
  // Under queue_mu_ (released meanwhile), with no commit in progress: takes a batch and
  // commits it on the calling thread.
  void CommitTakenBatch(std::unique_lock<std::mutex>& lock);
  void CommitBatch(std::vector<Request>& batch);
  Result<AppendResult> Process(Request& request);
  Result<AppendResult> ProcessAppend(Request& request);
  Result<AppendResult> ProcessSetMetadata(Request& request);
  Result<AppendResult> ProcessDelete(Request& request);
  // Encodes one atomic commit, rolling to a new segment first when it would not fit.
  Result<uint64_t> WriteCommit(std::vector<PendingRecord>& records);
  // Writes the buffer to its segment (no sync); sets *segment when there was anything to write.
  Status WriteBuffer(std::shared_ptr<log::SegmentFile>* segment);
  // Writes and syncs the buffer.
  Status FlushBuffer();
  // Ends the active segment and creates the next one; a failure to create it (a full disk)
  // leaves the segment ended and fails only the commit that asked (see unlinked_end_).
  Status RollSegment();
  // Stops the writer for good (until the store is reopened): after a failed write or sync
  // nobody knows what reached the disk. The first cause is kept.
  void StopWrites(const Status& cause);
  // Where the log's last record ends: the head to publish and to record in the index.
  uint64_t LogEnd() const { return unlinked_end_.value_or(cursor_); }
  // Starts zero-filling the segment after `segment` in the background.
  void PrepareSegmentAfter(uint64_t segment);
  Timestamp NextTimestamp();
  void PublishHead(uint64_t head);

  // ---- reads (reads.cc) ----
  Result<ReadAllResult> ReadAllByScan(const ReadAllRequest& request, uint64_t head);
  struct ReadView;
  Result<ReadAllResult> ReadAllByPostings(const ReadAllRequest& request, const ReadView& view,
                                          char prefix, const std::string& name);

  EngineOptions options_;
  std::unique_ptr<DataDir> dir_;
  std::unique_ptr<log::SegmentSet> segments_;
  std::unique_ptr<index::Index> index_;
  std::unique_ptr<index::IndexApplier> applier_;

  // Queue between callers and the writer.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Request> queue_;
  uint64_t queued_bytes_ = 0;
  bool stopping_ = false;
  // A batch is being committed, by the writer thread or by a caller of a synchronous write
  // that found nobody committing; one at a time, so the writer state below has one
  // owner at a time (handed over under queue_mu_).
  bool committing_ = false;
  std::thread writer_;
  log::BackgroundSync sync_;
  std::thread preparer_;         // zero-fills the next segment file off the write path
  uint64_t prepared_after_ = 0;  // 1 + the segment whose successor was last prepared
  std::once_flag close_once_;

  // Writer state: touched only by the one committing thread (committing_).
  std::string buffer_;        // encoded records not yet written
  uint64_t write_start_ = 0;  // logical position of buffer_[0]
  uint64_t cursor_ = 0;       // logical position where the next record goes
  // Set while the active segment has its end record but its successor could not be created:
  // the end record's position. Every commit first retries creating the successor.
  std::optional<uint64_t> unlinked_end_;
  int64_t last_ticks_ = 0;
  Status failed_;  // set after an I/O error: the writer refuses everything after it
  std::mutex health_mu_;
  Status health_;  // failed_, for CheckHealth from any thread

  // What readers see: the head and the index as of that head, published together, so a read
  // never sees index entries of a batch whose log bytes are not yet synced.
  struct ReadView {
    uint64_t head = 0;
    const rocksdb::Snapshot* snapshot = nullptr;
  };
  std::shared_ptr<const ReadView> CurrentView() const {
    return view_.load(std::memory_order_acquire);
  }
  void PublishView(uint64_t head);
  // Declared after index_, so it is destroyed (releasing its snapshot) before the index.
  std::atomic<std::shared_ptr<const ReadView>> view_;

  // The committed head as WaitForHead and WatchHead see it (raised just after the view is
  // published; Head() reads the view), and its watchers.
  std::atomic<uint64_t> head_{0};
  mutable std::mutex head_mu_;
  std::condition_variable head_cv_;
  std::multimap<uint64_t, std::pair<uint64_t, CommitCallback>> watchers_;  // after -> (id, cb)
  std::map<uint64_t, uint64_t> watcher_after_;                             // id -> after
  uint64_t next_watch_id_ = 1;
  bool head_closed_ = false;  // set by Close: nothing will commit again

  // Counters.
  std::atomic<uint64_t> events_appended_{0}, bytes_appended_{0}, appends_{0}, group_commits_{0},
      fsyncs_{0};
  // Written by the writer thread only (relaxed atomics, fixed buckets): read by Stats().
  AtomicBuckets<kFsyncSecondsBounds.size()> fsync_seconds_;
  AtomicBuckets<kCommitBatchBounds.size()> group_commit_requests_;
  uint64_t recovered_records_ = 0, truncated_bytes_ = 0;
};

}  // namespace annals::engine
