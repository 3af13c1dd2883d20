#include "delivery/webhook.h"

#include <curl/curl.h>

#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>

#include "core/base64.h"
#include "delivery/webhook_format.h"

namespace annals::delivery {

namespace {

constexpr char kConsumer[] = "webhook";
constexpr auto kPollWait = std::chrono::seconds(10);

Status Invalid(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

GroupDefinition CursorDefinition(const WebhookConfig& c) {
  GroupDefinition d;
  d.name = c.name;
  d.source = c.filter;
  d.start = c.start;
  GroupSettings& s = d.settings;
  s.strategy = Strategy::kPinnedByStream;
  s.park_keeps_order = true;
  s.max_retries = c.max_attempts > 0 ? c.max_attempts - 1 : 0;
  s.retry_backoff_min = c.backoff_min;
  s.retry_backoff_max = std::max(c.backoff_max, c.backoff_min);
  // The pusher always answers (ack or nack) when a request ends; the ack timeout only covers
  // a request lost inside the pusher.
  s.ack_timeout = 3 * c.timeout + std::chrono::seconds(5);
  s.max_in_flight = c.concurrency * c.batch_size;
  s.buffer_size = std::max<uint32_t>(2000, 4 * s.max_in_flight);
  s.consumer_timeout = std::chrono::hours(24);
  d.paused = c.paused || !c.disabled_reason.empty();
  return d;
}

// libcurl keeps the response headers we need (Retry-After) and discards the body.
size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  std::string_view line(data, size * n);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    bool match = true;
    for (size_t i = 0; i < kName.size() && match; ++i) {
      match = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i]))) == kName[i];
    }
    if (match) *static_cast<std::string*>(user) = std::string(line.substr(kName.size()));
  }
  return size * n;
}
size_t OnBody(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

Json WebhookSinkJson(const WebhookConfig& c) {
  Json headers = Json::object();
  for (const auto& [k, v] : c.headers) headers[k] = v;
  Json j{{"url", c.url},
         {"filter", SourceToJson(c.filter)},
         {"from", StartToJson(c.start)},
         {"secret", c.secret},
         {"headers", headers},
         {"maxAttempts", c.max_attempts},
         {"backoffMinMs", c.backoff_min.count()},
         {"backoffMaxMs", c.backoff_max.count()},
         {"batchSize", c.batch_size},
         {"timeoutMs", c.timeout.count()},
         {"concurrency", c.concurrency},
         {"ceSource", c.ce_source},
         {"paused", c.paused}};
  if (!c.disabled_reason.empty()) j["disabledReason"] = c.disabled_reason;
  return j;
}

Status WebhookSinkFromJson(const Json& j, WebhookConfig* c) {
  if (!j.is_object()) return Invalid("a webhook must be a JSON object");
  static const char* const kKnown[] = {
      "url",         "filter",      "from",         "secret",       "headers",
      "maxAttempts", "backoff",     "backoffMinMs", "backoffMaxMs", "batchSize",
      "timeoutMs",   "concurrency", "ceSource",     "paused",       "disabledReason"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : kKnown) known = known || it.key() == k;
    if (!known) return Invalid("unknown member '" + it.key() + "'");
  }
  auto str = [&](const char* key, std::string* out) -> Status {
    auto it = j.find(key);
    if (it == j.end()) return Status::Ok();
    if (!it->is_string()) return Invalid(std::string(key) + ": must be a string");
    *out = it->get<std::string>();
    return Status::Ok();
  };
  auto num = [&](const Json& obj, const char* key, uint64_t* out) -> Status {
    auto it = obj.find(key);
    if (it == obj.end()) return Status::Ok();
    if (!it->is_number_integer() || it->get<int64_t>() < 0) {
      return Invalid(std::string(key) + ": must be a whole number");
    }
    *out = it->get<uint64_t>();
    return Status::Ok();
  };
  ANNALS_RETURN_IF_ERROR(str("url", &c->url));
  ANNALS_RETURN_IF_ERROR(str("secret", &c->secret));
  ANNALS_RETURN_IF_ERROR(str("ceSource", &c->ce_source));
  ANNALS_RETURN_IF_ERROR(str("disabledReason", &c->disabled_reason));
  if (auto it = j.find("filter"); it != j.end()) {
    auto s = SourceFromJson(*it);
    if (!s.ok()) return Invalid("filter: " + s.status().message());
    c->filter = std::move(*s);
  }
  if (auto it = j.find("from"); it != j.end()) {
    auto s = StartFromJson(*it);
    if (!s.ok()) return s.status();
    c->start = *s;
  }
  if (auto it = j.find("headers"); it != j.end()) {
    if (!it->is_object()) return Invalid("headers: must be an object of strings");
    c->headers.clear();
    for (auto h = it->begin(); h != it->end(); ++h) {
      if (!h->is_string()) return Invalid("headers: must be an object of strings");
      c->headers.emplace_back(h.key(), h->get<std::string>());
    }
  }
  if (auto it = j.find("paused"); it != j.end()) {
    if (!it->is_boolean()) return Invalid("paused: must be true or false");
    c->paused = it->get<bool>();
  }
  uint64_t v = c->max_attempts;
  ANNALS_RETURN_IF_ERROR(num(j, "maxAttempts", &v));
  c->max_attempts = static_cast<uint32_t>(std::min<uint64_t>(v, 1000000));
  uint64_t lo = c->backoff_min.count(), hi = c->backoff_max.count();
  ANNALS_RETURN_IF_ERROR(num(j, "backoffMinMs", &lo));
  ANNALS_RETURN_IF_ERROR(num(j, "backoffMaxMs", &hi));
  if (auto it = j.find("backoff"); it != j.end()) {
    if (!it->is_object()) return Invalid("backoff: {\"minMs\", \"maxMs\"}");
    ANNALS_RETURN_IF_ERROR(OnlyKeys(*it, {"minMs", "maxMs"}, "backoff"));
    if (j.contains("backoffMinMs") || j.contains("backoffMaxMs")) {
      return Invalid("backoff: give it or backoffMinMs/backoffMaxMs, not both");
    }
    ANNALS_RETURN_IF_ERROR(num(*it, "minMs", &lo));
    ANNALS_RETURN_IF_ERROR(num(*it, "maxMs", &hi));
  }
  c->backoff_min = std::chrono::milliseconds(std::min<uint64_t>(lo, 86400000));
  c->backoff_max = std::chrono::milliseconds(std::min<uint64_t>(hi, 86400000));
  v = c->batch_size;
  ANNALS_RETURN_IF_ERROR(num(j, "batchSize", &v));
  c->batch_size = static_cast<uint32_t>(std::min<uint64_t>(v, 100000));
  v = static_cast<uint64_t>(c->timeout.count());
  ANNALS_RETURN_IF_ERROR(num(j, "timeoutMs", &v));
  c->timeout = std::chrono::milliseconds(std::min<uint64_t>(v, 3600000));
  v = c->concurrency;
  ANNALS_RETURN_IF_ERROR(num(j, "concurrency", &v));
  c->concurrency = static_cast<uint32_t>(std::min<uint64_t>(v, 100000));
  return Status::Ok();
}

