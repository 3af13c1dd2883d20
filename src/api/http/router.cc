#include "api/http/router.h"

#include <simdjson.h>

#include <algorithm>

#include "annals/engine.h"
#include "annals/limits.h"
#include "api/http/auth.h"
#include "api/http/delivery_routes.h"
#include "api/http/encoding.h"
#include "api/http/event_json.h"
#include "api/http/json_fields.h"
#include "api/http/problem.h"
#include "core/json_writer.h"
#include "core/stream_metadata_codec.h"

namespace annals::http {

namespace {

namespace od = simdjson::ondemand;

Response JsonResponse(unsigned status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = std::string(kJson);
  r.body = std::move(body);
  return r;
}

Routed Answer(Route route, Response response) { return Routed{route, std::move(response)}; }

Routed Fail(Route route, ProblemKind kind, std::string detail, std::string_view instance,
            std::string field = {}) {
  Problem p;
  p.kind = kind;
  p.detail = std::move(detail);
  p.instance = std::string(instance);
  p.field = std::move(field);
  return Answer(route, ProblemResponse(p));
}

Routed FailStatus(Route route, const Status& status, std::string_view instance) {
  return Answer(route, ProblemResponse(ProblemFromStatus(status, std::string(instance))));
}

Routed NotAllowed(Route route, std::string_view method, std::string_view allow,
                  std::string_view instance) {
  Problem p;
  p.kind = ProblemKind::kMethodNotAllowed;
  p.detail = std::string(method) + " is not allowed here";
  p.instance = std::string(instance);
  Response r = ProblemResponse(p);
  r.AddHeader("Allow", std::string(allow));
  return Answer(route, std::move(r));
}

// The query parameters of one request: each read marks a name as known; Unknown() names the
// first parameter no one asked for (a typo such as `limt` is an error, not silently ignored).
class Query {
 public:
  explicit Query(QueryParams params) : params_(std::move(params)), used_(params_.size()) {}

  // The value of a parameter that may appear once; `*dup` is set when it appears twice.
  std::optional<std::string> One(std::string_view name, bool* dup) {
    std::optional<std::string> v;
    for (size_t i = 0; i < params_.size(); ++i) {
      if (params_[i].first != name) continue;
      used_[i] = true;
      if (v) *dup = true;
      v = params_[i].second;
    }
    return v;
  }
  std::vector<std::string> All(std::string_view name) {
    std::vector<std::string> out;
    for (size_t i = 0; i < params_.size(); ++i) {
      if (params_[i].first != name) continue;
      used_[i] = true;
      out.push_back(params_[i].second);
    }
    return out;
  }
  std::optional<std::string> Unknown() const {
    for (size_t i = 0; i < params_.size(); ++i) {
      if (!used_[i]) return params_[i].first;
    }
    return std::nullopt;
  }
  // The first parameter whose (decoded) value is not UTF-8: names, types, prefixes and
  // regexes all are, and PostgreSQL refused such text with its own error.
  std::optional<std::string> NotUtf8() const {
    for (const auto& [name, value] : params_) {
      if (!IsValidUtf8(value)) return name;
    }
    return std::nullopt;
  }

