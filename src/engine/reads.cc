// The read path: stream reads through the revision index, `$all` reads by scanning the log or
// through category / event-type postings, the catalog and metadata. Any thread; everything
// read is bounded by the head loaded at the start of the call.
#include <algorithm>

#include <fmt/format.h>

#include "core/binary.h"
#include "core/event_filter_matcher.h"
#include "core/page_budget.h"
#include "core/stream_metadata_codec.h"
#include "engine/engine_impl.h"
#include "engine/log/log_reader.h"

namespace annals::engine {
namespace {

using index::StreamRecord;

Status StreamNotFound(std::string_view name) {
  return Status(StatusCode::kNotFound, fmt::format("stream '{}' does not exist", name));
}
Status StreamTombstoned(std::string_view name) {
  return Status(StatusCode::kStreamDeleted, fmt::format("stream '{}' is tombstoned", name));
}

// The revisions of a stream that reads may show, given its metadata.
struct Visible {
  uint64_t low = 0;   // first visible revision
  uint64_t high = 0;  // last revision
  std::optional<int64_t> min_created_ticks;
  bool empty() const { return low > high; }
};

Visible VisibleRange(const StreamRecord& s) {
  Visible v;
  v.high = s.last_revision;
  if (s.metadata.truncate_before) v.low = s.metadata.truncate_before->value;
  if (s.metadata.max_count) {
    const uint64_t count = *s.metadata.max_count;
    const uint64_t from_count = count > s.last_revision ? 0 : s.last_revision + 1 - count;
    v.low = std::max(v.low, from_count);
    if (count == 0) v.low = s.last_revision + 1;
  }
  if (const auto max_age = MaxAgeTicks(s.metadata)) {
    v.min_created_ticks = Timestamp::Now().ticks - *max_age;
  }
  return v;
}

StreamInfo ToStreamInfo(std::string_view name, const StreamRecord& s) {
  StreamInfo info;
  info.name = std::string(name);
  info.state = s.tombstoned      ? StreamState::kTombstoned
               : s.SoftDeleted() ? StreamState::kSoftDeleted
                                 : StreamState::kActive;
  info.last_revision = s.LastRevision();
  info.event_count = s.event_count;
  info.last_position = Position{s.last_position};
  info.created = Timestamp{s.created_ticks};
  info.last_updated = Timestamp{s.updated_ticks};
  return info;
}

thread_local std::string tls_record_buffer;

}  // namespace

Result<ReadStreamResult> EngineImpl::ReadStream(const ReadStreamRequest& request) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(request.stream, options_.limits, true));
  if (request.max_count == 0) {
    return Status(StatusCode::kInvalidArgument, "maxCount: must be at least 1");
  }
  const auto view = CurrentView();
  const uint64_t head = view->head;
  auto loaded = index_->GetStream(request.stream, view->snapshot);
  if (!loaded.ok()) return loaded.status();
  if (!loaded->has_value()) return StreamNotFound(request.stream);
  const StreamRecord& stream = **loaded;
  if (stream.tombstoned) return StreamTombstoned(request.stream);
  if (!stream.has_events || stream.SoftDeleted()) return StreamNotFound(request.stream);

  ReadStreamResult result;
  result.events.reserve(std::min<uint64_t>(request.max_count, 4096));
  result.last_revision = Revision{stream.last_revision};
  const Visible visible = VisibleRange(stream);
  if (visible.empty()) return result;
  const bool forwards = request.direction == Direction::kForwards;
  uint64_t from = request.from ? request.from->value : (forwards ? 0 : visible.high);
  if (forwards) {
    from = std::max(from, visible.low);
    if (from > visible.high) return result;
  } else {
    from = std::min(from, visible.high);
    if (from < visible.low) return result;
  }
  const std::string lower = index::RevisionKey(stream.id, forwards ? from : visible.low);
  const std::string upper = index::RevisionKey(stream.id, forwards ? visible.high : from) + '\0';
  Status status;
  PageBudget budget{request.max_bytes};
  std::optional<uint64_t> last_examined;
  ANNALS_RETURN_IF_ERROR(index_->Scan(
      lower, upper, !forwards,
      [&](std::string_view key, std::string_view value) {
        const uint64_t position = DecodeFixed64(value.data());
        if (position >= head) return !forwards;  // committed later than this read began
        if (result.events.size() >= request.max_count || budget.Spent()) return false;
        log::LogEvent event;
        status = log::ReadEventAt(*segments_, position, &tls_record_buffer, &event);
        if (!status.ok()) return false;
        last_examined = event.event.revision.value;
        if (visible.min_created_ticks && event.event.created.ticks < *visible.min_created_ticks) {
          return true;
        }
        result.events.push_back(event.event.Materialize(Position{position}));
        budget.Take(result.events.back());
        return true;
      },
      view->snapshot));
  ANNALS_RETURN_IF_ERROR(status);
  if (last_examined) {
    if (forwards && *last_examined < visible.high) result.next = Revision{*last_examined + 1};
    if (!forwards && *last_examined > visible.low) result.next = Revision{*last_examined - 1};
  }
  return result;
}

