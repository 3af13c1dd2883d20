// JSON shapes of the HTTP API's resources: events and stream info.
#pragma once

#include <string>

#include "annals/event_store.h"
#include "api/http/json_fields.h"
#include "core/json_writer.h"

namespace annals::http {

// {"id","stream","type","revision","position","created","contentType","data","metadata"}:
// JSON data inline, other content types as a base64 string; metadata inline, null when empty.
void WriteEvent(JsonWriter& w, const RecordedEvent& event);
std::string EventJson(const RecordedEvent& event);

// {"name","state","lastRevision","eventCount","lastPosition","created","lastUpdated"}.
void WriteStreamInfo(JsonWriter& w, const StreamInfo& info);

std::string_view StreamStateName(StreamState state);

}  // namespace annals::http
