// The read paths of the PostgreSQL store. Every read is one statement (one snapshot), except
// ReadStream (catalog row, then events bounded by that row's last revision) and a ReadAll with
// a type or stream regex (matching positions, then their events): both combine consistently because
// committed events never change.
#include <algorithm>
#include <numeric>
#include <string>

#include "core/event_filter_matcher.h"
#include "core/page_budget.h"
#include "core/stream_metadata_codec.h"
#include "postgres/postgres_store_impl.h"

namespace annals::pg {
namespace {

constexpr std::chrono::milliseconds kHeadCheckoutTimeout{10};

Status InvalidArgument(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}
Status NotFound(const std::string& stream) {
  return Status(StatusCode::kNotFound, "stream '" + stream + "' not found");
}

// The lowest revision ReadStream may return under `metadata` ($tb, $maxCount).
uint64_t LowestVisibleRevision(const StreamMetadata& metadata, Revision last) {
  uint64_t lowest = 0;
  if (metadata.truncate_before) lowest = std::max(lowest, metadata.truncate_before->value);
  if (metadata.max_count && *metadata.max_count <= last.value) {
    lowest = std::max(lowest, last.value + 1 - *metadata.max_count);
  }
  return lowest;
}

// A ListStreams prefix as a LIKE pattern (with '\' escaping LIKE's own characters), which
// lets the planner scan only the prefix's range of the name index.
std::string LikePrefix(std::string_view prefix) {
  std::string pattern;
  for (char c : prefix) {
    if (c == '\\' || c == '%' || c == '_') pattern += '\\';
    pattern += c;
  }
  return pattern + "%";
}

StreamInfo InfoOf(std::string name, const StreamRow& row) {
  StreamInfo info;
  info.name = std::move(name);
  info.state = row.state == StoredState::kTombstoned    ? StreamState::kTombstoned
               : row.state == StoredState::kSoftDeleted ? StreamState::kSoftDeleted
                                                        : StreamState::kActive;
  info.last_revision = row.last_revision;
  info.event_count = row.event_count;
  info.last_position = Position{static_cast<uint64_t>(row.last_position.value_or(0))};
  info.created = Timestamp{row.created.value_or(0)};
  info.last_updated = Timestamp{row.last_updated.value_or(0)};
  return info;
}

// A catalog row stands for a stream once it had an event or a tombstone; a row created by a
// metadata write alone does not.
bool Exists(const StreamRow& row) {
  return row.last_revision.has_value() || row.state == StoredState::kTombstoned;
}

// A read's max_bytes (core/page_budget.h) without holding a page of large events: libpq keeps a
// whole result in memory, so a statement returns inline only the payloads (data + metadata) of
// up to `inline_bytes`, and every event's payload size. The page is cut here, by the sizes, and
// the larger payloads of the events it keeps are fetched afterwards, by position
// (FetchWithheld). A result then holds at most max_count x inline_bytes of payload. Window
// functions summing the sizes in SQL cost a fifth of a page read's throughput; this measured
// within the runs' spread (docs/postgres.md, "Reads").
constexpr uint64_t kLeastInlineBytes = 4096;

uint64_t InlineBytes(uint64_t max_bytes, uint64_t max_count) {
  if (max_bytes == 0) return static_cast<uint64_t>(INT64_MAX);
  return std::max(max_bytes / std::max<uint64_t>(max_count, 1), kLeastInlineBytes);
}

// The columns EventAt reads, of `events e`, the payload empty when larger than the bigint
// parameter `inline_bytes`, then the payload's size. Without a budget, every payload inline and
// no size (0): the sizes and their conditions cost a few percent of a page read.
std::string EventColumns(std::string_view inline_bytes, bool budget) {
  if (!budget) {
    return "e.position, e.stream, e.revision, e.id, e.type, e.content_type, e.data, e.metadata, "
           "e.created, 0::bigint";
  }
  const std::string size = "(octet_length(e.data)::bigint + octet_length(e.metadata))";
  const std::string inline_payload = "CASE WHEN " + size + " <= " + std::string(inline_bytes);
  return "e.position, e.stream, e.revision, e.id, e.type, e.content_type, " + inline_payload +
         " THEN e.data END, " + inline_payload + " THEN e.metadata END, e.created, " + size;
}
constexpr int kPayloadSizeColumn = 9;  // after `first_column`

// A page being filled from rows of EventColumns under max_bytes.
class PageFill {
 public:
  PageFill(uint64_t max_bytes, uint64_t inline_bytes)
      : budget_{max_bytes}, inline_bytes_(inline_bytes) {}
  // Whether the page has reached its budget: the next event starts the next page.
  bool Spent() const { return budget_.Spent(); }
  void Take(const Rows& rows, int row, int first_column, std::vector<RecordedEvent>& events) {
    const uint64_t size = static_cast<uint64_t>(rows.Int64(row, first_column + kPayloadSizeColumn));
    events.push_back(EventAt(rows, row, first_column));
    budget_.taken += size;
    if (size > inline_bytes_) withheld_.push_back(events.size() - 1);
  }
  // Reads the payloads left out of the rows (the events of `events` at the withheld indexes).
  Status FetchWithheld(Connection& c, std::vector<RecordedEvent>& events) const {
    if (withheld_.empty()) return Status::Ok();
    std::vector<int64_t> positions;
    for (size_t i : withheld_) positions.push_back(static_cast<int64_t>(events[i].position.value));
    Result<Rows> rows =
        c.Exec("SELECT position, data, metadata FROM events WHERE position = ANY($1::bigint[])",
               Params().Int64Array(positions));
    if (!rows.ok()) return rows.status();
    if (static_cast<size_t>(rows->size()) != withheld_.size()) {
      return Status(StatusCode::kInternal, "postgres: events vanished while being read");
    }
    for (size_t i : withheld_) {
      for (int row = 0; row < rows->size(); ++row) {
        if (static_cast<uint64_t>(rows->Int64(row, 0)) != events[i].position.value) continue;
        events[i].data = rows->Bytes(row, 1);
        events[i].metadata = rows->Bytes(row, 2);
        break;
      }
    }
    return Status::Ok();
  }