Result<ReadAllResult> EngineImpl::ReadAll(const ReadAllRequest& request) {
  if (request.max_count == 0) {
    return Status(StatusCode::kInvalidArgument, "maxCount: must be at least 1");
  }
  if (request.max_scan == 0) {
    return Status(StatusCode::kInvalidArgument, "maxScan: must be at least 1");
  }
  const auto view = CurrentView();
  const EventFilter& f = request.filter;
  if (!f.category.empty()) {
    return ReadAllByPostings(request, *view, index::kCategoryPrefix, f.category);
  }
  if (f.event_types.size() == 1) {
    return ReadAllByPostings(request, *view, index::kTypePrefix, f.event_types[0]);
  }
  return ReadAllByScan(request, view->head);
}

Result<ReadAllResult> EngineImpl::ReadAllByScan(const ReadAllRequest& request, uint64_t head) {
  auto matcher = EventFilterMatcher::Compile(request.filter);
  if (!matcher.ok()) return matcher.status();
  ReadAllResult result;
  result.events.reserve(std::min<uint64_t>(request.max_count, 4096));
  uint64_t examined = 0;
  PageBudget budget{request.max_bytes};
  log::LogEvent event;
  auto collect = [&](auto& scanner) -> Status {
    while (result.events.size() < request.max_count && examined < request.max_scan &&
           !budget.Spent()) {
      auto more = scanner.Next(&event);
      if (!more.ok()) return more.status();
      if (!*more) {
        result.end_of_log = true;
        break;
      }
      ++examined;
      if (matcher->Matches(event.event.stream, event.event.type)) {
        result.events.push_back(event.event.Materialize(Position{event.position}));
        budget.Take(result.events.back());
      }
    }
    return Status::Ok();
  };
  if (request.direction == Direction::kForwards) {
    if (request.from.value >= head) {
      return ReadAllResult{{}, Position{head}, true};
    }
    log::ForwardScanner scanner(*segments_, request.from.value, head);
    ANNALS_RETURN_IF_ERROR(collect(scanner));
    result.next = Position{result.end_of_log ? head : scanner.position()};
    if (!result.end_of_log && scanner.position() >= head) result.end_of_log = true;
  } else {
    log::BackwardScanner scanner(*segments_, std::min(request.from.value, head));
    ANNALS_RETURN_IF_ERROR(collect(scanner));
    // A page that filled up exactly at the first record also ends the log; its `next` stays
    // that record's position, like any full page's.
    const bool exhausted = result.end_of_log;
    if (scanner.position() <= segments_->FirstRecordOf(segments_->FirstId())) {
      result.end_of_log = true;
    }
    result.next = Position{exhausted ? 0 : scanner.position()};
  }
  return result;
}

