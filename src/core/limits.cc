#include "annals/limits.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/json_syntax.h"

namespace annals {
namespace {

Status Invalid(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

Status TooLarge(std::string message) { return Status(StatusCode::kTooLarge, std::move(message)); }

// The checks below return what is wrong with a value, or an empty string (no allocation) when
// nothing is; callers prefix the field, e.g. "stream: " or "events[3].type: ", so the message
// says which one of many values was refused without formatting field names on success.

// The rules names (streams and event types) share.
std::string NameProblem(std::string_view name, uint32_t max_bytes) {
  if (name.empty()) return "must not be empty";
  if (name.size() > max_bytes) {
    return fmt::format("{} bytes, longer than the {}-byte limit", name.size(), max_bytes);
  }
  if (!IsValidUtf8(name)) return "not valid UTF-8";
  // Control characters make names unprintable in logs and terminals and ambiguous in URLs.
  // UTF-8 lead and continuation bytes are all >= 0x80, so a byte scan is exact.
  for (size_t i = 0; i < name.size(); ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f) return fmt::format("control character 0x{:02x} at byte {}", c, i);
  }
  return std::string();
}

// C1 control characters (U+0080..U+009F, in UTF-8 0xC2 0x80..0x9F) include CSI, a terminal
// escape. Refused in the names of new events only: stores written before this rule may hold
// such names, and their streams must stay readable and deletable by name.
std::string C1ControlProblem(std::string_view name) {
  for (size_t i = 0; i + 1 < name.size(); ++i) {
    if (static_cast<unsigned char>(name[i]) != 0xc2) continue;
    auto next = static_cast<unsigned char>(name[i + 1]);
    if (next >= 0x80 && next <= 0x9f) {
      return fmt::format("control character U+{:04X} at byte {}", next, i);
    }
  }
  return std::string();
}

std::string EventTypeProblem(std::string_view type, const Limits& limits) {
  std::string problem = NameProblem(type, limits.max_event_type_bytes);
  if (problem.empty() && IsSystemName(type)) {
    problem = "types starting with '$' are reserved for system events";
  }
  return problem;
}

// A MIME type travels in HTTP headers, where only printable ASCII is safe.
std::string ContentTypeProblem(std::string_view content_type, const Limits& limits) {
  if (content_type.empty()) return "must not be empty";
  if (content_type.size() > limits.max_content_type_bytes) {
    return fmt::format("{} bytes, longer than the {}-byte limit", content_type.size(),
                       limits.max_content_type_bytes);
  }
  for (size_t i = 0; i < content_type.size(); ++i) {
    auto c = static_cast<unsigned char>(content_type[i]);
    if (c < 0x20 || c > 0x7e) {
      return fmt::format("byte 0x{:02x} at byte {} is not printable ASCII", c, i);
    }
  }
  return std::string();
}

// Ids must be unique within one request: two events with one id could not both be found
// again by id, and idempotent retries match events by id.
Status ValidateUniqueIds(const std::vector<ProposedEvent>& events) {
  std::vector<std::pair<Uuid, size_t>> ids;  // (id, index in the request)
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].id) ids.emplace_back(*events[i].id, i);
  }
  if (ids.size() < 2) return Status::Ok();
  std::sort(ids.begin(), ids.end());
  // Within a run of equal ids the indices ascend, so the run's second entry is its first
  // repetition and the entry before it the original. Report the repetition that comes first
  // in the request, so the message does not depend on the ids' values.
  size_t repeat = events.size();
  size_t original = 0;
  for (size_t i = 1; i < ids.size(); ++i) {
    if (ids[i].first == ids[i - 1].first && ids[i].second < repeat) {
      repeat = ids[i].second;
      original = ids[i - 1].second;
    }
  }
  if (repeat == events.size()) return Status::Ok();
  return Invalid(fmt::format("events[{}].id: {} is also the id of events[{}]", repeat,
                             events[repeat].id->ToString(), original));
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  // Names, types and metadata values are mostly short ASCII, for which simdjson's dispatch to
  // its implementation costs more than the check (7% of a decoded `$all` read's client).
  if (text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x80;
      })) {
    return true;
  }
  return simdjson::validate_utf8(text);
}