namespace {

const std::set<std::string> kReservedHeaders = {
    "host",       "content-length", "content-type", "transfer-encoding",
    "connection", "keep-alive",     "upgrade",      "te",
    "trailer",    "expect",         "user-agent"};

bool HasControl(std::string_view text) {
  for (unsigned char ch : text) {
    if (ch < 0x20 || ch == 0x7f) return true;
  }
  return false;
}

// An HTTP field name: one or more token characters (RFC 9110, 5.6.2).
bool IsToken(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char ch : name) {
    if (!(std::isalnum(ch) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(ch)) !=
                                  std::string_view::npos)) {
      return false;
    }
  }
  return true;
}

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// `whsec_<base64>` must carry a key: an empty one (or text that is not base64, which the
// signer would then use as the key itself) signs requests anyone can forge or no receiver
// following Standard Webhooks can check.
Status ValidateSecret(std::string_view secret) {
  if (!secret.starts_with("whsec_")) return Status::Ok();
  auto key = Base64Decode(secret.substr(6));
  if (!key || key->empty()) {
    return Invalid("secret: whsec_ must be followed by a non-empty base64 key");
  }
  return Status::Ok();
}

// libcurl's own parser, so what is accepted is what will be sent to: a host, a port that fits.
Status CheckUrlParses(const std::string& url) {
  CURLU* parsed = curl_url();
  if (parsed == nullptr) return Status(StatusCode::kInternal, "out of memory");
  CURLUcode rc = curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0);
  char* host = nullptr;
  if (rc == CURLUE_OK) rc = curl_url_get(parsed, CURLUPART_HOST, &host, 0);
  const bool has_host = rc == CURLUE_OK && host != nullptr && host[0] != '\0';
  curl_free(host);
  curl_url_cleanup(parsed);
  if (rc != CURLUE_OK) return Invalid(std::string("url: ") + curl_url_strerror(rc));
  if (!has_host) return Invalid("url: no host");
  return Status::Ok();
}

