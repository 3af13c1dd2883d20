#include "delivery/nats_relay.h"

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/rfc3339.h"

namespace annals::delivery {

namespace {

constexpr char kConsumer[] = "relay";

Status Invalid(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }

std::string Token(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out.empty() ? std::string("_") : out;
}

GroupDefinition CursorDefinition(const RelayConfig& c) {
  GroupDefinition d;
  d.name = c.name;
  d.source = c.filter;
  d.start = c.start;
  GroupSettings& s = d.settings;
  s.strategy = Strategy::kPinnedByStream;
  s.park_keeps_order = true;
  s.max_retries = c.max_attempts > 0 ? c.max_attempts - 1 : 0;
  s.retry_backoff_min = c.backoff_min;
  s.retry_backoff_max = std::max(c.backoff_min, c.backoff_max);
  s.ack_timeout = c.timeout * (c.batch_size + 2);
  s.max_in_flight = c.batch_size;
  s.consumer_timeout = std::chrono::hours(24);
  d.paused = c.paused;
  return d;
}

std::string Text(natsStatus s) { return natsStatus_GetText(s); }

// What NATS accepts as a stream name: printable, without whitespace, '.', '*', '>' or a
// path separator. Refused at PUT, a bad name left the relay unable to connect for ever.
bool IsJetStreamName(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (unsigned char ch : name) {
    if (ch <= 0x20 || ch >= 0x7f ||
        std::string_view(".*>/\\").find(static_cast<char>(ch)) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string RelaySubject(const std::string& prefix, const std::string& stream) {
  return prefix + "." + Token(CategoryOf(stream)) + "." + Token(stream);
}

Json RelaySinkJson(const RelayConfig& c) {
  return Json{{"url", c.url},
              {"filter", SourceToJson(c.filter)},
              {"from", StartToJson(c.start)},
              {"subjectPrefix", c.subject_prefix},
              {"createStream", c.create_stream},
              {"batchSize", c.batch_size},
              {"maxAttempts", c.max_attempts},
              {"backoffMinMs", c.backoff_min.count()},
              {"backoffMaxMs", c.backoff_max.count()},
              {"timeoutMs", c.timeout.count()},
              {"paused", c.paused}};
}

Status RelaySinkFromJson(const Json& j, RelayConfig* c) {
  if (!j.is_object()) return Invalid("a relay must be a JSON object");
  auto str = [&](const char* k, std::string* out) -> Status {
    auto it = j.find(k);
    if (it == j.end()) return Status::Ok();
    if (!it->is_string()) return Invalid(std::string(k) + ": must be a string");
    *out = it->get<std::string>();
    return Status::Ok();
  };
  auto num = [&](const char* k, uint64_t* out) -> Status {
    auto it = j.find(k);
    if (it == j.end()) return Status::Ok();
    if (!it->is_number_integer() || it->get<int64_t>() < 0) {
      return Invalid(std::string(k) + ": must be a whole number");
    }
    *out = it->get<uint64_t>();
    return Status::Ok();
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    static const char* const kKnown[] = {
        "url",         "filter",       "from",         "subjectPrefix", "createStream", "batchSize",
        "maxAttempts", "backoffMinMs", "backoffMaxMs", "timeoutMs",     "paused"};
    bool known = false;
    for (const char* k : kKnown) known = known || it.key() == k;
    if (!known) return Invalid("unknown member '" + it.key() + "'");
  }
  ANNALS_RETURN_IF_ERROR(str("url", &c->url));
  ANNALS_RETURN_IF_ERROR(str("subjectPrefix", &c->subject_prefix));
  ANNALS_RETURN_IF_ERROR(str("createStream", &c->create_stream));
  if (auto it = j.find("filter"); it != j.end()) {
    auto s = SourceFromJson(*it);
    if (!s.ok()) return s.status();
    c->filter = std::move(*s);
  }
  if (auto it = j.find("from"); it != j.end()) {
    auto s = StartFromJson(*it);
    if (!s.ok()) return s.status();
    c->start = *s;
  }
  ANNALS_RETURN_IF_ERROR(OptBool(j, "paused", &c->paused));
  // Out-of-range values are refused, as for webhooks, not moved into range behind the
  // caller's back.
  auto in_range = [&](const char* key, uint64_t* v, uint64_t lo, uint64_t hi) -> Status {
    ANNALS_RETURN_IF_ERROR(num(key, v));
    if (*v < lo || *v > hi) {
      return Invalid(std::string(key) + ": " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    return Status::Ok();
  };
  uint64_t v = c->batch_size;
  ANNALS_RETURN_IF_ERROR(in_range("batchSize", &v, 1, 10000));
  c->batch_size = static_cast<uint32_t>(v);
  v = c->max_attempts;
  ANNALS_RETURN_IF_ERROR(in_range("maxAttempts", &v, 1, 1000000));
  c->max_attempts = static_cast<uint32_t>(v);
  uint64_t lo = c->backoff_min.count(), hi = c->backoff_max.count(), t = c->timeout.count();
  ANNALS_RETURN_IF_ERROR(in_range("backoffMinMs", &lo, 0, 3600000));
  ANNALS_RETURN_IF_ERROR(in_range("backoffMaxMs", &hi, 0, 3600000));
  ANNALS_RETURN_IF_ERROR(in_range("timeoutMs", &t, 1, 600000));
  if (hi < lo) return Invalid("backoffMaxMs: must not be below backoffMinMs");
  c->backoff_min = std::chrono::milliseconds(lo);
  c->backoff_max = std::chrono::milliseconds(hi);
  c->timeout = std::chrono::milliseconds(t);
  if (!c->create_stream.empty() && !IsJetStreamName(c->create_stream)) {
    return Invalid("createStream: a JetStream name: letters, digits, '-' and '_'");
  }
  return Status::Ok();
}

// One relay: its thread owns the NATS connection.
struct Relay {
  std::shared_ptr<Group> group;
  std::atomic<bool> stop{false};
  std::thread thread;
  mutable std::mutex mu;  // guards the members below
  RelayConfig config;
  bool connected = false;
  uint64_t published = 0;
  uint64_t failed = 0;
  std::string last_error;

  void Fail(std::string error) {
    std::lock_guard lock(mu);
    ++failed;
    last_error = std::move(error);
  }
  void Run();
};

void Relay::Run() {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  auto disconnect = [&] {
    if (js) jsCtx_Destroy(js);
    if (nc) natsConnection_Destroy(nc);
    js = nullptr;
    nc = nullptr;
    std::lock_guard lock(mu);
    connected = false;
  };
  while (!stop) {
    RelayConfig c;
    {
      std::lock_guard lock(mu);
      c = config;
    }
    if (!nc) {
      natsOptions* opts = nullptr;
      natsOptions_Create(&opts);
      natsOptions_SetURL(opts, c.url.c_str());
      natsOptions_SetTimeout(opts, c.timeout.count());
      natsOptions_SetAllowReconnect(opts, true);
      natsOptions_SetMaxReconnect(opts, -1);
      natsOptions_SetReconnectWait(opts, 100);
      natsStatus s = natsConnection_Connect(&nc, opts);
      natsOptions_Destroy(opts);
      if (s == NATS_OK) s = natsConnection_JetStream(&js, nc, nullptr);
      if (s == NATS_OK && !c.create_stream.empty()) {
        jsStreamInfo* si = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        s = js_GetStreamInfo(&si, js, c.create_stream.c_str(), nullptr, &jerr);
        if (s == NATS_NOT_FOUND) {
          jsStreamConfig cfg;
          jsStreamConfig_Init(&cfg);
          cfg.Name = c.create_stream.c_str();
          const std::string subjects = c.subject_prefix + ".>";
          const char* list[] = {subjects.c_str()};
          cfg.Subjects = list;
          cfg.SubjectsLen = 1;
          s = js_AddStream(&si, js, &cfg, nullptr, &jerr);
        }
        if (si) jsStreamInfo_Destroy(si);
      }
      if (s != NATS_OK) {
        // Readers of the relay's status see this message: never the URL's credentials.
        Fail(WithoutUserinfo(
            "connecting to " + c.url + ": " + Text(s) + ": " + nats_GetLastError(nullptr), c.url));
        disconnect();
        for (int i = 0; i < 10 && !stop; ++i)
          std::this_thread::sleep_for(c.backoff_min / 10 + std::chrono::milliseconds(10));
        continue;
      }
      std::lock_guard lock(mu);
      connected = true;
    }
    auto batch = PollBlocking(*group, kConsumer, c.batch_size, std::chrono::milliseconds(500));
    {
      // The client library reconnects on its own: the status says what it says now.
      std::lock_guard lock(mu);
      connected = natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
    }
    if (batch.empty()) continue;
    std::vector<std::string> done;
    size_t i = 0;
    for (; i < batch.size() && !stop; ++i) {
      const Delivery& d = batch[i];
      const RecordedEvent& e = *d.event;
      const std::string subject = RelaySubject(c.subject_prefix, e.stream);
      natsMsg* msg = nullptr;
      natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, e.data.data(),
                                    static_cast<int>(e.data.size()));
      const std::string id = e.id.ToString();
      if (s == NATS_OK) {
        natsMsgHeader_Set(msg, "Nats-Msg-Id", id.c_str());
        natsMsgHeader_Set(msg, "Annals-Stream", e.stream.c_str());
        natsMsgHeader_Set(msg, "Annals-Type", e.type.c_str());
        natsMsgHeader_Set(msg, "Annals-Revision", std::to_string(e.revision.value).c_str());
        natsMsgHeader_Set(msg, "Annals-Position", std::to_string(e.position.value).c_str());
        natsMsgHeader_Set(msg, "Annals-Created", FormatRfc3339(e.created).c_str());
        natsMsgHeader_Set(msg, "Annals-Delivery-Attempt", std::to_string(d.delivery_count).c_str());
        natsMsgHeader_Set(msg, "Content-Type", e.content_type.c_str());
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = id.c_str();
        po.MaxWait = c.timeout.count();
        jsPubAck* ack = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        s = js_PublishMsg(&ack, js, msg, &po, &jerr);
        if (ack) jsPubAck_Destroy(ack);
        natsMsg_Destroy(msg);
      }
      if (s != NATS_OK) {
        Fail("publishing " + subject + ": " + Text(s));
        break;
      }
      done.push_back(d.ack_id);
    }
    if (!done.empty()) {
      (void)group->Ack(done);
      std::lock_guard lock(mu);
      published += done.size();
    }
    // The failed event and the rest of the batch go back, in order, after the backoff.
    std::vector<std::string> rest;
    for (; i < batch.size(); ++i) rest.push_back(batch[i].ack_id);
    if (!rest.empty()) {
      std::string why;
      {
        std::lock_guard lock(mu);
        why = last_error;
      }
      (void)group->Nack(rest, NackAction::kRetry, why);
    }
  }
  disconnect();
}

struct RelayManager::Impl {
  DeliveryService* svc;
  std::mutex config_mu;  // serialises Put, Delete and Sync
  mutable std::mutex mu;
  std::condition_variable closing;
  std::map<std::string, std::shared_ptr<Relay>> relays;
  bool closed = false;
  std::thread syncer;  // a shared store only: follows the relays of other nodes

  // A relay for a registered cursor (at start, or one another node created).
  Result<std::shared_ptr<Relay>> Make(const Registered& reg) const {
    auto r = std::make_shared<Relay>();
    r->config.name = reg.definition.name;
    ANNALS_RETURN_IF_ERROR(RelaySinkFromJson(reg.sink, &r->config));
    r->config.filter = reg.definition.source;
    auto g = svc->Find(Kind::kRelay, reg.definition.name);
    if (!g.ok()) return g.status();
    r->group = *g;
    return r;
  }
  // Makes the relays match the service's registry, which follows the config stream: starts
  // the relays other nodes created (driven here once this node gets their lease), applies
  // their updates, halts the deleted ones.
  void Sync() {
    std::lock_guard config_lock(config_mu);
    std::vector<std::shared_ptr<Relay>> halted;
    std::vector<std::shared_ptr<Relay>> started;
    std::set<std::string> names;
    for (Registered& reg : svc->List(Kind::kRelay)) {
      names.insert(reg.definition.name);
      auto made = Make(reg);
      if (!made.ok()) continue;
      std::lock_guard lock(mu);
      if (closed) return;
      auto it = relays.find(reg.definition.name);
      if (it != relays.end() && it->second->group == (*made)->group) {
        std::lock_guard rl(it->second->mu);
        it->second->config = (*made)->config;
        continue;
      }
      if (it != relays.end()) halted.push_back(it->second);
      relays[reg.definition.name] = *made;
      started.push_back(*made);
    }
    {
      std::lock_guard lock(mu);
      for (auto it = relays.begin(); it != relays.end();) {
        if (names.count(it->first)) {
          ++it;
          continue;
        }
        halted.push_back(it->second);
        it = relays.erase(it);
      }
    }
    for (auto& r : halted) Halt(r);
    for (auto& r : started) Launch(r);
  }
  void SyncEverySecond() {
    std::unique_lock lock(mu);
    while (!closed) {
      closing.wait_for(lock, std::chrono::seconds(1), [&] { return closed; });
      if (closed) break;
      lock.unlock();
      Sync();
      lock.lock();
    }
  }

  void Launch(const std::shared_ptr<Relay>& r) {
    r->thread = std::thread([r] { r->Run(); });
  }
  static void Halt(const std::shared_ptr<Relay>& r) {
    r->stop = true;
    if (r->thread.joinable()) r->thread.join();
  }
  Result<std::shared_ptr<Relay>> Find(const std::string& name) const {
    std::lock_guard lock(mu);
    auto it = relays.find(name);
    if (it == relays.end())
      return Status(StatusCode::kNotFound, "relay '" + name + "' does not exist");
    return it->second;
  }
};

RelayManager::RelayManager(DeliveryService* service) : impl_(std::make_unique<Impl>()) {
  impl_->svc = service;
}

Result<std::unique_ptr<RelayManager>> RelayManager::Start(DeliveryService* service) {
  std::unique_ptr<RelayManager> m(new RelayManager(service));
  for (Registered& reg : service->List(Kind::kRelay)) {
    auto r = m->impl_->Make(reg);
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kNotFound) continue;
      return r.status();
    }
    m->impl_->relays[reg.definition.name] = *r;
    m->impl_->Launch(*r);
  }
  if (service->shared())
    m->impl_->syncer = std::thread([im = m->impl_.get()] { im->SyncEverySecond(); });
  return m;
}

RelayManager::~RelayManager() { Close(); }

void RelayManager::Close() {
  std::map<std::string, std::shared_ptr<Relay>> relays;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->closed) return;
    impl_->closed = true;
    relays.swap(impl_->relays);
  }
  impl_->closing.notify_all();
  if (impl_->syncer.joinable()) impl_->syncer.join();
  for (auto& [name, r] : relays) Impl::Halt(r);
}

Result<bool> RelayManager::Put(RelayConfig config) {
  ANNALS_RETURN_IF_ERROR(ValidateName(config.name));
  if (config.url.rfind("nats://", 0) != 0 && config.url.rfind("tls://", 0) != 0) {
    return Invalid("url: must be a nats:// or tls:// URL");
  }
  if (config.subject_prefix.empty() || Token(config.subject_prefix) != config.subject_prefix) {
    return Invalid("subjectPrefix: letters, digits, '_' and '-' only");
  }
  std::lock_guard config_lock(impl_->config_mu);
  auto existing = impl_->Find(config.name);
  if (existing.ok()) {
    {
      std::lock_guard lock((*existing)->mu);
      config.start = (*existing)->config.start;
    }
    auto res = impl_->svc->Put(Kind::kRelay, CursorDefinition(config), RelaySinkJson(config));
    if (!res.ok()) return res.status();
    std::lock_guard lock((*existing)->mu);
    (*existing)->config = std::move(config);
    return false;
  }
  auto res = impl_->svc->Put(Kind::kRelay, CursorDefinition(config), RelaySinkJson(config));
  if (!res.ok()) return res.status();
  auto g = impl_->svc->Find(Kind::kRelay, config.name);
  if (!g.ok()) return g.status();
  auto r = std::make_shared<Relay>();
  r->group = *g;
  r->config = std::move(config);
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->closed) return Status(StatusCode::kUnavailable, "relays are shutting down");
    impl_->relays[r->config.name] = r;
  }
  impl_->Launch(r);
  return res->created;
}

