#include "engine/index/index_format.h"

#include "core/binary.h"

namespace annals::index {
namespace {

constexpr uint32_t kStreamRecordVersion = 1;

// Presence bits of the optional fields of a StreamRecord (constants, not an enum: mixed with
// 0 in conditionals).
constexpr uint32_t kHasEvents = 1u << 0;
constexpr uint32_t kTombstoned = 1u << 1;
constexpr uint32_t kHasMetadata = 1u << 2;
constexpr uint32_t kHasMaxAge = 1u << 3;
constexpr uint32_t kHasMaxCount = 1u << 4;
constexpr uint32_t kHasTruncateBefore = 1u << 5;
constexpr uint32_t kHasCacheControl = 1u << 6;

void PutString(std::string* out, std::string_view s) {
  PutFixed32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

// A cursor over a value being decoded; every read is bounds-checked.
struct Reader {
  std::string_view in;
  bool ok = true;
  uint64_t U64() {
    if (in.size() < 8) return ok = false, 0;
    uint64_t v = DecodeFixed64(in.data());
    in.remove_prefix(8);
    return v;
  }
  uint32_t U32() {
    if (in.size() < 4) return ok = false, 0;
    uint32_t v = DecodeFixed32(in.data());
    in.remove_prefix(4);
    return v;
  }
  std::string String() {
    uint32_t n = U32();
    if (!ok || in.size() < n) return ok = false, std::string();
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

}  // namespace

std::string StreamKey(std::string_view name) {
  std::string k(1, kStreamPrefix);
  k.append(name);
  return k;
}

std::string RevisionPrefix(uint64_t stream_id) {
  std::string k(1, kRevisionPrefix);
  PutBigEndian64(&k, stream_id);
  return k;
}

std::string RevisionKey(uint64_t stream_id, uint64_t revision) {
  std::string k = RevisionPrefix(stream_id);
  PutBigEndian64(&k, revision);
  return k;
}

std::string PostingPrefix(char prefix, std::string_view name) {
  std::string k(1, prefix);
  k.append(name);
  k.push_back('\0');
  return k;
}

std::string PostingKey(char prefix, std::string_view name, uint64_t position) {
  std::string k = PostingPrefix(prefix, name);
  PutBigEndian64(&k, position);
  return k;
}

uint64_t PostingPosition(std::string_view key) {
  return DecodeBigEndian64(key.data() + key.size() - 8);
}

namespace {

void PutVarint64(std::string* dst, uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}

bool GetVarint64(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

}  // namespace

std::string EncodePostings(const uint64_t* positions, size_t n) {
  std::string out;
  out.reserve(n * 2 + 8);
  uint64_t previous = 0;
  for (size_t i = 0; i < n; ++i) {
    PutVarint64(&out, positions[i] - previous);
    previous = positions[i];
  }
  return out;
}

bool DecodePostings(std::string_view key, std::string_view value, std::vector<uint64_t>* out) {
  out->clear();
  uint64_t position = 0;
  while (!value.empty()) {
    uint64_t delta = 0;
    if (!GetVarint64(&value, &delta)) return false;
    // Not ascending, or past the largest position.
    if ((!out->empty() && delta == 0) || position + delta < position) return false;
    position += delta;
    out->push_back(position);
  }
  return !out->empty() && key.size() >= 8 && out->back() == PostingPosition(key);
}

std::string EventIdKey(const Uuid& id) {
  std::string k(1, kEventIdPrefix);
  k.append(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
  return k;
}

std::string EncodeStreamRecord(const StreamRecord& r) {
  const StreamMetadata& m = r.metadata;
  uint32_t bits = (r.has_events ? kHasEvents : 0) | (r.tombstoned ? kTombstoned : 0) |
                  (r.has_metadata ? kHasMetadata : 0) | (m.max_age_seconds ? kHasMaxAge : 0) |
                  (m.max_count ? kHasMaxCount : 0) | (m.truncate_before ? kHasTruncateBefore : 0) |
                  (m.cache_control_seconds ? kHasCacheControl : 0);
  std::string out;
  out.reserve(96 + m.acl_json.size() + m.custom_json.size());
  PutFixed32(&out, kStreamRecordVersion);
  PutFixed32(&out, bits);
  PutFixed64(&out, r.id);
  PutFixed64(&out, r.last_revision);
  PutFixed64(&out, r.event_count);
  PutFixed64(&out, r.last_position);
  PutFixed64(&out, static_cast<uint64_t>(r.created_ticks));
  PutFixed64(&out, static_cast<uint64_t>(r.updated_ticks));
  PutFixed64(&out, r.metadata_revision);
  PutFixed64(&out, m.max_age_seconds.value_or(0));
  PutFixed64(&out, m.max_count.value_or(0));
  PutFixed64(&out, m.truncate_before.value_or(Revision{}).value);
  PutFixed64(&out, m.cache_control_seconds.value_or(0));
  PutString(&out, m.acl_json);
  PutString(&out, m.custom_json);
  return out;
}

bool DecodeStreamRecord(std::string_view bytes, StreamRecord* r) {
  Reader in{bytes};
  if (in.U32() != kStreamRecordVersion) return false;
  const uint32_t bits = in.U32();
  r->id = in.U64();
  r->last_revision = in.U64();
  r->event_count = in.U64();
  r->last_position = in.U64();
  r->created_ticks = static_cast<int64_t>(in.U64());
  r->updated_ticks = static_cast<int64_t>(in.U64());
  r->metadata_revision = in.U64();
  const uint64_t max_age = in.U64();
  const uint64_t max_count = in.U64();
  const uint64_t truncate_before = in.U64();
  const uint64_t cache_control = in.U64();
  StreamMetadata& m = r->metadata;
  m.acl_json = in.String();
  m.custom_json = in.String();
  r->has_events = bits & kHasEvents;
  r->tombstoned = bits & kTombstoned;
  r->has_metadata = bits & kHasMetadata;
  m.max_age_seconds = (bits & kHasMaxAge) ? std::optional(max_age) : std::nullopt;
  m.max_count = (bits & kHasMaxCount) ? std::optional(max_count) : std::nullopt;
  m.truncate_before =
      (bits & kHasTruncateBefore) ? std::optional(Revision{truncate_before}) : std::nullopt;
  m.cache_control_seconds = (bits & kHasCacheControl) ? std::optional(cache_control) : std::nullopt;
  return in.ok && in.in.empty();
}

std::string EncodeEventIdEntry(const EventIdEntry& e) {
  std::string out;
  PutFixed64(&out, e.stream_id);
  PutFixed64(&out, e.revision);
  PutFixed64(&out, e.position);
  return out;
}

bool DecodeEventIdEntry(std::string_view bytes, EventIdEntry* e) {
  if (bytes.size() != 24) return false;
  e->stream_id = DecodeFixed64(bytes.data());
  e->revision = DecodeFixed64(bytes.data() + 8);
  e->position = DecodeFixed64(bytes.data() + 16);
  return true;
}

}  // namespace annals::index
