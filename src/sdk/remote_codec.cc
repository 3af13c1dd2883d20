#include "sdk/remote_codec.h"

#include <simdjson.h>

#include <ctime>

#include "core/base64.h"
#include "core/json_writer.h"
#include "core/rfc3339.h"
#include "core/stream_metadata_codec.h"

namespace annals::sdk {
namespace {

namespace od = simdjson::ondemand;

Status Protocol(std::string_view what) {
  return Status(StatusCode::kInternal, "unexpected answer from the server: " + std::string(what));
}

// simdjson reads up to SIMDJSON_PADDING bytes past the end of its input.
simdjson::simdjson_result<od::document> Parse(od::parser& parser, std::string& body) {
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  return parser.iterate(body.data(), body.size(), body.capacity());
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// The text of any value exactly as the server wrote it (event data is byte for byte).
bool RawValue(od::value v, std::string_view* out) {
  od::json_type t;
  if (v.type().get(t)) return false;
  if (t == od::json_type::object) {
    od::object o;
    return !v.get_object().get(o) && !o.raw_json().get(*out);
  }
  if (t == od::json_type::array) {
    od::array a;
    return !v.get_array().get(a) && !a.raw_json().get(*out);
  }
  *out = Trim(v.raw_json_token());
  return true;
}

bool IsNull(od::value v) {
  bool null = false;
  return !v.is_null().get(null) && null;
}

// An optional unsigned number: nullopt for JSON null.
bool OptUint(od::value v, std::optional<uint64_t>* out) {
  if (IsNull(v)) {
    out->reset();
    return true;
  }
  uint64_t n;
  if (v.get_uint64().get(n)) return false;
  *out = n;
  return true;
}

bool ReadEvent(od::object o, RecordedEvent* e, PollExtras* extras = nullptr) {
  std::string_view data_raw;
  bool data_null = false;
  for (auto field : o) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    od::value v;
    if (field.value().get(v)) return false;
    std::string_view s;
    uint64_t n;
    if (key == "id") {
      if (v.get_string().get(s)) return false;
      auto id = Uuid::Parse(s);
      if (!id) return false;
      e->id = *id;
    } else if (key == "stream") {
      if (v.get_string().get(s)) return false;
      e->stream = std::string(s);
    } else if (key == "type") {
      if (v.get_string().get(s)) return false;
      e->type = std::string(s);
    } else if (key == "revision") {
      if (v.get_uint64().get(n)) return false;
      e->revision = Revision{n};
    } else if (key == "position") {
      if (v.get_uint64().get(n)) return false;
      e->position = Position{n};
    } else if (key == "created") {
      if (v.get_string().get(s)) return false;
      auto t = ParseRfc3339(s);
      if (!t) return false;
      e->created = *t;
    } else if (key == "contentType") {
      if (v.get_string().get(s)) return false;
      e->content_type = std::string(s);
    } else if (key == "data") {
      // Decoded after the loop: how depends on contentType, which may come later.
      if (IsNull(v)) {
        data_null = true;
      } else if (!RawValue(v, &data_raw)) {
        return false;
      }
    } else if (key == "metadata") {
      if (IsNull(v)) {
        e->metadata.clear();
      } else {
        if (!RawValue(v, &s)) return false;
        e->metadata = std::string(s);
      }
    } else if (extras != nullptr && key == "ackId") {
      if (v.get_string().get(s)) return false;
      extras->ack_id = std::string(s);
    } else if (extras != nullptr && key == "deliveryCount") {
      if (v.get_uint64().get(n)) return false;
      extras->delivery_count = static_cast<uint32_t>(n);
    } else if (extras != nullptr && key == "replayed") {
      if (v.get_bool().get(extras->replayed)) return false;
    }
  }
  if (data_null) {
    e->data.clear();
  } else if (e->IsJson()) {
    e->data = std::string(data_raw);
  } else {
    // A JSON string: strip its quotes; base64 has no escapes.
    if (data_raw.size() < 2 || data_raw.front() != '"') return false;
    auto bytes = Base64Decode(data_raw.substr(1, data_raw.size() - 2));
    if (!bytes) return false;
    e->data = std::move(*bytes);
  }
  return true;
}

bool ReadEvents(od::value v, std::vector<RecordedEvent>* out) {
  od::array a;
  if (v.get_array().get(a)) return false;
  for (auto item : a) {
    od::object o;
    if (item.get_object().get(o)) return false;
    RecordedEvent e;
    if (!ReadEvent(o, &e)) return false;
    out->push_back(std::move(e));
  }
  return true;
}

// Runs `member(key, value)` for each member of the top-level object; false on any failure.
template <typename F>
bool ForEachMember(std::string& body, F&& member) {
  thread_local od::parser parser;
  od::document doc;
  if (Parse(parser, body).get(doc)) return false;
  od::object o;
  if (doc.get_object().get(o)) return false;
  for (auto field : o) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    od::value v;
    if (field.value().get(v)) return false;
    if (!member(key, v)) return false;
  }
  return true;
}

StatusCode CodeOfProblem(std::string_view type) {
  struct Entry {
    std::string_view slug;
    StatusCode code;
  };
  static constexpr Entry kTable[] = {
      {"invalid-argument", StatusCode::kInvalidArgument},
      {"too-large", StatusCode::kTooLarge},
      {"not-found", StatusCode::kNotFound},
      {"wrong-expected-revision", StatusCode::kWrongExpectedRevision},
      {"idempotency-conflict", StatusCode::kIdempotencyConflict},
      {"stream-deleted", StatusCode::kStreamDeleted},
      {"unauthenticated", StatusCode::kUnauthenticated},
      {"permission-denied", StatusCode::kPermissionDenied},
      {"unavailable", StatusCode::kUnavailable},
      {"corruption", StatusCode::kCorruption},
      {"io-error", StatusCode::kIoError},
      {"internal", StatusCode::kInternal},
      // HTTP-level kinds a well-formed SDK request should not meet.
      {"unsupported-media-type", StatusCode::kInvalidArgument},
      {"malformed-request", StatusCode::kInvalidArgument},
      {"header-too-large", StatusCode::kTooLarge},
  };
  const size_t slash = type.rfind('/');
  const std::string_view slug = slash == std::string_view::npos ? type : type.substr(slash + 1);
  for (const Entry& e : kTable) {
    if (e.slug == slug) return e.code;
  }
  return StatusCode::kInternal;
}

StatusCode CodeOfHttpStatus(long status) {
  switch (status) {
    case 400:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return StatusCode::kWrongExpectedRevision;
    case 410:
      return StatusCode::kStreamDeleted;
    case 413:
      return StatusCode::kTooLarge;
    case 429:
    case 502:
    case 503:
    case 504:
      return StatusCode::kUnavailable;
    default:
      return StatusCode::kInternal;
  }
}

std::optional<ExpectedRevision> ExpectedOf(od::value v) {
  od::json_type t;
  if (v.type().get(t)) return std::nullopt;
  if (t == od::json_type::number) {
    uint64_t n;
    if (v.get_uint64().get(n)) return std::nullopt;
    return ExpectedRevision::Exact(Revision{n});
  }
  std::string_view s;
  if (v.get_string().get(s)) return std::nullopt;
  return ExpectedRevision::Parse(s);
}

}  // namespace

