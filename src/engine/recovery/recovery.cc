#include "engine/recovery/recovery.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "engine/log/log_format.h"
#include "engine/log/log_reader.h"
#include "engine/log/record.h"

namespace annals::engine {
namespace {

using log::DecodeHeader;
using log::HeaderCheck;
using log::kRecordHeaderBytes;
using log::RecordHeader;

// Records replayed between two index writes: bounds the memory a long replay holds.
constexpr uint64_t kRecordsPerIndexWrite = 20000;
constexpr size_t kWindowBytes = 4 << 20;

// Reads the log through a sliding window, so a replay costs few system calls.
class Window {
 public:
  explicit Window(const log::SegmentSet& segments) : segments_(segments) {}
  // Points *out at n bytes at `position` (within one segment).
  Status Get(uint64_t position, size_t n, const char** out) {
    if (position < start_ || position + n > start_ + buf_.size()) {
      const uint64_t room = segments_.segment_bytes() - segments_.OffsetOf(position);
      const size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(n, kWindowBytes), room));
      buf_.resize(want);
      ANNALS_RETURN_IF_ERROR(segments_.ReadAt(position, want, buf_.data()));
      start_ = position;
    }
    *out = buf_.data() + (position - start_);
    return Status::Ok();
  }

 private:
  const log::SegmentSet& segments_;
  std::string buf_;
  uint64_t start_ = 0;
};

struct Damage {
  uint64_t position = 0;
  std::string reason;
};

// What lies in a segment after the point where valid records stop.
struct TailScan {
  uint64_t last_nonzero_end = 0;   // logical position just past the last non-zero byte
  bool later_write_found = false;  // a valid record from a write that began after the stop
  uint64_t later_write_position = 0;
};

// Looks at every 8-byte-aligned offset after `from` in its segment for a record header that
// validates there. A record whose write began after `from` proves that `from` was followed by
// a completed, synced write: the damage is not a torn tail.
Result<TailScan> ScanTail(const log::SegmentSet& segments, uint64_t from) {
  TailScan scan;
  scan.last_nonzero_end = from;
  const uint64_t segment = segments.SegmentOf(from);
  const uint64_t segment_end = segments.BaseOf(segment + 1);
  std::string buf;
  const size_t chunk = 1 << 20;
  for (uint64_t at = from; at < segment_end; at += chunk) {
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(chunk + kRecordHeaderBytes, segment_end - at));
    buf.resize(n);
    ANNALS_RETURN_IF_ERROR(segments.ReadAt(at, n, buf.data()));
    const size_t scan_to = std::min<size_t>(n, chunk);
    for (size_t i = 0; i < scan_to; i += log::kRecordAlignment) {
      uint64_t word;
      std::memcpy(&word, buf.data() + i, sizeof word);
      if (word == 0) continue;
      scan.last_nonzero_end = at + i + log::kRecordAlignment;
      if (i + kRecordHeaderBytes > n || at + i == from) continue;
      RecordHeader h;
      if (DecodeHeader(buf.data() + i, at + i, &h) == HeaderCheck::kOk && h.write_start > from &&
          !scan.later_write_found) {
        scan.later_write_found = true;
        scan.later_write_position = at + i;
      }
    }
  }
  return scan;
}

class Recoverer {
 public:
  Recoverer(log::SegmentSet& segments, index::Index& index, index::IndexApplier& applier,
            const RecoveryOptions& options)
      : segments_(segments),
        index_(index),
        applier_(applier),
        options_(options),
        window_(segments) {}

  Result<RecoveryResult> Run(uint64_t start);

 private:
  // Reads records from pos_ until the log stops; returns the damage, if the stop is one.
  Result<std::optional<Damage>> Replay();
  Status ApplyCommit();
  Status FlushIndex(uint64_t applied);
  Status CutAt(uint64_t cut, const std::optional<Damage>& damage);

  log::SegmentSet& segments_;
  index::Index& index_;
  index::IndexApplier& applier_;
  const RecoveryOptions& options_;
  Window window_;
  RecoveryResult result_;
  uint64_t pos_ = 0;
  uint64_t commit_start_ = 0;
  std::vector<std::pair<uint64_t, std::string>> commit_;  // records of the unfinished commit
  uint64_t last_end_record_ = 0;
};

Status Recoverer::FlushIndex(uint64_t applied) {
  index::IndexBatch batch;
  applier_.Finish(applied, &batch);
  return index_.Write(&batch);
}