Status Validate(const WebhookConfig& c) {
  ANNALS_RETURN_IF_ERROR(ValidateName(c.name));
  if (c.url.rfind("http://", 0) != 0 && c.url.rfind("https://", 0) != 0) {
    return Invalid("url: must be an http:// or https:// URL");
  }
  for (char ch : c.url) {
    if (static_cast<unsigned char>(ch) <= 0x20) return Invalid("url: no spaces or controls");
  }
  ANNALS_RETURN_IF_ERROR(CheckUrlParses(c.url));
  if (c.max_attempts == 0) return Invalid("maxAttempts: must be at least 1");
  if (c.batch_size == 0 || c.batch_size > 10000) return Invalid("batchSize: 1 to 10000");
  if (c.concurrency == 0 || c.concurrency > 1000) return Invalid("concurrency: 1 to 1000");
  if (c.timeout.count() <= 0) return Invalid("timeoutMs: must be at least 1");
  if (c.backoff_max < c.backoff_min) return Invalid("backoff: max must not be below min");
  ANNALS_RETURN_IF_ERROR(ValidateSecret(c.secret));
  // The CloudEvents source goes out as the ce-source header (binary mode).
  if (c.ce_source.empty() || c.ce_source.size() > 1024 || HasControl(c.ce_source)) {
    return Invalid("ceSource: 1 to 1024 bytes, no control characters");
  }
  std::set<std::string> names;
  for (const auto& [k, v] : c.headers) {
    if (!IsToken(k) || HasControl(v)) {
      return Invalid("headers: '" + k + "' is not a valid header");
    }
    const std::string lower = Lowercase(k);
    // What frames the request or proves where it came from is Annals' to set: a
    // Content-Length of the caller's would desynchronise a pooled connection, a second
    // signature would confuse the receiver.
    if (kReservedHeaders.count(lower) > 0 || lower.starts_with("webhook-") ||
        lower.starts_with("ce-")) {
      return Invalid("headers: '" + k + "' is set by Annals");
    }
    if (!names.insert(lower).second) return Invalid("headers: '" + k + "' is given twice");
  }
  return Status::Ok();
}

}  // namespace

struct Hook {
  std::shared_ptr<Group> group;
  std::atomic<bool> removed{false};
  Json stored_sink;  // as last written or read (Impl::config_mu): tells another node's update
  // Curl thread only.
  bool polling = false;
  uint32_t in_flight = 0;
  // Guarded by mu.
  mutable std::mutex mu;
  WebhookConfig config;
  std::string last_error;
  unsigned last_status = 0;
  uint64_t requests = 0;
  uint64_t failed = 0;
  uint64_t delivered = 0;
  uint32_t requests_in_flight = 0;
};

struct Request {
  std::shared_ptr<Hook> hook;
  std::vector<Delivery> batch;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  std::string retry_after;
  char error[CURL_ERROR_SIZE] = {};
  ~Request() {
    if (headers) curl_slist_free_all(headers);
    if (easy) curl_easy_cleanup(easy);
  }
};

