#include "engine/index/index_applier.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/binary.h"
#include "core/stream_metadata_codec.h"

namespace annals::index {
namespace {

std::string Fixed64(uint64_t v) {
  std::string s;
  PutFixed64(&s, v);
  return s;
}

}  // namespace

Status IndexApplier::Init() {
  auto next = index_->GetMeta(kNextStreamIdKey);
  if (!next.ok()) return next.status();
  next_stream_id_ = std::max<uint64_t>(1, *next);
  return Status::Ok();
}

void IndexApplier::Put(std::string key, std::string value) {
  puts_.emplace_back(std::move(key), std::move(value));
}

void IndexApplier::Touch(Entry& entry, const std::string& name) {
  lru_.splice(lru_.begin(), lru_, entry.lru);
}

Result<StreamRecord*> IndexApplier::Load(std::string_view name) {
  std::string key(name);
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    Touch(it->second, key);
    return &it->second.record;
  }
  auto stored = index_->GetStream(name);
  if (!stored.ok()) return stored.status();
  lru_.push_front(key);
  Entry& entry = cache_[key];
  entry.lru = lru_.begin();
  if (stored->has_value()) entry.record = std::move(**stored);
  return &entry.record;
}

Result<std::optional<EventIdEntry>> IndexApplier::FindEventId(const Uuid& id) {
  auto it = batch_ids_.find(id);
  if (it != batch_ids_.end()) return std::optional<EventIdEntry>(it->second);
  return index_->GetEventId(id);
}

Status IndexApplier::Apply(const log::EventView& e, uint64_t position) {
  auto loaded = Load(e.stream);
  if (!loaded.ok()) return loaded.status();
  StreamRecord& stream = **loaded;
  dirty_.insert(std::string(e.stream));
  if (stream.id == 0) stream.id = next_stream_id_++;

  postings_[PostingPrefix(kCategoryPrefix, CategoryOf(e.stream))].push_back(position);
  postings_[PostingPrefix(kTypePrefix, e.type)].push_back(position);
  batch_ids_[e.id] = EventIdEntry{stream.id, e.revision.value, position};
  ++records_in_batch_;

  if (e.type == kTombstoneEventType && e.revision.value == kTombstoneRevision) {
    stream.tombstoned = true;
    stream.last_position = position;
    if (!stream.has_events) stream.created_ticks = e.created.ticks;
    stream.updated_ticks = e.created.ticks;
    return Status::Ok();
  }

  Put(RevisionKey(stream.id, e.revision.value), Fixed64(position));
  if (!stream.has_events) stream.created_ticks = e.created.ticks;
  stream.has_events = true;
  stream.last_revision = e.revision.value;
  stream.event_count += 1;
  stream.last_position = position;
  stream.updated_ticks = e.created.ticks;

  // A `$metadata` event of `$$<s>` changes the limits and deletion state of `<s>`.
  if (e.type == kMetadataEventType && e.stream.size() > 2 && e.stream.substr(0, 2) == "$$") {
    auto metadata = ParseStreamMetadataJson(e.data);
    if (!metadata.ok()) {
      // The writer validated it before committing, so this is damage that passed checksums.
      return Status(StatusCode::kCorruption,
                    fmt::format("metadata event at position {} does not parse: {}", position,
                                metadata.status().message()));
    }
    auto target_loaded = Load(e.stream.substr(2));
    if (!target_loaded.ok()) return target_loaded.status();
    StreamRecord& target = **target_loaded;
    dirty_.insert(std::string(e.stream.substr(2)));
    if (target.id == 0) target.id = next_stream_id_++;
    target.has_metadata = true;
    target.metadata_revision = e.revision.value;
    target.metadata = std::move(metadata).value();
  }
  return Status::Ok();
}

// One key per name and kMaxPostingsPerKey positions: a group commit of 50 single-event appends
// to one category writes one category key instead of 50 (docs/performance.md).
void IndexApplier::PutPostings() {
  for (auto& [prefix, positions] : postings_) {
    for (size_t at = 0; at < positions.size(); at += kMaxPostingsPerKey) {
      const size_t n = std::min(kMaxPostingsPerKey, positions.size() - at);
      std::string key = prefix;
      PutBigEndian64(&key, positions[at + n - 1]);
      Put(std::move(key), EncodePostings(&positions[at], n));
    }
  }
  postings_.clear();
}

void IndexApplier::Finish(uint64_t applied, IndexBatch* out) {
  PutPostings();
  for (const std::string& name : dirty_) {
    Put(StreamKey(name), EncodeStreamRecord(cache_.at(name).record));
  }
  Put(std::string(kAppliedKey), Fixed64(applied));
  Put(std::string(kNextStreamIdKey), Fixed64(next_stream_id_));
  // In key order: each memtable insert then starts from where the previous one ended, instead
  // of searching the skip list from the top (the puts of one event span five key ranges).
  std::stable_sort(puts_.begin(), puts_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  out->puts.Clear();
  out->ids.clear();
  for (size_t i = 0; i < puts_.size(); ++i) {
    // Of several puts to one key (a stream touched twice), the last wins.
    if (i + 1 < puts_.size() && puts_[i + 1].first == puts_[i].first) continue;
    index_->Put(out, puts_[i].first, puts_[i].second);
  }
  for (const auto& [id, entry] : batch_ids_) index_->PutEventId(out, id, entry);
  puts_.clear();
  dirty_.clear();
  batch_ids_.clear();
  records_in_batch_ = 0;
  while (cache_.size() > capacity_ && !lru_.empty()) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
}

void IndexApplier::Abort() {
  // The cached records of dirty streams hold uncommitted changes: drop them.
  for (const std::string& name : dirty_) {
    auto it = cache_.find(name);
    if (it != cache_.end()) {
      lru_.erase(it->second.lru);
      cache_.erase(it);
    }
  }
  puts_.clear();
  postings_.clear();
  dirty_.clear();
  batch_ids_.clear();
  records_in_batch_ = 0;
}

}  // namespace annals::index
