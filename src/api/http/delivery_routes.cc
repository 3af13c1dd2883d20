#include "api/http/delivery_routes.h"

#include <memory>

#include "api/http/encoding.h"
#include "api/http/event_json.h"
#include "api/http/problem.h"
#include "delivery/service.h"
#include "delivery/webhook.h"

namespace annals::http {

namespace {

using delivery::Json;

constexpr uint32_t kMaxPoll = 10000;
constexpr uint64_t kMaxWaitMs = 60000;

Response JsonOut(unsigned status, const Json& j) {
  Response r;
  r.status = status;
  r.content_type = std::string(kJson);
  r.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

Response NoContent() {
  Response r;
  r.status = 204;
  return r;
}

Response Fail(const Status& s, std::string_view path, std::string field = {}) {
  Problem p = ProblemFromStatus(s, std::string(path));
  p.field = std::move(field);
  return ProblemResponse(p);
}

Response BadRequest(std::string detail, std::string_view path, std::string field = {}) {
  return Fail(Status(StatusCode::kInvalidArgument, std::move(detail)), path, std::move(field));
}

Response NotAllowed(std::string_view method, std::string_view allow, std::string_view path) {
  Problem p;
  p.kind = ProblemKind::kMethodNotAllowed;
  p.detail = std::string(method) + " is not allowed here";
  p.instance = std::string(path);
  Response r = ProblemResponse(p);
  r.AddHeader("Allow", std::string(allow));
  return r;
}

Response NoRoute(std::string_view path) {
  Problem p;
  p.kind = ProblemKind::kNoSuchRoute;
  p.detail = "nothing is served at this path";
  p.instance = std::string(path);
  return ProblemResponse(p);
}

// The request body as a JSON object; an empty body reads as {}.
Result<Json> Body(const Request& req) {
  if (req.body.empty()) return Json::object();
  const std::string media = MediaTypeOf(req.content_type);
  if (media != "application/json") {
    return Status(StatusCode::kInvalidArgument, "the body must be application/json");
  }
  auto j = delivery::ParseJson(req.body);
  if (!j.ok()) return Status(StatusCode::kInvalidArgument, "the body is not valid JSON");
  if (!j->is_object()) return Status(StatusCode::kInvalidArgument, "the body must be an object");
  return j;
}

// Query parameters by name; unknown names are refused by Check().
struct Params {
  QueryParams params;
  std::vector<std::string_view> known;
  std::optional<std::string> Get(std::string_view name) {
    known.push_back(name);
    for (auto& [k, v] : params) {
      if (k == name) return v;
    }
    return std::nullopt;
  }
  std::optional<std::string> Unknown() const {
    for (auto& [k, v] : params) {
      if (std::find(known.begin(), known.end(), k) == known.end()) return k;
    }
    return std::nullopt;
  }
};

std::optional<std::string> Segment(std::string_view seg) { return PercentDecode(seg, false); }

Json SourceJson(const delivery::Source& s) { return delivery::SourceToJson(s); }

Json GroupInfoJson(const delivery::GroupInfo& i) {
  const delivery::GroupDefinition& d = i.definition;
  Json consumers = Json::array();
  for (const auto& c : i.consumers) {
    consumers.push_back({{"name", c.name},
                         {"inFlight", c.in_flight},
                         {"delivered", c.delivered},
                         {"idleMs", c.idle.count()}});
  }
  return Json{{"name", d.name},
              {"source", SourceJson(d.source)},
              {"from", delivery::StartToJson(d.start)},
              {"settings", delivery::SettingsToJson(d.settings)},
              {"paused", d.paused},
              {"checkpoint", i.checkpoint},
              {"readCursor", i.read_cursor},
              {"lagEvents", i.lag_events},
              {"lagExact", i.lag_exact},
              {"lagSeconds", i.lag_seconds},
              {"inFlight", i.in_flight},
              {"buffered", i.buffered},
              {"parked", i.parked},
              {"replaying", i.replaying},
              {"delivered", i.delivered},
              {"acked", i.acked},
              {"retried", i.retried},
              {"parkedTotal", i.parked_total},
              {"lastError", i.last_error.empty() ? Json(nullptr) : Json(i.last_error)},
              {"consumers", consumers}};
}

Json WebhookJson(const delivery::WebhookStatus& s) {
  Json j = delivery::WebhookSinkJson(s.config);
  j.erase("secret");
  j["name"] = s.config.name;
  j["secretSet"] = !s.config.secret.empty();
  j["disabledReason"] =
      s.config.disabled_reason.empty() ? Json(nullptr) : Json(s.config.disabled_reason);
  const delivery::GroupInfo& c = s.cursor;
  j["position"] = c.checkpoint;
  j["readCursor"] = c.read_cursor;
  j["lagEvents"] = c.lag_events;
  j["lagSeconds"] = c.lag_seconds;
  j["inFlight"] = c.in_flight;
  j["requestsInFlight"] = s.requests_in_flight;
  j["parked"] = c.parked;
  j["requests"] = s.requests;
  j["failedRequests"] = s.failed_requests;
  j["deliveredEvents"] = s.delivered_events;
  j["lastStatus"] = s.last_status == 0 ? Json(nullptr) : Json(s.last_status);
  j["lastError"] = s.last_error.empty() ? Json(nullptr) : Json(s.last_error);
  j["lastCursorError"] = c.last_error.empty() ? Json(nullptr) : Json(c.last_error);
  return j;
}

// {"events": [{"ackId", "deliveryCount", "replayed", ...the event as in GET /streams}]}.
std::string PollJson(const std::vector<delivery::Delivery>& batch) {
  JsonWriter w;
  size_t bytes = 32;
  for (const auto& d : batch) bytes += d.event->data.size() + d.event->metadata.size() + 400;
  w.Reserve(bytes);
  w.BeginObject();
  w.Key("events");
  w.BeginArray();
  for (const auto& d : batch) {
    w.BeginObject();
    Field(w, "ackId", d.ack_id);
    FieldUint(w, "deliveryCount", d.delivery_count);
    FieldBool(w, "replayed", d.replayed);
    const std::string event = EventJson(*d.event);
    w.RawMembers(std::string_view(event).substr(1, event.size() - 2));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Take();
}

Result<std::vector<std::string>> Ids(const Json& body) {
  auto it = body.find("ids");
  if (it == body.end() || !it->is_array()) {
    return Status(StatusCode::kInvalidArgument, "ids: an array of ack ids is required");
  }
  std::vector<std::string> ids;
  ids.reserve(it->size());
  for (const Json& v : *it) {
    if (!v.is_string()) return Status(StatusCode::kInvalidArgument, "ids: must be strings");
    ids.push_back(v.get<std::string>());
  }
  return ids;
}

// GET|DELETE .../parked and POST .../parked/replay, for a group or a webhook's cursor.
Response Parked(const std::shared_ptr<delivery::Group>& g, const Request& req,
                const std::vector<std::string_view>& segs, std::string_view query,
                std::string_view path) {
  const std::string_view m = req.method;
  if (segs.size() == 4 && segs[3] == "replay") {
    if (m != "POST") return NotAllowed(m, "POST", path);
    auto r = g->ReplayParked();
    if (!r.ok()) return Fail(r.status(), path);
    return JsonOut(200, Json{{"replaying", r->replaying}, {"gone", r->gone}});
  }
  if (segs.size() != 3) return NoRoute(path);
  if (m == "DELETE") {
    Status s = g->TruncateParked();
    return s.ok() ? NoContent() : Fail(s, path);
  }
  if (m != "GET" && m != "HEAD") return NotAllowed(m, "GET, HEAD, DELETE", path);
  auto qp = ParseQuery(query);
  if (!qp) return BadRequest("malformed query string", path);
  Params p{std::move(*qp), {}};
  uint64_t from = 0;
  uint64_t limit = 100;
  if (auto v = p.Get("from")) {
    auto n = ParseU64(*v);
    if (!n) return BadRequest("from: a parked revision", path, "from");
    from = *n;
  }
  if (auto v = p.Get("limit")) {
    auto n = ParseU64(*v);
    if (!n || *n == 0 || *n > 10000) return BadRequest("limit: 1 to 10000", path, "limit");
    limit = *n;
  }
  if (auto u = p.Unknown()) return BadRequest("unknown query parameter '" + *u + "'", path, *u);
  auto page = g->ListParked(from, static_cast<uint32_t>(limit));
  if (!page.ok()) return Fail(page.status(), path);
  Json list = Json::array();
  for (const auto& e : page->entries) {
    list.push_back({{"parkedRevision", e.parked_revision},
                    {"stream", e.stream},
                    {"revision", e.revision.value},
                    {"position", e.position.value},
                    {"eventId", e.event_id.ToString()},
                    {"reason", e.reason},
                    {"attempts", e.attempts},
                    {"parkedAt", delivery::FormatTime(e.parked_at)}});
  }
  return JsonOut(200,
                 Json{{"parked", list}, {"next", page->next ? Json(*page->next) : Json(nullptr)}});
}

// A change that answers 204 or a problem, run on the blocking pool (it appends and syncs).
Routed StatusCall(Route route, std::string path, std::function<Status()> change) {
  BlockingCall call;
  call.run = [change = std::move(change), path = std::move(path)]() {
    Status s = change();
    return s.ok() ? NoContent() : Fail(s, path);
  };
  return Routed{route, std::move(call)};
}

Result<delivery::StartAt> ResetTarget(const Request& req) {
  auto body = Body(req);
  if (!body.ok()) return body.status();
  auto it = body->find("from");
  if (it == body->end()) return Status(StatusCode::kInvalidArgument, "from: required");
  return delivery::StartFromJson(*it);
}

}  // namespace

bool DeliveryRoutes::Owns(const std::vector<std::string_view>& segs) {
  return !segs.empty() && (segs[0] == "subscriptions" || segs[0] == "webhooks");
}

Route DeliveryRoutes::RouteOf(const std::vector<std::string_view>& segs) {
  const bool sub = segs[0] == "subscriptions";
  if (segs.size() == 1) return sub ? Route::kSubscriptions : Route::kWebhooks;
  return sub ? Route::kSubscription : Route::kWebhook;
}

Operation DeliveryRoutes::OperationOf(std::string_view method,
                                      const std::vector<std::string_view>& segs) {
  if (method == "GET" || method == "HEAD") return Operation::kRead;
  if (segs.size() == 3 && segs[0] == "subscriptions" &&
      (segs[2] == "poll" || segs[2] == "ack" || segs[2] == "nack")) {
    return Operation::kRead;
  }
  return Operation::kDelete;
}

Routed DeliveryRoutes::Dispatch(Request& req, const std::vector<std::string_view>& segs,
                                std::string_view query) const {
  if (segs[0] == "subscriptions") return Subscriptions(req, segs, query);
  if (webhooks_ == nullptr) {
    const std::string path = req.target.substr(0, req.target.find('?'));
    return Routed{RouteOf(segs), NoRoute(path)};
  }
  return Webhooks(req, segs, query);
}

Routed DeliveryRoutes::Subscriptions(Request& req, const std::vector<std::string_view>& segs,
                                     std::string_view query) const {
  using delivery::Kind;
  const Route route = RouteOf(segs);
  const std::string path = req.target.substr(0, req.target.find('?'));
  const std::string_view m = req.method;
  auto answer = [&](Response r) { return Routed{route, std::move(r)}; };
  if (segs.size() == 1) {
    if (m != "GET" && m != "HEAD") return answer(NotAllowed(m, "GET, HEAD", path));
    Json list = Json::array();
    for (const auto& reg : service_->List(Kind::kGroup)) {
      auto g = service_->Find(Kind::kGroup, reg.definition.name);
      if (g.ok()) list.push_back(GroupInfoJson((*g)->Info()));
    }
    return answer(JsonOut(200, Json{{"subscriptions", list}}));
  }
  auto name = Segment(segs[1]);
  if (!name || name->empty()) return answer(BadRequest("malformed group name", path, "group"));
  if (segs.size() == 2) {
    if (m == "PUT") {
      auto body = Body(req);
      if (!body.ok()) return answer(Fail(body.status(), path, "body"));
      delivery::GroupDefinition def;
      for (auto it = body->begin(); it != body->end(); ++it) {
        if (it.key() != "source" && it.key() != "from" && it.key() != "settings" &&
            it.key() != "paused") {
          return answer(BadRequest("unknown member '" + it.key() + "'", path, it.key()));
        }
      }
      if (auto it = body->find("source"); it != body->end()) {
        auto s = delivery::SourceFromJson(*it);
        if (!s.ok()) return answer(Fail(s.status(), path, "source"));
        def.source = std::move(*s);
      }
      if (auto it = body->find("from"); it != body->end()) {
        auto s = delivery::StartFromJson(*it);
        if (!s.ok()) return answer(Fail(s.status(), path, "from"));
        def.start = *s;
      }
      if (auto it = body->find("settings"); it != body->end()) {
        Status s = delivery::SettingsFromJson(*it, &def.settings);
        if (!s.ok()) return answer(Fail(s, path, "settings"));
      }
      if (auto it = body->find("paused"); it != body->end() && it->is_boolean()) {
        def.paused = it->get<bool>();
      }
      def.name = *name;
      BlockingCall call;  // resolving a start time may scan; the config append syncs
      call.run = [svc = service_, def = std::move(def), path]() {
        auto r = svc->Put(Kind::kGroup, def);
        if (!r.ok()) return Fail(r.status(), path);
        auto g = svc->Find(Kind::kGroup, def.name);
        if (!g.ok()) return Fail(g.status(), path);
        Response out = JsonOut(r->created ? 201 : 200, GroupInfoJson((*g)->Info()));
        if (r->created) out.AddHeader("Location", path);
        return out;
      };
      return Routed{route, std::move(call)};
    }
    if (m == "DELETE") {
      return StatusCall(route, path,
                        [svc = service_, n = *name] { return svc->Delete(Kind::kGroup, n); });
    }
    if (m != "GET" && m != "HEAD") return answer(NotAllowed(m, "GET, HEAD, PUT, DELETE", path));
    auto g = service_->Find(Kind::kGroup, *name);
    if (!g.ok()) return answer(Fail(g.status(), path));
    return answer(JsonOut(200, GroupInfoJson((*g)->Info())));
  }
  auto g = service_->Find(Kind::kGroup, *name);
  if (!g.ok()) return answer(Fail(g.status(), path));
  const std::string_view action = segs[2];
  if (action == "parked") return answer(Parked(*g, req, segs, query, path));
  if (segs.size() != 3) return answer(NoRoute(path));
  if (action == "poll") {
    if (m != "POST") return answer(NotAllowed(m, "POST", path));
    auto qp = ParseQuery(query);
    if (!qp) return answer(BadRequest("malformed query string", path));
    Params p{std::move(*qp), {}};
    uint64_t max = 100;
    uint64_t wait = 0;
    std::string consumer = "default";
    if (auto v = p.Get("max")) {
      auto n = ParseU64(*v);
      if (!n || *n == 0 || *n > kMaxPoll) return answer(BadRequest("max: 1 to 10000", path, "max"));
      max = *n;
    }
    if (auto v = p.Get("wait")) {
      auto n = ParseU64(*v);
      if (!n || *n > kMaxWaitMs) {
        return answer(BadRequest("wait: milliseconds, at most 60000", path, "wait"));
      }
      wait = *n;
    }
    if (auto v = p.Get("consumer")) consumer = *v;
    if (auto u = p.Unknown()) {
      return answer(BadRequest("unknown query parameter '" + *u + "'", path, *u));
    }
    AsyncCall call;
    call.start = [group = *g, consumer, max, wait](std::function<void(Response)> done) {
      group->Poll(consumer, static_cast<uint32_t>(max), std::chrono::milliseconds(wait),
                  [done = std::move(done)](std::vector<delivery::Delivery> batch) {
                    Response r;
                    r.content_type = std::string(kJson);
                    r.body = PollJson(batch);
                    done(std::move(r));
                  });
    };
    return Routed{route, std::move(call)};
  }
  if (action == "ack" || action == "nack") {
    if (m != "POST") return answer(NotAllowed(m, "POST", path));
    auto body = Body(req);
    if (!body.ok()) return answer(Fail(body.status(), path, "body"));
    auto ids = Ids(*body);
    if (!ids.ok()) return answer(Fail(ids.status(), path, "ids"));
    Status s;
    if (action == "ack") {
      s = (*g)->Ack(*ids);
    } else {
      const std::string a = body->value("action", std::string("retry"));
      delivery::NackAction na;
      if (a == "retry") {
        na = delivery::NackAction::kRetry;
      } else if (a == "park") {
        na = delivery::NackAction::kPark;
      } else if (a == "skip") {
        na = delivery::NackAction::kSkip;
      } else {
        return answer(BadRequest("action: retry, park or skip", path, "action"));
      }
      const auto after = body->value("retryAfterMs", uint64_t{0});
      s = (*g)->Nack(*ids, na, body->value("reason", std::string()),
                     std::chrono::milliseconds(std::min<uint64_t>(after, 86400000)));
    }
    return answer(s.ok() ? NoContent() : Fail(s, path, "ids"));
  }
  if (action == "reset") {
    if (m != "POST") return answer(NotAllowed(m, "POST", path));
    auto at = ResetTarget(req);
    if (!at.ok()) return answer(Fail(at.status(), path, "from"));
    return StatusCall(route, path, [svc = service_, n = *name, at = *at] {
      return svc->Reset(Kind::kGroup, n, at);
    });
  }
  return answer(NoRoute(path));
}

Routed DeliveryRoutes::Webhooks(Request& req, const std::vector<std::string_view>& segs,
                                std::string_view query) const {
  const Route route = RouteOf(segs);
  const std::string path = req.target.substr(0, req.target.find('?'));
  const std::string_view m = req.method;
  auto answer = [&](Response r) { return Routed{route, std::move(r)}; };
  if (segs.size() == 1) {
    if (m != "GET" && m != "HEAD") return answer(NotAllowed(m, "GET, HEAD", path));
    Json list = Json::array();
    for (const auto& s : webhooks_->List()) list.push_back(WebhookJson(s));
    return answer(JsonOut(200, Json{{"webhooks", list}}));
  }
  auto name = Segment(segs[1]);
  if (!name || name->empty()) return answer(BadRequest("malformed webhook name", path, "name"));
  if (segs.size() == 2) {
    if (m == "PUT") {
      auto body = Body(req);
      if (!body.ok()) return answer(Fail(body.status(), path, "body"));
      delivery::WebhookConfig c;
      c.name = *name;
      if (Status s = delivery::WebhookSinkFromJson(*body, &c); !s.ok()) {
        return answer(Fail(s, path, "body"));
      }
      if (c.url.empty()) return answer(BadRequest("url: required", path, "url"));
      BlockingCall call;
      call.run = [hooks = webhooks_, c = std::move(c), path]() {
        auto r = hooks->Put(c);
        if (!r.ok()) return Fail(r.status(), path);
        auto st = hooks->Get(c.name);
        if (!st.ok()) return Fail(st.status(), path);
        Response out = JsonOut(*r ? 201 : 200, WebhookJson(*st));
        if (*r) out.AddHeader("Location", path);
        return out;
      };
      return Routed{route, std::move(call)};
    }
    if (m == "DELETE") {
      return StatusCall(route, path, [hooks = webhooks_, n = *name] { return hooks->Delete(n); });
    }
    if (m != "GET" && m != "HEAD") return answer(NotAllowed(m, "GET, HEAD, PUT, DELETE", path));
    auto st = webhooks_->Get(*name);
    if (!st.ok()) return answer(Fail(st.status(), path));
    return answer(JsonOut(200, WebhookJson(*st)));
  }
  const std::string_view action = segs[2];
  if (action == "parked") {
    auto g = webhooks_->Cursor(*name);
    if (!g.ok()) return answer(Fail(g.status(), path));
    return answer(Parked(*g, req, segs, query, path));
  }
  if (segs.size() != 3) return answer(NoRoute(path));
  if (action == "pause" || action == "resume" || action == "reset") {
    if (m != "POST") return answer(NotAllowed(m, "POST", path));
    std::optional<delivery::StartAt> at;
    if (action == "reset") {
      auto r = ResetTarget(req);
      if (!r.ok()) return answer(Fail(r.status(), path, "from"));
      at = *r;
    }
    return StatusCall(route, path, [hooks = webhooks_, n = *name, a = std::string(action), at] {
      return a == "pause"    ? hooks->Pause(n)
             : a == "resume" ? hooks->Resume(n)
                             : hooks->Reset(n, *at);
    });
  }
  return answer(NoRoute(path));
}

}  // namespace annals::http
