// libFuzzer target: arbitrary bytes through the log record decoder (engine/log/record.h) and
// the forward and backward scanners (engine/log/log_reader.h) over a real segment file.
//
// Random bytes almost never carry valid CRC-32Cs, which would leave everything after the
// header checksum unexplored; so the first input byte can ask for the checksums (and record
// positions) to be fixed up first, as a writer would have computed them. Then the fuzzer
// steers lengths, types and fields past the checksums.
//
// Input: [mode byte][8-byte expected position][record bytes...]
//   mode bit 0: fix up checksums, positions and trailers of the records in the bytes
//   mode bit 1: also write the bytes into a segment file and run both scanners over them
//   mode bits 2..7: where the forward scan stops, in 1/64ths of the bytes (0: all)
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/binary.h"
#include "core/crc32c.h"
#include "engine/log/log_format.h"
#include "engine/log/log_reader.h"
#include "engine/log/record.h"
#include "engine/log/segments.h"

namespace annals::log {
namespace {

constexpr uint64_t kSegmentBytes = kMinSegmentBytes;

// Rewrites each record found by walking `buf` from its start as a writer would have framed
// it: position = `position` (advancing), write_start <= position, body CRC, header CRC and
// trailer. Lengths, types and flags stay as the fuzzer chose them.
void FixUp(std::vector<char>& buf, uint64_t position) {
  size_t at = 0;
  while (at + kRecordHeaderBytes <= buf.size()) {
    char* h = buf.data() + at;
    const uint32_t body_length = DecodeFixed32(h + kBodyLengthOffset);
    const size_t record = RecordBytesForBody(body_length);
    EncodeFixed64(h + kPositionOffset, position);
    if (DecodeFixed64(h + kWriteStartOffset) > position) EncodeFixed64(h + kWriteStartOffset, 0);
    if (record <= buf.size() - at) {
      EncodeFixed32(h + kBodyCrcOffset, crc32c::Value(h + kRecordHeaderBytes, body_length));
    }
    const uint32_t header_crc = crc32c::Value(h + 4, kRecordHeaderBytes - 4);
    EncodeFixed32(h + kHeaderCrcOffset, header_crc);
    if (record > buf.size() - at) break;
    char* trailer = h + record - kRecordTrailerBytes;
    EncodeFixed32(trailer, static_cast<uint32_t>(record));
    EncodeFixed32(trailer + 4, header_crc);
    at += record;
    position += record;
  }
}

// Decodes one record from exactly-sized heap bytes, so ASan sees any read past the end.
void DecodeOne(const std::vector<char>& buf, uint64_t expected_position) {
  if (buf.size() < kRecordHeaderBytes) return;
  RecordHeader header;
  const HeaderCheck check = DecodeHeader(buf.data(), expected_position, &header);
  (void)HeaderCheckName(check);
  if (check != HeaderCheck::kOk && check != HeaderCheck::kWrongPosition) return;
  if (header.RecordBytes() > buf.size()) return;  // the caller's duty: read the whole record
  (void)TrailerMatches(header, buf.data());
  EventView event;
  if (!DecodeEventRecord(header, buf.data(), &event)) return;
  // Every view must lie inside the record's body.
  const char* body = buf.data() + kRecordHeaderBytes;
  const char* body_end = body + header.body_length;
  for (std::string_view v :
       {event.stream, event.type, event.content_type, event.data, event.metadata}) {
    if (v.data() < body || v.data() + v.size() > body_end) std::abort();
  }
  RecordedEvent materialized = event.Materialize(Position{expected_position});
  if (materialized.data.size() != event.data.size()) std::abort();
}

// One segment file for the whole run: created once (it is fsync'ed), then overwritten.
struct Segment {
  std::string dir;
  std::unique_ptr<SegmentSet> set;
  size_t dirty = 0;  // bytes after the header written by the previous input

  Segment() {
    char templ[] = "/tmp/annals-record-fuzz-XXXXXX";
    dir = ::mkdtemp(templ);
    set = std::make_unique<SegmentSet>(dir, kSegmentBytes);
    if (!set->Add(0, 0).ok()) std::abort();
  }
  ~Segment() {
    set.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

void Scan(const std::vector<char>& bytes, uint8_t mode) {
  static Segment segment;  // destroyed at exit, removing its directory
  std::shared_ptr<SegmentFile> file = segment.set->Get(0);
  // Zero what the previous input left, then write this one after the segment header.
  const size_t room = kSegmentBytes - kSegmentHeaderBytes;
  const size_t n = std::min(bytes.size(), room);
  if (segment.dirty > n) {
    if (!file->Write(kSegmentHeaderBytes + n, std::string(segment.dirty - n, '\0')).ok()) {
      std::abort();
    }
  }
  if (!file->Write(kSegmentHeaderBytes, std::string_view(bytes.data(), n)).ok()) std::abort();
  segment.dirty = n;

  const uint64_t end = kSegmentHeaderBytes + n;
  const uint64_t stop_64ths = mode >> 2;
  const uint64_t limit =
      stop_64ths == 0 ? end : kSegmentHeaderBytes + n * stop_64ths / 64;  // may split a record
  ForwardScanner forward(*segment.set, 0, limit);
  LogEvent event;
  uint64_t last = 0;
  for (int i = 0; i < 10000; ++i) {
    Result<bool> more = forward.Next(&event);
    if (!more.ok() || !*more) break;
    if (event.position < last || event.next_position <= event.position) std::abort();
    last = event.position;
  }
  BackwardScanner backward(*segment.set, limit);
  for (int i = 0; i < 10000; ++i) {
    Result<bool> more = backward.Next(&event);
    if (!more.ok() || !*more) break;
    if (event.next_position <= event.position) std::abort();
  }
  std::string buffer;
  (void)ReadEventAt(*segment.set, kSegmentHeaderBytes, &buffer, &event);
}

}  // namespace
}  // namespace annals::log

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace annals::log;
  if (size < 9) return 0;
  const uint8_t mode = data[0];
  uint64_t expected_position = annals::DecodeFixed64(reinterpret_cast<const char*>(data + 1));
  std::vector<char> bytes(reinterpret_cast<const char*>(data + 9),
                          reinterpret_cast<const char*>(data + size));
  if (mode & 1) FixUp(bytes, expected_position);
  DecodeOne(bytes, expected_position);
  if (mode & 2) {
    // The scanners read records at their real positions, from the segment's first record.
    if (mode & 1) FixUp(bytes, kSegmentHeaderBytes);
    Scan(bytes, mode);
  }
  return 0;
}
