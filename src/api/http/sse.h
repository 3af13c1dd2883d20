// Server-Sent Events over the log: what a subscription asks for (SseSpec) and the I/O-free
// cursor that turns store reads into SSE frames (SseCursor). The socket side lives in server.cc.
//
// Frames (https://html.spec.whatwg.org/multipage/server-sent-events.html):
//   id: <revision (stream) or position ($all)>
//   data: <the event JSON, split on line breaks>
//
//   event: caught-up          once, when the catch-up reached the head; then live
//   : heartbeat               a comment, every heartbeat interval without events
//   event: error              a problem+json document, just before the server closes
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "annals/event_store.h"

namespace annals::http {

struct SseSpec {
  bool all = false;  // true: $all (with `filter`); false: the stream `stream`
  std::string stream;
  EventFilter filter;
  // Where to start. Stream: the first revision to send; $all: the first position to send
  // (inclusive). nullopt: from the beginning.
  std::optional<uint64_t> from;
  bool from_end = false;    // only events committed after the subscription starts
  bool after_from = false;  // $all with Last-Event-ID: skip the event at `from` itself
  std::string instance;     // the request path, for problem documents
};

class SseCursor {
 public:
  // `store` must outlive the cursor. `batch` is the most events one ReadBatch reads.
  SseCursor(EventStore* store, SseSpec spec, uint64_t batch);

  struct Batch {
    uint64_t events = 0;
    bool caught_up = false;      // the read reached the head: wait for WatchPosition() to move
    uint64_t last_position = 0;  // position of the last event framed, when events > 0
  };

  // Reads the next batch and appends its frames to `out`. kStreamDeleted for a tombstoned
  // stream; a stream that does not exist (yet) or was soft-deleted reads as empty.
  Result<Batch> ReadBatch(std::string* out);
  // After a caught-up batch: the position to pass to EventStore::WatchHead.
  Position WatchPosition() const { return watch_; }
  const SseSpec& spec() const { return spec_; }

 private:
  Status Resolve();

  EventStore* store_;
  SseSpec spec_;
  uint64_t batch_;
  bool resolved_ = false;
  uint64_t next_revision_ = 0;  // stream
  Position next_position_;      // $all
  std::optional<Position> skip_position_;
  Position watch_;
};

// A live source of SSE frames other than the log itself (a consumer group's events). The
// session asks for frames one batch at a time, only when its buffer has room, so a slow client
// holds back the source instead of filling memory. I/O-free; implemented next to its route.
class SseFeed {
 public:
  struct Chunk {
    std::string frames;  // empty: nothing came within the wait (the session sends a heartbeat)
    uint64_t events = 0;
    bool end = false;  // the source is gone (`frames` may hold a last error frame): close
  };
  virtual ~SseFeed() = default;
  // Calls `done` exactly once, from any thread, after at most about `wait`. One call at a time.
  virtual void Next(std::chrono::milliseconds wait, std::function<void(Chunk)> done) = 0;
  // The connection ended (called once, possibly while a Next is pending): what was handed to
  // this client and not resolved goes back to the source.
  virtual void Close() = 0;
};

// Appends one SSE frame: optional `event:` and `id:` fields, then `data` split into `data:`
// lines on CR, LF or CRLF (a client joins them back with LF).
void AppendSseFrame(std::string* out, std::string_view event, std::string_view id,
                    std::string_view data);
inline constexpr std::string_view kSseHeartbeat = ": heartbeat\n\n";

}  // namespace annals::http
