#include "api/http/event_json.h"

#include "api/http/encoding.h"
#include "core/rfc3339.h"

namespace annals::http {

void WriteEvent(JsonWriter& w, const RecordedEvent& e) {
  w.BeginObject();
  Field(w, "id", e.id.ToString());
  Field(w, "stream", e.stream);
  Field(w, "type", e.type);
  FieldUint(w, "revision", e.revision.value);
  FieldUint(w, "position", e.position.value);
  Field(w, "created", FormatRfc3339(e.created));
  Field(w, "contentType", e.content_type);
  w.Key("data");
  if (e.IsJson()) {
    // Stored JSON was validated on append, so it is copied as it came, byte for byte.
    if (e.data.empty()) {
      w.Null();
    } else {
      w.Raw(e.data);
    }
  } else {
    w.String(Base64Encode(e.data));
  }
  w.Key("metadata");
  if (e.metadata.empty()) {
    w.Null();
  } else {
    w.Raw(e.metadata);
  }
  w.EndObject();
}

std::string EventJson(const RecordedEvent& event) {
  JsonWriter w;
  WriteEvent(w, event);
  return w.Take();
}

std::string_view StreamStateName(StreamState state) {
  switch (state) {
    case StreamState::kActive:
      return "active";
    case StreamState::kSoftDeleted:
      return "softDeleted";
    case StreamState::kTombstoned:
      return "tombstoned";
  }
  return "unknown";
}

void WriteStreamInfo(JsonWriter& w, const StreamInfo& info) {
  w.BeginObject();
  Field(w, "name", info.name);
  Field(w, "state", StreamStateName(info.state));
  w.Key("lastRevision");
  if (info.last_revision) {
    w.Uint(info.last_revision->value);
  } else {
    w.Null();
  }
  FieldUint(w, "eventCount", info.event_count);
  const bool any = info.event_count > 0;
  w.Key("lastPosition");
  if (any) {
    w.Uint(info.last_position.value);
  } else {
    w.Null();
  }
  w.Key("created");
  if (any) {
    w.String(FormatRfc3339(info.created));
  } else {
    w.Null();
  }
  w.Key("lastUpdated");
  if (any) {
    w.String(FormatRfc3339(info.last_updated));
  } else {
    w.Null();
  }
  w.EndObject();
}

}  // namespace annals::http
