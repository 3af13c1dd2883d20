// The value types of delivery: what a consumer group (or a webhook, or a relay) reads, where it
// starts, how it hands events out, and what a consumer receives. docs/delivery.md describes
// the behaviour; codec.h gives their durable JSON form.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "annals/types.h"

namespace annals::delivery {

// What a group reads: one stream by revision (ReadStream), or `$all` filtered by position
// (ReadAll; a category or a single exact event type is served by the index). With a stream,
// only `filter.event_types` applies (events of other types are skipped, and count as resolved).
struct Source {
  std::string stream;  // non-empty: a stream source
  EventFilter filter;  // `$all` sources: every criterion; an empty filter is all of `$all`
  bool ByRevision() const { return !stream.empty(); }
  bool operator==(const Source&) const = default;
};

// Where a new group starts. Resolved once, when the group is created, into a cursor value
// (a revision for a stream source, a position otherwise) that is stored with the definition,
// so "end" means the end at creation time, across restarts.
struct StartAt {
  enum class Kind : uint8_t { kBeginning, kEnd, kPosition, kTime };
  Kind kind = Kind::kBeginning;
  uint64_t value = 0;  // kPosition: a revision (stream source) or a position (inclusive)
  Timestamp time;      // kTime: the first event created at or after it
  bool operator==(const StartAt&) const = default;
};

enum class Strategy : uint8_t {
  // Ready events go to whichever consumer asks, in log order; a retry may overtake later
  // events of its stream.
  kRoundRobin,
  // Only the oldest live consumer receives; the others take over when it goes away.
  kDispatchToSingle,
  // A stream's events go to one consumer (by hash of the stream among the live consumers) and
  // a stream's event is handed out only when none of its earlier events is outstanding: each
  // stream is delivered in order, retries included.
  kPinnedByStream,
};

// Every setting may change at run time (PUT with the same source); the defaults follow
// KurrentDB's where it has the same setting.
struct GroupSettings {
  uint32_t max_in_flight = 1000;                 // events handed out and not yet acked, per group
  std::chrono::milliseconds ack_timeout{30000};  // then the event is handed out again
  uint32_t max_retries = 10;  // deliveries after the first; then the event is parked
  std::chrono::milliseconds retry_backoff_min{100};    // first retry delay after a nack(retry)
  std::chrono::milliseconds retry_backoff_max{30000};  // doubling, capped, with jitter
  Strategy strategy = Strategy::kRoundRobin;
  // A checkpoint is written when it moved and `checkpoint_after` passed since the last one, or
  // after `checkpoint_max_count` events were resolved. Each write is one event appended to the
  // checkpoint stream: the stream grows by at most one event per interval.
  std::chrono::milliseconds checkpoint_after{2000};
  uint32_t checkpoint_max_count = 1000;
  uint32_t buffer_size = 2000;  // events read ahead and held in memory
  uint32_t read_batch = 500;    // events per store read
  // When an event is parked, its stream's later events are parked behind it (and replayed
  // after it) instead of flowing past it: strict per-stream order. Webhooks and relays set it.
  bool park_keeps_order = false;
  std::chrono::milliseconds consumer_timeout{30000};  // a consumer that has not polled for this
                                                      // long is gone (pinned/single remap)
  // Connected subscribers (gRPC subscription calls, SSE feeds) allowed at once; 0: no limit.
  // Polling consumers hold no connection and are not counted.
  uint32_t max_subscribers = 0;
  bool operator==(const GroupSettings&) const = default;
};

struct GroupDefinition {
  std::string name;
  Source source;
  StartAt start;
  GroupSettings settings;
  // Set by the service on creation: the generation (config stream revision of the creation,
  // so a group recreated under the same name ignores its predecessor's checkpoints and parked
  // messages) and the resolved start cursor.
  uint64_t generation = 0;
  uint64_t start_cursor = 0;
  bool paused = false;  // nothing is handed out while paused (webhooks, relays)
};

// One event handed to a consumer. `ack_id` is the event id (as KurrentDB); acking it resolves
// every outstanding delivery of that event in the group.
struct Delivery {
  std::string ack_id;
  std::shared_ptr<const RecordedEvent> event;
  uint32_t delivery_count = 1;  // 1 on the first delivery
  bool replayed = false;        // from a parked-message replay
};

enum class NackAction : uint8_t { kRetry, kPark, kSkip };

// An entry of the parked-message stream.
struct ParkedEntry {
  uint64_t parked_revision = 0;  // revision in the parked stream
  std::string stream;
  Revision revision;
  Position position;
  Uuid event_id;
  std::string reason;
  uint32_t attempts = 0;
  Timestamp parked_at;
};

struct ConsumerInfo {
  std::string name;
  uint32_t in_flight = 0;
  uint64_t delivered = 0;
  std::chrono::milliseconds idle{0};  // since the last poll
};

struct GroupInfo {
  GroupDefinition definition;
  uint64_t checkpoint = 0;   // the durable cursor (revision or position), last written
  uint64_t read_cursor = 0;  // the next cursor value to read
  uint64_t lag_events = 0;   // matching events not yet resolved (counted up to a bound)
  bool lag_exact = true;     // false when the count stopped at the bound
  double lag_seconds = 0;    // age of the oldest unresolved event
  uint32_t in_flight = 0;
  uint32_t buffered = 0;  // read, waiting to be handed out (or retried)
  uint64_t parked = 0;
  bool replaying = false;
  uint64_t delivered = 0;  // since start-up
  uint64_t acked = 0;
  uint64_t retried = 0;
  uint64_t parked_total = 0;
  uint32_t attempts = 0;   // deliveries so far of the most-tried unresolved event (0: none)
  std::string last_error;  // of the source read or a durable write, empty when none
  std::vector<ConsumerInfo> consumers;
  // This process drives the cursor (holds its lease). When false, the other fields say
  // nothing of its progress: the node that drives it knows.
  bool driven_here = true;
};

std::string_view StrategyName(Strategy s);
std::optional<Strategy> ParseStrategy(std::string_view s);

}  // namespace annals::delivery
