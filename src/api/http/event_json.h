// JSON shapes of the HTTP API's resources: events and stream info.
#pragma once

#include <cstdint>
#include <string>

#include "annals/event_store.h"
#include "api/http/json_fields.h"
#include "core/json_writer.h"

namespace annals::http {

// {"id","stream","type","revision","position","created","contentType","data","metadata"}:
// JSON data inline, other content types as a base64 string; metadata inline, null when empty.
void WriteEvent(JsonWriter& w, const RecordedEvent& event);
std::string EventJson(const RecordedEvent& event);

// The payload bytes after which a page of events (a read, an SSE batch) stops early on stores
// that honour max_bytes: `limit` events of up to 16 MiB each would otherwise be held, and
// encoded, at once. Pages are continued by their next revision or position, never by count.
inline constexpr uint64_t kPageBytes = 16 << 20;

// {"name","state","lastRevision","eventCount","lastPosition","created","lastUpdated"}.
void WriteStreamInfo(JsonWriter& w, const StreamInfo& info);

std::string_view StreamStateName(StreamState state);

}  // namespace annals::http
