// Encoding and decoding of log records (docs/log-format.md).
//
// Decoding never trusts a length before the header checksum has passed, and never returns a
// body whose checksum failed: a RecordView is only produced from verified bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "annals/types.h"
#include "engine/log/log_format.h"

namespace annals::log {

// An event record's fields, as views into the buffer it was decoded from (or, to encode,
// into the caller's strings).
struct EventView {
  Revision revision;
  Timestamp created;
  Uuid id;
  std::string_view stream;
  std::string_view type;
  std::string_view content_type;
  std::string_view data;
  std::string_view metadata;

  RecordedEvent Materialize(Position position) const;
};

// Appends one framed event record to `out`. `position` must equal the logical position at
// which the record's first byte will land; `write_start` the position where this write begins.
// Returns the record's length in bytes.
size_t AppendEventRecord(std::string* out, const EventView& event, uint64_t position,
                         uint64_t write_start, uint8_t flags);
// Appends a segment-end record.
size_t AppendSegmentEndRecord(std::string* out, uint64_t position, uint64_t write_start);

// Length of an event record for these fields, before encoding it.
size_t EventRecordBytes(std::string_view stream, std::string_view type,
                        std::string_view content_type, size_t data_bytes, size_t metadata_bytes);

struct RecordHeader {
  uint32_t header_crc = 0;
  uint32_t body_crc = 0;
  uint32_t body_length = 0;
  RecordType type = RecordType::kEvent;
  uint8_t flags = 0;
  uint64_t position = 0;
  uint64_t write_start = 0;
  size_t RecordBytes() const { return RecordBytesForBody(body_length); }
  bool CommitEnd() const { return (flags & kFlagCommitEnd) != 0; }
};

enum class HeaderCheck : uint8_t {
  kOk,
  kAllZero,        // never written: the clean end of the log
  kBadChecksum,    // torn or damaged
  kBadFields,      // checksum fine but contents impossible (unknown type, flags, reserved bits)
  kWrongPosition,  // a valid record, but not for this place (e.g. stale bytes)
};

// Checks and decodes a 32-byte header that should sit at `expected_position`.
HeaderCheck DecodeHeader(const char* bytes, uint64_t expected_position, RecordHeader* header);

// Verifies the body checksum and, for an event record, decodes its fields. `record` points at
// the record's first header byte and holds header.RecordBytes() bytes.
bool DecodeEventRecord(const RecordHeader& header, const char* record, EventView* event);
// Checks the padding (all zero) and the trailer of a record against its header.
bool TrailerMatches(const RecordHeader& header, const char* record);

std::string_view HeaderCheckName(HeaderCheck check);

}  // namespace annals::log
