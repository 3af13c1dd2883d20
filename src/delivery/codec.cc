#include "delivery/codec.h"

#include <charconv>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "core/rfc3339.h"

namespace annals::delivery {

namespace {

Status Invalid(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

// A JSON number that is a non-negative integer (nlohmann keeps signed and unsigned apart).
bool IsWhole(const Json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

Status OptU32(const Json& j, const char* key, uint32_t* out) {
  uint64_t v = *out;
  ANNALS_RETURN_IF_ERROR(OptUint(j, key, &v));
  if (v > UINT32_MAX) return Invalid(std::string(key) + ": too large");
  *out = static_cast<uint32_t>(v);
  return Status::Ok();
}

Status OptMs(const Json& j, const char* key, std::chrono::milliseconds* out) {
  uint64_t v = static_cast<uint64_t>(out->count());
  ANNALS_RETURN_IF_ERROR(OptUint(j, key, &v));
  if (v > (1ull << 40)) return Invalid(std::string(key) + ": too large");
  *out = std::chrono::milliseconds(static_cast<int64_t>(v));
  return Status::Ok();
}

Status OptStrings(const Json& j, const char* key, std::vector<std::string>* out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::Ok();
  if (!it->is_array()) return Invalid(std::string(key) + ": must be an array of strings");
  for (const Json& v : *it) {
    if (!v.is_string()) return Invalid(std::string(key) + ": must be an array of strings");
    out->push_back(v.get<std::string>());
  }
  return Status::Ok();
}

}  // namespace

// Reads an optional unsigned member into `*out`.
Status OptUint(const Json& j, const char* key, uint64_t* out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::Ok();
  if (!IsWhole(*it)) return Invalid(std::string(key) + ": must be a whole number");
  *out = it->get<uint64_t>();
  return Status::Ok();
}

Status OptString(const Json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::Ok();
  if (!it->is_string()) return Invalid(std::string(key) + ": must be a string");
  *out = it->get<std::string>();
  return Status::Ok();
}

Status OnlyKeys(const Json& j, std::initializer_list<std::string_view> keys,
                std::string_view what) {
  if (!j.is_object()) return Invalid(std::string(what) + ": must be an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (std::string_view k : keys) known = known || it.key() == k;
    if (!known) return Invalid(std::string(what) + ": unknown member '" + it.key() + "'");
  }
  return Status::Ok();
}

Status OptBool(const Json& j, const char* key, bool* out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::Ok();
  if (!it->is_boolean()) return Invalid(std::string(key) + ": must be true or false");
  *out = it->get<bool>();
  return Status::Ok();
}

std::string RedactUserinfo(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  return url.substr(0, scheme + 3) + "***" + url.substr(at);
}

std::string WithoutUserinfo(std::string text, const std::string& url) {
  const std::string redacted = RedactUserinfo(url);
  if (redacted == url || url.empty()) return text;
  for (size_t i = text.find(url); i != std::string::npos; i = text.find(url, i + redacted.size())) {
    text.replace(i, url.size(), redacted);
  }
  return text;
}

bool IsDeliveryStateStream(std::string_view stream) {
  return stream == kConfigStream || stream.starts_with(kGroupStatePrefix) ||
         stream.starts_with(kWebhookStatePrefix) || stream.starts_with(kRelayStatePrefix);
}

std::string_view StrategyName(Strategy s) {
  switch (s) {
    case Strategy::kRoundRobin:
      return "roundRobin";
    case Strategy::kDispatchToSingle:
      return "dispatchToSingle";
    case Strategy::kPinnedByStream:
      return "pinnedByStream";
  }
  return "roundRobin";
}

std::optional<Strategy> ParseStrategy(std::string_view s) {
  if (s == "roundRobin" || s == "RoundRobin") return Strategy::kRoundRobin;
  if (s == "dispatchToSingle" || s == "DispatchToSingle") return Strategy::kDispatchToSingle;
  if (s == "pinnedByStream" || s == "pinned" || s == "Pinned") return Strategy::kPinnedByStream;
  return std::nullopt;
}

Json SourceToJson(const Source& s) {
  Json j = Json::object();
  if (!s.stream.empty()) j["stream"] = s.stream;
  const EventFilter& f = s.filter;
  if (!f.category.empty()) j["category"] = f.category;
  if (!f.event_types.empty()) j["eventTypes"] = f.event_types;
  if (!f.stream_prefixes.empty()) j["streamPrefixes"] = f.stream_prefixes;
  if (!f.type_prefixes.empty()) j["typePrefixes"] = f.type_prefixes;
  if (!f.type_regex.empty()) j["typeRegex"] = f.type_regex;
  if (!f.stream_regex.empty()) j["streamRegex"] = f.stream_regex;
  if (f.exclude_system_events) j["excludeSystem"] = true;
  return j;
}

Result<Source> SourceFromJson(const Json& j) {
  ANNALS_RETURN_IF_ERROR(
      OnlyKeys(j,
               {"stream", "category", "eventType", "eventTypes", "types", "streamPrefixes",
                "typePrefixes", "typeRegex", "streamRegex", "excludeSystem"},
               "source"));
  Source s;
  EventFilter& f = s.filter;
  ANNALS_RETURN_IF_ERROR(OptString(j, "stream", &s.stream));
  ANNALS_RETURN_IF_ERROR(OptString(j, "category", &f.category));
  std::string one_type;
  ANNALS_RETURN_IF_ERROR(OptString(j, "eventType", &one_type));
  if (!one_type.empty()) f.event_types.push_back(one_type);
  ANNALS_RETURN_IF_ERROR(OptStrings(j, "eventTypes", &f.event_types));
  ANNALS_RETURN_IF_ERROR(OptStrings(j, "types", &f.event_types));
  ANNALS_RETURN_IF_ERROR(OptStrings(j, "streamPrefixes", &f.stream_prefixes));
  ANNALS_RETURN_IF_ERROR(OptStrings(j, "typePrefixes", &f.type_prefixes));
  ANNALS_RETURN_IF_ERROR(OptString(j, "typeRegex", &f.type_regex));
  ANNALS_RETURN_IF_ERROR(OptString(j, "streamRegex", &f.stream_regex));
  if (auto it = j.find("excludeSystem"); it != j.end()) {
    if (!it->is_boolean()) return Invalid("source.excludeSystem: must be true or false");
    f.exclude_system_events = it->get<bool>();
  }
  if (j.contains("stream")) {
    if (s.stream.empty()) return Invalid("source.stream: must not be empty");
    if (!f.category.empty() || !f.stream_prefixes.empty() || !f.type_prefixes.empty() ||
        !f.type_regex.empty() || !f.stream_regex.empty()) {
      return Invalid("source: a stream source takes only eventTypes as a filter");
    }
  }
  if (j.contains("category") && f.category.empty()) {
    return Invalid("source.category: must not be empty");
  }
  return s;
}

Json StartToJson(const StartAt& start) {
  switch (start.kind) {
    case StartAt::Kind::kBeginning:
      return "start";
    case StartAt::Kind::kEnd:
      return "end";
    case StartAt::Kind::kPosition:
      return start.value;
    case StartAt::Kind::kTime:
      return Json{{"time", FormatRfc3339(start.time)}};
  }
  return "start";
}

Result<StartAt> StartFromJson(const Json& j) {
  StartAt s;
  if (j.is_string()) {
    const std::string v = j.get<std::string>();
    if (v == "start" || v == "beginning") return s;
    if (v == "end") {
      s.kind = StartAt::Kind::kEnd;
      return s;
    }
    if (auto t = ParseRfc3339(v)) {
      s.kind = StartAt::Kind::kTime;
      s.time = *t;
      return s;
    }
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec == std::errc() && p == v.data() + v.size() && !v.empty()) {
      s.kind = StartAt::Kind::kPosition;
      s.value = n;
      return s;
    }
    return Invalid("from: 'start', 'end', a revision or position, or an RFC 3339 time");
  }
  if (IsWhole(j)) {
    s.kind = StartAt::Kind::kPosition;
    s.value = j.get<uint64_t>();
    return s;
  }
  if (j.is_object()) {
    ANNALS_RETURN_IF_ERROR(OnlyKeys(j, {"time", "position", "revision"}, "from"));
    if (j.size() != 1) return Invalid("from: exactly one of time, position, revision");
    if (j.contains("time")) {
      std::string text;
      ANNALS_RETURN_IF_ERROR(OptString(j, "time", &text));
      auto t = ParseRfc3339(text);
      if (!t) return Invalid("from.time: must be an RFC 3339 time");
      s.kind = StartAt::Kind::kTime;
      s.time = *t;
      return s;
    }
    s.kind = StartAt::Kind::kPosition;
    ANNALS_RETURN_IF_ERROR(OptUint(j, "position", &s.value));
    ANNALS_RETURN_IF_ERROR(OptUint(j, "revision", &s.value));
    return s;
  }
  return Invalid("from: 'start', 'end', a revision or position, or {\"time\": ...}");
}

Json SettingsToJson(const GroupSettings& s) {
  return Json{{"maxInFlight", s.max_in_flight},
              {"ackTimeoutMs", s.ack_timeout.count()},
              {"maxRetries", s.max_retries},
              {"retryBackoffMinMs", s.retry_backoff_min.count()},
              {"retryBackoffMaxMs", s.retry_backoff_max.count()},
              {"strategy", StrategyName(s.strategy)},
              {"checkpointAfterMs", s.checkpoint_after.count()},
              {"checkpointMaxCount", s.checkpoint_max_count},
              {"bufferSize", s.buffer_size},
              {"readBatch", s.read_batch},
              {"parkKeepsOrder", s.park_keeps_order},
              {"consumerTimeoutMs", s.consumer_timeout.count()},
              {"maxSubscribers", s.max_subscribers}};
}

Status SettingsFromJson(const Json& j, GroupSettings* s) {
  ANNALS_RETURN_IF_ERROR(
      OnlyKeys(j,
               {"maxInFlight", "ackTimeoutMs", "maxRetries", "retryBackoffMinMs",
                "retryBackoffMaxMs", "strategy", "checkpointAfterMs", "checkpointMaxCount",
                "bufferSize", "readBatch", "parkKeepsOrder", "consumerTimeoutMs", "maxSubscribers"},
               "settings"));
  ANNALS_RETURN_IF_ERROR(OptU32(j, "maxInFlight", &s->max_in_flight));
  ANNALS_RETURN_IF_ERROR(OptMs(j, "ackTimeoutMs", &s->ack_timeout));
  ANNALS_RETURN_IF_ERROR(OptU32(j, "maxRetries", &s->max_retries));
  ANNALS_RETURN_IF_ERROR(OptMs(j, "retryBackoffMinMs", &s->retry_backoff_min));
  ANNALS_RETURN_IF_ERROR(OptMs(j, "retryBackoffMaxMs", &s->retry_backoff_max));
  ANNALS_RETURN_IF_ERROR(OptMs(j, "checkpointAfterMs", &s->checkpoint_after));
  ANNALS_RETURN_IF_ERROR(OptU32(j, "checkpointMaxCount", &s->checkpoint_max_count));
  ANNALS_RETURN_IF_ERROR(OptU32(j, "bufferSize", &s->buffer_size));
  ANNALS_RETURN_IF_ERROR(OptU32(j, "readBatch", &s->read_batch));
  ANNALS_RETURN_IF_ERROR(OptMs(j, "consumerTimeoutMs", &s->consumer_timeout));
  ANNALS_RETURN_IF_ERROR(OptU32(j, "maxSubscribers", &s->max_subscribers));
  if (auto it = j.find("strategy"); it != j.end()) {
    auto st = it->is_string() ? ParseStrategy(it->get<std::string>()) : std::nullopt;
    if (!st) return Invalid("settings.strategy: roundRobin, dispatchToSingle or pinnedByStream");
    s->strategy = *st;
  }
  if (auto it = j.find("parkKeepsOrder"); it != j.end()) {
    if (!it->is_boolean()) return Invalid("settings.parkKeepsOrder: must be true or false");
    s->park_keeps_order = it->get<bool>();
  }
  if (s->max_in_flight == 0) return Invalid("settings.maxInFlight: must be at least 1");
  if (s->ack_timeout.count() == 0) return Invalid("settings.ackTimeoutMs: must be at least 1");
  if (s->buffer_size == 0) return Invalid("settings.bufferSize: must be at least 1");
  if (s->read_batch == 0) return Invalid("settings.readBatch: must be at least 1");
  if (s->checkpoint_max_count == 0) {
    return Invalid("settings.checkpointMaxCount: must be at least 1");
  }
  if (s->retry_backoff_max < s->retry_backoff_min) {
    return Invalid("settings.retryBackoffMaxMs: must not be below retryBackoffMinMs");
  }
  return Status::Ok();
}

Json DefinitionToJson(const GroupDefinition& d) {
  return Json{{"name", d.name},
              {"source", SourceToJson(d.source)},
              {"from", StartToJson(d.start)},
              {"settings", SettingsToJson(d.settings)},
              {"generation", d.generation},
              {"startCursor", d.start_cursor},
              {"paused", d.paused}};
}

Result<GroupDefinition> DefinitionFromJson(const Json& j) {
  ANNALS_RETURN_IF_ERROR(
      OnlyKeys(j, {"name", "source", "from", "settings", "generation", "startCursor", "paused"},
               "definition"));
  GroupDefinition d;
  ANNALS_RETURN_IF_ERROR(OptString(j, "name", &d.name));
  if (auto it = j.find("source"); it != j.end()) {
    auto s = SourceFromJson(*it);
    if (!s.ok()) return s.status();
    d.source = std::move(*s);
  }
  if (auto it = j.find("from"); it != j.end()) {
    auto s = StartFromJson(*it);
    if (!s.ok()) return s.status();
    d.start = *s;
  }
  if (auto it = j.find("settings"); it != j.end()) {
    ANNALS_RETURN_IF_ERROR(SettingsFromJson(*it, &d.settings));
  }
  ANNALS_RETURN_IF_ERROR(OptUint(j, "generation", &d.generation));
  ANNALS_RETURN_IF_ERROR(OptUint(j, "startCursor", &d.start_cursor));
  if (auto it = j.find("paused"); it != j.end() && it->is_boolean()) d.paused = it->get<bool>();
  return d;
}

std::string CheckpointJson(uint64_t generation, uint64_t cursor) {
  return Json{{"generation", generation}, {"cursor", cursor}}.dump();
}

Result<Checkpoint> ParseCheckpoint(std::string_view data) {
  auto j = ParseJson(data);
  if (!j.ok()) return j.status();
  Checkpoint c;
  if (!j->is_object()) return Invalid("checkpoint: not an object");
  ANNALS_RETURN_IF_ERROR(OptUint(*j, "generation", &c.generation));
  ANNALS_RETURN_IF_ERROR(OptUint(*j, "cursor", &c.cursor));
  return c;
}

std::string ParkedJson(uint64_t generation, const ParkedEntry& e) {
  return Json{{"generation", generation},         {"stream", e.stream},
              {"revision", e.revision.value},     {"position", e.position.value},
              {"eventId", e.event_id.ToString()}, {"reason", e.reason},
              {"attempts", e.attempts},           {"parkedAt", FormatRfc3339(e.parked_at)}}
      .dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<ParkedEntry> ParseParked(std::string_view data, uint64_t* generation) {
  auto j = ParseJson(data);
  if (!j.ok()) return j.status();
  if (!j->is_object()) return Invalid("parked: not an object");
  ParkedEntry e;
  *generation = 0;
  ANNALS_RETURN_IF_ERROR(OptUint(*j, "generation", generation));
  ANNALS_RETURN_IF_ERROR(OptString(*j, "stream", &e.stream));
  ANNALS_RETURN_IF_ERROR(OptUint(*j, "revision", &e.revision.value));
  ANNALS_RETURN_IF_ERROR(OptUint(*j, "position", &e.position.value));
  std::string id;
  ANNALS_RETURN_IF_ERROR(OptString(*j, "eventId", &id));
  auto uuid = Uuid::Parse(id);
  if (!uuid) return Invalid("parked.eventId: not a UUID");
  e.event_id = *uuid;
  ANNALS_RETURN_IF_ERROR(OptString(*j, "reason", &e.reason));
  ANNALS_RETURN_IF_ERROR(OptU32(*j, "attempts", &e.attempts));
  std::string at;
  ANNALS_RETURN_IF_ERROR(OptString(*j, "parkedAt", &at));
  if (auto t = ParseRfc3339(at)) e.parked_at = *t;
  return e;
}

std::string ParkedClearedJson(uint64_t generation, uint64_t through) {
  return Json{{"generation", generation}, {"through", through}}.dump();
}

Result<Checkpoint> ParseParkedCleared(std::string_view data) {
  auto j = ParseJson(data);
  if (!j.ok()) return j.status();
  if (!j->is_object()) return Invalid("parked marker: not an object");
  Checkpoint c;
  ANNALS_RETURN_IF_ERROR(OptUint(*j, "generation", &c.generation));
  ANNALS_RETURN_IF_ERROR(OptUint(*j, "through", &c.cursor));
  return c;
}

Result<Json> ParseJson(std::string_view text) {
  // nlohmann keeps the last of a repeated member; a definition with two `url`s or two `source`s
  // is refused instead, as the HTTP API refuses them everywhere (docs/http-api.md).
  std::vector<std::set<std::string>> members;  // of each object being parsed
  std::optional<std::string> repeated;
  auto callback = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      members.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      if (!members.empty()) members.pop_back();
    } else if (event == Json::parse_event_t::key && !members.empty() &&
               !members.back().insert(parsed.get<std::string>()).second && !repeated) {
      repeated = parsed.get<std::string>();
    }
    return true;
  };
  Json j = Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid("not valid JSON");
  if (repeated) return Invalid("member '" + *repeated + "' given twice");
  return j;
}

}  // namespace annals::delivery