struct WebhookManager::Impl {
  DeliveryService* svc;
  std::shared_ptr<const SecretBox> box;  // null: secrets stored in plain text
  CURLM* multi = nullptr;
  std::thread thread;
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<Hook>> hooks;
  bool stopping = false;
  // Poll answers, shared with the callbacks: a group may answer a poll after Close (when the
  // service stops), so they must not touch the manager.
  struct Inbox {
    std::mutex mu;
    std::vector<std::pair<std::shared_ptr<Hook>, std::vector<Delivery>>> answers;
    CURLM* multi = nullptr;  // null once closed
    void Push(std::shared_ptr<Hook> hook, std::vector<Delivery> d) {
      std::lock_guard lock(mu);
      if (!multi) return;
      answers.emplace_back(std::move(hook), std::move(d));
      curl_multi_wakeup(multi);
    }
    void Wake() {
      std::lock_guard lock(mu);
      if (multi) curl_multi_wakeup(multi);
    }
  };
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
  std::mutex config_mu;                               // serialises configuration changes
  std::unordered_set<Request*> requests;              // in flight (curl thread only)
  std::chrono::steady_clock::time_point next_sync{};  // curl thread only

  void Run();
  // A hook for a registered webhook (at start, or one another node created).
  Result<std::shared_ptr<Hook>> MakeHook(const Registered& reg) const;
  // Follows the webhooks other nodes created, updated or deleted in a shared store (the
  // service follows the config stream; this makes the hooks match its registry).
  void Sync();
  void Send(const std::shared_ptr<Hook>& hook, std::vector<Delivery> batch);
  void Complete(Request* r, CURLcode rc);
  Status Store(const std::shared_ptr<Hook>& hook, WebhookConfig config);
  // The sink as the config stream stores it: the secret sealed when there is a box.
  Json StoredSink(const WebhookConfig& c) const {
    Json j = WebhookSinkJson(c);
    if (!c.sealed_secret.empty() || (box && !c.secret.empty())) {
      j.erase("secret");
      j["sealedSecret"] = c.sealed_secret.empty() ? box->Seal(c.secret) : c.sealed_secret;
    }
    return j;
  }
  // Reads a stored sink; a sealed secret that cannot be opened disables the webhook.
  Status LoadSink(Json sink, WebhookConfig* c) const {
    std::string sealed;
    if (auto it = sink.find("sealedSecret"); it != sink.end() && it->is_string()) {
      sealed = it->get<std::string>();
      sink.erase(it);
    }
    ANNALS_RETURN_IF_ERROR(WebhookSinkFromJson(sink, c));
    if (sealed.empty()) return Status::Ok();
    auto plain = box ? box->Open(sealed)
                     : Result<std::string>(Status(StatusCode::kInvalidArgument, "no secrets key"));
    if (plain.ok()) {
      c->secret = std::move(*plain);
    } else {
      c->sealed_secret = std::move(sealed);
      c->disabled_reason =
          "the secret cannot be unsealed with this server's key: PUT the webhook again with it";
    }
    return Status::Ok();
  }
  // Resuming also clears a 410's disabled reason.
  Status SetPaused(const std::string& name, bool paused) {
    auto hook = Find(name);
    if (!hook.ok()) return hook.status();
    WebhookConfig c;
    {
      std::lock_guard lock((*hook)->mu);
      c = (*hook)->config;
    }
    if (!paused && !c.sealed_secret.empty()) {
      return Status(StatusCode::kInvalidArgument, c.disabled_reason);
    }
    c.paused = paused;
    if (!paused) c.disabled_reason.clear();
    return Store(*hook, std::move(c));
  }
  Result<std::shared_ptr<Hook>> Find(const std::string& name) const {
    std::lock_guard lock(mu);
    auto it = hooks.find(name);
    if (it == hooks.end()) {
      return Status(StatusCode::kNotFound, "webhook '" + name + "' does not exist");
    }
    return it->second;
  }
};

WebhookManager::WebhookManager(DeliveryService* service) : impl_(std::make_unique<Impl>()) {
  impl_->svc = service;
}

Result<std::unique_ptr<WebhookManager>> WebhookManager::Start(
    DeliveryService* service, std::shared_ptr<const SecretBox> box) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<WebhookManager> m(new WebhookManager(service));
  Impl& im = *m->impl_;
  im.multi = curl_multi_init();
  if (!im.multi) return Status(StatusCode::kInternal, "curl_multi_init failed");
  im.inbox->multi = im.multi;
  im.box = std::move(box);
  for (Registered& reg : service->List(Kind::kWebhook)) {
    auto hook = im.MakeHook(reg);
    if (!hook.ok()) {
      if (hook.status().code() == StatusCode::kNotFound) continue;
      return hook.status();
    }
    im.hooks[reg.definition.name] = std::move(*hook);
  }
  im.thread = std::thread([&im] { im.Run(); });
  return m;
}

