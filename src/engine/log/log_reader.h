// Reading committed records from the log, concurrently with the writer.
//
// Readers only ever look below a `limit` (the committed head), so they never see bytes the
// writer is still producing. Every record is checked (header, body and trailer) before use; a
// failure below the head is corruption, reported, never skipped.
#pragma once

#include <cstdint>
#include <string>

#include "annals/status.h"
#include "engine/log/record.h"
#include "engine/log/segments.h"

namespace annals::log {

// One verified event record. The view points into the reader's buffer and is valid until the
// reader's next call.
struct LogEvent {
  uint64_t position = 0;
  uint64_t next_position = 0;  // where the following record starts
  RecordHeader header;
  EventView event;
};

// Reads the event record at `position` (which must be the start of an event record).
// `buffer` is scratch space reused across calls.
Status ReadEventAt(const SegmentSet& segments, uint64_t position, std::string* buffer,
                   LogEvent* out);

// Walks event records forwards from `from` up to (not including) `limit`, reading the log in
// large chunks. Segment-end records are followed transparently.
class ForwardScanner {
 public:
  // `from` may be 0 (the start of the log) or the start of a record.
  ForwardScanner(const SegmentSet& segments, uint64_t from, uint64_t limit);

  // Sets *out to the next event and returns true; false at the limit. A position that is not
  // the start of a record is kInvalidArgument on the first call, kCorruption later.
  Result<bool> Next(LogEvent* out);
  // Where the next call will read: after the last record returned (or skipped).
  uint64_t position() const { return position_; }

 private:
  Status Fill(uint64_t position, size_t want);

  const SegmentSet& segments_;
  uint64_t position_;
  uint64_t limit_;
  bool first_ = true;
  std::string buffer_;                    // copied bytes, when the segment is not mapped
  std::shared_ptr<SegmentFile> segment_;  // the segment being read
  const char* window_ = nullptr;          // the bytes being parsed: the mapping or buffer_
  uint64_t window_start_ = 0;             // logical position of window_[0]
  uint64_t window_size_ = 0;
};

// Walks event records backwards from `from` (exclusive; a record boundary or the head).
class BackwardScanner {
 public:
  BackwardScanner(const SegmentSet& segments, uint64_t from);
  Result<bool> Next(LogEvent* out);
  // The exclusive upper bound of the remaining records: the last record returned's position.
  uint64_t position() const { return position_; }

 private:
  const SegmentSet& segments_;
  uint64_t position_;
  bool first_ = true;
  std::string buffer_;
};

}  // namespace annals::log