 private:
  QueryParams params_;
  std::vector<bool> used_;
};

// A query value for a bool: exactly `true` or `false`. A bare `?tombstone` or `tombstone=1`
// must not delete a stream for ever by a guess at what the client meant.
std::optional<bool> ParseBool(std::string_view v) {
  if (v == "true") return true;
  if (v == "false") return false;
  return std::nullopt;
}

bool IsJsonMediaType(std::string_view content_type) {
  const std::string m = MediaTypeOf(content_type);
  return m == "application/json" || (m.size() > 5 && m.compare(m.size() - 5, 5, "+json") == 0 &&
                                     m.compare(0, 12, "application/") == 0);
}

bool WantsEventStream(std::string_view accept) {
  // Any listed media type equal to text/event-stream (q-values are not weighed: a client that
  // lists it at all is a subscriber).
  size_t start = 0;
  while (start <= accept.size()) {
    const size_t comma = accept.find(',', start);
    const std::string_view part =
        accept.substr(start, comma == std::string_view::npos ? accept.npos : comma - start);
    if (MediaTypeOf(part) == kEventStream) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

// Pads `body` for simdjson (the parser reads a few bytes past the end) and parses it.
simdjson::simdjson_result<od::document> ParseBody(std::string& body) {
  thread_local od::parser parser;
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
  return parser.iterate(body.data(), body.size(), body.capacity());
}

std::string_view TrimJson(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// The raw text of any JSON value, as it appears in the document.
simdjson::error_code RawValue(od::value& v, std::string_view* out) {
  od::json_type t;
  if (auto e = v.type().get(t)) return e;
  if (t == od::json_type::object) {
    od::object o;
    if (auto e = v.get_object().get(o)) return e;
    return o.raw_json().get(*out);
  }
  if (t == od::json_type::array) {
    od::array a;
    if (auto e = v.get_array().get(a)) return e;
    return a.raw_json().get(*out);
  }
  *out = TrimJson(v.raw_json_token());
  return simdjson::SUCCESS;
}

// Parses "any", "no_stream", "stream_exists" or a revision, as a JSON value.
std::optional<ExpectedRevision> ExpectedFromJson(od::value& v) {
  od::json_type t;
  if (v.type().get(t)) return std::nullopt;
  if (t == od::json_type::number) {
    uint64_t n;
    if (v.get_uint64().get(n)) return std::nullopt;
    return ExpectedRevision::Exact(Revision{n});
  }
  if (t == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return std::nullopt;
    return ExpectedRevision::Parse(s);
  }
  return std::nullopt;
}

struct ParseError {
  std::string field;
  std::string detail;
};

std::string JsonErrorDetail(simdjson::error_code e) {
  return std::string("the body is not valid JSON: ") + simdjson::error_message(e);
}

// The known members of one JSON object, each allowed once. JSON leaves a repeated member's
// meaning open and parsers disagree (the first wins, the last, or both), so a second one is
// refused instead of guessed at: `{"expectedRevision":"no_stream","expectedRevision":"any"}`.
class MembersOnce {
 public:
  explicit MembersOnce(std::span<const std::string_view> known) : known_(known) {}
  // True when `key` is one of the known members and was seen before.
  bool Repeated(std::string_view key) {
    for (size_t i = 0; i < known_.size(); ++i) {
      if (known_[i] != key) continue;
      const bool repeated = seen_ & (1u << i);
      seen_ |= 1u << i;
      return repeated;
    }
    return false;
  }

 private:
  std::span<const std::string_view> known_;  // at most 32
  uint32_t seen_ = 0;
};

// Decodes one element of `events`.
std::optional<ParseError> ParseEvent(od::value& v, size_t index, ProposedEvent* out) {
  const std::string at = "events[" + std::to_string(index) + "]";
  od::object obj;
  if (v.get_object().get(obj)) return ParseError{at, "an event must be a JSON object"};
  std::optional<std::string_view> data_raw;
  std::optional<std::string> data_string;  // when `data` is a JSON string: its value
  bool have_type = false;
  bool have_content_type = false;
  static constexpr std::string_view kMembers[] = {"id", "type", "contentType", "data", "metadata"};
  MembersOnce members(kMembers);
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return ParseError{at, JsonErrorDetail(e)};
    if (members.Repeated(key)) return ParseError{at + "." + std::string(key), "given twice"};
    od::value value;
    if (auto e = field.value().get(value)) return ParseError{at, JsonErrorDetail(e)};
    if (key == "id") {
      std::string_view s;
      if (value.get_string().get(s)) return ParseError{at + ".id", "must be a UUID string"};
      auto id = Uuid::Parse(s);
      if (!id) return ParseError{at + ".id", "'" + std::string(s) + "' is not a UUID"};
      out->id = *id;
    } else if (key == "type") {
      std::string_view s;
      if (value.get_string().get(s)) return ParseError{at + ".type", "must be a string"};
      out->type = std::string(s);
      have_type = true;
    } else if (key == "contentType") {
      std::string_view s;
      if (value.get_string().get(s)) return ParseError{at + ".contentType", "must be a string"};
      out->content_type = std::string(s);
      have_content_type = true;
    } else if (key == "data") {
      od::json_type t;
      if (auto e = value.type().get(t)) return ParseError{at + ".data", JsonErrorDetail(e)};
      if (t == od::json_type::string) {
        std::string_view s;
        // Take the raw token first (JSON data keeps its exact bytes), then the decoded value.
        data_raw = TrimJson(value.raw_json_token());
        if (auto e = value.get_string().get(s)) return ParseError{at + ".data", JsonErrorDetail(e)};
        data_string = std::string(s);
      } else {
        std::string_view raw;
        if (auto e = RawValue(value, &raw)) return ParseError{at + ".data", JsonErrorDetail(e)};
        data_raw = raw;
      }
    } else if (key == "metadata") {
      od::json_type t;
      if (auto e = value.type().get(t)) return ParseError{at + ".metadata", JsonErrorDetail(e)};
      if (t != od::json_type::null) {
        std::string_view raw;
        if (auto e = RawValue(value, &raw)) {
          return ParseError{at + ".metadata", JsonErrorDetail(e)};
        }
        out->metadata = std::string(raw);
      } else {
        bool is_null = false;
        if (auto e = value.is_null().get(is_null)) {
          return ParseError{at + ".metadata", JsonErrorDetail(e)};
        }
      }
    } else {
      return ParseError{at + "." + std::string(key), "unknown member"};
    }
  }
  if (!have_type) return ParseError{at + ".type", "is required"};
  if (!have_content_type) out->content_type = std::string(kContentTypeJson);
  if (!data_raw) return ParseError{at + ".data", "is required"};
  if (out->content_type == kContentTypeJson) {
    out->data = std::string(*data_raw);
  } else {
    if (!data_string) {
      return ParseError{at + ".data",
                        "must be a base64 string for content type '" + out->content_type + "'"};
    }
    auto bytes = Base64Decode(*data_string);
    if (!bytes) return ParseError{at + ".data", "is not valid base64"};
    out->data = std::move(*bytes);
  }
  return std::nullopt;
}

}  // namespace

Router::Router(EventStore* store, Engine* engine, Metrics* metrics, const Authorizer* authorizer,
               RouterOptions options)
    : store_(store),
      engine_(engine),
      metrics_(metrics),
      authorizer_(authorizer),
      options_(std::move(options)) {}

Routed Router::Dispatch(Request& req) const {
  const std::string_view target = req.target;
  const size_t qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::string_view query =
      qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1);
  if (path.empty() || path[0] != '/') {
    return Fail(Route::kUnmatched, ProblemKind::kInvalidArgument, "the target must be a path",
                path);
  }
  std::vector<std::string_view> segs;
  {
    std::string_view rest = path.substr(1);
    while (true) {
      const size_t slash = rest.find('/');
      segs.push_back(rest.substr(0, slash));
      if (slash == std::string_view::npos) break;
      rest = rest.substr(slash + 1);
    }
  }
  const std::string_view m = req.method;
  const bool get = m == "GET" || m == "HEAD";

  auto check = [&](Route route, Operation op, std::string_view stream) -> std::optional<Routed> {
    if (authorizer_ == nullptr) return std::nullopt;
    Status s = authorizer_->Check(req.principal, op, stream);
    if (s.ok()) return std::nullopt;
    if (metrics_ != nullptr) metrics_->AuthDenied(s.code() == StatusCode::kUnauthenticated);
    Routed r = FailStatus(route, s, path);
    if (s.code() == StatusCode::kUnauthenticated) {
      std::get<Response>(r.action).AddHeader("WWW-Authenticate", "Basic realm=\"annals\"");
      std::get<Response>(r.action).AddHeader("WWW-Authenticate", "Bearer realm=\"annals\"");
    }
    return r;
  };

  if (segs.size() == 2 && segs[0] == "health") {
    const Route route = segs[1] == "live"    ? Route::kHealthLive
                        : segs[1] == "ready" ? Route::kHealthReady
                                             : Route::kUnmatched;
    if (route == Route::kUnmatched) {
      return Fail(route, ProblemKind::kNoSuchRoute, "no such health check", path);
    }
    if (!get) return NotAllowed(route, m, "GET, HEAD", path);
    if (route == Route::kHealthLive) {
      Response r;
      r.status = 204;
      return Answer(route, std::move(r));
    }
    if (stopping()) {
      return Fail(route, ProblemKind::kUnavailable, "the server is shutting down", path);
    }
    // Not ready (503): a store that cannot reach its database, an engine whose writer
    // stopped after an I/O error; a load balancer should send the traffic elsewhere. The
    // check may take a round trip (at most one a second), so it does not run on an I/O thread.
    BlockingCall call;
    call.run = [this, instance = std::string(path)] {
      if (Status s = store_->CheckHealth(); !s.ok()) {
        return ProblemResponse(
            ProblemFromStatus(Status(StatusCode::kUnavailable, s.message()), instance));
      }
      return JsonResponse(200, "{\"status\":\"ready\"}");
    };
    return Routed{route, std::move(call)};
  }
  if (segs.size() == 1 && segs[0] == "info") {
    if (!get) return NotAllowed(Route::kInfo, m, "GET, HEAD", path);
    if (auto denied = check(Route::kInfo, Operation::kOperate, {})) return std::move(*denied);
    return Answer(Route::kInfo, Info());
  }
  if (segs.size() == 1 && segs[0] == "metrics") {
    if (!get) return NotAllowed(Route::kMetrics, m, "GET, HEAD", path);
    if (auto denied = check(Route::kMetrics, Operation::kOperate, {})) return std::move(*denied);
    Response r;
    r.status = 200;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    EngineStats stats;
    if (engine_ != nullptr) stats = engine_->Stats();
    r.body = metrics_ != nullptr
                 ? metrics_->Render(store_->Head().value, engine_ != nullptr ? &stats : nullptr)
                 : std::string();
    if (delivery_ != nullptr) delivery_->RenderMetrics(&r.body);
    return Answer(Route::kMetrics, std::move(r));
  }
  if (segs.size() == 2 && segs[0] == "problems") {
    if (!get) return NotAllowed(Route::kProblems, m, "GET, HEAD", path);
    for (const ProblemInfo& info : AllProblems()) {
      if (info.slug != segs[1]) continue;
      JsonWriter w;
      w.BeginObject();
      Field(w, "type", TypeUri(info.kind));
      Field(w, "title", info.title);
      if (info.kind != ProblemKind::kSlowConsumer) FieldUint(w, "status", info.status);
      Field(w, "description", info.description);
      w.EndObject();
      return Answer(Route::kProblems, JsonResponse(200, w.Take()));
    }
    return Fail(Route::kProblems, ProblemKind::kNoSuchRoute, "no such problem type", path);
  }
  if (segs.size() == 1 && segs[0] == "all") {
    if (!get) return NotAllowed(Route::kAll, m, "GET, HEAD", path);
    if (auto denied = check(Route::kAll, Operation::kRead, {})) return std::move(*denied);
    return AllRoute(req, query);
  }
  if (!segs.empty() && segs[0] == "streams") {
    if (segs.size() == 1) {
      if (!get) return NotAllowed(Route::kStreams, m, "GET, HEAD", path);
      if (auto denied = check(Route::kStreams, Operation::kRead, {})) return std::move(*denied);
      return StreamsRoute(req, query);
    }
    auto stream = PercentDecode(segs[1], false);
    if (!stream) {
      return Fail(Route::kStream, ProblemKind::kInvalidArgument,
                  "the stream name has a malformed percent escape", path, "stream");
    }
    if (stream->empty()) {
      return Fail(Route::kStream, ProblemKind::kNoSuchRoute, "the stream name is empty", path);
    }
    if (segs.size() == 2) {
      const Operation op = get           ? Operation::kRead
                           : m == "POST" ? Operation::kWrite
                                         : Operation::kDelete;
      if (get || m == "POST" || m == "DELETE") {
        if (auto denied = check(Route::kStream, op, *stream)) return std::move(*denied);
      }
      return StreamRoute(req, *stream, query);
    }
    if (segs.size() == 3 && segs[2] == "metadata") {
      if (get || m == "PUT") {
        const Operation op = get ? Operation::kMetadataRead : Operation::kMetadataWrite;
        if (auto denied = check(Route::kStreamMetadata, op, *stream)) return std::move(*denied);
      }
      return MetadataRoute(req, *stream, query);
    }
  }
  if (delivery_ != nullptr && DeliveryRoutes::Owns(segs)) {
    const Operation op = DeliveryRoutes::OperationOf(m, segs);
    if (auto denied = check(DeliveryRoutes::RouteOf(segs), op, {})) return std::move(*denied);
    return delivery_->Dispatch(req, segs, query);
  }
  return Fail(Route::kUnmatched, ProblemKind::kNoSuchRoute, "nothing is served at this path", path);
}

Response Router::Info() const {
  JsonWriter w;
  w.BeginObject();
  Field(w, "name", "annals");
  Field(w, "version", options_.version);
  Field(w, "store", options_.store_kind);
  Field(w, "durability", options_.durability);
  w.Key("features");
  w.BeginArray();
  for (std::string_view f :
       {"streams", "all", "sse", "metadata", "delete", "idempotency", "problem+json", "metrics"}) {
    w.String(f);
  }
  if (options_.auth) w.String("auth");
  if (options_.tls) w.String("tls");
  w.EndArray();
  FieldUint(w, "head", store_->Head().value);
  w.EndObject();
  return JsonResponse(200, w.Take());
}

namespace {

// Reads `limit` with the server's default and maximum.
std::optional<ParseError> ParseLimit(Query& q, uint64_t def, uint64_t max, uint64_t* out) {
  bool dup = false;
  auto v = q.One("limit", &dup);
  if (dup) return ParseError{"limit", "given twice"};
  if (!v) {
    *out = def;
    return std::nullopt;
  }
  auto n = ParseU64(*v);
  if (!n || *n == 0) return ParseError{"limit", "must be a positive integer"};
  if (*n > max) return ParseError{"limit", "must be at most " + std::to_string(max)};
  *out = *n;
  return std::nullopt;
}

std::optional<ParseError> ParseDirection(Query& q, Direction* out) {
  bool dup = false;
  auto v = q.One("direction", &dup);
  if (dup) return ParseError{"direction", "given twice"};
  if (!v || *v == "forwards" || *v == "forward") {
    *out = Direction::kForwards;
  } else if (*v == "backwards" || *v == "backward") {
    *out = Direction::kBackwards;
  } else {
    return ParseError{"direction", "must be 'forwards' or 'backwards'"};
  }
  return std::nullopt;
}

// `from`: a number, "start" or "end". Sets *is_end for "end"; nullopt `*out` when absent.
std::optional<ParseError> ParseFrom(Query& q, std::optional<uint64_t>* out, bool* is_end) {
  bool dup = false;
  auto v = q.One("from", &dup);
  if (dup) return ParseError{"from", "given twice"};
  *is_end = false;
  if (!v) return std::nullopt;
  if (*v == "start") {
    *out = 0;
  } else if (*v == "end") {
    *is_end = true;
  } else {
    auto n = ParseU64(*v);
    if (!n) return ParseError{"from", "must be a non-negative integer, 'start' or 'end'"};
    *out = *n;
  }
  return std::nullopt;
}

Routed QueryFail(Route route, const ParseError& e, std::string_view path) {
  const char* what = e.field == "Annals-Expected-Revision" ? "header" : "query parameter";
  return Fail(route, ProblemKind::kInvalidArgument,
              std::string(what) + " '" + e.field + "' " + e.detail, path, e.field);
}

std::optional<ParseError> CheckUnknown(const Query& q) {
  if (auto u = q.Unknown()) return ParseError{*u, "is not a known parameter"};
  if (auto n = q.NotUtf8()) return ParseError{*n, "not valid UTF-8"};
  return std::nullopt;
}

// The expected revision from the header or the `expectedRevision` query parameter.
std::optional<ParseError> ExpectedFromRequest(const Request& req, Query& q,
                                              std::optional<ExpectedRevision>* out) {
  bool dup = false;
  auto v = q.One("expectedRevision", &dup);
  if (dup) return ParseError{"expectedRevision", "given twice"};
  if (req.expected_revision_repeated) return ParseError{"Annals-Expected-Revision", "given twice"};
  if (req.expected_revision) {
    auto e = ExpectedRevision::Parse(*req.expected_revision);
    if (!e) {
      return ParseError{"Annals-Expected-Revision",
                        "must be any, no_stream, stream_exists or a revision"};
    }
    *out = e;
  }
  if (v) {
    auto e = ExpectedRevision::Parse(*v);
    if (!e) {
      return ParseError{"expectedRevision", "must be any, no_stream, stream_exists or a revision"};
    }
    if (*out && !(**out == *e)) {
      return ParseError{"expectedRevision", "disagrees with the Annals-Expected-Revision header"};
    }
    *out = e;
  }
  return std::nullopt;
}

}  // namespace

Routed Router::StreamRoute(Request& req, std::string_view stream, std::string_view query) const {
  const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  auto params = ParseQuery(query);
  if (!params) {
    return Fail(Route::kStream, ProblemKind::kInvalidArgument, "malformed query string", path);
  }
  Query q(std::move(*params));
  const std::string_view m = req.method;
  if (m == "POST") return AppendRoute(req, std::string(stream), query);
  if (m == "DELETE") {
    std::optional<ExpectedRevision> expected;
    if (auto e = ExpectedFromRequest(req, q, &expected)) return QueryFail(Route::kStream, *e, path);
    bool dup = false;
    auto tomb = q.One("tombstone", &dup);
    std::optional<bool> tombstone = tomb ? ParseBool(*tomb) : std::optional<bool>(false);
    if (dup || !tombstone) {
      return QueryFail(Route::kStream, ParseError{"tombstone", "must be true or false"}, path);
    }
    if (auto e = CheckUnknown(q)) return QueryFail(Route::kStream, *e, path);
    const ExpectedRevision exp = expected.value_or(ExpectedRevision::Any());
    const DeleteMode mode = *tombstone ? DeleteMode::kTombstone : DeleteMode::kSoft;
    BlockingCall call;
    call.run = [store = store_, name = std::string(stream), exp, mode,
                instance = std::string(path)]() {
      auto r = store->DeleteStream(name, exp, mode);
      if (!r.ok()) return ProblemResponse(ProblemFromStatus(r.status(), instance));
      JsonWriter w;
      w.BeginObject();
      FieldUint(w, "position", r->position.value);
      w.EndObject();
      return JsonResponse(200, w.Take());
    };
    return Routed{Route::kStream, std::move(call)};
  }
  if (m != "GET" && m != "HEAD") {
    return NotAllowed(Route::kStream, m, "GET, HEAD, POST, DELETE", path);
  }
  std::optional<uint64_t> from;
  bool from_end = false;
  Direction direction;
  uint64_t limit;
  if (auto e = ParseFrom(q, &from, &from_end)) return QueryFail(Route::kStream, *e, path);
  if (auto e = ParseDirection(q, &direction)) return QueryFail(Route::kStream, *e, path);
  if (auto e = ParseLimit(q, options_.default_page_size, options_.max_page_size, &limit)) {
    return QueryFail(Route::kStream, *e, path);
  }
  if (auto e = CheckUnknown(q)) return QueryFail(Route::kStream, *e, path);

  if (WantsEventStream(req.accept)) {
    if (direction == Direction::kBackwards) {
      return QueryFail(Route::kStream,
                       ParseError{"direction", "a subscription reads forwards only"}, path);
    }
    SseCall call;
    call.spec.stream = std::string(stream);
    call.spec.instance = std::string(path);
    call.spec.from = from;
    call.spec.from_end = from_end;
    if (req.has_last_event_id) {
      auto id = ParseU64(req.last_event_id);
      if (!id) {
        return Fail(Route::kStream, ProblemKind::kInvalidArgument,
                    "Last-Event-ID must be a revision", path, "Last-Event-ID");
      }
      call.spec.from = *id + 1;  // resume after the last event received
      call.spec.from_end = false;
    }
    return Routed{Route::kStream, std::move(call)};
  }

  ReadStreamRequest r;
  r.stream = std::string(stream);
  r.direction = direction;
  r.max_count = limit;
  r.max_bytes = kPageBytes;
  if (!from_end && from) r.from = Revision{*from};
  if (from_end && direction == Direction::kForwards) {
    return QueryFail(Route::kStream,
                     ParseError{"from", "'end' reads backwards only (or subscribes)"}, path);
  }
  auto res = store_->ReadStream(r);
  if (!res.ok()) return FailStatus(Route::kStream, res.status(), path);
  JsonWriter w;
  w.Reserve(256 + res->events.size() * 384);
  w.BeginObject();
  w.Key("events");
  w.BeginArray();
  for (const RecordedEvent& e : res->events) WriteEvent(w, e);
  w.EndArray();
  w.Key("nextRevision");
  if (res->next) {
    w.Uint(res->next->value);
  } else {
    w.Null();
  }
  FieldUint(w, "lastRevision", res->last_revision.value);
  w.EndObject();
  return Answer(Route::kStream, JsonResponse(200, w.Take()));
}

Routed Router::AppendRoute(Request& req, std::string stream, std::string_view query) const {
  const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  constexpr Route kRoute = Route::kStream;
  if (!IsJsonMediaType(req.content_type)) {
    return Fail(kRoute, ProblemKind::kUnsupportedMediaType,
                "the body must be application/json, not '" + req.content_type + "'", path);
  }
  auto params = ParseQuery(query);
  if (!params) return Fail(kRoute, ProblemKind::kInvalidArgument, "malformed query string", path);
  Query q(std::move(*params));
  std::optional<ExpectedRevision> expected;
  if (auto e = ExpectedFromRequest(req, q, &expected)) return QueryFail(kRoute, *e, path);
  if (auto e = CheckUnknown(q)) return QueryFail(kRoute, *e, path);

  AppendCall call;
  call.request.stream = std::move(stream);
  call.instance = std::string(path);
  auto fail = [&](const ParseError& e) {
    return Fail(kRoute, ProblemKind::kInvalidArgument, e.field + ": " + e.detail, path, e.field);
  };
  auto doc_result = ParseBody(req.body);
  od::document doc;
  if (auto e = std::move(doc_result).get(doc)) return fail({"body", JsonErrorDetail(e)});
  od::object root;
  if (doc.get_object().get(root)) return fail({"body", "must be a JSON object"});
  bool have_events = false;
  std::optional<ExpectedRevision> body_expected;
  static constexpr std::string_view kMembers[] = {"expectedRevision", "events"};
  MembersOnce members(kMembers);
  for (auto field : root) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return fail({"body", JsonErrorDetail(e)});
    if (members.Repeated(key)) return fail({std::string(key), "given twice"});
    od::value value;
    if (auto e = field.value().get(value)) return fail({"body", JsonErrorDetail(e)});
    if (key == "expectedRevision") {
      body_expected = ExpectedFromJson(value);
      if (!body_expected) {
        return fail({"expectedRevision",
                     "must be \"any\", \"no_stream\", \"stream_exists\" or a revision"});
      }
    } else if (key == "events") {
      od::array arr;
      if (value.get_array().get(arr)) return fail({"events", "must be an array"});
      size_t i = 0;
      for (auto element : arr) {
        od::value ev;
        if (auto e = element.get(ev)) return fail({"events", JsonErrorDetail(e)});
        ProposedEvent pe;
        if (auto e = ParseEvent(ev, i, &pe)) return fail(*e);
        call.bytes += pe.data.size() + pe.metadata.size();
        call.request.events.push_back(std::move(pe));
        ++i;
      }
      have_events = true;
    } else {
      return fail({std::string(key), "unknown member"});
    }
  }
  {
    // Past the root object, only the end of the document may follow.
    const char* rest = nullptr;
    if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) {
      return fail({"body", "trailing content after the JSON object"});
    }
  }
  if (!have_events) return fail({"events", "is required"});
  if (call.request.events.empty()) return fail({"events", "must not be empty"});
  if (body_expected && expected && !(*body_expected == *expected)) {
    return fail({"expectedRevision", "disagrees with the Annals-Expected-Revision header"});
  }
  call.events = call.request.events.size();
  call.request.expected = body_expected.value_or(expected.value_or(ExpectedRevision::Any()));
  call.started = std::chrono::steady_clock::now();
  return Routed{kRoute, std::move(call)};
}

