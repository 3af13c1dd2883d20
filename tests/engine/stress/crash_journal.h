// What the crash loop's stress process (engine_crash_stress.cc) and its driver
// (engine_crash_test.cc) share: the workload's streams and events, and the journal of
// acknowledged appends.
//
// Every event is a pure function of (id, type, size, its append's tag, its index k in the
// append, the append's size n), so the journal stores only those and a hash, and a retry can
// rebuild the exact same request. Each event's metadata names its append (`tag`, `i`, `n`):
// a reader of the log can tell which events were committed together and check that no append
// is visible in part, including appends that were in flight when the process died.
//
// The journal is a text file, one acknowledged append per line, each line ending with a
// checksum of itself. The stress process writes a line and fdatasyncs the file only after the
// engine acknowledged the append, so the journal is a lower bound of what was acknowledged. A
// kill can tear the last line: readers stop at the first line that does not check.
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "annals/engine.h"

namespace annals::stress {

inline constexpr int kStreams = 50;
inline constexpr int kEventTypes = 6;

// Engine options of every round: small segments so that rolls are frequent.
inline EngineOptions CrashEngineOptions(const std::string& data_dir) {
  EngineOptions o;
  o.data_dir = data_dir;
  o.segment_bytes = 1 << 20;
  o.limits.max_event_bytes = 64 << 10;
  o.limits.max_append_bytes = 256 << 10;
  o.index_cache_bytes = 8 << 20;
  o.stream_cache_entries = 16;  // smaller than the stream count: the LRU evicts
  return o;
}

inline std::string StreamName(int i) {
  static const char* const kCategories[] = {"order", "cart", "user-profile"};
  return std::string(kCategories[i % 3]) + "-" + std::to_string(i);
}

inline std::string EventTypeName(int i) {
  static const char* const kTypes[kEventTypes] = {"OrderPlaced", "ItemAdded", "ItemRemoved",
                                                  "Paid",        "Shipped",   "Note"};
  return kTypes[i % kEventTypes];
}

inline uint64_t Fnv1a64(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

inline uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline std::string_view IdBytes(const Uuid& id) {
  return std::string_view(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

// The hash the journal keeps of an event's payload.
inline uint64_t PayloadHash(std::string_view content_type, std::string_view data,
                            std::string_view metadata) {
  uint64_t h = Fnv1a64(content_type);
  h = Fnv1a64(std::string_view("\0", 1), h);
  h = Fnv1a64(data, h);
  h = Fnv1a64(std::string_view("\0", 1), h);
  return Fnv1a64(metadata, h);
}

// The event the workload proposes. Data is JSON or raw bytes (chosen by the id), `size` bytes.
inline ProposedEvent MakeEvent(const Uuid& id, int type, uint32_t size, const Uuid& tag, int k,
                               int n) {
  ProposedEvent e;
  e.id = id;
  e.type = EventTypeName(type);
  uint64_t state = Fnv1a64(IdBytes(id));
  if (id.bytes[15] & 1) {
    e.content_type = std::string(kContentTypeJson);
    static const char kHex[] = "0123456789abcdef";
    std::string filler;
    const uint32_t body = size > 8 ? size - 8 : 0;
    filler.reserve(body);
    for (uint32_t i = 0; i < body; ++i) filler.push_back(kHex[SplitMix64(&state) & 15]);
    e.data = "{\"p\":\"" + filler + "\"}";
  } else {
    e.content_type = std::string(kContentTypeOctetStream);
    e.data.resize(size);
    for (uint32_t i = 0; i < size; ++i) e.data[i] = static_cast<char>(SplitMix64(&state));
  }
  e.metadata = "{\"tag\":\"" + tag.ToString() + "\",\"i\":" + std::to_string(k) +
               ",\"n\":" + std::to_string(n) + "}";
  return e;
}

// The append an event belongs to, read back from its metadata.
struct EventTag {
  Uuid tag;
  int i = 0;
  int n = 0;
};
inline std::optional<EventTag> ParseEventTag(std::string_view metadata) {
  char uuid[37] = {};
  int i = -1, n = -1;
  const std::string text(metadata);
  if (std::sscanf(text.c_str(), "{\"tag\":\"%36[0-9a-f-]\",\"i\":%d,\"n\":%d}", uuid, &i, &n) !=
      3) {
    return std::nullopt;
  }
  auto parsed = Uuid::Parse(uuid);
  if (!parsed || i < 0 || n < 1 || i >= n) return std::nullopt;
  return EventTag{*parsed, i, n};
}

struct JournalEvent {
  Uuid id;
  int type = 0;
  uint32_t size = 0;
  uint64_t hash = 0;  // PayloadHash of the proposed event
};

// One acknowledged append.
struct JournalAppend {
  int round = 0;
  std::string stream;
  uint64_t first = 0, last = 0, position = 0;
  std::vector<JournalEvent> events;  // events[0].id is the append's tag

  AppendRequest Request(ExpectedRevision expected = ExpectedRevision::Any()) const {
    AppendRequest r;
    r.stream = stream;
    r.expected = expected;
    const int n = static_cast<int>(events.size());
    for (int k = 0; k < n; ++k) {
      r.events.push_back(
          MakeEvent(events[k].id, events[k].type, events[k].size, events[0].id, k, n));
    }
    return r;
  }
};

inline std::string EncodeJournalLine(const JournalAppend& a) {
  std::string line = "A " + std::to_string(a.round) + " " + a.stream + " " +
                     std::to_string(a.first) + " " + std::to_string(a.last) + " " +
                     std::to_string(a.position) + " " + std::to_string(a.events.size());
  char buf[96];
  for (const JournalEvent& e : a.events) {
    std::snprintf(buf, sizeof buf, " %s:%d:%u:%016" PRIx64, e.id.ToString().c_str(), e.type, e.size,
                  e.hash);
    line += buf;
  }
  std::snprintf(buf, sizeof buf, " #%016" PRIx64 "\n", Fnv1a64(line));
  return line + buf;
}

// Parses one line without its '\n'; false when it is torn or damaged.
inline bool ParseJournalLine(std::string_view line, JournalAppend* out) {
  const size_t hash_at = line.rfind(" #");
  if (hash_at == std::string_view::npos || line.size() != hash_at + 2 + 16) return false;
  char expected[17];
  std::snprintf(expected, sizeof expected, "%016" PRIx64, Fnv1a64(line.substr(0, hash_at)));
  if (line.substr(hash_at + 2) != expected) return false;
  std::istringstream in{std::string(line.substr(0, hash_at))};
  std::string kind;
  size_t n = 0;
  JournalAppend a;
  if (!(in >> kind >> a.round >> a.stream >> a.first >> a.last >> a.position >> n) || kind != "A" ||
      n == 0) {
    return false;
  }
  for (size_t k = 0; k < n; ++k) {
    std::string field;
    if (!(in >> field) || field.size() < 36 + 1) return false;
    auto id = Uuid::Parse(field.substr(0, 36));
    JournalEvent e;
    unsigned size = 0;
    if (!id || std::sscanf(field.c_str() + 36, ":%d:%u:%" SCNx64, &e.type, &size, &e.hash) != 3) {
      return false;
    }
    e.id = *id;
    e.size = size;
    a.events.push_back(e);
  }
  *out = std::move(a);
  return true;
}

// Reads the journal's valid prefix; `valid_bytes` is its length (a torn tail follows it).
inline std::vector<JournalAppend> ReadJournal(const std::string& path, uint64_t* valid_bytes) {
  std::vector<JournalAppend> appends;
  *valid_bytes = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) return appends;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t at = 0;
  while (at < text.size()) {
    const size_t eol = text.find('\n', at);
    if (eol == std::string::npos) break;
    JournalAppend a;
    if (!ParseJournalLine(std::string_view(text).substr(at, eol - at), &a)) break;
    appends.push_back(std::move(a));
    at = eol + 1;
  }
  *valid_bytes = at;
  return appends;
}

}  // namespace annals::stress