Result<std::shared_ptr<Hook>> WebhookManager::Impl::MakeHook(const Registered& reg) const {
  auto hook = std::make_shared<Hook>();
  hook->config.name = reg.definition.name;
  if (Status s = LoadSink(reg.sink, &hook->config); !s.ok()) {
    return Status(StatusCode::kCorruption, "webhook '" + reg.definition.name + "': " + s.message());
  }
  hook->stored_sink = reg.sink;
  hook->config.filter = reg.definition.source;
  hook->config.start = reg.definition.start;
  auto g = svc->Find(Kind::kWebhook, reg.definition.name);
  if (!g.ok()) return g.status();
  hook->group = *g;
  if (!hook->config.sealed_secret.empty()) {
    // Unsigned requests must not go out in its name: held until it is PUT again.
    hook->group->Update(hook->group->definition().settings, /*paused=*/true);
  }
  return hook;
}

void WebhookManager::Impl::Sync() {
  std::lock_guard config_lock(config_mu);
  std::map<std::string, std::shared_ptr<Hook>> next;
  for (Registered& reg : svc->List(Kind::kWebhook)) {
    auto g = svc->Find(Kind::kWebhook, reg.definition.name);
    if (!g.ok()) continue;
    std::shared_ptr<Hook> current;
    {
      std::lock_guard lock(mu);
      auto it = hooks.find(reg.definition.name);
      if (it != hooks.end()) current = it->second;
    }
    if (current && current->group == *g && current->stored_sink == reg.sink) {
      next[reg.definition.name] = std::move(current);
      continue;
    }
    auto made = MakeHook(reg);
    if (!made.ok()) continue;  // an unreadable sink: the node that wrote it reports it
    if (current && current->group == *g) {
      // Updated elsewhere: the same cursor with the new settings, counters kept.
      std::lock_guard lock(current->mu);
      current->config = (*made)->config;
      current->stored_sink = reg.sink;
      next[reg.definition.name] = std::move(current);
      continue;
    }
    if (current) current->removed = true;  // deleted and created again elsewhere
    next[reg.definition.name] = std::move(*made);
  }
  std::lock_guard lock(mu);
  for (auto& [name, hook] : hooks) {
    if (!next.count(name)) hook->removed = true;
  }
  hooks.swap(next);
}

WebhookManager::~WebhookManager() { Close(); }

void WebhookManager::Close() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  curl_multi_wakeup(impl_->multi);
  if (impl_->thread.joinable()) impl_->thread.join();
  {
    std::lock_guard lock(impl_->inbox->mu);
    impl_->inbox->multi = nullptr;
    impl_->inbox->answers.clear();
  }
  curl_multi_cleanup(impl_->multi);
  impl_->multi = nullptr;
}

void WebhookManager::Impl::Run() {
  std::vector<std::shared_ptr<Hook>> snapshot;
  for (;;) {
    snapshot.clear();
    if (svc->shared() && std::chrono::steady_clock::now() >= next_sync) {
      next_sync = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      Sync();
    }
    {
      std::lock_guard lock(mu);
      if (stopping) break;
      for (auto& [name, h] : hooks) snapshot.push_back(h);
    }
    for (auto& hook : snapshot) {
      uint32_t concurrency, batch_size;
      {
        std::lock_guard lock(hook->mu);
        concurrency = hook->config.concurrency;
        batch_size = hook->config.batch_size;
      }
      if (hook->polling || hook->in_flight >= concurrency) continue;
      hook->polling = true;
      const uint32_t max = batch_size > 1 ? batch_size : concurrency - hook->in_flight;
      hook->group->Poll(
          kConsumer, max, kPollWait,
          [inbox = inbox, hook](std::vector<Delivery> d) { inbox->Push(hook, std::move(d)); },
          /*one_per_stream=*/batch_size == 1);
    }
    std::vector<std::pair<std::shared_ptr<Hook>, std::vector<Delivery>>> got;
    {
      std::lock_guard lock(inbox->mu);
      got.swap(inbox->answers);
    }
    for (auto& [hook, batch] : got) {
      hook->polling = false;
      if (batch.empty()) continue;
      if (hook->removed) continue;  // its cursor is gone; nothing to acknowledge
      Send(hook, std::move(batch));
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    bool completed = false;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Request* r = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &r);
      const CURLcode rc = msg->data.result;
      curl_multi_remove_handle(multi, msg->easy_handle);
      requests.erase(r);
      Complete(r, rc);
      delete r;
      completed = true;
    }
    // A completion frees a request slot and an answer may hold events: poll again at once
    // rather than sleep in curl_multi_poll (a full hook issues no poll, so no wake-up would
    // come for the freed slot).
    if (!got.empty() || completed) continue;
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  // Abandon what is in flight: the events stay unacknowledged and are delivered again.
  for (Request* r : requests) {
    curl_multi_remove_handle(multi, r->easy);
    delete r;
  }
  requests.clear();
}