Result<RelayStatus> RelayManager::Get(const std::string& name) const {
  auto r = impl_->Find(name);
  if (!r.ok()) return r.status();
  RelayStatus st;
  st.cursor = (*r)->group->Info();
  std::lock_guard lock((*r)->mu);
  st.config = (*r)->config;
  st.connected = (*r)->connected;
  st.published = (*r)->published;
  st.failed = (*r)->failed;
  st.last_error = (*r)->last_error;
  return st;
}

std::vector<RelayStatus> RelayManager::List() const {
  std::vector<std::string> names;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [n, r] : impl_->relays) names.push_back(n);
  }
  std::vector<RelayStatus> out;
  for (auto& n : names) {
    if (auto st = Get(n); st.ok()) out.push_back(std::move(*st));
  }
  return out;
}

Status RelayManager::Delete(const std::string& name) {
  std::lock_guard config_lock(impl_->config_mu);
  auto r = impl_->Find(name);
  if (!r.ok()) return r.status();
  ANNALS_RETURN_IF_ERROR(impl_->svc->Delete(Kind::kRelay, name));
  {
    std::lock_guard lock(impl_->mu);
    impl_->relays.erase(name);
  }
  Impl::Halt(*r);
  return Status::Ok();
}

Result<std::shared_ptr<Group>> RelayManager::Cursor(const std::string& name) const {
  return impl_->svc->Find(Kind::kRelay, name);
}

}  // namespace annals::delivery
