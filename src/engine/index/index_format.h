// Keys and values of the RocksDB index. The specification is docs/index-format.md; change both
// together. The index is derived from the log: everything here can be rebuilt by replaying it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/types.h"

namespace annals::index {

// 2: event ids in their own column family ("ids"); the version is stored under `mformat`.
// 3: postings grouped per index batch, under the last position of the group.
inline constexpr uint32_t kIndexFormatVersion = 3;

// One-byte key prefixes: each kind of entry sorts in its own range.
inline constexpr char kStreamPrefix = 's';    // s <name>                    -> StreamRecord
inline constexpr char kRevisionPrefix = 'r';  // r <id:be64> <revision:be64> -> position:le64
inline constexpr char kCategoryPrefix = 'c';  // c <category> 0x00 <pos:be64> -> postings
inline constexpr char kTypePrefix = 't';      // t <type> 0x00 <pos:be64>     -> postings
inline constexpr char kEventIdPrefix = 'i';   // i <uuid:16>  -> id:le64 revision:le64 pos:le64
inline constexpr char kMetaPrefix = 'm';      // m <name>     -> value

inline constexpr std::string_view kAppliedKey = "mapplied";  // log position the index covers
inline constexpr std::string_view kNextStreamIdKey = "mnext_stream_id";
inline constexpr std::string_view kFormatKey = "mformat";
// Where the log ended at the last clean shutdown (0: the last stop was not clean).
inline constexpr std::string_view kCleanEndKey = "mclean_end";

std::string StreamKey(std::string_view name);
std::string RevisionKey(uint64_t stream_id, uint64_t revision);
std::string RevisionPrefix(uint64_t stream_id);
// Postings: `name` is a category or an event type; neither may contain a NUL byte. One key holds
// the ascending positions of one name from one index batch (at most kMaxPostingsPerKey) and is
// keyed by the last of them, so a forwards read seeks straight to the first key that can hold
// positions at or after its start.
inline constexpr size_t kMaxPostingsPerKey = 256;
std::string PostingKey(char prefix, std::string_view name, uint64_t position);
std::string PostingPrefix(char prefix, std::string_view name);
uint64_t PostingPosition(std::string_view key);  // the last position of the key's postings
// `n` ascending positions: the first as a varint, then the differences as varints.
std::string EncodePostings(const uint64_t* positions, size_t n);
// False when the value is damaged: not ascending, or not ending at the key's position.
bool DecodePostings(std::string_view key, std::string_view value, std::vector<uint64_t>* out);
std::string EventIdKey(const Uuid& id);

// Everything the store knows about one stream, kept under its name.
struct StreamRecord {
  uint64_t id = 0;  // 0: not assigned yet (a stream seen only through its metadata)
  bool has_events = false;
  uint64_t last_revision = 0;
  uint64_t event_count = 0;
  uint64_t last_position = 0;
  int64_t created_ticks = 0;
  int64_t updated_ticks = 0;
  bool tombstoned = false;
  // From the latest `$metadata` event of `$$<name>`.
  bool has_metadata = false;
  uint64_t metadata_revision = 0;
  StreamMetadata metadata;

  std::optional<Revision> LastRevision() const {
    return has_events ? std::optional<Revision>(Revision{last_revision}) : std::nullopt;
  }
  // KurrentDB's rule: a stream with events whose `$tb` is the soft-delete marker.
  bool SoftDeleted() const {
    return has_events && metadata.truncate_before &&
           metadata.truncate_before->value == kSoftDeletedTruncateBefore;
  }
};

std::string EncodeStreamRecord(const StreamRecord& record);
bool DecodeStreamRecord(std::string_view bytes, StreamRecord* record);

struct EventIdEntry {
  uint64_t stream_id = 0;
  uint64_t revision = 0;
  uint64_t position = 0;
};
std::string EncodeEventIdEntry(const EventIdEntry& entry);
bool DecodeEventIdEntry(std::string_view bytes, EventIdEntry* entry);

}  // namespace annals::index