void WebhookManager::Impl::Send(const std::shared_ptr<Hook>& hook, std::vector<Delivery> batch) {
  WebhookConfig c;
  {
    std::lock_guard lock(hook->mu);
    c = hook->config;
  }
  if (!c.sealed_secret.empty()) {
    // Its secret is unknown (a PUT with it may be landing right now): never send unsigned.
    std::vector<std::string> ids;
    for (const Delivery& d : batch) ids.push_back(d.ack_id);
    (void)hook->group->Nack(ids, NackAction::kRetry, "the secret cannot be unsealed");
    return;
  }
  std::vector<std::pair<HttpMessage, std::vector<Delivery>>> messages;
  if (c.batch_size > 1) {
    HttpMessage m = BatchOfEvents(batch, c.ce_source);
    messages.emplace_back(std::move(m), std::move(batch));
  } else {
    for (Delivery& d : batch) {
      HttpMessage m = BinaryEvent(d, c.ce_source);
      messages.emplace_back(std::move(m), std::vector<Delivery>{std::move(d)});
    }
  }
  const int64_t now = UnixNow();
  for (auto& [m, events] : messages) {
    Sign(&m, c.secret, now);
    auto* r = new Request;
    r->hook = hook;
    r->batch = std::move(events);
    r->body = std::move(m.body);
    for (const auto& [k, v] : m.headers) {
      r->headers = curl_slist_append(r->headers, (k + ": " + v).c_str());
    }
    for (const auto& [k, v] : c.headers) {
      r->headers = curl_slist_append(r->headers, (k + ": " + v).c_str());
    }
    r->headers = curl_slist_append(r->headers, "Expect:");  // no 100-continue round trip
    r->headers = curl_slist_append(r->headers, "User-Agent: annals-webhook");
    CURL* e = r->easy = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, c.url.c_str());
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r->body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(c.timeout.count()));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<int64_t>(c.timeout.count(), 5000)));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &r->retry_after);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_multi_add_handle(multi, e);
    requests.insert(r);
    ++hook->in_flight;
    std::lock_guard lock(hook->mu);
    ++hook->requests;
    ++hook->requests_in_flight;
  }
}

void WebhookManager::Impl::Complete(Request* r, CURLcode rc) {
  Hook& hook = *r->hook;
  --hook.in_flight;
  long code = 0;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
  std::vector<std::string> ids;
  ids.reserve(r->batch.size());
  for (const Delivery& d : r->batch) ids.push_back(d.ack_id);
  const bool ok = rc == CURLE_OK && code >= 200 && code < 300;
  std::string error;
  if (!ok) {
    error = rc != CURLE_OK ? std::string(curl_easy_strerror(rc)) +
                                 (r->error[0] ? std::string(": ") + r->error : std::string())
                           : "HTTP " + std::to_string(code);
  }
  {
    std::lock_guard lock(hook.mu);
    --hook.requests_in_flight;
    hook.last_status = static_cast<unsigned>(code);
    if (ok) {
      hook.delivered += r->batch.size();
    } else {
      ++hook.failed;
      hook.last_error = error;
    }
  }
  if (ok) {
    (void)hook.group->Ack(ids);
    return;
  }
  if (rc == CURLE_OK && code == 410) {
    // Gone: the receiver asks us to stop. The events wait (unparked) until it is resumed.
    (void)hook.group->Nack(ids, NackAction::kRetry, error);
    WebhookConfig c;
    {
      std::lock_guard lock(hook.mu);
      c = hook.config;
    }
    if (c.disabled_reason.empty() && !hook.removed) {
      c.disabled_reason = "410 Gone from " + c.url;
      (void)Store(r->hook, std::move(c));
    }
    return;
  }
  std::chrono::milliseconds after{0};
  if (auto ra = ParseRetryAfter(r->retry_after, UnixNow())) after = *ra;
  (void)hook.group->Nack(ids, NackAction::kRetry, error, after);
}