std::string AppendBody(const AppendRequest& request) {
  JsonWriter w;
  size_t bytes = 64;
  for (const ProposedEvent& e : request.events) bytes += e.data.size() * 4 / 3 + 128;
  w.Reserve(bytes);
  w.BeginObject();
  w.Key("expectedRevision");
  if (request.expected.kind() == ExpectedRevision::Kind::kExact) {
    w.Uint(request.expected.revision().value);
  } else {
    w.String(request.expected.ToString());
  }
  w.Key("events");
  w.BeginArray();
  for (const ProposedEvent& e : request.events) {
    w.BeginObject();
    if (e.id) {
      w.Key("id");
      w.String(e.id->ToString());
    }
    w.Key("type");
    w.String(e.type);
    w.Key("contentType");
    w.String(e.content_type);
    w.Key("data");
    if (e.content_type == kContentTypeJson) {
      // Sent as is: the server validates it, and refuses what the engine would refuse.
      if (e.data.empty()) {
        w.Null();
      } else {
        w.Raw(e.data);
      }
    } else {
      w.String(Base64Encode(e.data));
    }
    if (!e.metadata.empty()) {
      w.Key("metadata");
      w.Raw(e.metadata);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Take();
}

Status StatusFromProblem(long http_status, std::string_view body_view, const std::string& stream) {
  std::string body(body_view);
  std::string type;
  std::string detail;
  std::optional<ExpectedRevision> expected;
  std::optional<uint64_t> actual;
  bool has_actual = false;
  const bool parsed = ForEachMember(body, [&](std::string_view key, od::value v) {
    std::string_view s;
    if (key == "type" && !v.get_string().get(s)) type = std::string(s);
    if (key == "detail" && !v.get_string().get(s)) detail = std::string(s);
    if (key == "expectedRevision") expected = ExpectedOf(v);
    if (key == "actualRevision") has_actual = OptUint(v, &actual);
    return true;
  });
  if (!parsed || type.empty()) {
    return Status(CodeOfHttpStatus(http_status),
                  "HTTP " + std::to_string(http_status) + ": " + std::string(body_view));
  }
  const StatusCode code = CodeOfProblem(type);
  if (code == StatusCode::kWrongExpectedRevision && expected && has_actual) {
    std::optional<Revision> actual_revision;
    if (actual) actual_revision = Revision{*actual};
    return Status::WrongRevision(stream, RevisionConflict{*expected, actual_revision});
  }
  return Status(code, detail.empty() ? type : detail);
}

Result<AppendResult> ParseAppendResult(std::string body, bool idempotent) {
  AppendResult r;
  r.idempotent = idempotent;
  uint64_t n;
  const bool ok = ForEachMember(body, [&](std::string_view key, od::value v) {
    if (key == "firstRevision") {
      if (v.get_uint64().get(n)) return false;
      r.first_revision = Revision{n};
    } else if (key == "lastRevision") {
      if (v.get_uint64().get(n)) return false;
      r.last_revision = Revision{n};
    } else if (key == "position") {
      if (v.get_uint64().get(n)) return false;
      r.position = Position{n};
    }
    return true;
  });
  if (!ok) return Protocol("append result");
  return r;
}

Result<ReadStreamResult> ParseReadStream(std::string body) {
  ReadStreamResult r;
  const bool ok = ForEachMember(body, [&](std::string_view key, od::value v) {
    if (key == "events") return ReadEvents(v, &r.events);
    std::optional<uint64_t> n;
    if (key == "nextRevision") {
      if (!OptUint(v, &n)) return false;
      if (n) r.next = Revision{*n};
    } else if (key == "lastRevision") {
      if (!OptUint(v, &n)) return false;
      r.last_revision = Revision{n.value_or(0)};
    }
    return true;
  });
  if (!ok) return Protocol("stream page");
  return r;
}

Result<ReadAllResult> ParseReadAll(std::string body) {
  ReadAllResult r;
  const bool ok = ForEachMember(body, [&](std::string_view key, od::value v) {
    if (key == "events") return ReadEvents(v, &r.events);
    if (key == "nextPosition") {
      uint64_t n;
      if (v.get_uint64().get(n)) return false;
      r.next = Position{n};
    } else if (key == "endOfLog") {
      if (v.get_bool().get(r.end_of_log)) return false;
    }
    return true;
  });
  if (!ok) return Protocol("$all page");
  return r;
}

Result<ListStreamsResult> ParseListStreams(std::string body) {
  ListStreamsResult r;
  const bool ok = ForEachMember(body, [&](std::string_view key, od::value v) {
    if (key == "nextAfter") {
      std::string_view s;
      if (IsNull(v)) return true;
      if (v.get_string().get(s)) return false;
      r.next_after = std::string(s);
      return true;
    }
    if (key != "streams") return true;
    od::array a;
    if (v.get_array().get(a)) return false;
    for (auto item : a) {
      od::object o;
      if (item.get_object().get(o)) return false;
      StreamInfo info;
      for (auto field : o) {
        std::string_view k;
        od::value fv;
        if (field.unescaped_key().get(k) || field.value().get(fv)) return false;
        std::string_view s;
        std::optional<uint64_t> n;
        if (k == "name") {
          if (fv.get_string().get(s)) return false;
          info.name = std::string(s);
        } else if (k == "state") {
          if (fv.get_string().get(s)) return false;
          info.state = s == "softDeleted"  ? StreamState::kSoftDeleted
                       : s == "tombstoned" ? StreamState::kTombstoned
                                           : StreamState::kActive;
        } else if (k == "lastRevision") {
          if (!OptUint(fv, &n)) return false;
          if (n) info.last_revision = Revision{*n};
        } else if (k == "eventCount") {
          if (!OptUint(fv, &n)) return false;
          info.event_count = n.value_or(0);
        } else if (k == "lastPosition") {
          if (!OptUint(fv, &n)) return false;
          info.last_position = Position{n.value_or(0)};
        } else if (k == "created" || k == "lastUpdated") {
          if (IsNull(fv)) continue;
          if (fv.get_string().get(s)) return false;
          auto t = ParseRfc3339(s);
          if (!t) return false;
          (k == "created" ? info.created : info.last_updated) = *t;
        }
      }
      r.streams.push_back(std::move(info));
    }
    return true;
  });
  if (!ok) return Protocol("stream catalog");
  return r;
}

Result<StreamMetadataResult> ParseMetadata(std::string body) {
  StreamMetadataResult r;
  std::string metadata_json;
  const bool ok = ForEachMember(body, [&](std::string_view key, od::value v) {
    if (key == "metadataRevision") {
      std::optional<uint64_t> n;
      if (!OptUint(v, &n)) return false;
      if (n) r.metadata_revision = Revision{*n};
    } else if (key == "metadata") {
      std::string_view raw;
      if (IsNull(v)) return true;
      if (!RawValue(v, &raw)) return false;
      metadata_json = std::string(raw);
    }
    return true;
  });
  if (!ok) return Protocol("stream metadata");
  if (!metadata_json.empty()) {
    Result<StreamMetadata> m = ParseStreamMetadataJson(metadata_json);
    if (!m.ok()) return Protocol("stream metadata: " + m.status().message());
    r.metadata = std::move(m).value();
  }
  return r;
}

Result<Position> ParsePosition(std::string body) {
  std::optional<Position> p;
  const bool ok = ForEachMember(body, [&](std::string_view key, od::value v) {
    uint64_t n;
    if (key == "position" || key == "head") {
      if (v.get_uint64().get(n)) return false;
      p = Position{n};
    }
    return true;
  });
  if (!ok || !p) return Protocol("position");
  return *p;
}

Result<AppendResult> ParseMetadataWrite(std::string body) {
  AppendResult r;
  bool have = false;
  const bool ok = ForEachMember(body, [&](std::string_view key, od::value v) {
    uint64_t n;
    if (key == "metadataRevision") {
      if (v.get_uint64().get(n)) return false;
      r.first_revision = r.last_revision = Revision{n};
      have = true;
    } else if (key == "position") {
      if (v.get_uint64().get(n)) return false;
      r.position = Position{n};
    }
    return true;
  });
  if (!ok || !have) return Protocol("metadata write");
  return r;
}

Result<Position> ParseHead(std::string body) { return ParsePosition(std::move(body)); }

Result<std::vector<PolledEvent>> ParsePoll(std::string body) {
  std::vector<PolledEvent> out;
  const bool ok = ForEachMember(body, [&](std::string_view key, od::value v) {
    if (key != "events") return true;
    od::array a;
    if (v.get_array().get(a)) return false;
    for (auto item : a) {
      od::object o;
      if (item.get_object().get(o)) return false;
      PolledEvent p;
      if (!ReadEvent(o, &p.event, &p.extras)) return false;
      out.push_back(std::move(p));
    }
    return true;
  });
  if (!ok) return Protocol("poll");
  return out;
}

Result<RecordedEvent> ParseEvent(std::string body) {
  thread_local od::parser parser;
  od::document doc;
  od::object o;
  RecordedEvent e;
  if (Parse(parser, body).get(doc) || doc.get_object().get(o) || !ReadEvent(o, &e)) {
    return Protocol("event");
  }
  return e;
}

}  // namespace annals::sdk
