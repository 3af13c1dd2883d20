#include "api/http/delivery_routes.h"

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>

#include "annals/limits.h"
#include "api/http/encoding.h"
#include "api/http/event_json.h"
#include "api/http/problem.h"
#include "core/rfc3339.h"
#include "delivery/nats_relay.h"
#include "delivery/service.h"
#include "delivery/webhook.h"

namespace annals::http {

namespace {

using delivery::Json;

constexpr uint32_t kMaxPoll = 10000;
constexpr uint64_t kMaxWaitMs = 60000;

// A nack's retryAfterMs: the same cap as a webhook receiver's Retry-After.
constexpr uint64_t kMaxRetryAfterMs = 86'400'000;

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

// `max` of a poll or an event stream: 1..kMaxPoll, 100 when absent; nullopt when invalid.
std::optional<uint32_t> MaxEvents(Params& p) {
  auto v = p.Get("max");
  if (!v) return 100;
  auto n = ParseU64(*v);
  if (!n || *n == 0 || *n > kMaxPoll) return std::nullopt;
  return static_cast<uint32_t>(*n);
}

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
              {"attempts", i.attempts},
              {"lastError", i.last_error.empty() ? Json(nullptr) : Json(i.last_error)},
              {"consumers", consumers},
              {"drivenHere", i.driven_here}};
}

// The cursor members shared by webhooks and relays.
void AddCursorStatus(Json& j, const delivery::GroupInfo& c) {
  j["position"] = c.checkpoint;
  j["readCursor"] = c.read_cursor;
  j["lagEvents"] = c.lag_events;
  j["lagSeconds"] = c.lag_seconds;
  j["inFlight"] = c.in_flight;
  j["parked"] = c.parked;
  j["attempts"] = c.attempts;
  j["lastCursorError"] = c.last_error.empty() ? Json(nullptr) : Json(c.last_error);
  j["drivenHere"] = c.driven_here;
}

Json WebhookJson(const delivery::WebhookStatus& s) {
  Json j = delivery::WebhookSinkJson(s.config);
  j.erase("secret");
  j["name"] = s.config.name;
  j["secretSet"] = !s.config.secret.empty() || !s.config.sealed_secret.empty();
  j["disabledReason"] =
      s.config.disabled_reason.empty() ? Json(nullptr) : Json(s.config.disabled_reason);
  j["paused"] = s.config.paused || !s.config.disabled_reason.empty();  // disabled: paused too
  AddCursorStatus(j, s.cursor);
  j["requestsInFlight"] = s.requests_in_flight;
  j["requests"] = s.requests;
  j["failedRequests"] = s.failed_requests;
  j["deliveredEvents"] = s.delivered_events;
  j["lastStatus"] = s.last_status == 0 ? Json(nullptr) : Json(s.last_status);
  j["lastError"] = s.last_error.empty() ? Json(nullptr) : Json(s.last_error);
  return j;
}

// nats://user:password@host -> nats://***@host: credentials are not shown back.

Json RelayJson(const delivery::RelayStatus& s) {
  Json j = delivery::RelaySinkJson(s.config);
  j["url"] = delivery::RedactUserinfo(s.config.url);
  j["name"] = s.config.name;
  AddCursorStatus(j, s.cursor);
  j["connected"] = s.connected;
  j["published"] = s.published;
  j["failed"] = s.failed;
  j["lastError"] = s.last_error.empty() ? Json(nullptr) : Json(s.last_error);
  return j;
}

// {"ackId", "deliveryCount", "replayed", ...the event as in GET /streams}.
void WriteDelivery(JsonWriter& w, const delivery::Delivery& d) {
  w.BeginObject();
  Field(w, "ackId", d.ack_id);
  FieldUint(w, "deliveryCount", d.delivery_count);
  FieldBool(w, "replayed", d.replayed);
  const std::string event = EventJson(*d.event);
  w.RawMembers(std::string_view(event).substr(1, event.size() - 2));
  w.EndObject();
}

