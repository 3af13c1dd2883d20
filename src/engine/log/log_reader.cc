#include "engine/log/log_reader.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/binary.h"

namespace annals::log {
namespace {

// A single read is usually enough for a whole event record.
constexpr size_t kFirstReadBytes = 4096;
constexpr size_t kMinChunkBytes = 64 << 10;
constexpr size_t kMaxChunkBytes = 1 << 20;

Status BadRecord(bool caller_supplied, uint64_t position, std::string_view why) {
  if (caller_supplied) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("position {} is not the start of an event ({})", position, why));
  }
  return Status(StatusCode::kCorruption,
                fmt::format("damaged log record at position {}: {}", position, why));
}

}  // namespace

Status ReadEventAt(const SegmentSet& segments, uint64_t position, std::string* buffer,
                   LogEvent* out) {
  const uint64_t offset = segments.OffsetOf(position);
  if (offset < kSegmentHeaderBytes) return BadRecord(false, position, "inside a segment header");
  const uint64_t room = segments.segment_bytes() - offset;
  // Mapped segments are decoded in place; otherwise one read usually holds the whole record.
  const char* record = segments.ViewAt(position, kRecordHeaderBytes);
  const bool copied = record == nullptr;
  size_t n = kRecordHeaderBytes;
  if (copied) {
    n = static_cast<size_t>(std::min<uint64_t>(kFirstReadBytes, room));
    buffer->resize(n);
    ANNALS_RETURN_IF_ERROR(segments.ReadAt(position, n, buffer->data()));
    record = buffer->data();
  }
  RecordHeader h;
  HeaderCheck check = DecodeHeader(record, position, &h);
  if (check != HeaderCheck::kOk) return BadRecord(false, position, HeaderCheckName(check));
  if (h.type != RecordType::kEvent) return BadRecord(false, position, "not an event record");
  if (h.RecordBytes() > room) return BadRecord(false, position, "runs past its segment");
  if (copied && h.RecordBytes() > n) {
    buffer->resize(h.RecordBytes());
    ANNALS_RETURN_IF_ERROR(segments.ReadAt(position + n, h.RecordBytes() - n, buffer->data() + n));
    record = buffer->data();
  }
  if (!DecodeEventRecord(h, record, &out->event)) {
    return BadRecord(false, position, "body checksum or trailer mismatch");
  }
  out->header = h;
  out->position = position;
  out->next_position = position + h.RecordBytes();
  return Status::Ok();
}

ForwardScanner::ForwardScanner(const SegmentSet& segments, uint64_t from, uint64_t limit)
    : segments_(segments), position_(from), limit_(limit) {
  if (position_ < segments_.FirstRecordOf(segments_.FirstId())) {
    position_ = segments_.FirstRecordOf(segments_.FirstId());
  }
}

Status ForwardScanner::Fill(uint64_t position, size_t want) {
  if (window_ != nullptr && position >= window_start_ &&
      position + want <= window_start_ + window_size_) {
    return Status::Ok();
  }
  const uint64_t segment_room = segments_.segment_bytes() - segments_.OffsetOf(position);
  if (want > segment_room) return BadRecord(first_, position, "runs past its segment");
  const uint64_t segment = segments_.SegmentOf(position);
  if (segment_ == nullptr || segment_->id() != segment) segment_ = segments_.Get(segment);
  if (segment_ != nullptr && segment_->mapped() != nullptr) {
    // The whole mapped segment is the window: nothing to copy.
    window_ = segment_->mapped();
    window_start_ = segments_.BaseOf(segment);
    window_size_ = segment_->size();
    return Status::Ok();
  }
  // Grow the chunk as a scan goes on: a short read stays cheap, a long one makes few syscalls.
  const size_t chunk = buffer_.empty()
                           ? kMinChunkBytes
                           : std::min(kMaxChunkBytes, std::max(buffer_.size() * 2, kMinChunkBytes));
  uint64_t n = std::max<uint64_t>(want, std::min<uint64_t>(chunk, limit_ - position));
  n = std::min(n, segment_room);
  buffer_.resize(static_cast<size_t>(n));
  ANNALS_RETURN_IF_ERROR(segments_.ReadAt(position, buffer_.size(), buffer_.data()));
  window_ = buffer_.data();
  window_start_ = position;
  window_size_ = buffer_.size();
  return Status::Ok();
}