bool IsValidJson(std::string_view text) { return JsonSyntaxError(text).empty(); }

Status ValidateStreamName(std::string_view name, const Limits& limits, bool allow_system) {
  if (std::string problem = NameProblem(name, limits.max_stream_name_bytes); !problem.empty()) {
    return Invalid("stream: " + problem);
  }
  if (!allow_system && IsSystemName(name)) {
    return Invalid("stream: names starting with '$' are reserved for system streams");
  }
  return Status::Ok();
}

Status ValidateEventType(std::string_view type, const Limits& limits) {
  if (std::string problem = EventTypeProblem(type, limits); !problem.empty()) {
    return Invalid("type: " + problem);
  }
  return Status::Ok();
}

// Cheap checks first, over every event, and the total size before any JSON is parsed: a
// request over the limits is refused without reading its payloads.
Status ValidateAppend(const AppendRequest& request, const Limits& limits) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(request.stream, limits, request.system_writer));
  if (std::string problem = C1ControlProblem(request.stream); !problem.empty()) {
    return Invalid("stream: " + problem);
  }
  if (request.stream.starts_with("$$")) {
    return Invalid("stream: '$$' metadata streams are written only through stream metadata");
  }
  const std::vector<ProposedEvent>& events = request.events;
  if (events.empty()) return Invalid("events: must contain at least one event");
  if (events.size() > limits.max_events_per_append) {
    return TooLarge(fmt::format("events: {} events, more than the {}-event limit", events.size(),
                                limits.max_events_per_append));
  }

  uint64_t total_bytes = request.stream.size();
  for (size_t i = 0; i < events.size(); ++i) {
    const ProposedEvent& event = events[i];
    std::string problem = EventTypeProblem(event.type, limits);
    if (problem.empty()) problem = C1ControlProblem(event.type);
    if (!problem.empty()) return Invalid(fmt::format("events[{}].type: {}", i, problem));
    if (std::string problem = ContentTypeProblem(event.content_type, limits); !problem.empty()) {
      return Invalid(fmt::format("events[{}].content_type: {}", i, problem));
    }
    if (event.id && event.id->IsNil()) {
      return Invalid(fmt::format("events[{}].id: must not be the nil UUID", i));
    }
    uint64_t event_bytes = event.data.size() + event.metadata.size();
    if (event_bytes > limits.max_event_bytes) {
      return TooLarge(
          fmt::format("events[{}]: data and metadata are {} bytes, more than the {}-byte limit", i,
                      event_bytes, limits.max_event_bytes));
    }
    total_bytes += event_bytes + event.type.size() + event.content_type.size();
  }
  if (total_bytes > limits.max_append_bytes) {
    return TooLarge(
        fmt::format("append: {} bytes (data, metadata, types, content types and stream name), more "
                    "than the {}-byte limit",
                    total_bytes, limits.max_append_bytes));
  }
  ANNALS_RETURN_IF_ERROR(ValidateUniqueIds(events));

  for (size_t i = 0; i < events.size(); ++i) {
    const ProposedEvent& event = events[i];
    // Empty data is an event without a payload, allowed whatever the content type: a JSON
    // event with nothing to say need not invent a "{}".
    if (!event.data.empty() && event.content_type == kContentTypeJson) {
      std::string error = JsonSyntaxError(event.data);
      if (!error.empty()) {
        return Invalid(fmt::format("events[{}].data: not valid JSON (content type {}): {}", i,
                                   kContentTypeJson, error));
      }
    }
    if (!event.metadata.empty()) {
      std::string error = JsonSyntaxError(event.metadata);
      if (!error.empty()) {
        return Invalid(fmt::format("events[{}].metadata: not valid JSON: {}", i, error));
      }
    }
  }
  return Status::Ok();
}

}  // namespace annals
