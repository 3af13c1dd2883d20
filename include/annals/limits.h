// Input limits shared by every store and API, and the validation that enforces them.
#pragma once

#include <cstdint>
#include <string_view>

#include "annals/event_store.h"
#include "annals/status.h"

namespace annals {

struct Limits {
  uint64_t max_event_bytes = 16ull << 20;   // data + metadata of one event
  uint64_t max_append_bytes = 64ull << 20;  // all events of one append, with names
  uint64_t max_events_per_append = 100000;
  uint32_t max_stream_name_bytes = 1000;
  uint32_t max_event_type_bytes = 255;
  uint32_t max_content_type_bytes = 127;
};

// A stream name: 1..max bytes of valid UTF-8 with no C0 control characters or DEL. A user stream
// must not start with '$' (`allow_system` lets the store's own metadata path through).
Status ValidateStreamName(std::string_view name, const Limits& limits, bool allow_system = false);
// An event type: 1..max bytes of valid UTF-8, no C0 control characters or DEL, not starting with
// '$'.
Status ValidateEventType(std::string_view type, const Limits& limits);
// Validates a whole append (names, types, sizes, JSON where declared) before any store work.
// The names an append creates must also be free of C1 control characters (U+0080..U+009F),
// which the two checks above accept: names stored before that rule stay readable.
Status ValidateAppend(const AppendRequest& request, const Limits& limits);
// True when `text` is a well-formed JSON document.
bool IsValidJson(std::string_view text);
bool IsValidUtf8(std::string_view text);

}  // namespace annals