Result<bool> ForwardScanner::Next(LogEvent* out) {
  while (position_ < limit_) {
    const uint64_t offset = segments_.OffsetOf(position_);
    if (offset < kSegmentHeaderBytes) {
      if (offset != 0) return BadRecord(first_, position_, "inside a segment header");
      position_ += kSegmentHeaderBytes;
      continue;
    }
    ANNALS_RETURN_IF_ERROR(Fill(position_, kRecordHeaderBytes));
    const char* at = window_ + (position_ - window_start_);
    RecordHeader h;
    HeaderCheck check = DecodeHeader(at, position_, &h);
    if (check != HeaderCheck::kOk) return BadRecord(first_, position_, HeaderCheckName(check));
    ANNALS_RETURN_IF_ERROR(Fill(position_, h.RecordBytes()));
    at = window_ + (position_ - window_start_);
    if (h.type == RecordType::kSegmentEnd) {
      if (!TrailerMatches(h, at)) return BadRecord(first_, position_, "trailer mismatch");
      position_ = segments_.FirstRecordOf(segments_.SegmentOf(position_) + 1);
      continue;
    }
    if (!DecodeEventRecord(h, at, &out->event)) {
      return BadRecord(first_, position_, "body checksum or trailer mismatch");
    }
    out->header = h;
    out->position = position_;
    out->next_position = position_ + h.RecordBytes();
    position_ = out->next_position;
    first_ = false;
    return true;
  }
  return false;
}

BackwardScanner::BackwardScanner(const SegmentSet& segments, uint64_t from)
    : segments_(segments), position_(from) {}

Result<bool> BackwardScanner::Next(LogEvent* out) {
  while (true) {
    const uint64_t segment = segments_.SegmentOf(position_);
    const uint64_t offset = segments_.OffsetOf(position_);
    if (offset <= kSegmentHeaderBytes) {
      if (offset != 0 && offset != kSegmentHeaderBytes) {
        return BadRecord(first_, position_, "inside a segment header");
      }
      if (segment <= segments_.FirstId()) return false;
      auto file = segments_.Get(segment);
      if (file == nullptr) return BadRecord(first_, position_, "no such segment");
      // Records before this segment end where the previous segment's end record begins.
      position_ = file->previous_end();
      continue;
    }
    char trailer[kRecordTrailerBytes];
    ANNALS_RETURN_IF_ERROR(
        segments_.ReadAt(position_ - kRecordTrailerBytes, kRecordTrailerBytes, trailer));
    const uint32_t length = DecodeFixed32(trailer);
    if (length < kRecordHeaderBytes + kRecordTrailerBytes || length % kRecordAlignment != 0 ||
        length > offset - kSegmentHeaderBytes) {
      return BadRecord(first_, position_, "no record ends here");
    }
    const uint64_t start = position_ - length;
    buffer_.resize(length);
    ANNALS_RETURN_IF_ERROR(segments_.ReadAt(start, length, buffer_.data()));
    RecordHeader h;
    HeaderCheck check = DecodeHeader(buffer_.data(), start, &h);
    if (check != HeaderCheck::kOk) return BadRecord(first_, start, HeaderCheckName(check));
    if (h.RecordBytes() != length || h.type != RecordType::kEvent ||
        !DecodeEventRecord(h, buffer_.data(), &out->event)) {
      return BadRecord(first_, start, "record does not match its trailer");
    }
    out->header = h;
    out->position = start;
    out->next_position = position_;
    position_ = start;
    first_ = false;
    return true;
  }
}

}  // namespace annals::log
