// The in-memory reference EventStore. Every rule is written out once, in the order
// docs/event-store-semantics.md states it; derived state (metadata, soft deletion, visibility)
// is recomputed from the log on demand instead of being cached.
#include "memory/memory_store.h"

#include <algorithm>
#include <cassert>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/filter_regex.h"
#include "core/page_budget.h"
#include "core/stream_metadata_codec.h"

namespace annals {
namespace {

constexpr uint64_t kPositionStride = 100;

// The event at log index i; Head() of a log of n events is PositionOfIndex(n).
Position PositionOfIndex(size_t index) { return Position{kPositionStride * (index + 1)}; }

Status InvalidArgument(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}
Status StreamDeleted(const std::string& stream) {
  return Status(StatusCode::kStreamDeleted, "stream '" + stream + "' is deleted");
}
Status NotFound(const std::string& stream) {
  return Status(StatusCode::kNotFound, "stream '" + stream + "' not found");
}

// What the log knows about one stream (user or `$$` metadata stream).
struct StreamRecord {
  std::vector<size_t> events;       // log index of revision r at events[r]
  std::optional<size_t> tombstone;  // log index of the `$streamDeleted` event
  std::optional<Revision> Last() const {
    if (events.empty()) return std::nullopt;
    return Revision{events.size() - 1};
  }
};

// Checks `expected` against a stream whose last revision is `last` (rule Append.5).
Status CheckExpected(const std::string& stream, ExpectedRevision expected,
                     std::optional<Revision> last, bool soft_deleted) {
  bool ok = false;
  switch (expected.kind()) {
    case ExpectedRevision::Kind::kAny:
      ok = true;
      break;
    case ExpectedRevision::Kind::kNoStream:
      ok = !last.has_value() || soft_deleted;
      break;
    case ExpectedRevision::Kind::kStreamExists:
      ok = last.has_value() && !soft_deleted;
      break;
    case ExpectedRevision::Kind::kExact:
      ok = last.has_value() && *last == expected.revision();
      break;
  }
  if (ok) return Status::Ok();
  return Status::WrongRevision(stream, RevisionConflict{expected, last});
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool AnyPrefixOf(const std::vector<std::string>& prefixes, std::string_view text) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return StartsWith(text, p); });
}

struct FilterRegexes {
  std::optional<FilterRegex> type;
  std::optional<FilterRegex> stream;
};

bool Matches(const EventFilter& filter, const FilterRegexes& regexes, const RecordedEvent& event) {
  if (!filter.stream_prefixes.empty() && !AnyPrefixOf(filter.stream_prefixes, event.stream)) {
    return false;
  }
  if (!filter.category.empty() && CategoryOf(event.stream) != filter.category) return false;
  if (!filter.event_types.empty() && std::find(filter.event_types.begin(), filter.event_types.end(),
                                               event.type) == filter.event_types.end()) {
    return false;
  }
  if (!filter.type_prefixes.empty() && !AnyPrefixOf(filter.type_prefixes, event.type)) {
    return false;
  }
  if (regexes.type && !regexes.type->Finds(event.type)) return false;
  if (regexes.stream && !regexes.stream->Finds(event.stream)) return false;
  if (filter.exclude_system_events && (IsSystemName(event.stream) || IsSystemName(event.type))) {
    return false;
  }
  return true;
}

// Whether a user stream's event is visible to ReadStream under `metadata` ($tb, $maxCount,
// $maxAge), given the stream's last revision and the time of the read.
bool Visible(const StreamMetadata& metadata, Revision last, const RecordedEvent& event,
             Timestamp now) {
  if (metadata.truncate_before && event.revision < *metadata.truncate_before) return false;
  if (metadata.max_count && last.value - event.revision.value >= *metadata.max_count) {
    return false;
  }
  if (const auto max_age = MaxAgeTicks(metadata);
      max_age && now.ticks - event.created.ticks > *max_age) {
    return false;
  }
  return true;
}

class MemoryStore final : public EventStore {
 public:
  explicit MemoryStore(const Limits& limits) : limits_(limits) {}

  Result<AppendResult> Append(const AppendRequest& request) override {
    return Mutate([&] { return AppendLocked(request); });
  }

  void AppendAsync(AppendRequest request, std::function<void(Result<AppendResult>)> done) override {
    done(Append(request));
  }