// {"events": [delivery...]}.
std::string PollJson(const std::vector<delivery::Delivery>& batch) {
  JsonWriter w;
  size_t bytes = 32;
  for (const auto& d : batch) bytes += d.event->data.size() + d.event->metadata.size() + 400;
  w.Reserve(bytes);
  w.BeginObject();
  w.Key("events");
  w.BeginArray();
  for (const auto& d : batch) WriteDelivery(w, d);
  w.EndArray();
  w.EndObject();
  return w.Take();
}

// GET /subscriptions/{group}/events: the group's deliveries as SSE frames, `id:` the ack id.
// The ids handed to this connection are remembered (the most recent kRemembered of them) so
// that, when the client goes away, those it has not acked go back to the group at once instead
// of after the ack timeout. A feed counts as one of the group's connected subscribers
// (Group::AttachSubscriber, made by its creator) until it is destroyed.
class GroupFeed final : public SseFeed, public std::enable_shared_from_this<GroupFeed> {
 public:
  GroupFeed(std::shared_ptr<delivery::Group> group, std::string consumer, uint32_t max)
      : group_(std::move(group)), consumer_(std::move(consumer)), max_(max) {}
  ~GroupFeed() override { group_->DetachSubscriber(); }

  void Next(std::chrono::milliseconds wait, std::function<void(Chunk)> done) override {
    group_->Poll(consumer_, max_, wait,
                 [self = shared_from_this(), done = std::move(done)](
                     std::vector<delivery::Delivery> batch) { done(self->Frame(batch)); });
  }

  void Close() override {
    std::vector<Uuid> sent;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      sent.assign(sent_.begin(), sent_.end());
      sent_.clear();
    }
    if (!sent.empty()) group_->Release(consumer_, sent);
  }

 private:
  static constexpr size_t kRemembered = 20000;

  Chunk Frame(const std::vector<delivery::Delivery>& batch) {
    Chunk c;
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        // The connection ended while this poll waited: nobody will send these.
        std::vector<Uuid> back;
        for (const auto& d : batch) back.push_back(d.event->id);
        if (!back.empty()) group_->Release(consumer_, back);
        c.end = true;
        return c;
      }
      for (const auto& d : batch) {
        sent_.push_back(d.event->id);
        if (sent_.size() > kRemembered) sent_.pop_front();
      }
    }
    for (const auto& d : batch) {
      JsonWriter w;
      WriteDelivery(w, d);
      AppendSseFrame(&c.frames, {}, d.ack_id, w.Take());
    }
    c.events = batch.size();
    if (batch.empty() && group_->Stopped()) {
      Problem p;
      p.kind = ProblemKind::kNotFound;
      p.detail = "the subscription was deleted, or the server is stopping";
      AppendSseFrame(&c.frames, "error", {}, ProblemJson(p));
      c.end = true;
    } else if (Status driven = group_->CheckDriven(); batch.empty() && !driven.ok()) {
      // This node lost the group's lease: another node delivers its events now.
      Problem p;
      p.kind = ProblemKind::kUnavailable;
      p.detail = driven.message();
      AppendSseFrame(&c.frames, "error", {}, ProblemJson(p));
      c.end = true;
    }
    return c;
  }

  const std::shared_ptr<delivery::Group> group_;
  const std::string consumer_;
  const uint32_t max_;
  std::mutex mu_;
  bool closed_ = false;
  std::deque<Uuid> sent_;
};