Response Router::FinishAppend(const AppendCall& call, const Result<AppendResult>& result) const {
  if (metrics_ != nullptr) {
    metrics_->ObserveAppend(std::chrono::steady_clock::now() - call.started, call.events,
                            call.bytes, result.ok(), result.ok() && result->idempotent);
  }
  if (!result.ok()) return ProblemResponse(ProblemFromStatus(result.status(), call.instance));
  JsonWriter w;
  w.BeginObject();
  FieldUint(w, "firstRevision", result->first_revision.value);
  FieldUint(w, "lastRevision", result->last_revision.value);
  FieldUint(w, "position", result->position.value);
  w.EndObject();
  Response r = JsonResponse(result->idempotent ? 200 : 201, w.Take());
  r.AddHeader("Location", call.instance + "?from=" + std::to_string(result->first_revision.value));
  return r;
}

Routed Router::AllRoute(Request& req, std::string_view query) const {
  const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  constexpr Route kRoute = Route::kAll;
  auto params = ParseQuery(query);
  if (!params) return Fail(kRoute, ProblemKind::kInvalidArgument, "malformed query string", path);
  Query q(std::move(*params));
  std::optional<uint64_t> from;
  bool from_end = false;
  Direction direction;
  uint64_t limit;
  if (auto e = ParseFrom(q, &from, &from_end)) return QueryFail(kRoute, *e, path);
  if (auto e = ParseDirection(q, &direction)) return QueryFail(kRoute, *e, path);
  if (auto e = ParseLimit(q, options_.default_page_size, options_.max_page_size, &limit)) {
    return QueryFail(kRoute, *e, path);
  }
  EventFilter filter;
  filter.stream_prefixes = q.All("streamPrefix");
  filter.event_types = q.All("type");
  filter.type_prefixes = q.All("typePrefix");
  bool dup = false;
  if (auto c = q.One("category", &dup)) filter.category = *c;
  if (dup) return QueryFail(kRoute, {"category", "given twice"}, path);
  if (auto c = q.One("typeRegex", &dup)) filter.type_regex = *c;
  if (dup) return QueryFail(kRoute, {"typeRegex", "given twice"}, path);
  if (auto c = q.One("streamRegex", &dup)) filter.stream_regex = *c;
  if (dup) return QueryFail(kRoute, {"streamRegex", "given twice"}, path);
  if (auto c = q.One("excludeSystem", &dup)) {
    auto b = ParseBool(*c);
    if (!b || dup) return QueryFail(kRoute, {"excludeSystem", "must be true or false"}, path);
    filter.exclude_system_events = *b;
  }
  if (auto e = CheckUnknown(q)) return QueryFail(kRoute, *e, path);

  if (WantsEventStream(req.accept)) {
    if (direction == Direction::kBackwards) {
      return QueryFail(kRoute, ParseError{"direction", "a subscription reads forwards only"}, path);
    }
    SseCall call;
    call.spec.all = true;
    call.spec.filter = std::move(filter);
    call.spec.instance = std::string(path);
    call.spec.from = from;
    call.spec.from_end = from_end;
    if (req.has_last_event_id) {
      auto id = ParseU64(req.last_event_id);
      if (!id) {
        return Fail(kRoute, ProblemKind::kInvalidArgument, "Last-Event-ID must be a position", path,
                    "Last-Event-ID");
      }
      call.spec.from = *id;
      call.spec.after_from = true;
      call.spec.from_end = false;
    }
    return Routed{kRoute, std::move(call)};
  }

  ReadAllRequest r;
  r.direction = direction;
  r.max_count = limit;
  r.max_bytes = kPageBytes;
  r.filter = std::move(filter);
  if (direction == Direction::kForwards) {
    if (from_end) return QueryFail(kRoute, {"from", "'end' reads backwards only"}, path);
    r.from = Position{from.value_or(0)};
  } else {
    r.from = from_end || !from ? Position::End() : Position{*from};
  }
  auto res = store_->ReadAll(r);
  if (!res.ok()) return FailStatus(kRoute, res.status(), path);
  JsonWriter w;
  w.Reserve(256 + res->events.size() * 384);
  w.BeginObject();
  w.Key("events");
  w.BeginArray();
  for (const RecordedEvent& e : res->events) WriteEvent(w, e);
  w.EndArray();
  FieldUint(w, "nextPosition", res->next.value);
  FieldBool(w, "endOfLog", res->end_of_log);
  w.EndObject();
  return Answer(kRoute, JsonResponse(200, w.Take()));
}