  Result<ReadStreamResult> ReadStream(const ReadStreamRequest& request) override {
    ANNALS_RETURN_IF_ERROR(ValidateStreamName(request.stream, limits_, /*allow_system=*/true));
    if (request.max_count == 0) return InvalidArgument("max_count must be at least 1");
    std::lock_guard lock(mu_);
    const StreamRecord* stream = FindLocked(request.stream);
    if (stream != nullptr && stream->tombstone) return StreamDeleted(request.stream);
    if (stream == nullptr || stream->events.empty() || SoftDeletedLocked(request.stream)) {
      return NotFound(request.stream);
    }
    const Revision last = *stream->Last();
    const bool system = IsSystemName(request.stream);
    const StreamMetadata metadata = MetadataLocked(request.stream).metadata;
    const Timestamp now = Timestamp::Now();
    auto visible = [&](uint64_t revision) {
      return system || Visible(metadata, last, log_[stream->events[revision]], now);
    };

    ReadStreamResult result;
    result.last_revision = last;
    PageBudget budget{request.max_bytes};
    // Walk in the read's direction; the first visible event that no longer fits is `next`.
    auto take = [&](uint64_t revision) {
      if (!visible(revision)) return true;
      if (result.events.size() == request.max_count || budget.Spent()) {
        result.next = Revision{revision};
        return false;
      }
      result.events.push_back(log_[stream->events[revision]]);
      budget.Take(result.events.back());
      return true;
    };
    if (request.direction == Direction::kForwards) {
      for (uint64_t r = request.from.value_or(Revision{0}).value; r <= last.value; ++r) {
        if (!take(r)) break;
      }
    } else {
      const uint64_t start = std::min(request.from.value_or(last), last).value;
      for (uint64_t r = start + 1; r-- > 0;) {
        if (!take(r)) break;
      }
    }
    return result;
  }

  Result<ReadAllResult> ReadAll(const ReadAllRequest& request) override {
    if (request.max_count == 0) return InvalidArgument("max_count must be at least 1");
    if (request.max_scan == 0) return InvalidArgument("max_scan must be at least 1");
    FilterRegexes regexes;
    for (auto [pattern, field, out] :
         {std::tuple(&request.filter.type_regex, "filter.typeRegex", &regexes.type),
          std::tuple(&request.filter.stream_regex, "filter.streamRegex", &regexes.stream)}) {
      if (pattern->empty()) continue;
      auto re = FilterRegex::Compile(*pattern, field);
      if (!re.ok()) return re.status();
      *out = std::move(re).value();
    }
    std::lock_guard lock(mu_);
    ReadAllResult result;
    uint64_t scanned = 0;
    PageBudget budget{request.max_bytes};
    auto more = [&] {
      return scanned < request.max_scan && result.events.size() < request.max_count &&
             !budget.Spent();
    };
    auto examine = [&](size_t index) {
      ++scanned;
      if (!Matches(request.filter, regexes, log_[index])) return;
      result.events.push_back(log_[index]);
      budget.Take(result.events.back());
    };
    // Index of the first event at or after `from`: forwards starts there, backwards below it.
    size_t i = static_cast<size_t>(
        std::partition_point(log_.begin(), log_.end(),
                             [&](const RecordedEvent& e) { return e.position < request.from; }) -
        log_.begin());
    if (request.direction == Direction::kForwards) {
      for (; i < log_.size() && more(); ++i) examine(i);
      // At the end of the log `next` is the head, also for a read from beyond it (End).
      result.next = i < log_.size() ? log_[i].position : HeadLocked();
      result.end_of_log = i == log_.size();
    } else {
      while (i > 0 && more()) examine(--i);
      result.next = scanned > 0 ? log_[i].position : Position::Start();
      result.end_of_log = i == 0;
    }
    return result;
  }