 private:
  PageBudget budget_;
  const uint64_t inline_bytes_;
  std::vector<size_t> withheld_;  // indexes into the page's events
};

// The conditions of an EventFilter on `events e`, with its lists as parameters $4..$8 (the
// regexes are applied by the caller).
constexpr std::string_view kFilterSql = R"sql(
   AND (cardinality($4::text[]) = 0
        OR EXISTS (SELECT 1 FROM unnest($4::text[]) p WHERE starts_with(e.stream, p)))
   AND ($5::text = '' OR e.category = $5::text)
   AND (cardinality($6::text[]) = 0 OR e.type = ANY($6::text[]))
   AND (cardinality($7::text[]) = 0
        OR EXISTS (SELECT 1 FROM unnest($7::text[]) p WHERE starts_with(e.type, p)))
   AND (NOT $8::boolean OR (left(e.stream, 1) <> '$' AND left(e.type, 1) <> '$')))sql";

// The window of positions one ReadAll call may examine, and the matching events in it. The
// head comes from the same snapshot as the events: every event below it is visible there and
// none at or above it (docs/postgres.md, "Ordering"). $1 from, $2 max_scan, $3 limit, $9
// inline_bytes (EventColumns).
//   forwards:  [max(from, 1), min(from + max_scan, head))
//   backwards: [max(min(from, head) - max_scan, 1), min(from, head))
// Each statement returns (head, window low, window high, columns...) and at least one row.
std::string WindowSql(Direction direction, std::string_view columns) {
  const bool forwards = direction == Direction::kForwards;
  const std::string bounds = forwards ? R"sql(
bounds AS (
  SELECT head, lo, CASE WHEN lo >= head THEN head
                        WHEN $2::bigint >= head - lo THEN head
                        ELSE lo + $2::bigint END AS hi
    FROM (SELECT next_position AS head, greatest($1::bigint, 1) AS lo FROM log_head) h))sql"
                                      : R"sql(
bounds AS (
  SELECT head, greatest(hi - $2::bigint, 1) AS lo, hi
    FROM (SELECT next_position AS head, least($1::bigint, next_position) AS hi
            FROM log_head) h))sql";
  return "WITH" + bounds + "\nSELECT b.head, b.lo, b.hi, " + std::string(columns) +
         "\n  FROM bounds b LEFT JOIN LATERAL (SELECT * FROM events e"
         "\n WHERE e.position >= b.lo AND e.position < b.hi" +
         std::string(kFilterSql) + "\n ORDER BY e.position " + (forwards ? "ASC" : "DESC") +
         " LIMIT $3::bigint) e ON true";
}

// The rows of a WindowSql statement in position order. The join returns them in the inner
// query's order, but SQL does not promise it without a final ORDER BY, whose sort was a third
// of a page read's time: check, and sort only when needed.
std::vector<int> InPositionOrder(const Rows& rows, Direction direction) {
  std::vector<int> order(static_cast<size_t>(rows.size()));
  std::iota(order.begin(), order.end(), 0);
  auto position = [&](int row) { return rows.IsNull(row, 3) ? 0 : rows.Int64(row, 3); };
  auto before = [&](int a, int b) {
    return direction == Direction::kForwards ? position(a) < position(b)
                                             : position(a) > position(b);
  };
  if (!std::is_sorted(order.begin(), order.end(), before)) {
    std::stable_sort(order.begin(), order.end(), before);
  }
  return order;
}