// A consumer name is listed in the group's status and compared on every poll: short, and
// printable (a newline in it broke log lines and listings).
bool ValidConsumerName(std::string_view name) {
  if (name.empty() || name.size() > 200 || !IsValidUtf8(name)) return false;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

Response BadConsumer(std::string_view path) {
  return BadRequest("consumer: 1 to 200 bytes of UTF-8, no control characters", path, "consumer");
}

// Names SSE consumers that did not choose one: each connection is its own consumer.
std::string NextSseConsumer() {
  static std::atomic<uint64_t> next{1};
  return "sse-" + std::to_string(next.fetch_add(1, std::memory_order_relaxed));
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
                    {"parkedAt", FormatRfc3339(e.parked_at)}});
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
  ANNALS_RETURN_IF_ERROR(delivery::OnlyKeys(*body, {"from"}, "body"));
  auto it = body->find("from");
  if (it == body->end()) return Status(StatusCode::kInvalidArgument, "from: required");
  return delivery::StartFromJson(*it);
}

// What /webhooks and /relays share: the list, and PUT (create or replace), GET and DELETE of
// one; nullopt for a path below /{kind}/{name}, which the caller serves.
template <class Config, class Manager, class Parse, class ToJson>
std::optional<Routed> SinkResource(Manager* manager, std::string_view kind, Route route,
                                   Request& req, const std::vector<std::string_view>& segs,
                                   const std::string& path, Parse parse, ToJson to_json) {
  const std::string_view m = req.method;
  auto answer = [&](Response r) { return Routed{route, std::move(r)}; };
  if (segs.size() == 1) {
    if (m != "GET" && m != "HEAD") return answer(NotAllowed(m, "GET, HEAD", path));
    Json list = Json::array();
    for (const auto& s : manager->List()) list.push_back(to_json(s));
    return answer(JsonOut(200, Json{{std::string(kind), list}}));
  }
  auto name = Segment(segs[1]);
  if (!name || name->empty()) return answer(BadRequest("malformed name", path, "name"));
  if (segs.size() > 2) return std::nullopt;
  if (m == "PUT") {
    auto body = Body(req);
    if (!body.ok()) return answer(Fail(body.status(), path, "body"));
    Config c;
    c.name = *name;
    if (Status s = parse(*body, &c); !s.ok()) return answer(Fail(s, path, "body"));
    if (body->find("url") == body->end()) return answer(BadRequest("url: required", path, "url"));
    BlockingCall call;  // the config append syncs
    call.run = [manager, c = std::move(c), path, to_json]() {
      auto r = manager->Put(c);
      if (!r.ok()) return Fail(r.status(), path);
      auto st = manager->Get(c.name);
      if (!st.ok()) return Fail(st.status(), path);
      Response out = JsonOut(*r ? 201 : 200, to_json(*st));
      if (*r) out.AddHeader("Location", path);
      return out;
    };
    return Routed{route, std::move(call)};
  }
  if (m == "DELETE") {
    return StatusCall(route, path, [manager, n = *name] { return manager->Delete(n); });
  }
  if (m != "GET" && m != "HEAD") return answer(NotAllowed(m, "GET, HEAD, PUT, DELETE", path));
  auto st = manager->Get(*name);
  if (!st.ok()) return answer(Fail(st.status(), path));
  return answer(JsonOut(200, to_json(*st)));
}

}  // namespace

bool DeliveryRoutes::Owns(const std::vector<std::string_view>& segs) {
  return !segs.empty() &&
         (segs[0] == "subscriptions" || segs[0] == "webhooks" || segs[0] == "relays");
}