Status Recoverer::ApplyCommit() {
  for (auto& [position, bytes] : commit_) {
    RecordHeader h;
    log::EventView event;
    // Both checks passed when the record was read; decoding again only rebuilds the views.
    if (DecodeHeader(bytes.data(), position, &h) != HeaderCheck::kOk ||
        !log::DecodeEventRecord(h, bytes.data(), &event)) {
      return Status(StatusCode::kInternal, "recovery: a verified record no longer decodes");
    }
    ANNALS_RETURN_IF_ERROR(applier_.Apply(event, position));
    ++result_.replayed_records;
  }
  commit_.clear();
  commit_start_ = pos_;
  if (applier_.records_in_batch() >= kRecordsPerIndexWrite) return FlushIndex(pos_);
  return Status::Ok();
}

Result<std::optional<Damage>> Recoverer::Replay() {
  auto damage = [&](uint64_t at, std::string why) {
    return std::optional<Damage>(Damage{at, std::move(why)});
  };
  while (true) {
    const uint64_t segment = segments_.SegmentOf(pos_);
    auto file = segments_.Get(segment);
    if (file == nullptr) {
      // The previous segment ended with an end record but its successor was never created
      // (a crash between the two): create it now.
      ANNALS_RETURN_IF_ERROR(segments_.Add(segment, last_end_record_));
      result_.report +=
          fmt::format("created segment {} after its predecessor's end record\n", segment);
      continue;
    }
    const uint64_t offset = segments_.OffsetOf(pos_);
    if (offset + log::kSegmentEndRecordBytes > file->size()) {
      return damage(pos_, "no room left for a record or an end record");
    }
    const char* at;
    ANNALS_RETURN_IF_ERROR(window_.Get(pos_, kRecordHeaderBytes, &at));
    RecordHeader h;
    const HeaderCheck check = DecodeHeader(at, pos_, &h);
    if (check == HeaderCheck::kAllZero) return std::optional<Damage>();
    if (check != HeaderCheck::kOk) return damage(pos_, std::string(log::HeaderCheckName(check)));
    if (h.RecordBytes() > file->size() - offset)
      return damage(pos_, "record runs past its segment");
    ANNALS_RETURN_IF_ERROR(window_.Get(pos_, h.RecordBytes(), &at));
    if (h.type == log::RecordType::kSegmentEnd) {
      if (!log::TrailerMatches(h, at)) return damage(pos_, "end record trailer mismatch");
      if (!commit_.empty()) return damage(pos_, "segment ends inside a commit");
      last_end_record_ = pos_;
      pos_ = segments_.FirstRecordOf(segment + 1);
      commit_start_ = pos_;
      continue;
    }
    log::EventView event;
    if (!log::DecodeEventRecord(h, at, &event)) {
      return damage(pos_, "body checksum, trailer or field lengths mismatch");
    }
    commit_.emplace_back(pos_, std::string(at, h.RecordBytes()));
    pos_ += h.RecordBytes();
    if (h.CommitEnd()) ANNALS_RETURN_IF_ERROR(ApplyCommit());
  }
}

Status Recoverer::CutAt(uint64_t cut, const std::optional<Damage>& damage) {
  const uint64_t segment = segments_.SegmentOf(cut);
  if (damage) ANNALS_RETURN_IF_ERROR(segments_.CopyToQuarantine(segment, options_.quarantine_dir));
  if (segments_.Get(segment + 1) != nullptr) {
    ANNALS_RETURN_IF_ERROR(segments_.QuarantineFrom(segment + 1, options_.quarantine_dir));
  }
  return segments_.Get(segment)->ZeroFrom(segments_.OffsetOf(cut));
}