// Writes the configuration and applies it to the live hook.
Status WebhookManager::Impl::Store(const std::shared_ptr<Hook>& hook, WebhookConfig config) {
  std::lock_guard lock(config_mu);
  GroupDefinition def = CursorDefinition(config);
  Json sink = StoredSink(config);
  auto res = svc->Put(Kind::kWebhook, def, sink);
  if (!res.ok()) return res.status();
  hook->stored_sink = std::move(sink);
  std::lock_guard hl(hook->mu);
  hook->config = std::move(config);
  return Status::Ok();
}

Result<bool> WebhookManager::Put(WebhookConfig config) {
  ANNALS_RETURN_IF_ERROR(Validate(config));
  auto existing = impl_->Find(config.name);
  if (existing.ok()) {
    WebhookConfig current;
    {
      std::lock_guard lock((*existing)->mu);
      current = (*existing)->config;
    }
    config.start = current.start;
    ANNALS_RETURN_IF_ERROR(impl_->Store(*existing, std::move(config)));
    impl_->inbox->Wake();
    return false;
  }
  std::lock_guard lock(impl_->config_mu);
  Json sink = impl_->StoredSink(config);
  auto res = impl_->svc->Put(Kind::kWebhook, CursorDefinition(config), sink);
  if (!res.ok()) return res.status();
  auto g = impl_->svc->Find(Kind::kWebhook, config.name);
  if (!g.ok()) return g.status();
  auto hook = std::make_shared<Hook>();
  hook->group = *g;
  hook->stored_sink = std::move(sink);
  hook->config = std::move(config);
  {
    std::lock_guard l(impl_->mu);
    impl_->hooks[hook->config.name] = hook;
  }
  impl_->inbox->Wake();
  return res->created;
}

Result<WebhookStatus> WebhookManager::Get(const std::string& name) const {
  auto hook = impl_->Find(name);
  if (!hook.ok()) return hook.status();
  WebhookStatus st;
  st.cursor = (*hook)->group->Info();
  std::lock_guard lock((*hook)->mu);
  st.config = (*hook)->config;
  st.last_error = (*hook)->last_error;
  st.last_status = (*hook)->last_status;
  st.requests = (*hook)->requests;
  st.failed_requests = (*hook)->failed;
  st.delivered_events = (*hook)->delivered;
  st.requests_in_flight = (*hook)->requests_in_flight;
  return st;
}

std::vector<WebhookStatus> WebhookManager::List() const {
  std::vector<std::string> names;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [name, h] : impl_->hooks) names.push_back(name);
  }
  std::vector<WebhookStatus> out;
  for (const std::string& n : names) {
    auto st = Get(n);
    if (st.ok()) out.push_back(std::move(*st));
  }
  return out;
}

Status WebhookManager::Delete(const std::string& name) {
  std::lock_guard lock(impl_->config_mu);
  ANNALS_RETURN_IF_ERROR(impl_->svc->Delete(Kind::kWebhook, name));
  std::lock_guard l(impl_->mu);
  auto it = impl_->hooks.find(name);
  if (it != impl_->hooks.end()) {
    it->second->removed = true;
    impl_->hooks.erase(it);
  }
  return Status::Ok();
}

Status WebhookManager::Pause(const std::string& name) { return impl_->SetPaused(name, true); }

Status WebhookManager::Resume(const std::string& name) {
  ANNALS_RETURN_IF_ERROR(impl_->SetPaused(name, false));
  impl_->inbox->Wake();
  return Status::Ok();
}

Status WebhookManager::Reset(const std::string& name, const StartAt& start) {
  return impl_->svc->Reset(Kind::kWebhook, name, start);
}

Result<std::shared_ptr<Group>> WebhookManager::Cursor(const std::string& name) const {
  return impl_->svc->Find(Kind::kWebhook, name);
}

}  // namespace annals::delivery
