// Constants of the on-disk log format. The specification, its version history and the
// crash-window table are in docs/log-format.md; change both together.
#pragma once

#include <cstddef>
#include <cstdint>

namespace annals::log {

inline constexpr uint32_t kFormatVersion = 1;

// ---- Segment file header: the first kSegmentHeaderBytes of every segment file. ----
inline constexpr char kSegmentMagic[8] = {'A', 'N', 'N', 'A', 'L', 'S', 'L', 'G'};
inline constexpr size_t kSegmentHeaderBytes = 8     // magic
                                              + 4   // format version
                                              + 4   // reserved, zero
                                              + 8   // segment id
                                              + 8   // segment size in bytes
                                              + 8   // logical position of the segment's byte 0
                                              + 8   // position of the previous segment's end
                                                    // record (0 for the first segment): how
                                                    // backward reads cross into it
                                              + 12  // reserved, zero
                                              + 4;  // crc32c of the 60 bytes before it
static_assert(kSegmentHeaderBytes == 64);

// ---- Record framing: header, body, zero padding to 8 bytes, trailer. ----
inline constexpr size_t kRecordHeaderBytes = 4     // header crc32c (of the 28 bytes after it)
                                             + 4   // body crc32c
                                             + 4   // body length
                                             + 1   // record type
                                             + 1   // flags
                                             + 2   // reserved, zero
                                             + 8   // logical position of this record
                                             + 8;  // logical position where its write began
static_assert(kRecordHeaderBytes == 32);

inline constexpr size_t kRecordTrailerBytes = 4     // total record length
                                              + 4;  // copy of the header crc
static_assert(kRecordTrailerBytes == 8);

inline constexpr size_t kRecordAlignment = 8;

// Byte offsets inside the record header.
inline constexpr size_t kHeaderCrcOffset = 0;
inline constexpr size_t kBodyCrcOffset = 4;
inline constexpr size_t kBodyLengthOffset = 8;
inline constexpr size_t kTypeOffset = 12;
inline constexpr size_t kFlagsOffset = 13;
inline constexpr size_t kPositionOffset = 16;
inline constexpr size_t kWriteStartOffset = 24;

enum class RecordType : uint8_t {
  kEvent = 1,       // one event of one stream
  kSegmentEnd = 2,  // no body: the log continues at the next segment's first record
};

// Set on the last record of one atomic commit (one append, metadata change or delete).
inline constexpr uint8_t kFlagCommitEnd = 0x01;
inline constexpr uint8_t kKnownFlags = kFlagCommitEnd;

// ---- Event record body. ----
inline constexpr size_t kEventBodyFixedBytes = 8     // stream revision
                                               + 8   // created, 100 ns ticks since Unix epoch
                                               + 16  // event id
                                               + 2   // stream name length
                                               + 2   // event type length
                                               + 2   // content type length
                                               + 2   // reserved, zero
                                               + 4   // data length
                                               + 4;  // metadata length
static_assert(kEventBodyFixedBytes == 48);

// A segment-end record is header + trailer; every segment keeps room for one.
inline constexpr size_t kSegmentEndRecordBytes = kRecordHeaderBytes + kRecordTrailerBytes;

inline constexpr size_t AlignUp(size_t n) {
  return (n + kRecordAlignment - 1) & ~(kRecordAlignment - 1);
}
inline constexpr size_t RecordBytesForBody(size_t body_bytes) {
  return kRecordHeaderBytes + AlignUp(body_bytes) + kRecordTrailerBytes;
}

// Smallest segment size accepted: room for a header, one maximal append and the end record.
inline constexpr uint64_t kMinSegmentBytes = 1 << 20;

}  // namespace annals::log