Result<ReadAllResult> EngineImpl::ReadAllByPostings(const ReadAllRequest& request,
                                                    const ReadView& view, char prefix,
                                                    const std::string& name) {
  const uint64_t head = view.head;
  auto matcher = EventFilterMatcher::Compile(request.filter);
  if (!matcher.ok()) return matcher.status();
  if (name.find('\0') != std::string::npos) {
    return Status(StatusCode::kInvalidArgument, "filter: names cannot contain NUL");
  }
  const bool forwards = request.direction == Direction::kForwards;
  const uint64_t from = forwards ? request.from.value : std::min(request.from.value, head);
  const std::string name_prefix = index::PostingPrefix(prefix, name);
  // Keys are the last position of their postings. Forwards, the first key at or after `from`
  // holds the first position that can be read. Backwards, that same key may hold positions
  // before `from` too, so the reverse scan starts just past it.
  std::string lower = forwards ? index::PostingKey(prefix, name, from) : name_prefix;
  std::string upper = index::PrefixEnd(name_prefix);
  if (!forwards) {
    ANNALS_RETURN_IF_ERROR(index_->Scan(
        index::PostingKey(prefix, name, from), upper, false,
        [&](std::string_view key, std::string_view) {
          upper = index::PostingKey(prefix, name, index::PostingPosition(key) + 1);
          return false;
        },
        view.snapshot));
  }
  ReadAllResult result;
  result.end_of_log = true;  // unless the scan stops early
  result.next = Position{forwards ? head : 0};
  uint64_t examined = 0;
  PageBudget budget{request.max_bytes};
  Status status;
  std::vector<uint64_t> positions;
  // One posting: false to stop the whole read.
  auto visit = [&](uint64_t position) {
    if (forwards ? position < from : position >= from) return true;  // the key's other part
    if (position >= head) return !forwards;  // committed after this read began: the end for now
    if (result.events.size() >= request.max_count || examined >= request.max_scan ||
        budget.Spent()) {
      result.end_of_log = false;
      return false;
    }
    log::LogEvent event;
    status = log::ReadEventAt(*segments_, position, &tls_record_buffer, &event);
    if (!status.ok()) return false;
    ++examined;
    result.next = Position{forwards ? event.next_position : position};
    if (matcher->Matches(event.event.stream, event.event.type)) {
      result.events.push_back(event.event.Materialize(Position{position}));
      budget.Take(result.events.back());
    }
    return true;
  };
  ANNALS_RETURN_IF_ERROR(index_->Scan(
      lower, upper, !forwards,
      [&](std::string_view key, std::string_view value) {
        if (!index::DecodePostings(key, value, &positions)) {
          status = Status(StatusCode::kCorruption,
                          fmt::format("index: damaged postings of '{}' at position {}", name,
                                      index::PostingPosition(key)));
          return false;
        }
        if (forwards) {
          for (uint64_t position : positions) {
            if (!visit(position)) return false;
          }
        } else {
          for (auto it = positions.rbegin(); it != positions.rend(); ++it) {
            if (!visit(*it)) return false;
          }
        }
        return true;
      },
      view.snapshot));
  ANNALS_RETURN_IF_ERROR(status);
  if (result.end_of_log) result.next = Position{forwards ? head : 0};
  return result;
}

Result<StreamInfo> EngineImpl::GetStreamInfo(const std::string& name) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(name, options_.limits, true));
  auto loaded = index_->GetStream(name, CurrentView()->snapshot);
  if (!loaded.ok()) return loaded.status();
  if (!loaded->has_value() || (!(*loaded)->has_events && !(*loaded)->tombstoned)) {
    return StreamNotFound(name);
  }
  return ToStreamInfo(name, **loaded);
}

Result<ListStreamsResult> EngineImpl::ListStreams(const ListStreamsRequest& request) {
  const auto view = CurrentView();
  if (request.limit == 0) return Status(StatusCode::kInvalidArgument, "limit: must be at least 1");
  const std::string prefix_key = index::StreamKey(request.prefix);
  std::string lower = prefix_key;
  if (!request.after.empty() && request.after >= request.prefix) {
    lower = index::StreamKey(request.after) + '\0';
  }
  const std::string upper = index::PrefixEnd(prefix_key);
  ListStreamsResult result;
  Status status;
  ANNALS_RETURN_IF_ERROR(index_->Scan(
      lower, upper, false,
      [&](std::string_view key, std::string_view value) {
        const std::string_view name = key.substr(1);
        if (IsSystemName(name) && !request.include_system) return true;
        StreamRecord s;
        if (!index::DecodeStreamRecord(value, &s)) {
          status = Status(StatusCode::kCorruption,
                          fmt::format("index: damaged record of stream '{}'", name));
          return false;
        }
        if (!s.has_events && !s.tombstoned) return true;  // only metadata so far
        result.streams.push_back(ToStreamInfo(name, s));
        return result.streams.size() < request.limit;
      },
      view->snapshot));
  ANNALS_RETURN_IF_ERROR(status);
  if (result.streams.size() == request.limit) result.next_after = result.streams.back().name;
  return result;
}

Result<StreamMetadataResult> EngineImpl::GetStreamMetadata(const std::string& name) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(name, options_.limits));
  const auto view = CurrentView();
  auto loaded = index_->GetStream(name, view->snapshot);
  if (!loaded.ok()) return loaded.status();
  StreamMetadataResult result;
  if (!loaded->has_value()) return result;
  if ((*loaded)->tombstoned) return StreamTombstoned(name);
  if ((*loaded)->has_metadata) {
    result.metadata = (*loaded)->metadata;
    result.metadata_revision = Revision{(*loaded)->metadata_revision};
  }
  return result;
}

}  // namespace annals::engine
