// Differential test (redpanda src/v/storage/opfuzz/): seeded random operation sequences applied
// to the embedded engine and to the in-memory reference model (src/memory), comparing every
// answer: status codes and conflicts, revisions, event ids, types, payloads, streams and order,
// stream info, catalog pages, metadata, and the whole log after every write. The engine is closed
// and reopened at random points.
//
// Positions are opaque and differ between backends, so every position is compared by its rank
// in that backend's own log (the number of events before it): an event's rank is its index in
// `$all`, the head's rank is the event count, and a `next` checkpoint's rank says which events
// it has passed. Timestamps are compared by rule within each backend (an info's `created` is its
// first record's), never across backends.
//
// Reproduce a failure with the seed and sequence it prints:
//   ANNALS_SEED=<seed> ANNALS_DIFF_SEQUENCE=<k> [ANNALS_DIFF_VERBOSE=1] engine_differential_test
// ANNALS_DIFF_STRICT=1 also fails on the known divergences listed in KnownDivergence below;
// ANNALS_DIFF_STRICT=<name>[,<name>...] on those named (kDivergenceNames).
// The slow suite (ANNALS_SLOW_TESTS=1, CTest label `slow`) runs more and longer sequences.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "annals/engine.h"
#include "memory/memory_store.h"

namespace annals {
namespace {

// ---- the universe the operations draw from ------------------------------------------------

const std::vector<std::string> kStreams = {"a-1", "a-2", "a-10", "a", "b-1", "b-2", "c-1-x", "d"};
const std::vector<std::string> kTypes = {"Created", "Updated", "Updated-v2", "Removed", "x.y"};
const std::vector<std::string> kStreamPrefixes = {"a-", "a", "b", "c-1", "zz", "$$", "$$a"};
const std::vector<std::string> kCategories = {"a", "b", "c", "d", "zz", "$$a"};
const std::vector<std::string> kFilterTypes = {"Created",   "Updated",        "x.y",
                                               "$metadata", "$streamDeleted", "Nope"};
const std::vector<std::string> kTypePrefixes = {"Up", "C", "x", "$", "Updated-"};
const std::vector<std::string> kTypeRegexes = {"^Up", "d$", "^(Created|x\\.y)$", "e.*e", "\\$"};
const std::vector<std::string> kListPrefixes = {"a", "a-1", "b-", "$$", "$", "zz", "c"};

Limits DiffLimits() {
  Limits l;
  l.max_event_bytes = 32 << 10;
  l.max_append_bytes = 128 << 10;
  l.max_events_per_append = 8;
  l.max_stream_name_bytes = 64;
  return l;
}

EngineOptions DiffEngineOptions(const std::string& dir) {
  EngineOptions o;
  o.data_dir = dir;
  o.durability = Durability::kUnsafeNoSync;  // semantics, not durability: keep it fast
  o.segment_bytes = 1 << 20;                 // the smallest; sequences with big events roll
  o.limits = DiffLimits();
  o.index_cache_bytes = 1 << 20;
  o.stream_cache_entries = 4;  // fewer than the streams: the writer's LRU evicts
  return o;
}

uint64_t SeedFromEnv() {
  if (const char* s = std::getenv("ANNALS_SEED"); s != nullptr && *s != '\0') {
    return std::strtoull(s, nullptr, 10);
  }
  return static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) %
         1'000'000'007ull;
}

bool EnvFlag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

uint64_t Mix(uint64_t seed, uint64_t n) {
  uint64_t z = seed ^ (n * 0x9e3779b97f4a7c15ull) ^ 0x2545f4914f6cdd1dull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t Fnv(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// ---- one backend's log, for ranks -----------------------------------------------------------

// A copy of a backend's `$all`, kept up to date after every write, so positions can be turned
// into ranks (and ranks into that backend's positions).
struct LogTable {
  std::vector<RecordedEvent> events;
  Position head = Position::Start();

  // The number of events at positions < p.
  size_t RankOf(Position p) const {
    return static_cast<size_t>(
        std::partition_point(events.begin(), events.end(),
                             [&](const RecordedEvent& e) { return e.position < p; }) -
        events.begin());
  }
  bool IsEventPosition(Position p) const {
    const size_t r = RankOf(p);
    return r < events.size() && events[r].position == p;
  }
  // The position of the event of rank r; the head for r == size.
  Position At(size_t r) const { return r < events.size() ? events[r].position : head; }

  // Reads what was committed since the last refresh. An error text, or empty.
  std::string Refresh(EventStore& store) {
    for (int pages = 0; pages < 100000; ++pages) {
      ReadAllRequest r;
      r.from = head;
      r.max_count = 10000;
      r.max_scan = 1ull << 40;
      auto page = store.ReadAll(r);
      if (!page.ok()) return "ReadAll to refresh: " + page.status().ToString();
      for (RecordedEvent& e : page->events) {
        if (!events.empty() && e.position <= events.back().position) {
          return fmt::format("$all goes back: position {} after {}", e.position.value,
                             events.back().position.value);
        }
        events.push_back(std::move(e));
      }
      if (page->end_of_log) {
        head = page->next;
        if (store.Head() != head) {
          return fmt::format("the end of $all ({}) is not Head() ({})", head.value,
                             store.Head().value);
        }
        return "";
      }
      if (page->next <= r.from) return "$all paging makes no progress";
      head = page->next;
    }
    return "$all never ends";
  }
};

// ---- normalised answers ---------------------------------------------------------------------

std::string Hex(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string Short(std::string_view bytes) {
  bool printable = std::all_of(bytes.begin(), bytes.end(),
                               [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
  std::string s =
      printable ? "'" + std::string(bytes.substr(0, 60)) + "'" : "0x" + Hex(bytes.substr(0, 24));
  if (bytes.size() > (printable ? 60u : 24u))
    s += fmt::format("...({}B #{:x})", bytes.size(), Fnv(bytes));
  return s;
}

std::string ExpectedText(const ExpectedRevision& e) { return e.ToString(); }

std::string StatusText(const Status& s) {
  std::string out(StatusCodeName(s.code()));
  if (s.conflict()) {
    out += " expected=" + ExpectedText(s.conflict()->expected) + " actual=" +
           (s.conflict()->actual ? std::to_string(s.conflict()->actual->value) : "none");
  }
  return out;
}

std::string RevText(uint64_t r) {
  if (r == kTombstoneRevision) return "TOMB";
  return std::to_string(r);
}

// One side of the comparison: a backend and its log.
struct Side {
  const char* name;
  EventStore* store;
  LogTable table;
};

class Normalizer {
 public:
  explicit Normalizer(const std::set<Uuid>* client_ids) : client_ids_(client_ids) {}

  std::string PositionText(const Side& s, Position p) const {
    if (p == Position::End()) return "END";
    const size_t r = s.table.RankOf(p);
    return "#" + std::to_string(r);
  }
  // A position that must be an event's.
  std::string EventPositionText(const Side& s, Position p) const {
    if (!s.table.IsEventPosition(p)) return fmt::format("#?{}(not an event)", p.value);
    return PositionText(s, p);
  }

  std::string Event(const Side& s, const RecordedEvent& e) const {
    std::string out = fmt::format("{{{} {}@{} {} {} {}", EventPositionText(s, e.position), e.stream,
                                  RevText(e.revision.value), e.type, e.content_type, Short(e.data));
    if (!e.metadata.empty()) out += " meta=" + Short(e.metadata);
    out += client_ids_->count(e.id) ? " id=" + e.id.ToString() : " id=generated";
    // Self-consistency: the event reads as the log has it.
    const size_t r = s.table.RankOf(e.position);
    if (r < s.table.events.size() && s.table.events[r].position == e.position) {
      const RecordedEvent& logged = s.table.events[r];
      if (logged.id != e.id || logged.created != e.created || logged.data != e.data) {
        out += " (differs from $all!)";
      }
    }
    return out + "}";
  }

  std::string Events(const Side& s, const std::vector<RecordedEvent>& events) const {
    std::string out = "[";
    for (const RecordedEvent& e : events) out += Event(s, e);
    return out + "]";
  }

  std::string Append(const Side& s, const Result<AppendResult>& r) const {
    if (!r.ok()) return StatusText(r.status());
    return fmt::format("ok {}..{} at {}{}", RevText(r->first_revision.value),
                       RevText(r->last_revision.value), EventPositionText(s, r->position),
                       r->idempotent ? " idempotent" : "");
  }

  std::string Info(const Side& s, const StreamInfo& info) const {
    static const char* kStates[] = {"active", "soft-deleted", "tombstoned"};
    std::string out =
        fmt::format("{{{} {} last={} count={} last_position={}", info.name,
                    kStates[static_cast<int>(info.state)],
                    info.last_revision ? std::to_string(info.last_revision->value) : "none",
                    info.event_count, EventPositionText(s, info.last_position));
    // `created` is the stream's first record's time, `last_updated` the time of the record at
    // last_position (each backend's own clock).
    const RecordedEvent* first = nullptr;
    for (const RecordedEvent& e : s.table.events) {
      if (e.stream == info.name) {
        first = &e;
        break;
      }
    }
    if (first == nullptr || info.created != first->created) {
      out += fmt::format(" created=ticks:{}(not the first record's)", info.created.ticks);
    }
    const size_t r = s.table.RankOf(info.last_position);
    if (r >= s.table.events.size() || s.table.events[r].created != info.last_updated) {
      out += fmt::format(" last_updated=ticks:{}(not the last record's)", info.last_updated.ticks);
    }
    if (info.last_updated < info.created) out += " last_updated<created";
    return out + "}";
  }

 private:
  const std::set<Uuid>* client_ids_;
};

std::string MetadataText(const StreamMetadata& m) {
  auto opt = [](const std::optional<uint64_t>& v) {
    return v ? (*v == kSoftDeletedTruncateBefore ? std::string("SOFTDEL") : std::to_string(*v))
             : std::string("-");
  };
  return fmt::format(
      "{{maxAge={} maxCount={} tb={} cache={} acl='{}' custom='{}'}}", opt(m.max_age_seconds),
      opt(m.max_count),
      opt(m.truncate_before ? std::optional<uint64_t>(m.truncate_before->value) : std::nullopt),
      opt(m.cache_control_seconds), m.acl_json, m.custom_json);
}

std::string FilterText(const EventFilter& f) {
  std::string out;
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : "|") + x;
    return s;
  };
  if (!f.stream_prefixes.empty()) out += " streams=" + list(f.stream_prefixes);
  if (!f.category.empty()) out += " category=" + f.category;
  if (!f.event_types.empty()) out += " types=" + list(f.event_types);
  if (!f.type_prefixes.empty()) out += " type_prefixes=" + list(f.type_prefixes);
  if (!f.type_regex.empty()) out += " regex=" + f.type_regex;
  if (f.exclude_system_events) out += " no-system";
  return out.empty() ? " (no filter)" : out;
}

// ---- known divergences ----------------------------------------------------------------------

// Checks that are known to disagree and are reported; each relaxation below names the one it
// relaxes and counts how often it was needed. ANNALS_DIFF_STRICT=1 turns them all back on.
enum class KnownDivergence {
  // The engine serves `$all` reads filtered by one category or one exact event type from its
  // postings: it counts postings (not log records) against max_scan and knows where the
  // matches end, so its pages and checkpoints may legitimately run further than a scan's.
  // Compared by checkpoint semantics (same events in the same order, nothing skipped), not page
  // by page. By design, not a bug.
  kPostingReadPaging,
  // Found by this test and fixed in the engine (c9b0151), so checked strictly now: ReadAll
  // accepted max_scan 0; a backward scan ending exactly at the first record did not say
  // end_of_log; a backward postings read reaching the start answered next = its last posting;
  // a tombstoned stream's info kept the last event's time (created = last_updated = 0 when it
  // never had an event); `$tb` = the soft-delete marker on a stream without events made its
  // first append write a recreating `$metadata`.
  kCount,
};

const char* const kDivergenceNames[] = {"posting-read-paging"};
static_assert(std::size(kDivergenceNames) == static_cast<size_t>(KnownDivergence::kCount));

// ---- the sequence runner --------------------------------------------------------------------

struct SequenceConfig {
  uint64_t base_seed = 0;
  int sequence = 0;
  int ops = 200;
  bool verbose = false;
  // Known divergences whose relaxation is off: all of them ("1"), or those named.
  bool strict = false;
  std::set<std::string> strict_names;
};

struct SequenceOutcome {
  bool failed = false;
  std::string report;
  int ops_run = 0;
  int reopens = 0;
  int segments = 0;
  std::map<std::string, int> op_counts;
  std::map<std::string, int> relaxed;  // known divergence -> times its relaxation applied
};

class SequenceRunner {
 public:
  SequenceRunner(const SequenceConfig& config, const std::string& dir)
      : config_(config),
        dir_(dir),
        rng_(Mix(config.base_seed, config.sequence)),
        normalizer_(&client_ids_) {}

  SequenceOutcome Run() {
    // A third of the sequences append big events often, so that segments roll.
    big_events_percent_ = Chance(33) ? 85 : 0;
    model_ = NewMemoryStore(DiffLimits());
    if (!OpenEngineNow()) return outcome_;
    engine_side_ = Side{"engine", engine_.get(), {}};
    model_side_ = Side{"model", model_.get(), {}};
    CompareLogs("open");
    for (op_ = 0; op_ < config_.ops && !outcome_.failed; ++op_) {
      const auto began = std::chrono::steady_clock::now();
      Step();
      if (config_.verbose) {
        std::printf(
            "  (op %d took %.1f ms)\n", op_,
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began)
                .count());
      }
      outcome_.ops_run = op_ + 1;
    }
    if (!outcome_.failed) {
      std::string report;
      Status verified = engine_->Verify(&report);
      if (!verified.ok())
        Fail("Engine::Verify at the end", verified.ToString() + "\n" + report, "ok");
    }
    if (engine_) {
      outcome_.segments = static_cast<int>(engine_->Stats().segments);
      engine_->Close();
      engine_.reset();  // RocksDB's threads stop before the directory is removed
    }
    return outcome_;
  }

 private:
  bool OpenEngineNow() {
    auto opened = OpenEngine(DiffEngineOptions(dir_));
    if (!opened.ok()) {
      Fail("OpenEngine", opened.status().ToString(), "ok");
      return false;
    }
    engine_ = std::move(opened).value();
    engine_side_.store = engine_.get();
    return true;
  }

  void Fail(const std::string& op, const std::string& engine_answer,
            const std::string& model_answer) {
    outcome_.failed = true;
    outcome_.report = fmt::format(
        "DIVERGENCE: ANNALS_SEED={} ANNALS_DIFF_SEQUENCE={} op {}: {}\n  engine: {}\n  model:  "
        "{}\n",
        config_.base_seed, config_.sequence, op_, op, engine_answer, model_answer);
  }

  // Compares two normalised answers; false (and the sequence fails) when they differ.
  bool Same(const std::string& op, const std::string& engine_answer,
            const std::string& model_answer) {
    if (config_.verbose) {
      std::printf("op %d: %s\n  engine: %s\n  model:  %s\n", op_, op.c_str(), engine_answer.c_str(),
                  model_answer.c_str());
    }
    if (engine_answer == model_answer) return true;
    Fail(op, engine_answer, model_answer);
    return false;
  }

  uint64_t Roll(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool Chance(int percent) { return static_cast<int>(Roll(100)) < percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Roll(v.size())];
  }

  Uuid NewId() {
    Uuid id;
    for (auto& b : id.bytes) b = static_cast<uint8_t>(rng_());
    id.bytes[6] = (id.bytes[6] & 0x0f) | 0x40;
    id.bytes[8] = (id.bytes[8] & 0x3f) | 0x80;
    return id;
  }

  std::string PickStream() {
    const uint64_t roll = Roll(1000);
    if (roll < 15) return "$sys-" + std::to_string(Roll(2));  // a system name
    if (roll < 20) return "";                                 // invalid
    if (roll < 25) return std::string(65, 'n');               // too long
    return Pick(kStreams);
  }

  // What the model says a stream's last revision is (the generator aims most expected
  // revisions right).
  std::optional<uint64_t> ModelLast(const std::string& stream) {
    auto info = model_->GetStreamInfo(stream);
    if (!info.ok() || !info->last_revision) return std::nullopt;
    return info->last_revision->value;
  }
  std::optional<uint64_t> ModelMetadataRevision(const std::string& stream) {
    auto m = model_->GetStreamMetadata(stream);
    if (!m.ok() || !m->metadata_revision) return std::nullopt;
    return m->metadata_revision->value;
  }

  ExpectedRevision PickExpected(std::optional<uint64_t> last, int exact_right_percent) {
    const int roll = static_cast<int>(Roll(100));
    if (roll < exact_right_percent) {
      return last ? ExpectedRevision::Exact(Revision{*last}) : ExpectedRevision::NoStream();
    }
    const int rest = static_cast<int>(Roll(100));
    if (rest < 30) return ExpectedRevision::Any();
    if (rest < 45) return ExpectedRevision::NoStream();
    if (rest < 60) return ExpectedRevision::StreamExists();
    if (rest < 85 && last) {
      static const int64_t kDeltas[] = {-2, -1, 1, 2};
      return ExpectedRevision::Exact(
          Revision{static_cast<uint64_t>(std::max<int64_t>(0, *last + kDeltas[Roll(4)]))});
    }
    return ExpectedRevision::Exact(Revision{Roll(4)});
  }

  ProposedEvent NewEvent(std::optional<Uuid> id) {
    ProposedEvent e;
    e.id = id;
    e.type = Chance(1) ? "$reserved" : Pick(kTypes);
    const uint64_t roll = Roll(100);
    if (Chance(big_events_percent_)) {
      // Big enough that a sequence of them rolls segments.
      e.content_type = std::string(kContentTypeOctetStream);
      e.data.assign((8 << 10) + Roll(24 << 10), 'y');
    } else if (roll < 65) {
      e.data = Chance(3) ? "{\"broken\":" : fmt::format("{{\"v\":{}}}", Roll(1000));
    } else if (roll < 85) {
      e.content_type = std::string(kContentTypeOctetStream);
      e.data.resize(Roll(40));
      for (char& c : e.data) c = static_cast<char>(rng_());
    } else if (roll < 90) {
      // Around max_event_bytes: over it is kTooLarge.
      e.content_type = std::string(kContentTypeOctetStream);
      e.data.assign((32 << 10) - 100 + Roll(120), 'x');
    } else if (roll < 95) {
      e.data.clear();
    } else {
      e.content_type = "text/plain";
      e.data = "plain " + std::to_string(Roll(100));
    }
    const uint64_t meta = Roll(100);
    if (meta < 15) {
      e.metadata = fmt::format("{{\"m\":{}}}", Roll(10));
    } else if (meta < 17) {
      e.metadata = "{not json";
    }
    return e;
  }

  // ---- operations ----

  void Step() {
    const uint64_t roll = Roll(1000);
    if (roll < 330) return DoAppend();
    if (roll < 420) return DoSetMetadata();
    if (roll < 460) return DoGetMetadata();
    if (roll < 500) return DoDelete(Chance(20) ? DeleteMode::kTombstone : DeleteMode::kSoft);
    if (roll < 640) return DoReadStream();
    if (roll < 820) return DoReadAll();
    if (roll < 870) return DoStreamInfo();
    if (roll < 930) return DoListStreams();
    if (roll < 950) return DoPageWholeLog();
    if (roll < 958) return DoReopen();
    DoReadAll();
  }

  void Count(const char* op) { ++outcome_.op_counts[op]; }

  std::string InfoText(const Side& s, const StreamInfo& info) { return normalizer_.Info(s, info); }

  // Whether the check named by `d` is relaxed (and, if so, counts that it was needed).
  bool Relax(KnownDivergence d) {
    const char* name = kDivergenceNames[static_cast<int>(d)];
    if (config_.strict || config_.strict_names.count(name)) return false;
    ++outcome_.relaxed[name];
    return true;
  }

  // After a write: both logs grew the same way.
  void CompareLogs(const std::string& op) {
    for (Side* s : {&engine_side_, &model_side_}) {
      const std::string problem = s->table.Refresh(*s->store);
      if (!problem.empty()) {
        Fail(op + " (then $all)", s == &engine_side_ ? problem : "-",
             s == &model_side_ ? problem : "-");
        return;
      }
    }
    const auto& e = engine_side_.table.events;
    const auto& m = model_side_.table.events;
    for (size_t r = checked_log_; r < std::max(e.size(), m.size()); ++r) {
      const std::string et = r < e.size() ? normalizer_.Event(engine_side_, e[r]) : "(none)";
      const std::string mt = r < m.size() ? normalizer_.Event(model_side_, m[r]) : "(none)";
      if (!Same(op + fmt::format(" (then $all event #{})", r), et, mt)) return;
      if (r > 0 && e[r].created < e[r - 1].created) {
        Fail(op + fmt::format(" (then $all event #{})", r), "created goes backwards", "-");
        return;
      }
    }
    checked_log_ = std::max(e.size(), m.size());
  }

  void DoAppend() {
    Count("append");
    AppendRequest r;
    r.stream = PickStream();
    const int n = 1 + static_cast<int>(Roll(Chance(3) ? 10 : 4));  // 9 and 10 are too many
    const uint64_t mode = Roll(100);
    std::string how = "fresh";
    if (mode < 22 && !previous_.empty()) {
      // A retry or a misuse of an earlier append's ids.
      const AppendRequest& before = previous_[Roll(previous_.size())];
      r.events = before.events;
      const uint64_t kind = Roll(100);
      if (kind < 45) {
        how = "retry";
        r.stream = before.stream;
      } else if (kind < 55) {
        how = "retry-elsewhere";
      } else if (kind < 70) {
        how = "overlap";
        r.stream = before.stream;
        r.events.resize(1 + Roll(r.events.size()));
        r.events.push_back(NewEvent(NewId()));
        if (Chance(50)) std::rotate(r.events.begin(), r.events.end() - 1, r.events.end());
      } else if (kind < 80 && r.events.size() > 1) {
        how = "reordered";
        r.stream = before.stream;
        std::reverse(r.events.begin(), r.events.end());
      } else if (kind < 92) {
        how = "sub-range";
        r.stream = before.stream;
        const size_t from = Roll(r.events.size());
        const size_t count = 1 + Roll(r.events.size() - from);
        r.events =
            std::vector<ProposedEvent>(r.events.begin() + from, r.events.begin() + from + count);
      } else {
        how = "retry-with-a-missing-id";
        r.stream = before.stream;
        r.events.back().id.reset();
      }
    } else {
      for (int k = 0; k < n; ++k) {
        std::optional<Uuid> id;
        if (!Chance(12)) id = NewId();
        r.events.push_back(NewEvent(id));
      }
      if (Chance(2) && r.events.size() > 1 && r.events[0].id) {
        how = "duplicate-ids";
        r.events.back().id = r.events[0].id;
      } else if (Chance(3)) {
        how = "empty";
        r.events.clear();
      }
    }
    if (Chance(4)) {
      // Annals' own components may append to `$` streams (not to `$$` metadata streams).
      r.system_writer = true;
      static const std::vector<std::string> kSystemTargets = {"$sys-0", "$sys-1", "$$a-1", "a-1"};
      r.stream = Pick(kSystemTargets);
      how += "+system-writer";
    }
    r.expected = PickExpected(ModelLast(r.stream), 45);
    for (const ProposedEvent& e : r.events) {
      if (e.id) client_ids_.insert(*e.id);
    }
    const bool async = Chance(15);
    std::string desc = fmt::format("{}Append({} {} expected={} {} events:", async ? "Async" : "",
                                   how, r.stream, ExpectedText(r.expected), r.events.size());
    for (const ProposedEvent& e : r.events) {
      desc += fmt::format(" {}/{}/{}B", e.id ? e.id->ToString().substr(0, 8) : "noid", e.type,
                          e.data.size());
    }
    desc += ")";
    auto run = [&](EventStore& store) -> Result<AppendResult> {
      if (!async) return store.Append(r);
      std::mutex mu;
      std::condition_variable cv;
      std::optional<Result<AppendResult>> got;
      store.AppendAsync(r, [&](Result<AppendResult> result) {
        std::lock_guard lock(mu);
        got.emplace(std::move(result));
        cv.notify_one();
      });
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return got.has_value(); });
      return std::move(*got);
    };
    auto e = run(*engine_);
    auto m = run(*model_);
    // Positions are compared once both logs are refreshed.
    CompareLogs(desc);
    if (outcome_.failed) return;
    if (!Same(desc, normalizer_.Append(engine_side_, e), normalizer_.Append(model_side_, m))) {
      return;
    }
    if (m.ok() && !m->idempotent) {
      previous_.push_back(r);
      if (previous_.size() > 40) previous_.erase(previous_.begin());
    }
  }

  StreamMetadata RandomMetadata() {
    StreamMetadata md;
    if (Chance(40)) md.max_count = Roll(5);
    const uint64_t tb = Roll(100);
    if (tb < 25) {
      md.truncate_before = Revision{Roll(5)};
    } else if (tb < 30) {
      md.truncate_before = Revision{kSoftDeletedTruncateBefore};
    }
    if (Chance(15)) md.max_age_seconds = 365ull * 86400;  // hides nothing: time-independent
    if (Chance(10)) md.cache_control_seconds = 60;
    if (Chance(10)) md.acl_json = "{\"$r\":\"$all\"}";
    const uint64_t custom = Roll(100);
    if (custom < 20) {
      md.custom_json = "{\"owner\":\"x\",\"n\":[1,2]}";
    } else if (custom < 22) {
      md.custom_json = "[1]";  // not an object
    } else if (custom < 24) {
      md.custom_json = "{\"$maxCount\":1}";  // a known key among the custom ones
    }
    return md;
  }

  void DoSetMetadata() {
    Count("set-metadata");
    const std::string stream = Chance(3) ? "$sys" : Pick(kStreams);
    const StreamMetadata md = RandomMetadata();
    const ExpectedRevision expected = PickExpected(ModelMetadataRevision(stream), 30);
    const std::string desc = fmt::format("SetStreamMetadata({} expected={} {})", stream,
                                         ExpectedText(expected), MetadataText(md));
    auto e = engine_->SetStreamMetadata(stream, expected, md);
    auto m = model_->SetStreamMetadata(stream, expected, md);
    CompareLogs(desc);
    if (outcome_.failed) return;
    Same(desc, normalizer_.Append(engine_side_, e), normalizer_.Append(model_side_, m));
  }

  void DoGetMetadata() {
    Count("get-metadata");
    const std::string stream = Chance(3) ? "$$a-1" : Pick(kStreams);
    auto text = [&](const Result<StreamMetadataResult>& r) {
      if (!r.ok()) return StatusText(r.status());
      return MetadataText(r->metadata) + " revision=" +
             (r->metadata_revision ? std::to_string(r->metadata_revision->value) : "none");
    };
    Same("GetStreamMetadata(" + stream + ")", text(engine_->GetStreamMetadata(stream)),
         text(model_->GetStreamMetadata(stream)));
  }

  void DoDelete(DeleteMode mode) {
    Count(mode == DeleteMode::kSoft ? "soft-delete" : "tombstone");
    const std::string stream = Chance(3) ? "$sys" : Pick(kStreams);
    const ExpectedRevision expected = PickExpected(ModelLast(stream), 50);
    const std::string desc =
        fmt::format("DeleteStream({} expected={} {})", stream, ExpectedText(expected),
                    mode == DeleteMode::kSoft ? "soft" : "tombstone");
    auto e = engine_->DeleteStream(stream, expected, mode);
    auto m = model_->DeleteStream(stream, expected, mode);
    CompareLogs(desc);
    if (outcome_.failed) return;
    auto text = [&](const Side& s, const Result<DeleteResult>& r) {
      return r.ok() ? "ok at " + normalizer_.EventPositionText(s, r->position)
                    : StatusText(r.status());
    };
    Same(desc, text(engine_side_, e), text(model_side_, m));
  }

  void DoReadStream() {
    Count("read-stream");
    ReadStreamRequest r;
    const uint64_t which = Roll(100);
    r.stream = which < 6 ? "$$" + Pick(kStreams) : which < 8 ? PickStream() : Pick(kStreams);
    r.direction = Chance(40) ? Direction::kBackwards : Direction::kForwards;
    const std::optional<uint64_t> last = ModelLast(r.stream);
    const uint64_t from = Roll(100);
    if (from < 30) {
      r.from.reset();
    } else if (from < 33) {
      r.from = Revision{UINT64_MAX};
    } else {
      r.from = Revision{Roll((last ? *last : 0) + 4)};
    }
    const uint64_t count = Roll(100);
    r.max_count = count < 3 ? 0 : count < 10 ? 1000 : 1 + Roll(6);
    const std::string desc =
        fmt::format("ReadStream({} {} from={} max_count={})", r.stream,
                    r.direction == Direction::kForwards ? "forwards" : "backwards",
                    r.from ? RevText(r.from->value) : "default", r.max_count);
    auto text = [&](const Side& s, const Result<ReadStreamResult>& res) {
      if (!res.ok()) return StatusText(res.status());
      return fmt::format("{} next={} last={}", normalizer_.Events(s, res->events),
                         res->next ? std::to_string(res->next->value) : "none",
                         res->last_revision.value);
    };
    Same(desc, text(engine_side_, engine_->ReadStream(r)),
         text(model_side_, model_->ReadStream(r)));
  }

  EventFilter RandomFilter() {
    EventFilter f;
    if (Chance(40)) return f;
    if (Chance(25)) {
      f.stream_prefixes.push_back(Pick(kStreamPrefixes));
      if (Chance(30)) f.stream_prefixes.push_back(Pick(kStreamPrefixes));
    }
    if (Chance(20)) f.category = Pick(kCategories);
    if (Chance(25)) {
      f.event_types.push_back(Pick(kFilterTypes));
      if (Chance(35)) f.event_types.push_back(Pick(kFilterTypes));
    }
    if (Chance(15)) f.type_prefixes.push_back(Pick(kTypePrefixes));
    if (Chance(10)) f.type_regex = Chance(10) ? "([" : Pick(kTypeRegexes);
    if (Chance(25)) f.exclude_system_events = true;
    return f;
  }

  // Which `$all` reads the engine serves from its postings (reads.cc).
  static bool ServedByPostings(const EventFilter& f) {
    return !f.category.empty() || f.event_types.size() == 1;
  }

  // A read position for both sides: the same rank, mapped to each backend's own position.
  struct From {
    std::optional<size_t> rank;  // nullopt: the literal position below
    Position literal;
  };
  From PickFrom(Direction direction) {
    const size_t n = model_side_.table.events.size();
    const uint64_t roll = Roll(100);
    if (direction == Direction::kBackwards && roll < 30) return From{std::nullopt, Position::End()};
    if (direction == Direction::kForwards && roll < 15) {
      return From{std::nullopt, Position::Start()};
    }
    if (roll < 35) return From{std::nullopt, Position::End()};
    return From{Roll(n + 1), Position::Start()};
  }
  Position FromFor(const Side& s, const From& f) {
    return f.rank ? s.table.At(*f.rank) : f.literal;
  }
  std::string FromText(const From& f) {
    if (f.rank) return "#" + std::to_string(*f.rank);
    return f.literal == Position::End() ? "END" : "START";
  }

  std::string AllText(const Side& s, const ReadAllRequest& request,
                      const Result<ReadAllResult>& r) {
    if (!r.ok()) return StatusText(r.status());
    return fmt::format("{} next={}{}", normalizer_.Events(s, r->events),
                       normalizer_.PositionText(s, r->next), r->end_of_log ? " end" : "");
  }

  // What any correct page of a `$all` read must satisfy, given the model's unbounded answer to
  // the same read: the page is a prefix of it, and `next` is a checkpoint that skips none of
  // the rest. Empty when it holds, else what is wrong.
  std::string CheckpointProblem(const Side& s, const ReadAllRequest& request, size_t from_rank,
                                const ReadAllResult& page, const std::vector<size_t>& all_ranks) {
    const bool forwards = request.direction == Direction::kForwards;
    const size_t n = s.table.events.size();
    if (page.events.size() > request.max_count) return "more events than max_count";
    for (size_t i = 0; i < page.events.size(); ++i) {
      if (i >= all_ranks.size() || s.table.RankOf(page.events[i].position) != all_ranks[i]) {
        return fmt::format("event {} of the page is not the model's next match", i);
      }
    }
    const size_t k = page.events.size();
    const size_t next = s.table.RankOf(page.next);
    const bool end_of_log = page.end_of_log;

    if (forwards) {
      if (k > 0 && next <= all_ranks[k - 1]) return "next does not pass the last event";
      if (next < from_rank) return "next goes backwards";
      if (k < all_ranks.size() && all_ranks[k] < next) return "next skips a matching event";
      if (end_of_log && (k != all_ranks.size() || next != n)) return "end_of_log before the end";
      if (!end_of_log && next >= n) return "next is the head but not end_of_log";
      if (!end_of_log && next <= from_rank) return "no progress without end_of_log";
    } else {
      if (k > 0 && next > all_ranks[k - 1]) return "next does not pass the last event";
      if (next > from_rank) return "next goes forwards";
      if (k < all_ranks.size() && all_ranks[k] >= next) return "next skips a matching event";
      if (end_of_log && k != all_ranks.size()) return "end_of_log before the start";
      if (end_of_log && next != 0) return "end_of_log but next is not the start";
      if (!end_of_log && next == 0) return "next is the start but not end_of_log";
      if (!end_of_log && next >= from_rank) return "no progress without end_of_log";
    }
    return "";
  }

  // The model's whole answer to `request` from `from`, as ranks in the model's log.
  std::optional<std::vector<size_t>> ModelMatches(ReadAllRequest request) {
    request.max_count = 1ull << 40;
    request.max_scan = 1ull << 40;
    auto all = model_->ReadAll(request);
    if (!all.ok()) return std::nullopt;
    std::vector<size_t> ranks;
    for (const RecordedEvent& e : all->events)
      ranks.push_back(model_side_.table.RankOf(e.position));
    return ranks;
  }

  void DoReadAll() {
    Count("read-all");
    ReadAllRequest base;
    base.direction = Chance(40) ? Direction::kBackwards : Direction::kForwards;
    const From from = PickFrom(base.direction);
    const uint64_t count = Roll(100);
    base.max_count = count < 2 ? 0 : count < 12 ? 1000 : 1 + Roll(8);
    const uint64_t scan = Roll(100);
    base.max_scan = scan < 50 ? 100000 : scan < 51 ? 0 : 1 + Roll(8);
    base.filter = RandomFilter();
    ReadAllRequest er = base, mr = base;
    er.from = FromFor(engine_side_, from);
    mr.from = FromFor(model_side_, from);
    const std::string desc =
        fmt::format("ReadAll({} from={} max_count={} max_scan={}{})",
                    base.direction == Direction::kForwards ? "forwards" : "backwards",
                    FromText(from), base.max_count, base.max_scan, FilterText(base.filter));
    auto e = engine_->ReadAll(er);
    auto m = model_->ReadAll(mr);
    const bool postings = ServedByPostings(base.filter);
    if (!e.ok() || !m.ok() || !postings || !Relax(KnownDivergence::kPostingReadPaging)) {
      if (!Same(desc, AllText(engine_side_, er, e), AllText(model_side_, mr, m))) return;
    } else {
      // Compared by checkpoint semantics below.
      if (config_.verbose) {
        std::printf("op %d: %s (postings)\n  engine: %s\n  model:  %s\n", op_, desc.c_str(),
                    AllText(engine_side_, er, e).c_str(), AllText(model_side_, mr, m).c_str());
      }
    }
    if (!e.ok() || !m.ok()) return;
    auto matches = ModelMatches(mr);
    if (!matches) return;
    const size_t from_rank = model_side_.table.RankOf(mr.from);
    for (const auto& [side, page] :
         {std::pair<Side*, const ReadAllResult*>{&engine_side_, &*e}, {&model_side_, &*m}}) {
      // The same ranks mean the same events: the logs were compared event by event.
      const std::string problem =
          CheckpointProblem(*side, side == &engine_side_ ? er : mr, from_rank, *page, *matches);
      if (!problem.empty()) {
        Fail(desc + " (checkpoint rules)",
             side == &engine_side_ ? problem + ": " + AllText(engine_side_, er, e) : "ok",
             side == &model_side_ ? problem + ": " + AllText(model_side_, mr, m) : "ok");
        return;
      }
    }
  }

  // Pages through the whole log in both directions with a random filter and page size: both
  // backends return the same events and every paging loop ends.
  void DoPageWholeLog() {
    Count("page-all");
    ReadAllRequest base;
    base.filter = RandomFilter();
    if (!base.filter.type_regex.empty() && base.filter.type_regex[0] == '(')
      base.filter.type_regex.clear();
    base.max_count = 1 + Roll(5);
    base.max_scan = Chance(50) ? 100000 : 1 + Roll(6);
    for (Direction d : {Direction::kForwards, Direction::kBackwards}) {
      base.direction = d;
      std::string texts[2];
      Side* sides[2] = {&engine_side_, &model_side_};
      for (int i = 0; i < 2; ++i) {
        ReadAllRequest r = base;
        r.from = d == Direction::kForwards ? Position::Start() : Position::End();
        const size_t limit = sides[i]->table.events.size() * 2 + 4;
        size_t pages = 0;
        while (true) {
          auto page = sides[i]->store->ReadAll(r);
          if (!page.ok()) {
            texts[i] = StatusText(page.status());
            break;
          }
          for (const RecordedEvent& e : page->events) texts[i] += normalizer_.Event(*sides[i], e);
          if (page->end_of_log) break;
          if (++pages > limit) {
            texts[i] += " ...paging does not end";
            break;
          }
          r.from = page->next;
        }
      }
      if (!Same(fmt::format("page all of $all {} max_count={} max_scan={}{}",
                            d == Direction::kForwards ? "forwards" : "backwards", base.max_count,
                            base.max_scan, FilterText(base.filter)),
                texts[0], texts[1])) {
        return;
      }
    }
  }

  void DoStreamInfo() {
    Count("stream-info");
    const uint64_t which = Roll(100);
    const std::string stream = which < 8    ? "$$" + Pick(kStreams)
                               : which < 10 ? PickStream()
                                            : Pick(kStreams);
    auto text = [&](const Side& s, const Result<StreamInfo>& r) {
      return r.ok() ? InfoText(s, *r) : StatusText(r.status());
    };
    Same("GetStreamInfo(" + stream + ")", text(engine_side_, engine_->GetStreamInfo(stream)),
         text(model_side_, model_->GetStreamInfo(stream)));
  }

  void DoListStreams() {
    Count("list-streams");
    ListStreamsRequest r;
    if (Chance(60)) r.prefix = Pick(kListPrefixes);
    const uint64_t after = Roll(100);
    if (after < 25) {
      r.after = Pick(kStreams);
    } else if (after < 50) {
      r.after = last_next_after_;
    } else if (after < 55) {
      r.after = "$$b";
    }
    const uint64_t limit = Roll(100);
    r.limit = limit < 2 ? 0 : limit < 20 ? 100 : 1 + Roll(4);
    r.include_system = Chance(30);
    auto text = [&](const Side& s, const Result<ListStreamsResult>& res) {
      if (!res.ok()) return StatusText(res.status());
      std::string out = "[";
      for (const StreamInfo& info : res->streams) out += InfoText(s, info);
      return out + "] next_after='" + res->next_after + "'";
    };
    auto m = model_->ListStreams(r);
    if (m.ok()) last_next_after_ = m->next_after;
    Same(fmt::format("ListStreams(prefix='{}' after='{}' limit={}{})", r.prefix, r.after, r.limit,
                     r.include_system ? " +system" : ""),
         text(engine_side_, engine_->ListStreams(r)), text(model_side_, m));
  }

  void DoReopen() {
    Count("reopen");
    engine_->Close();
    engine_.reset();
    if (!OpenEngineNow()) return;
    ++outcome_.reopens;
    // The reopened engine's whole log must be the one it had.
    LogTable fresh;
    const std::string problem = fresh.Refresh(*engine_);
    if (!problem.empty()) return Fail("reopen (then $all)", problem, "-");
    auto text = [&](const LogTable& t) {
      std::string out = fmt::format("{} events, head {}:", t.events.size(), t.head.value);
      for (const RecordedEvent& e : t.events) {
        out += fmt::format(" {}:{}@{}:{}", e.position.value, e.stream, e.revision.value,
                           e.id.ToString().substr(0, 8));
      }
      return out;
    };
    Same("reopen the engine (its log after vs before)", text(fresh), text(engine_side_.table));
  }

  SequenceConfig config_;
  std::string dir_;
  std::mt19937_64 rng_;
  std::set<Uuid> client_ids_;
  Normalizer normalizer_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<EventStore> model_;
  Side engine_side_{"engine", nullptr, {}};
  Side model_side_{"model", nullptr, {}};
  std::vector<AppendRequest> previous_;
  std::string last_next_after_;
  int big_events_percent_ = 0;
  size_t checked_log_ = 0;
  int op_ = 0;
  SequenceOutcome outcome_;
};

struct SuiteConfig {
  int sequences = 200;
  int ops = 200;
};

void RunSuite(const SuiteConfig& suite) {
  spdlog::set_level(spdlog::level::err);
  const uint64_t seed = SeedFromEnv();
  const bool verbose = EnvFlag("ANNALS_DIFF_VERBOSE");
  // ANNALS_DIFF_STRICT=1: every known divergence fails; =name,name: those ones.
  const char* strict_env = std::getenv("ANNALS_DIFF_STRICT");
  const std::string strict_text = strict_env ? strict_env : "";
  const bool strict = strict_text == "1";
  // Divergences fixed in the engine are checked always, so they cannot come back.
  std::set<std::string> strict_names = {
      "engine-accepts-max-scan-0", "engine-backward-end-not-reported",
      "engine-backward-posting-end-next", "engine-tombstone-info-times",
      "soft-delete-marker-on-empty-stream"};
  for (size_t at = 0; !strict && at < strict_text.size();) {
    const size_t comma = std::min(strict_text.find(',', at), strict_text.size());
    strict_names.insert(strict_text.substr(at, comma - at));
    at = comma + 1;
  }
  std::optional<int> only;
  if (const char* s = std::getenv("ANNALS_DIFF_SEQUENCE"); s != nullptr && *s != '\0') {
    only = std::atoi(s);
  }
  std::printf("differential test: ANNALS_SEED=%llu, %d sequences of %d ops%s\n",
              static_cast<unsigned long long>(seed), only ? 1 : suite.sequences, suite.ops,
              strict_text.empty() ? "" : (" (strict: " + strict_text + ")").c_str());
  char pattern[] = "/tmp/annals-diff-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string root = pattern;
  const auto started = std::chrono::steady_clock::now();
  // Sequences are independent (own engine, model and seed) and mostly wait on the disk, so a
  // few run at once; their reports are read in sequence order.
  const int first = only.value_or(0);
  const int count = only ? 1 : suite.sequences;
  std::vector<SequenceOutcome> outcomes(count);
  std::atomic<int> next{0};
  auto worker = [&] {
    for (int i = next++; i < count; i = next++) {
      SequenceConfig config;
      config.base_seed = seed;
      config.sequence = first + i;
      config.ops = suite.ops;
      config.verbose = verbose;
      config.strict = strict;
      config.strict_names = strict_names;
      const std::string dir = root + "/seq-" + std::to_string(first + i);
      outcomes[i] = SequenceRunner(config, dir).Run();
      if (!outcomes[i].failed) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    }
  };
  const char* jobs_env = std::getenv("ANNALS_DIFF_JOBS");
  const int jobs = verbose ? 1 : std::max(1, jobs_env ? std::atoi(jobs_env) : 4);
  std::vector<std::thread> workers;
  for (int j = 0; j < jobs; ++j) workers.emplace_back(worker);
  for (auto& w : workers) w.join();

  int failures = 0, ran = 0;
  int64_t ops = 0, reopens = 0, rolled = 0;
  std::map<std::string, int> op_counts, relaxed;
  for (const SequenceOutcome& outcome : outcomes) {
    ++ran;
    ops += outcome.ops_run;
    reopens += outcome.reopens;
    rolled += outcome.segments > 1;
    for (const auto& [name, n] : outcome.op_counts) op_counts[name] += n;
    for (const auto& [name, n] : outcome.relaxed) relaxed[name] += n;
    if (outcome.failed) {
      ++failures;
      if (failures <= 10) {
        ADD_FAILURE() << outcome.report;
      } else {
        // Only the first line (seed, sequence, op) of the others.
        std::printf("%s\n", outcome.report.substr(0, outcome.report.find('\n')).c_str());
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::string counts;
  for (const auto& [name, n] : op_counts) counts += fmt::format(" {}={}", name, n);
  counts += "\n known divergences relaxed:";
  for (const auto& [name, n] : relaxed) counts += fmt::format(" {}={}", name, n);
  std::printf(
      "differential test: %d sequences (%lld rolled a segment), %lld ops, %lld reopens in %.1f s; "
      "%d diverged\n ops:%s\n",
      ran, static_cast<long long>(rolled), static_cast<long long>(ops),
      static_cast<long long>(reopens), seconds, failures, counts.c_str());
  if (failures == 0) {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  } else {
    std::printf("directories of the diverging sequences kept under %s\n", root.c_str());
  }
}

// Sanitizer builds run about ten times slower: fewer sequences there keep the quick suite quick.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

TEST(EngineDifferentialTest, RandomSequencesAgreeWithTheModel) {
  RunSuite(SuiteConfig{.sequences = kSanitized ? 60 : 200, .ops = 200});
}

TEST(EngineDifferentialSlowTest, ManyLongSequencesAgreeWithTheModel) {
  if (!EnvFlag("ANNALS_SLOW_TESTS")) {
    GTEST_SKIP() << "slow: runs with ANNALS_SLOW_TESTS=1 (ctest -L slow)";
  }
  RunSuite(SuiteConfig{.sequences = 1500, .ops = 400});
}

}  // namespace
}  // namespace annals