Params WindowParams(const ReadAllRequest& request, int64_t limit, uint64_t inline_bytes) {
  const EventFilter& filter = request.filter;
  std::vector<std::string_view> stream_prefixes(filter.stream_prefixes.begin(),
                                                filter.stream_prefixes.end());
  std::vector<std::string_view> types(filter.event_types.begin(), filter.event_types.end());
  std::vector<std::string_view> type_prefixes(filter.type_prefixes.begin(),
                                              filter.type_prefixes.end());
  // The window's bounds add the scan to the start. With a custom plan PostgreSQL folds that
  // sum of two parameters while planning, whichever CASE branch runs, so a start near 2^63
  // failed with "bigint out of range". Positions never come near 2^62: a start beyond it is
  // beyond the head all the same.
  constexpr int64_t kFar = int64_t{1} << 62;
  Params params;
  params.Int64(std::min(ClampToInt64(request.from.value), kFar))
      .Int64(std::min(ClampToInt64(request.max_scan), kFar))
      .Int64(limit)
      .TextArray(stream_prefixes)
      .Text(filter.category)
      .TextArray(types)
      .TextArray(type_prefixes)
      .Bool(filter.exclude_system_events)
      .Int64(ClampToInt64(inline_bytes));
  return params;
}

// Where a ReadAll continues, from the window and the matches it returned (in read order);
// `cut`: the page ended on max_bytes with matches left in the window.
void SetContinuation(const ReadAllRequest& request, uint64_t head, uint64_t lo, uint64_t hi,
                     bool cut, ReadAllResult& result) {
  const bool full = cut || result.events.size() == request.max_count;
  if (request.direction == Direction::kForwards) {
    // Stopped on max_count: the next record is examined next; else the window is done.
    result.next = full ? Position{result.events.back().position.value + 1} : Position{hi};
    result.end_of_log = result.next.value >= head;
    if (result.end_of_log) result.next = Position{head};
  } else if (full) {
    result.next = result.events.back().position;  // the last examined record
    result.end_of_log = result.next.value <= kFirstPosition;
  } else if (lo >= hi) {  // nothing below `from`
    result.next = Position::Start();
    result.end_of_log = true;
  } else {
    result.next = Position{lo};
    result.end_of_log = lo <= kFirstPosition;
  }
}

}  // namespace

template <typename T, typename Read>
Result<T> PostgresStore::RunRead(Read read) const {
  return RunRead<T>(std::move(read), checkout_timeout_);
}

template <typename T, typename Read>
Result<T> PostgresStore::RunRead(Read read, std::chrono::milliseconds checkout) const {
  for (int attempt = 0;; ++attempt) {
    Result<ConnectionPool::Lease> lease = pool_.Checkout(checkout);
    if (!lease.ok()) return lease.status();
    Result<T> result = read(**lease);
    if (!result.ok() && (*lease)->broken() && attempt == 0) continue;
    return result;
  }
}

Status PostgresStore::CheckHealth() {
  constexpr auto kFreshFor = std::chrono::seconds(1);
  std::lock_guard lock(health_mu_);
  if (std::chrono::steady_clock::now() < health_checked_ + kFreshFor) return health_;
  // A pool whose connections are all busy serves requests, only later. Waiting for one would
  // hold the probe past its timeout, and failing would take every loaded node out of the load
  // balancer at once: the node is ready.
  if (pool_.Saturated()) return Status::Ok();
  Result<bool> checked = RunRead<bool>([](Connection& c) -> Result<bool> {
    Result<Rows> one = c.Exec("SELECT 1");
    if (!one.ok()) return one.status();
    return true;
  });
  // The pool may have filled while the check waited for a connection.
  health_ = checked.ok() || pool_.Saturated()
                ? Status::Ok()
                : Status(checked.status().code(),
                         "the database is unavailable: " + checked.status().message());
  health_checked_ = std::chrono::steady_clock::now();
  return health_;
}