Routed Router::StreamsRoute(Request& req, std::string_view query) const {
  const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  constexpr Route kRoute = Route::kStreams;
  auto params = ParseQuery(query);
  if (!params) return Fail(kRoute, ProblemKind::kInvalidArgument, "malformed query string", path);
  Query q(std::move(*params));
  ListStreamsRequest r;
  bool dup = false;
  if (auto v = q.One("prefix", &dup)) r.prefix = *v;
  if (dup) return QueryFail(kRoute, {"prefix", "given twice"}, path);
  if (auto v = q.One("after", &dup)) r.after = *v;
  if (dup) return QueryFail(kRoute, {"after", "given twice"}, path);
  if (auto v = q.One("includeSystem", &dup)) {
    auto b = ParseBool(*v);
    if (!b || dup) return QueryFail(kRoute, {"includeSystem", "must be true or false"}, path);
    r.include_system = *b;
  }
  if (auto e = ParseLimit(q, options_.default_page_size, options_.max_page_size, &r.limit)) {
    return QueryFail(kRoute, *e, path);
  }
  if (auto e = CheckUnknown(q)) return QueryFail(kRoute, *e, path);
  auto res = store_->ListStreams(r);
  if (!res.ok()) return FailStatus(kRoute, res.status(), path);
  JsonWriter w;
  w.BeginObject();
  w.Key("streams");
  w.BeginArray();
  for (const StreamInfo& s : res->streams) WriteStreamInfo(w, s);
  w.EndArray();
  w.Key("nextAfter");
  if (res->next_after.empty()) {
    w.Null();
  } else {
    w.String(res->next_after);
  }
  w.EndObject();
  return Answer(kRoute, JsonResponse(200, w.Take()));
}