  Result<StreamInfo> GetStreamInfo(const std::string& stream) override {
    ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, limits_, /*allow_system=*/true));
    std::lock_guard lock(mu_);
    return InfoLocked(stream);
  }

  Result<ListStreamsResult> ListStreams(const ListStreamsRequest& request) override {
    if (request.limit == 0) return InvalidArgument("limit must be at least 1");
    std::lock_guard lock(mu_);
    ListStreamsResult result;
    // std::string orders by unsigned bytes, so the map is already in catalog order.
    for (auto it = streams_.upper_bound(request.after);
         it != streams_.end() && result.streams.size() < request.limit; ++it) {
      const std::string& name = it->first;
      if (!StartsWith(name, request.prefix)) continue;
      if (IsSystemName(name) && !request.include_system) continue;
      Result<StreamInfo> info = InfoLocked(name);
      if (info.ok()) result.streams.push_back(std::move(info).value());
    }
    if (result.streams.size() == request.limit) result.next_after = result.streams.back().name;
    return result;
  }

  Result<StreamMetadataResult> GetStreamMetadata(const std::string& stream) override {
    ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, limits_));
    std::lock_guard lock(mu_);
    if (TombstonedLocked(stream)) return StreamDeleted(stream);
    return MetadataLocked(stream);
  }

  Result<AppendResult> SetStreamMetadata(const std::string& stream, ExpectedRevision expected,
                                         const StreamMetadata& metadata) override {
    ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, limits_));
    ANNALS_RETURN_IF_ERROR(ValidateStreamMetadataWrite(metadata, limits_));
    return Mutate([&]() -> Result<AppendResult> {
      if (TombstonedLocked(stream)) return StreamDeleted(stream);
      const std::string metadata_stream = MetadataStreamOf(stream);
      const StreamRecord* record = FindLocked(metadata_stream);
      ANNALS_RETURN_IF_ERROR(
          CheckExpected(metadata_stream, expected, record ? record->Last() : std::nullopt, false));
      const size_t index = AppendMetadataEventLocked(stream, metadata, CommitTimestampLocked());
      const RecordedEvent& event = log_[index];
      return AppendResult{event.revision, event.revision, event.position, false};
    });
  }

  Result<DeleteResult> DeleteStream(const std::string& stream, ExpectedRevision expected,
                                    DeleteMode mode) override {
    ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, limits_));
    return Mutate([&]() -> Result<DeleteResult> {
      if (TombstonedLocked(stream)) return StreamDeleted(stream);
      const StreamRecord* record = FindLocked(stream);
      const std::optional<Revision> last = record ? record->Last() : std::nullopt;
      const bool soft_deleted = SoftDeletedLocked(stream);
      ANNALS_RETURN_IF_ERROR(CheckExpected(stream, expected, last, soft_deleted));
      const Timestamp created = CommitTimestampLocked();
      size_t index = 0;
      if (mode == DeleteMode::kSoft) {
        if (!last || soft_deleted) return NotFound(stream);
        StreamMetadata metadata = MetadataLocked(stream).metadata;
        metadata.truncate_before = Revision{kSoftDeletedTruncateBefore};
        index = AppendMetadataEventLocked(stream, metadata, created);
      } else {
        index =
            AddRecordLocked(stream, Revision{kTombstoneRevision}, std::string(kTombstoneEventType),
                            std::string(kContentTypeOctetStream), "", "", Uuid::Random(), created);
      }
      return DeleteResult{log_[index].position};
    });
  }

  Position Head() const override {
    std::lock_guard lock(mu_);
    return HeadLocked();
  }

  Position WaitForHead(Position after, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    head_moved_.wait_for(lock, timeout, [&] { return HeadLocked() > after; });
    return HeadLocked();
  }

  uint64_t WatchHead(Position after, CommitCallback callback) override {
    std::unique_lock lock(mu_);
    const uint64_t id = next_watch_id_++;
    const Position head = HeadLocked();
    if (head > after) {
      lock.unlock();
      callback(head);
      return id;
    }
    watches_.emplace(id, Watch{after, std::move(callback)});
    return id;
  }

  void CancelHeadWatch(uint64_t id) override {
    std::lock_guard lock(mu_);
    watches_.erase(id);
  }

 private:
  struct Watch {
    Position after;
    CommitCallback callback;
  };

  // Runs `locked` under the mutex; if it committed anything, wakes WaitForHead and then runs the
  // due watch callbacks after releasing the mutex.
  template <typename F>
  std::invoke_result_t<F&> Mutate(F&& locked) {
    std::vector<std::pair<CommitCallback, Position>> due;
    std::unique_lock lock(mu_);
    const size_t before = log_.size();
    auto result = locked();
    if (log_.size() != before) {
      const Position head = HeadLocked();
      for (auto it = watches_.begin(); it != watches_.end();) {
        if (head > it->second.after) {
          due.emplace_back(std::move(it->second.callback), head);
          it = watches_.erase(it);
        } else {
          ++it;
        }
      }
      head_moved_.notify_all();
    }
    lock.unlock();
    for (auto& [callback, head] : due) callback(head);
    return result;
  }

  Result<AppendResult> AppendLocked(const AppendRequest& request) {
    // 1-2. Validation, system streams, reserved types.
    ANNALS_RETURN_IF_ERROR(ValidateAppend(request, limits_));
    // Only Annals' own components write `$` streams, and `$$<stream>` only through metadata.
    if (IsSystemName(request.stream) &&
        (!request.system_writer || request.stream.starts_with("$$"))) {
      return InvalidArgument("cannot append to system stream '" + request.stream + "'");
    }
    for (const ProposedEvent& event : request.events) {
      if (IsSystemName(event.type)) return InvalidArgument("reserved event type " + event.type);
    }
    // 3. Tombstone.
    if (TombstonedLocked(request.stream)) return StreamDeleted(request.stream);
    // 4. Idempotency.
    Result<std::optional<AppendResult>> previous = IdempotentResultLocked(request);
    if (!previous.ok()) return previous.status();
    if (previous->has_value()) return **previous;
    // 5. Expected revision.
    const StreamRecord* record = FindLocked(request.stream);
    const std::optional<Revision> last = record ? record->Last() : std::nullopt;
    const bool soft_deleted = SoftDeletedLocked(request.stream);
    ANNALS_RETURN_IF_ERROR(CheckExpected(request.stream, request.expected, last, soft_deleted));
    // 6-7. One commit: the recreation metadata first when soft-deleted, then the events.
    const Timestamp created = CommitTimestampLocked();
    const Revision first{last ? last->value + 1 : 0};
    if (soft_deleted) {
      StreamMetadata metadata = MetadataLocked(request.stream).metadata;
      metadata.truncate_before = first;
      AppendMetadataEventLocked(request.stream, metadata, created);
    }
    size_t index = 0;
    for (size_t i = 0; i < request.events.size(); ++i) {
      const ProposedEvent& event = request.events[i];
      index = AddRecordLocked(request.stream, Revision{first.value + i}, event.type,
                              event.content_type, event.data, event.metadata,
                              event.id ? *event.id : Uuid::Random(), created);
    }
    return AppendResult{first, log_[index].revision, log_[index].position, false};
  }

  // nullopt: no id of the request was used, go on; a value: the original result of a retry.
  Result<std::optional<AppendResult>> IdempotentResultLocked(const AppendRequest& request) const {
    std::vector<size_t> used;  // log indices of the request's ids that were used before
    for (const ProposedEvent& event : request.events) {
      if (!event.id) continue;
      auto it = ids_.find(*event.id);
      if (it != ids_.end()) used.push_back(it->second);
    }
    if (used.empty()) return std::optional<AppendResult>();
    const Status conflict(StatusCode::kIdempotencyConflict,
                          "event ids already used differently (stream '" + request.stream + "')");
    // Every event must carry an id and every id must have been used ...
    if (used.size() != request.events.size()) return conflict;
    // ... in this stream, at consecutive revisions, in request order.
    const RecordedEvent& first = log_[used.front()];
    for (size_t i = 0; i < used.size(); ++i) {
      const RecordedEvent& event = log_[used[i]];
      if (event.stream != request.stream || event.revision.value != first.revision.value + i) {
        return conflict;
      }
    }
    const RecordedEvent& last = log_[used.back()];
    return std::optional<AppendResult>(
        AppendResult{first.revision, last.revision, last.position, true});
  }

  // Writes `metadata` as a `$metadata` event to `$$<stream>`; returns its log index.
  size_t AppendMetadataEventLocked(const std::string& stream, const StreamMetadata& metadata,
                                   Timestamp created) {
    const std::string metadata_stream = MetadataStreamOf(stream);
    const StreamRecord* record = FindLocked(metadata_stream);
    const Revision revision{record ? record->events.size() : 0};
    return AddRecordLocked(metadata_stream, revision, std::string(kMetadataEventType),
                           std::string(kContentTypeJson), StreamMetadataToJson(metadata), "",
                           Uuid::Random(), created);
  }

  // Appends one event to the log and indexes it; returns its log index.
  size_t AddRecordLocked(const std::string& stream, Revision revision, std::string type,
                         std::string content_type, std::string data, std::string metadata, Uuid id,
                         Timestamp created) {
    const size_t index = log_.size();
    RecordedEvent event;
    event.id = id;
    event.stream = stream;
    event.type = std::move(type);
    event.revision = revision;
    event.position = PositionOfIndex(index);
    event.created = created;
    event.content_type = std::move(content_type);
    event.data = std::move(data);
    event.metadata = std::move(metadata);
    log_.push_back(std::move(event));
    StreamRecord& record = streams_[stream];
    if (revision.value == kTombstoneRevision) {
      record.tombstone = index;
    } else {
      assert(revision.value == record.events.size());
      record.events.push_back(index);
    }
    ids_.emplace(id, index);
    return index;
  }

  // The commit time: the server clock, never earlier than the previous commit's.
  Timestamp CommitTimestampLocked() {
    last_created_ = std::max(last_created_, Timestamp::Now());
    return last_created_;
  }

  Position HeadLocked() const { return PositionOfIndex(log_.size()); }

  const StreamRecord* FindLocked(const std::string& stream) const {
    auto it = streams_.find(stream);
    return it == streams_.end() ? nullptr : &it->second;
  }

  bool TombstonedLocked(const std::string& stream) const {
    const StreamRecord* record = FindLocked(stream);
    return record != nullptr && record->tombstone.has_value();
  }

  // Soft-deleted: has events, is not tombstoned, and its metadata carries the soft-delete `$tb`.
  bool SoftDeletedLocked(const std::string& stream) const {
    if (IsSystemName(stream)) return false;
    const StreamRecord* record = FindLocked(stream);
    if (record == nullptr || record->events.empty() || record->tombstone) return false;
    const std::optional<Revision> tb = MetadataLocked(stream).metadata.truncate_before;
    return tb && tb->value == kSoftDeletedTruncateBefore;
  }

  // The latest `$metadata` of `$$<stream>`, or empty metadata with no revision.
  StreamMetadataResult MetadataLocked(const std::string& stream) const {
    if (IsSystemName(stream)) return {};
    const StreamRecord* record = FindLocked(MetadataStreamOf(stream));
    if (record == nullptr || record->events.empty()) return {};
    Result<StreamMetadata> parsed = ParseStreamMetadataJson(log_[record->events.back()].data);
    assert(parsed.ok());  // this store wrote it with StreamMetadataToJson
    if (!parsed.ok()) return {};
    return StreamMetadataResult{std::move(parsed).value(), record->Last()};
  }

  Result<StreamInfo> InfoLocked(const std::string& stream) const {
    const StreamRecord* record = FindLocked(stream);
    if (record == nullptr || (record->events.empty() && !record->tombstone)) {
      return NotFound(stream);
    }
    StreamInfo info;
    info.name = stream;
    info.state = record->tombstone           ? StreamState::kTombstoned
                 : SoftDeletedLocked(stream) ? StreamState::kSoftDeleted
                                             : StreamState::kActive;
    info.last_revision = record->Last();
    info.event_count = record->events.size();
    const RecordedEvent& first =
        log_[record->events.empty() ? *record->tombstone : record->events.front()];
    const RecordedEvent& last =
        log_[record->tombstone ? *record->tombstone : record->events.back()];
    info.created = first.created;
    info.last_updated = last.created;
    info.last_position = last.position;
    return info;
  }

  const Limits limits_;
  mutable std::mutex mu_;
  std::condition_variable head_moved_;
  std::vector<RecordedEvent> log_;               // the log, in position order
  std::map<std::string, StreamRecord> streams_;  // every stream that has a record, by name
  std::map<Uuid, size_t> ids_;                   // event id -> log index
  Timestamp last_created_;
  std::map<uint64_t, Watch> watches_;
  uint64_t next_watch_id_ = 1;
};

}  // namespace

std::unique_ptr<EventStore> NewMemoryStore(const Limits& limits) {
  return std::make_unique<MemoryStore>(limits);
}

}  // namespace annals