Route DeliveryRoutes::RouteOf(const std::vector<std::string_view>& segs) {
  const bool one = segs.size() == 1;
  if (segs[0] == "subscriptions") return one ? Route::kSubscriptions : Route::kSubscription;
  if (segs[0] == "relays") return one ? Route::kRelays : Route::kRelay;
  return one ? Route::kWebhooks : Route::kWebhook;
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

void DeliveryRoutes::RenderMetrics(std::string* out) const {
  using delivery::Kind;
  std::vector<GaugeSample> lag_events, lag_seconds, in_flight, parked;
  for (auto [kind, label] :
       {std::pair{Kind::kGroup, "subscription"}, std::pair{Kind::kWebhook, "webhook"},
        std::pair{Kind::kRelay, "relay"}}) {
    for (const auto& reg : service_->List(kind)) {
      auto g = service_->Find(kind, reg.definition.name);
      if (!g.ok()) continue;
      const delivery::GroupInfo i = (*g)->Info();
      const std::string labels =
          std::string("kind=\"") + label + "\",name=\"" + EscapeLabel(reg.definition.name) + "\"";
      lag_events.push_back({labels, static_cast<double>(i.lag_events)});
      lag_seconds.push_back({labels, i.lag_seconds});
      in_flight.push_back({labels, static_cast<double>(i.in_flight)});
      parked.push_back({labels, static_cast<double>(i.parked)});
    }
  }
  RenderGauges(out, "annals_delivery_lag_events",
               "Matching events not yet resolved by a consumer group, webhook or relay (counted "
               "up to 10000 beyond its read cursor).",
               lag_events);
  RenderGauges(out, "annals_delivery_lag_seconds",
               "Age of the oldest unresolved event of a consumer group, webhook or relay.",
               lag_seconds);
  RenderGauges(out, "annals_delivery_in_flight",
               "Events handed out and not yet resolved, per consumer group, webhook or relay.",
               in_flight);
  RenderGauges(out, "annals_delivery_parked",
               "Parked (dead-letter) events, per consumer group, webhook or relay.", parked);
}

Routed DeliveryRoutes::Dispatch(Request& req, const std::vector<std::string_view>& segs,
                                std::string_view query) const {
  if (segs[0] == "subscriptions") return Subscriptions(req, segs, query);
  if (segs[0] == "webhooks" && webhooks_ != nullptr) return Webhooks(req, segs, query);
  if (segs[0] == "relays" && relays_ != nullptr) return Relays(req, segs, query);
  const std::string path = req.target.substr(0, req.target.find('?'));
  return Routed{RouteOf(segs), NoRoute(path)};
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
      if (Status s = delivery::OptBool(*body, "paused", &def.paused); !s.ok()) {
        return answer(Fail(s, path, "paused"));
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
  if (action == "poll" || action == "events" || action == "ack" || action == "nack") {
    // Consumers of a group that another node on the same database drives are sent there
    // (503): acks here would be ignored, and deliveries here would be duplicates.
    if (Status driven = (*g)->CheckDriven(); !driven.ok()) return answer(Fail(driven, path));
  }
  if (action == "poll") {
    if (m != "POST") return answer(NotAllowed(m, "POST", path));
    auto qp = ParseQuery(query);
    if (!qp) return answer(BadRequest("malformed query string", path));
    Params p{std::move(*qp), {}};
    auto max = MaxEvents(p);
    if (!max) return answer(BadRequest("max: 1 to 10000", path, "max"));
    uint64_t wait = 0;
    std::string consumer = "default";
    if (auto v = p.Get("wait")) {
      auto n = ParseU64(*v);
      if (!n || *n > kMaxWaitMs) {
        return answer(BadRequest("wait: milliseconds, at most 60000", path, "wait"));
      }
      wait = *n;
    }
    if (auto v = p.Get("consumer")) consumer = *v;
    if (!ValidConsumerName(consumer)) return answer(BadConsumer(path));
    if (auto u = p.Unknown()) {
      return answer(BadRequest("unknown query parameter '" + *u + "'", path, *u));
    }
    AsyncCall call;
    call.start = [group = *g, consumer, max = *max, wait](std::function<void(Response)> done) {
      group->Poll(consumer, max, std::chrono::milliseconds(wait),
                  [done = std::move(done)](std::vector<delivery::Delivery> batch) {
                    Response r;
                    r.content_type = std::string(kJson);
                    r.body = PollJson(batch);
                    done(std::move(r));
                  });
    };
    return Routed{route, std::move(call)};
  }
  if (action == "events") {
    if (m != "GET") return answer(NotAllowed(m, "GET", path));
    auto qp = ParseQuery(query);
    if (!qp) return answer(BadRequest("malformed query string", path));
    Params p{std::move(*qp), {}};
    auto max = MaxEvents(p);
    if (!max) return answer(BadRequest("max: 1 to 10000", path, "max"));
    std::string consumer;
    if (auto v = p.Get("consumer")) {
      if (!ValidConsumerName(*v)) return answer(BadConsumer(path));
      consumer = *v;
    }
    if (consumer.empty()) consumer = NextSseConsumer();
    if (auto u = p.Unknown()) {
      return answer(BadRequest("unknown query parameter '" + *u + "'", path, *u));
    }
    if (Status attached = (*g)->AttachSubscriber(); !attached.ok()) {
      return answer(Fail(attached, path));
    }
    SseCall call;
    call.spec.instance = path;
    call.feed = std::make_shared<GroupFeed>(*g, std::move(consumer), *max);
    return Routed{route, std::move(call)};
  }
  if (action == "ack" || action == "nack") {
    if (m != "POST") return answer(NotAllowed(m, "POST", path));
    auto body = Body(req);
    if (!body.ok()) return answer(Fail(body.status(), path, "body"));
    const Status members =
        action == "ack"
            ? delivery::OnlyKeys(*body, {"ids"}, "body")
            : delivery::OnlyKeys(*body, {"ids", "action", "reason", "retryAfterMs"}, "body");
    if (!members.ok()) return answer(Fail(members, path, "body"));
    auto ids = Ids(*body);
    if (!ids.ok()) return answer(Fail(ids.status(), path, "ids"));
    Status s;
    if (action == "ack") {
      s = (*g)->Ack(*ids);
    } else {
      std::string a = "retry", reason;
      uint64_t after = 0;
      for (auto [field, read] :
           {std::pair{"action", delivery::OptString(*body, "action", &a)},
            std::pair{"reason", delivery::OptString(*body, "reason", &reason)},
            std::pair{"retryAfterMs", delivery::OptUint(*body, "retryAfterMs", &after)}}) {
        if (!read.ok()) return answer(Fail(read, path, field));
      }
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
      if (after > kMaxRetryAfterMs) {
        return answer(
            BadRequest("retryAfterMs: at most " + std::to_string(kMaxRetryAfterMs) + " (a day)",
                       path, "retryAfterMs"));
      }
      s = (*g)->Nack(*ids, na, reason, std::chrono::milliseconds(after));
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
  if (auto r = SinkResource<delivery::WebhookConfig>(webhooks_, "webhooks", route, req, segs, path,
                                                     delivery::WebhookSinkFromJson, WebhookJson)) {
    return std::move(*r);
  }
  auto name = Segment(segs[1]);
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

Routed DeliveryRoutes::Relays(Request& req, const std::vector<std::string_view>& segs,
                              std::string_view query) const {
  const Route route = RouteOf(segs);
  const std::string path = req.target.substr(0, req.target.find('?'));
  auto answer = [&](Response r) { return Routed{route, std::move(r)}; };
  if (auto r = SinkResource<delivery::RelayConfig>(relays_, "relays", route, req, segs, path,
                                                   delivery::RelaySinkFromJson, RelayJson)) {
    return std::move(*r);
  }
  auto name = Segment(segs[1]);
  auto g = relays_->Cursor(*name);
  if (!g.ok()) return answer(Fail(g.status(), path));
  if (segs[2] == "parked") return answer(Parked(*g, req, segs, query, path));
  if (segs.size() == 3 && segs[2] == "reset") {
    if (req.method != "POST") return answer(NotAllowed(req.method, "POST", path));
    auto at = ResetTarget(req);
    if (!at.ok()) return answer(Fail(at.status(), path, "from"));
    return StatusCall(route, path, [svc = service_, n = *name, at = *at] {
      return svc->Reset(delivery::Kind::kRelay, n, at);
    });
  }
  return answer(NoRoute(path));
}

}  // namespace annals::http