Result<ReadStreamResult> PostgresStore::ReadStream(const ReadStreamRequest& request) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(request.stream, limits_, /*allow_system=*/true));
  if (request.max_count == 0) return InvalidArgument("max_count must be at least 1");
  return RunRead<ReadStreamResult>([&](Connection& c) -> Result<ReadStreamResult> {
    Result<std::optional<StreamRow>> found = ReadStreamRow(c, request.stream, /*lock=*/false);
    if (!found.ok()) return found.status();
    if (*found && (*found)->state == StoredState::kTombstoned) {
      return Status(StatusCode::kStreamDeleted, "stream '" + request.stream + "' is deleted");
    }
    if (!*found || !(*found)->last_revision || (*found)->state == StoredState::kSoftDeleted) {
      return NotFound(request.stream);
    }
    const StreamRow& row = **found;
    const Revision last = *row.last_revision;
    Result<StreamMetadata> metadata = MetadataOf(request.stream, row);
    if (!metadata.ok()) return metadata.status();
    const bool forwards = request.direction == Direction::kForwards;
    // One row more than asked for: if it comes, it is `next`.
    const std::string sql =
        "SELECT " + EventColumns("$6::bigint", request.max_bytes > 0) +
        " FROM events e WHERE e.stream = $1 AND e.revision >= $2 AND e.revision <= $3"
        " AND ($4 < 0 OR e.created >= " +
        std::string(kNowTicksSql) + " - $4) ORDER BY e.revision " + (forwards ? "ASC" : "DESC") +
        " LIMIT $5";
    const uint64_t inline_bytes = InlineBytes(request.max_bytes, request.max_count);
    PageFill page(request.max_bytes, inline_bytes);
    const uint64_t lowest = LowestVisibleRevision(*metadata, last);
    const uint64_t from = request.from.value_or(forwards ? Revision{0} : last).value;
    const uint64_t low = forwards ? std::max(from, lowest) : lowest;
    const uint64_t high = forwards ? last.value : std::min(from, last.value);
    ReadStreamResult result;
    result.last_revision = last;
    if (low > high) return result;
    Result<Rows> rows = c.Exec(sql, Params()
                                        .Text(request.stream)
                                        .Int64(ClampToInt64(low))
                                        .Int64(ClampToInt64(high))
                                        .Int64(MaxAgeTicks(*metadata).value_or(-1))  // -1: no limit
                                        .Int64(ClampToInt64(request.max_count) == INT64_MAX
                                                   ? INT64_MAX
                                                   : ClampToInt64(request.max_count) + 1)
                                        .Int64(ClampToInt64(inline_bytes)));
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->size(); ++i) {
      if (result.events.size() == request.max_count || page.Spent()) {
        result.next = Revision{static_cast<uint64_t>(rows->Int64(i, 2))};
        break;
      }
      page.Take(*rows, i, 0, result.events);
    }
    ANNALS_RETURN_IF_ERROR(page.FetchWithheld(c, result.events));
    return result;
  });
}

Result<ReadAllResult> PostgresStore::ReadAll(const ReadAllRequest& request) {
  if (request.max_count == 0) return InvalidArgument("max_count must be at least 1");
  if (request.max_scan == 0) return InvalidArgument("max_scan must be at least 1");
  Result<EventFilterMatcher> matcher = EventFilterMatcher::Compile(request.filter);
  if (!matcher.ok()) return matcher.status();
  const bool regex = !request.filter.type_regex.empty() || !request.filter.stream_regex.empty();
  return RunRead<ReadAllResult>([&](Connection& c) -> Result<ReadAllResult> {
    ReadAllResult result;
    // Without a regex the database filters and limits. With one (RE2 syntax, which
    // PostgreSQL's regular expressions are not), it returns the window's candidates by
    // position, type and stream, the matcher picks, and the picked events are fetched.
    const std::string columns =
        regex ? "e.position, e.type, e.stream" : EventColumns("$9::bigint", request.max_bytes > 0);
    const int64_t limit = regex ? ClampToInt64(request.max_scan) : ClampToInt64(request.max_count);
    const uint64_t inline_bytes = InlineBytes(request.max_bytes, request.max_count);
    PageFill page(request.max_bytes, inline_bytes);
    Result<Rows> rows =
        c.Exec(WindowSql(request.direction, columns), WindowParams(request, limit, inline_bytes));
    if (!rows.ok()) return rows.status();
    const uint64_t head = static_cast<uint64_t>(rows->Int64(0, 0));
    const uint64_t lo = static_cast<uint64_t>(rows->Int64(0, 1));
    const uint64_t hi = static_cast<uint64_t>(rows->Int64(0, 2));
    std::vector<int64_t> picked;
    bool cut = false;
    for (int i : InPositionOrder(*rows, request.direction)) {
      if (result.events.size() == request.max_count) break;
      if (rows->IsNull(i, 3)) continue;  // the empty window's single row
      if (!regex) {
        if (page.Spent()) {
          cut = true;
          break;
        }
        page.Take(*rows, i, 3, result.events);
      } else if (matcher->Matches(rows->Bytes(i, 5), rows->Bytes(i, 4))) {
        picked.push_back(rows->Int64(i, 3));
        RecordedEvent placeholder;
        placeholder.position = Position{static_cast<uint64_t>(picked.back())};
        result.events.push_back(std::move(placeholder));
      }
    }
    if (!picked.empty()) {
      Result<Rows> events =
          c.Exec("SELECT " + EventColumns("$2::bigint", request.max_bytes > 0) +
                     " FROM events e WHERE e.position = ANY($1::bigint[]) ORDER BY e.position " +
                     (request.direction == Direction::kForwards ? "ASC" : "DESC"),
                 Params().Int64Array(picked).Int64(ClampToInt64(inline_bytes)));
      if (!events.ok()) return events.status();
      result.events.clear();
      for (int i = 0; i < events->size(); ++i) {
        if (page.Spent()) {
          cut = true;
          break;
        }
        page.Take(*events, i, 0, result.events);
      }
    }
    ANNALS_RETURN_IF_ERROR(page.FetchWithheld(c, result.events));
    SetContinuation(request, head, lo, hi, cut, result);
    return result;
  });
}

