// EventStore: the backend-neutral interface every store (embedded engine, in-memory model,
// PostgreSQL) implements and every API layer and SDK speaks. One conformance suite
// (tests/conformance/) holds every implementation to the same behaviour.
//
// Thread safety: every method may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "annals/status.h"
#include "annals/types.h"

namespace annals {

struct AppendRequest {
  std::string stream;
  ExpectedRevision expected = ExpectedRevision::Any();
  std::vector<ProposedEvent> events;  // 1..N, appended atomically and in order
  // Lets the append target a `$` system stream. Set only by Annals' own components (delivery
  // checkpoints and parked messages); API layers never set it from a client's request.
  bool system_writer = false;
};

struct AppendResult {
  Revision first_revision;
  Revision last_revision;
  Position position;        // of the last event
  bool idempotent = false;  // true when the same events were already appended: nothing written
  bool operator==(const AppendResult&) const = default;
};

struct ReadStreamRequest {
  std::string stream;
  // Forwards: the first revision to return (inclusive). Backwards: the last one (inclusive);
  // nullopt means the end of the stream.
  std::optional<Revision> from;
  Direction direction = Direction::kForwards;
  uint64_t max_count = 1000;
  // When not 0, the read may stop after the event that brings the page's data and metadata
  // to max_bytes (a page holds at least one event); `next` continues. Bounds the memory of a
  // page of large events. A hint: the embedded engine honours it, other stores may not.
  uint64_t max_bytes = 0;
};

struct ReadStreamResult {
  std::vector<RecordedEvent> events;
  // The revision to pass as `from` to continue; nullopt at the end (forwards) or start.
  std::optional<Revision> next;
  Revision last_revision;  // the stream's last revision when read
};

struct ReadAllRequest {
  // Forwards: events at positions >= from. Backwards: events at positions < from
  // (Position::End() reads from the head).
  Position from = Position::Start();
  Direction direction = Direction::kForwards;
  uint64_t max_count = 1000;
  EventFilter filter;
  // Upper bound on records examined by one call, so a selective filter cannot turn one call
  // into a scan of the whole log; the result's `next` is then a checkpoint to resume from.
  uint64_t max_scan = 100000;
  // As ReadStreamRequest::max_bytes.
  uint64_t max_bytes = 0;
};

struct ReadAllResult {
  std::vector<RecordedEvent> events;
  // Where to continue in the same direction; also a checkpoint when a filtered read stopped
  // on max_scan. Equal to the head position at the end of a forward read.
  Position next;
  bool end_of_log = false;  // no more committed events in this direction (right now)
};

enum class StreamState : uint8_t {
  kActive,
  kSoftDeleted,  // reads say not found; an append recreates it and revisions continue
  kTombstoned,   // gone for ever: no reads, no appends
};

struct StreamInfo {
  std::string name;
  StreamState state = StreamState::kActive;
  std::optional<Revision> last_revision;  // nullopt when no event was ever appended
  uint64_t event_count = 0;               // events appended over the stream's life
  Position last_position;
  Timestamp created;       // first event
  Timestamp last_updated;  // last event
};

struct ListStreamsRequest {
  std::string prefix;
  std::string after;  // exclusive: continue after this name (paging)
  uint64_t limit = 100;
  bool include_system = false;  // `$`-streams, listed only when asked for
};

struct ListStreamsResult {
  std::vector<StreamInfo> streams;
  std::string next_after;  // empty at the end
};

struct StreamMetadataResult {
  StreamMetadata metadata;
  std::optional<Revision> metadata_revision;  // revision in `$$<stream>`; nullopt: never set
};

enum class DeleteMode : uint8_t { kSoft, kTombstone };

struct DeleteResult {
  Position position;  // of the record that deleted the stream
};

// Live notification: a cancellable registration to learn that the head moved past a position.
using CommitCallback = std::function<void(Position head)>;

class EventStore {
 public:
  virtual ~EventStore() = default;

  // Appends events atomically to one stream (never a `$` system stream). With the durable
  // default, an ok result means the events are on disk.
  virtual Result<AppendResult> Append(const AppendRequest& request) = 0;
  // The same, completing on a store thread: `done` must be cheap and must not block. The
  // thread can be that of another caller's synchronous write (the embedded engine lets a lone
  // caller commit on its own thread), so `done` must not take a lock that such a caller may
  // hold while it writes.
  virtual void AppendAsync(AppendRequest request,
                           std::function<void(Result<AppendResult>)> done) = 0;

  virtual Result<ReadStreamResult> ReadStream(const ReadStreamRequest& request) = 0;
  virtual Result<ReadAllResult> ReadAll(const ReadAllRequest& request) = 0;

  virtual Result<StreamInfo> GetStreamInfo(const std::string& stream) = 0;
  virtual Result<ListStreamsResult> ListStreams(const ListStreamsRequest& request) = 0;

  virtual Result<StreamMetadataResult> GetStreamMetadata(const std::string& stream) = 0;
  // Replaces a stream's metadata; `expected` applies to the metadata stream `$$<stream>`.
  virtual Result<AppendResult> SetStreamMetadata(const std::string& stream,
                                                 ExpectedRevision expected,
                                                 const StreamMetadata& metadata) = 0;
  virtual Result<DeleteResult> DeleteStream(const std::string& stream, ExpectedRevision expected,
                                            DeleteMode mode) = 0;

  // The position just past the last committed event: everything before it is readable.
  virtual Position Head() const = 0;
  // Blocks until Head() > after or the timeout passes; returns the head.
  virtual Position WaitForHead(Position after, std::chrono::milliseconds timeout) = 0;
  // Calls `callback` once, on a store thread, as soon as Head() > after (at once if already),
  // or when the store closes (with the unchanged head: nothing will commit again; WaitForHead
  // likewise returns at once after a close). The callback must be cheap and must not block
  // (and, as AppendAsync's `done`, may run on the thread of a caller's synchronous write).
  // Returns an id for CancelHeadWatch.
  virtual uint64_t WatchHead(Position after, CommitCallback callback) = 0;
  virtual void CancelHeadWatch(uint64_t id) = 0;

  // Whether the store can serve requests now, for a readiness probe: kUnavailable when a store
  // backed by a database server cannot reach it, or when the embedded engine's writer stopped
  // after an I/O error (reads go on; writes wait for a reopen). May take a round trip
  // (PostgreSQL: at most one a second, whatever the number of callers).
  virtual Status CheckHealth() { return Status::Ok(); }
};

}  // namespace annals
