#include "engine/log/record.h"

#include <cstring>

#include "core/binary.h"
#include "core/crc32c.h"

namespace annals::log {
namespace {

uint32_t HeaderCrc(const char* header) { return crc32c::Value(header + 4, kRecordHeaderBytes - 4); }

// Writes header + trailer around a body already appended at out[start + kRecordHeaderBytes..].
size_t FrameRecord(std::string* out, size_t start, RecordType type, uint8_t flags,
                   uint64_t position, uint64_t write_start) {
  const size_t body_length = out->size() - start - kRecordHeaderBytes;
  out->append(AlignUp(body_length) - body_length, '\0');
  char* h = out->data() + start;
  EncodeFixed32(h + kBodyCrcOffset, crc32c::Value(h + kRecordHeaderBytes, body_length));
  EncodeFixed32(h + kBodyLengthOffset, static_cast<uint32_t>(body_length));
  h[kTypeOffset] = static_cast<char>(type);
  h[kFlagsOffset] = static_cast<char>(flags);
  h[kFlagsOffset + 1] = 0;
  h[kFlagsOffset + 2] = 0;
  EncodeFixed64(h + kPositionOffset, position);
  EncodeFixed64(h + kWriteStartOffset, write_start);
  const uint32_t header_crc = HeaderCrc(h);
  EncodeFixed32(h + kHeaderCrcOffset, header_crc);
  const size_t total = RecordBytesForBody(body_length);
  PutFixed32(out, static_cast<uint32_t>(total));
  PutFixed32(out, header_crc);
  return total;
}

}  // namespace

RecordedEvent EventView::Materialize(Position position) const {
  RecordedEvent e;
  e.id = id;
  e.stream.assign(stream);
  e.type.assign(type);
  e.revision = revision;
  e.position = position;
  e.created = created;
  e.content_type.assign(content_type);
  e.data.assign(data);
  e.metadata.assign(metadata);
  return e;
}

size_t EventRecordBytes(std::string_view stream, std::string_view type,
                        std::string_view content_type, size_t data_bytes, size_t metadata_bytes) {
  return RecordBytesForBody(kEventBodyFixedBytes + stream.size() + type.size() +
                            content_type.size() + data_bytes + metadata_bytes);
}

size_t AppendEventRecord(std::string* out, const EventView& e, uint64_t position,
                         uint64_t write_start, uint8_t flags) {
  const size_t start = out->size();
  out->append(kRecordHeaderBytes, '\0');
  PutFixed64(out, e.revision.value);
  PutFixed64(out, static_cast<uint64_t>(e.created.ticks));
  out->append(reinterpret_cast<const char*>(e.id.bytes.data()), e.id.bytes.size());
  PutFixed16(out, static_cast<uint16_t>(e.stream.size()));
  PutFixed16(out, static_cast<uint16_t>(e.type.size()));
  PutFixed16(out, static_cast<uint16_t>(e.content_type.size()));
  PutFixed16(out, 0);
  PutFixed32(out, static_cast<uint32_t>(e.data.size()));
  PutFixed32(out, static_cast<uint32_t>(e.metadata.size()));
  out->append(e.stream);
  out->append(e.type);
  out->append(e.content_type);
  out->append(e.data);
  out->append(e.metadata);
  return FrameRecord(out, start, RecordType::kEvent, flags, position, write_start);
}

size_t AppendSegmentEndRecord(std::string* out, uint64_t position, uint64_t write_start) {
  const size_t start = out->size();
  out->append(kRecordHeaderBytes, '\0');
  return FrameRecord(out, start, RecordType::kSegmentEnd, 0, position, write_start);
}

HeaderCheck DecodeHeader(const char* h, uint64_t expected_position, RecordHeader* header) {
  static constexpr char kZeros[kRecordHeaderBytes] = {};
  if (std::memcmp(h, kZeros, kRecordHeaderBytes) == 0) return HeaderCheck::kAllZero;
  header->header_crc = DecodeFixed32(h + kHeaderCrcOffset);
  if (header->header_crc != HeaderCrc(h)) return HeaderCheck::kBadChecksum;
  header->body_crc = DecodeFixed32(h + kBodyCrcOffset);
  header->body_length = DecodeFixed32(h + kBodyLengthOffset);
  const uint8_t type = static_cast<uint8_t>(h[kTypeOffset]);
  header->flags = static_cast<uint8_t>(h[kFlagsOffset]);
  header->position = DecodeFixed64(h + kPositionOffset);
  header->write_start = DecodeFixed64(h + kWriteStartOffset);
  if (type != static_cast<uint8_t>(RecordType::kEvent) &&
      type != static_cast<uint8_t>(RecordType::kSegmentEnd)) {
    return HeaderCheck::kBadFields;
  }
  header->type = static_cast<RecordType>(type);
  if ((header->flags & ~kKnownFlags) != 0 || h[kFlagsOffset + 1] != 0 || h[kFlagsOffset + 2] != 0 ||
      header->write_start > header->position) {
    return HeaderCheck::kBadFields;
  }
  if (header->type == RecordType::kEvent && header->body_length < kEventBodyFixedBytes) {
    return HeaderCheck::kBadFields;
  }
  if (header->type == RecordType::kSegmentEnd && header->body_length != 0) {
    return HeaderCheck::kBadFields;
  }
  if (header->position != expected_position) return HeaderCheck::kWrongPosition;
  return HeaderCheck::kOk;
}

bool TrailerMatches(const RecordHeader& header, const char* record) {
  // Padding is not under a checksum, so it must be exactly zero: every byte is checked.
  const char* padding = record + kRecordHeaderBytes + header.body_length;
  for (size_t i = header.body_length; i < AlignUp(header.body_length); ++i) {
    if (*padding++ != 0) return false;
  }
  const char* t = record + header.RecordBytes() - kRecordTrailerBytes;
  return DecodeFixed32(t) == header.RecordBytes() && DecodeFixed32(t + 4) == header.header_crc;
}

bool DecodeEventRecord(const RecordHeader& header, const char* record, EventView* e) {
  const char* body = record + kRecordHeaderBytes;
  if (crc32c::Value(body, header.body_length) != header.body_crc) return false;
  if (!TrailerMatches(header, record)) return false;
  if (header.type != RecordType::kEvent) return false;
  e->revision = Revision{DecodeFixed64(body)};
  e->created = Timestamp{static_cast<int64_t>(DecodeFixed64(body + 8))};
  std::memcpy(e->id.bytes.data(), body + 16, 16);
  const size_t stream_len = DecodeFixed16(body + 32);
  const size_t type_len = DecodeFixed16(body + 34);
  const size_t content_type_len = DecodeFixed16(body + 36);
  const size_t data_len = DecodeFixed32(body + 40);
  const size_t metadata_len = DecodeFixed32(body + 44);
  // The body checksum passed, so a mismatch here is a writer bug, not a torn write; it is still
  // reported as damage rather than trusted.
  if (kEventBodyFixedBytes + stream_len + type_len + content_type_len + data_len + metadata_len !=
      header.body_length) {
    return false;
  }
  const char* p = body + kEventBodyFixedBytes;
  e->stream = {p, stream_len};
  p += stream_len;
  e->type = {p, type_len};
  p += type_len;
  e->content_type = {p, content_type_len};
  p += content_type_len;
  e->data = {p, data_len};
  p += data_len;
  e->metadata = {p, metadata_len};
  return true;
}

std::string_view HeaderCheckName(HeaderCheck check) {
  switch (check) {
    case HeaderCheck::kOk:
      return "ok";
    case HeaderCheck::kAllZero:
      return "never written";
    case HeaderCheck::kBadChecksum:
      return "header checksum mismatch";
    case HeaderCheck::kBadFields:
      return "impossible header fields";
    case HeaderCheck::kWrongPosition:
      return "record belongs to another position";
  }
  return "unknown";
}

}  // namespace annals::log