Routed Router::MetadataRoute(Request& req, std::string_view stream, std::string_view query) const {
  const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  constexpr Route kRoute = Route::kStreamMetadata;
  const std::string_view m = req.method;
  auto params = ParseQuery(query);
  if (!params) return Fail(kRoute, ProblemKind::kInvalidArgument, "malformed query string", path);
  Query q(std::move(*params));
  if (m == "GET" || m == "HEAD") {
    if (auto e = CheckUnknown(q)) return QueryFail(kRoute, *e, path);
    auto res = store_->GetStreamMetadata(std::string(stream));
    if (!res.ok()) return FailStatus(kRoute, res.status(), path);
    JsonWriter w;
    w.BeginObject();
    w.Key("metadataRevision");
    if (res->metadata_revision) {
      w.Uint(res->metadata_revision->value);
    } else {
      w.Null();
    }
    w.Key("metadata");
    w.Raw(StreamMetadataToJson(res->metadata));
    w.EndObject();
    return Answer(kRoute, JsonResponse(200, w.Take()));
  }
  if (m != "PUT") return NotAllowed(kRoute, m, "GET, HEAD, PUT", path);
  if (!IsJsonMediaType(req.content_type)) {
    return Fail(kRoute, ProblemKind::kUnsupportedMediaType,
                "the body must be application/json, not '" + req.content_type + "'", path);
  }
  std::optional<ExpectedRevision> expected;
  if (auto e = ExpectedFromRequest(req, q, &expected)) return QueryFail(kRoute, *e, path);
  if (auto e = CheckUnknown(q)) return QueryFail(kRoute, *e, path);
  // The body is the metadata object itself (KurrentDB's `$$<stream>` shape).
  auto meta = ParseStreamMetadataJson(req.body);
  if (!meta.ok()) {
    Problem p = ProblemFromStatus(meta.status(), std::string(path));
    p.field = "body";
    return Answer(kRoute, ProblemResponse(p));
  }
  BlockingCall call;
  call.run = [store = store_, name = std::string(stream),
              exp = expected.value_or(ExpectedRevision::Any()), md = std::move(*meta),
              instance = std::string(path)]() {
    auto r = store->SetStreamMetadata(name, exp, md);
    if (!r.ok()) return ProblemResponse(ProblemFromStatus(r.status(), instance));
    JsonWriter w;
    w.BeginObject();
    FieldUint(w, "metadataRevision", r->last_revision.value);
    FieldUint(w, "position", r->position.value);
    w.EndObject();
    return JsonResponse(200, w.Take());
  };
  return Routed{kRoute, std::move(call)};
}

}  // namespace annals::http