Result<StreamInfo> PostgresStore::GetStreamInfo(const std::string& stream) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, limits_, /*allow_system=*/true));
  return RunRead<StreamInfo>([&](Connection& c) -> Result<StreamInfo> {
    Result<std::optional<StreamRow>> found = ReadStreamRow(c, stream, /*lock=*/false);
    if (!found.ok()) return found.status();
    if (!*found || !Exists(**found)) return NotFound(stream);
    return InfoOf(stream, **found);
  });
}

Result<ListStreamsResult> PostgresStore::ListStreams(const ListStreamsRequest& request) {
  if (request.limit == 0) return InvalidArgument("limit must be at least 1");
  return RunRead<ListStreamsResult>([&](Connection& c) -> Result<ListStreamsResult> {
    Result<Rows> rows = c.Exec(
        "SELECT s.state, s.last_revision, s.event_count, s.created, s.last_updated, "
        "s.last_position, NULL::bigint, NULL::text, s.name FROM streams s "
        "WHERE s.name > $1 AND s.name LIKE $2 ESCAPE '\\' "
        "AND (s.last_revision IS NOT NULL OR s.state = 2) "
        "AND ($3 OR left(s.name, 1) <> '$') ORDER BY s.name LIMIT $4",
        Params()
            .Text(request.after)
            .Text(LikePrefix(request.prefix))
            .Bool(request.include_system)
            .Int64(ClampToInt64(request.limit)));
    if (!rows.ok()) return rows.status();
    ListStreamsResult result;
    for (int i = 0; i < rows->size(); ++i) {
      result.streams.push_back(InfoOf(rows->Bytes(i, 8), StreamRowAt(*rows, i)));
    }
    if (result.streams.size() == request.limit) result.next_after = result.streams.back().name;
    return result;
  });
}

Result<StreamMetadataResult> PostgresStore::GetStreamMetadata(const std::string& stream) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(stream, limits_));
  return RunRead<StreamMetadataResult>([&](Connection& c) -> Result<StreamMetadataResult> {
    Result<std::optional<StreamRow>> found = ReadStreamRow(c, stream, /*lock=*/false);
    if (!found.ok()) return found.status();
    if (*found && (*found)->state == StoredState::kTombstoned) {
      return Status(StatusCode::kStreamDeleted, "stream '" + stream + "' is deleted");
    }
    // A stream whose metadata was set has a catalog row (SetStreamMetadata creates it).
    if (!*found) return StreamMetadataResult{};
    Result<StreamMetadata> metadata = MetadataOf(stream, **found);
    if (!metadata.ok()) return metadata.status();
    return StreamMetadataResult{std::move(metadata).value(), (*found)->metadata_revision};
  });
}

Position PostgresStore::Head() const {
  // A busy pool does not hold Head() up: the head this store last saw is still true (it only
  // grows, and the store's own commits raise it at once); other nodes' commits reach it by
  // notification.
  Result<Position> head = RunRead<Position>(
      [](Connection& c) -> Result<Position> {
        Result<Rows> rows = c.Exec("SELECT next_position FROM log_head");
        if (!rows.ok()) return rows.status();
        return Position{static_cast<uint64_t>(rows->Int64(0, 0))};
      },
      kHeadCheckoutTimeout);
  if (!head.ok()) return notifier_.head();
  notifier_.Advance(*head);
  return std::max(*head, notifier_.head());
}

}  // namespace annals::pg