Result<RecoveryResult> Recoverer::Run(uint64_t start) {
  if (segments_.Empty() && (start > 0 || options_.clean_end > 0) &&
      options_.policy == CorruptionPolicy::kFail) {
    // A log with no segment is a new store only when nothing says events were committed.
    return Status(StatusCode::kCorruption,
                  fmt::format("the log has no segment, but the index records events up to "
                              "position {} (the last clean shutdown: {}); the segments were "
                              "removed or lost. Nothing was changed. The truncate policy "
                              "(--corruption-policy=truncate) would start an empty log",
                              start, options_.clean_end));
  }
  if (segments_.Empty()) {
    ANNALS_RETURN_IF_ERROR(segments_.Add(0, 0));
    result_.end = segments_.FirstRecordOf(0);
    ANNALS_RETURN_IF_ERROR(FlushIndex(result_.end));
    return result_;
  }
  const uint64_t first = segments_.FirstRecordOf(segments_.FirstId());
  pos_ = std::max(start, first);
  const uint64_t start_segment = segments_.SegmentOf(pos_);
  if (start_segment > segments_.Last()->id() + 1) {
    return Status(StatusCode::kNotFound, "index covers segments the log does not have");
  }
  // The index must end exactly where a valid record ends; otherwise it is ahead of the log.
  if (pos_ > first && segments_.Get(start_segment) != nullptr) {
    log::BackwardScanner back(segments_, pos_);
    log::LogEvent previous;
    auto found = back.Next(&previous);
    if (!found.ok() || !*found) {
      return Status(StatusCode::kNotFound, "index position is not the end of a log record");
    }
    last_end_record_ = segments_.Get(start_segment)->previous_end();
  }
  commit_start_ = pos_;

  auto damage = Replay();
  if (!damage.ok()) return damage.status();
  const uint64_t cut = commit_start_;  // an unfinished commit is dropped whole
  const uint64_t stop_segment = segments_.SegmentOf(pos_);
  const bool last_segment = stop_segment == segments_.Last()->id();
  const bool clean = !damage->has_value() && commit_.empty() && pos_ == options_.clean_end;

  if (!clean) {
    std::optional<Damage> mid_log;
    if (!last_segment) {
      mid_log = damage->value_or(Damage{pos_, "a sealed segment stops without an end record"});
    } else if (pos_ < options_.clean_end) {
      // The last clean shutdown saw the log reach further: these bytes were committed.
      mid_log = damage->value_or(Damage{pos_, "never-written bytes"});
      mid_log->reason += fmt::format("; the last clean shutdown recorded the log ending at {}",
                                     options_.clean_end);
    } else {
      auto tail = ScanTail(segments_, pos_);
      if (!tail.ok()) return tail.status();
      if (tail->later_write_found) {
        mid_log = damage->value_or(Damage{pos_, "never-written bytes before later records"});
        mid_log->reason += fmt::format("; a later write's record is intact at position {}",
                                       tail->later_write_position);
      }
      result_.truncated_bytes = tail->last_nonzero_end > cut ? tail->last_nonzero_end - cut : 0;
    }
    if (mid_log && options_.durability == Durability::kUnsafeNoSync) {
      // Without fsync a machine crash may keep later pages and lose earlier ones: expected.
      result_.report += fmt::format(
          "unsynced mode: damage at position {} ({}) treated as the "
          "torn end of the log\n",
          mid_log->position, mid_log->reason);
      mid_log.reset();
    }
    if (mid_log) {
      const std::string where =
          fmt::format("segment {} offset {} (position {})", segments_.SegmentOf(mid_log->position),
                      segments_.OffsetOf(mid_log->position), mid_log->position);
      if (options_.policy == CorruptionPolicy::kFail) {
        return Status(StatusCode::kCorruption,
                      fmt::format("damaged log record before the end of the log at {}: {}. "
                                  "Nothing was changed. Events after it would be lost by the "
                                  "truncate policy (--corruption-policy=truncate), which keeps a "
                                  "copy of the damaged segments in {}",
                                  where, mid_log->reason, options_.quarantine_dir));
      }
      result_.report += fmt::format(
          "damaged record at {}: {}; log cut at position {}, "
          "damaged segments copied to {}\n",
          where, mid_log->reason, cut, options_.quarantine_dir);
      ANNALS_RETURN_IF_ERROR(CutAt(cut, mid_log));
    } else if (result_.truncated_bytes > 0 || damage->has_value() || !commit_.empty()) {
      result_.report += fmt::format(
          "torn tail: cut at position {} ({} bytes of an unfinished "
          "write removed)\n",
          cut, result_.truncated_bytes);
      ANNALS_RETURN_IF_ERROR(CutAt(cut, std::nullopt));
    }
  }
  commit_.clear();
  ANNALS_RETURN_IF_ERROR(FlushIndex(cut));
  result_.end = cut;
  return result_;
}

}  // namespace

Result<RecoveryResult> RecoverLog(log::SegmentSet& segments, index::Index& index,
                                  index::IndexApplier& applier, uint64_t start,
                                  const RecoveryOptions& options) {
  Recoverer recoverer(segments, index, applier, options);
  return recoverer.Run(start);
}

}  // namespace annals::engine
