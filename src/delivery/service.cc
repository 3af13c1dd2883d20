#include "delivery/service.h"

#include <spdlog/spdlog.h>

#include <future>

#include "annals/limits.h"

namespace annals::delivery {

// Shared with the store's watch callback, so a callback that runs late never touches a
// destroyed service.
struct DeliveryService::Waker {
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;
  bool stopping = false;
  bool watch_armed = false;
  uint64_t watch_id = 0;
  void Wake() {
    std::lock_guard lock(mu);
    woken = true;
    cv.notify_one();
  }
};

namespace {

// How often the dispatcher follows the config stream and checks and takes leases.
constexpr auto kLeaseInterval = std::chrono::seconds(1);

Status Invalid(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

Status NotFound(Kind kind, const std::string& name) {
  return Status(StatusCode::kNotFound,
                std::string(KindName(kind)) + " '" + name + "' does not exist");
}

// The first event created at or after `t` in a stream: binary search over revisions.
Result<uint64_t> StreamRevisionAt(EventStore* store, const std::string& stream, Timestamp t) {
  auto info = store->GetStreamInfo(stream);
  if (!info.ok()) {
    if (info.status().code() == StatusCode::kNotFound) return uint64_t{0};
    return info.status();
  }
  if (!info->last_revision) return uint64_t{0};
  uint64_t lo = 0;
  uint64_t hi = info->last_revision->value + 1;  // answer in [lo, hi]
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    ReadStreamRequest r{stream, Revision{mid}, Direction::kForwards, 1};
    auto res = store->ReadStream(r);
    if (!res.ok()) return res.status();
    if (res->events.empty()) {
      hi = mid;
    } else if (res->events[0].created >= t) {
      hi = mid;
    } else {
      lo = res->events[0].revision.value + 1;
    }
  }
  return lo;
}

// The position of the first event created at or after `t`: a backward scan from the head,
// stopping at the first older event (created times never go backwards along the log).
Result<uint64_t> PositionAt(EventStore* store, Timestamp t) {
  ReadAllRequest r;
  r.from = Position::End();
  r.direction = Direction::kBackwards;
  r.max_count = 1000;
  uint64_t answer = store->Head().value;
  for (;;) {
    auto res = store->ReadAll(r);
    if (!res.ok()) return res.status();
    for (const RecordedEvent& e : res->events) {
      if (e.created < t) return answer;
      answer = e.position.value;
    }
    if (res->end_of_log || res->events.empty()) return answer;
    r.from = res->next;
  }
}

}  // namespace

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kGroup:
      return "Group";
    case Kind::kWebhook:
      return "Webhook";
    case Kind::kRelay:
      return "Relay";
  }
  return "Group";
}

GroupStreams StreamsOf(Kind kind, const GroupDefinition& def) {
  std::string base;
  switch (kind) {
    case Kind::kGroup:
      base = std::string(kGroupStatePrefix) +
             (def.source.ByRevision() ? def.source.stream : std::string("$all")) + "::" + def.name;
      break;
    case Kind::kWebhook:
      base = std::string(kWebhookStatePrefix) + def.name;
      break;
    case Kind::kRelay:
      base = std::string(kRelayStatePrefix) + def.name;
      break;
  }
  return GroupStreams{base + "-checkpoint", base + "-parked"};
}

Status ValidateName(std::string_view name) {
  if (name.empty() || name.size() > 200) return Invalid("name: 1 to 200 bytes");
  if (!IsValidUtf8(name)) return Invalid("name: not valid UTF-8");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f || c == '/') {
      return Invalid("name: no control characters or '/'");
    }
  }
  return Status::Ok();
}

Result<uint64_t> ResolveStart(EventStore* store, const Source& source, const StartAt& start) {
  switch (start.kind) {
    case StartAt::Kind::kBeginning:
      return uint64_t{0};
    case StartAt::Kind::kPosition:
      return start.value;
    case StartAt::Kind::kEnd:
      if (source.ByRevision()) {
        auto info = store->GetStreamInfo(source.stream);
        if (!info.ok()) {
          if (info.status().code() == StatusCode::kNotFound) return uint64_t{0};
          return info.status();
        }
        return info->last_revision ? info->last_revision->value + 1 : 0;
      }
      return store->Head().value;
    case StartAt::Kind::kTime:
      if (source.ByRevision()) return StreamRevisionAt(store, source.stream, start.time);
      return PositionAt(store, start.time);
  }
  return uint64_t{0};
}

// Checks where an `$all`-based cursor is to start, before anything is written: a position the
// log has reached (a later one read from the head, so the cursor went back and delivered events
// before it) and the start of an event (the engine's positions are record offsets; the probe
// read also compiles the filter's regexes).
Status CheckStartCursor(EventStore* store, const Source& source, uint64_t cursor) {
  if (source.ByRevision()) return Status::Ok();
  const Position head = store->Head();
  if (cursor > head.value) {
    return Invalid("from: position " + std::to_string(cursor) +
                   " is beyond the end of the log (head " + std::to_string(head.value) + ")");
  }
  ReadAllRequest probe;
  probe.from = Position{cursor};
  probe.max_count = 1;
  probe.max_scan = 1;
  probe.filter = source.filter;
  auto res = store->ReadAll(probe);
  if (!res.ok()) return Invalid("source/from: " + res.status().message());
  return Status::Ok();
}

std::string LeaseKey(const CursorId& id) {
  return std::string(KindName(id.first)) + "/" + id.second;
}

DeliveryService::DeliveryService(EventStore* store, std::unique_ptr<CursorLeases> leases,
                                 bool shared)
    : store_(store),
      leases_(std::move(leases)),
      shared_(shared),
      waker_(std::make_shared<Waker>()) {}

Result<std::unique_ptr<DeliveryService>> DeliveryService::Open(
    EventStore* store, std::unique_ptr<CursorLeases> leases) {
  const bool shared = leases != nullptr;
  if (!leases) leases = LocalCursorLeases();
  std::unique_ptr<DeliveryService> svc(new DeliveryService(store, std::move(leases), shared));
  svc->config_synced_head_ = store->Head();
  {
    std::lock_guard config_lock(svc->config_mu_);
    ANNALS_RETURN_IF_ERROR(svc->SyncConfigLocked());
  }
  for (auto& [key, entry] : svc->entries_) {
    if (!svc->leases_->TryAcquire(LeaseKey(key))) continue;
    ANNALS_RETURN_IF_ERROR(entry.group->Load());
    svc->LogTaken(LeaseKey(key));
  }
  svc->dispatcher_ = std::thread([s = svc.get()] { s->Run(); });
  return svc;
}

DeliveryService::~DeliveryService() { Close(); }

std::shared_ptr<Group> DeliveryService::MakeGroup(Kind kind, const GroupDefinition& def) {
  return std::make_shared<Group>(
      store_, def, StreamsOf(kind, def), [w = waker_] { w->Wake(); },
      [leases = leases_, key = LeaseKey({kind, def.name})] { return leases->Holder(key); });
}

void DeliveryService::LogTaken(const std::string& key) const {
  if (shared_) spdlog::info("delivery: took the lease of {}: this node drives it", key);
}

void DeliveryService::LogLost(const std::string& key) const {
  if (shared_) {
    spdlog::warn("delivery: lost the lease of {}: this node stops driving it (another may take it)",
                 key);
  }
}

Status DeliveryService::SyncConfigLocked() {
  std::optional<Revision> from = Revision{config_last_ ? config_last_->value + 1 : 0};
  while (from) {
    ReadStreamRequest r{std::string(kConfigStream), from, Direction::kForwards, 1000};
    auto res = store_->ReadStream(r);
    if (!res.ok()) {
      if (res.status().code() == StatusCode::kNotFound) break;
      return res.status();
    }
    for (const RecordedEvent& e : res->events) {
      ANNALS_RETURN_IF_ERROR(ApplyConfigLocked(e));
      config_last_ = e.revision;
    }
    from = res->next;
  }
  return Status::Ok();
}

// A cursor another process created, updated or deleted (or an earlier run, at open). New
// cursors are not driven until the dispatcher gets their lease.
Status DeliveryService::ApplyConfigLocked(const RecordedEvent& e) {
  for (Kind kind : {Kind::kGroup, Kind::kWebhook, Kind::kRelay}) {
    const std::string prefix(KindName(kind));
    if (e.type.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string verb = e.type.substr(prefix.size());
    auto j = ParseJson(e.data);
    if (!j.ok() || !j->is_object()) continue;
    std::lock_guard lock(mu_);
    if (verb == "Deleted") {
      auto it = entries_.find({kind, j->value("name", std::string())});
      if (it != entries_.end()) {
        retired_.emplace_back(it->first, std::move(it->second.group));
        entries_.erase(it);
      }
      continue;
    }
    if (verb != "Created" && verb != "Updated") continue;
    auto def = DefinitionFromJson(j->value("definition", Json::object()));
    if (!def.ok()) {
      return Status(StatusCode::kCorruption, "delivery config at revision " +
                                                 std::to_string(e.revision.value) + ": " +
                                                 def.status().message());
    }
    Registered reg{std::move(*def), j->value("sink", Json::object())};
    auto it = entries_.find({kind, reg.definition.name});
    if (it != entries_.end() &&
        it->second.group->definition().generation == reg.definition.generation) {
      it->second.group->Update(reg.definition.settings, reg.definition.paused);
      it->second.reg = std::move(reg);
      continue;
    }
    if (it != entries_.end()) {
      retired_.emplace_back(it->first, std::move(it->second.group));
    }
    std::shared_ptr<Group> g = MakeGroup(kind, reg.definition);
    const std::string name = reg.definition.name;
    entries_[{kind, name}] = Entry{std::move(reg), std::move(g)};
  }
  return Status::Ok();
}

Result<AppendResult> DeliveryService::AppendConfig(std::string type, const Json& data) {
  AppendRequest req;
  req.stream = std::string(kConfigStream);
  req.system_writer = true;
  req.expected =
      config_last_ ? ExpectedRevision::Exact(*config_last_) : ExpectedRevision::NoStream();
  ProposedEvent e;
  e.type = std::move(type);
  e.data = data.dump(-1, ' ', false, Json::error_handler_t::replace);
  req.events.push_back(std::move(e));
  auto res = store_->Append(req);
  if (res.ok()) config_last_ = res->last_revision;
  if (res.status().code() == StatusCode::kWrongExpectedRevision) {
    // Another process changed the configuration since it was last followed: the next call
    // reads that change first.
    return Status(StatusCode::kUnavailable,
                  "another node changed the delivery configuration at the same time: retry");
  }
  return res;
}

Result<PutResult> DeliveryService::Put(Kind kind, GroupDefinition def, Json sink) {
  ANNALS_RETURN_IF_ERROR(ValidateName(def.name));
  if (kind == Kind::kGroup && def.name.find(':') != std::string::npos) {
    // A group's state streams are named `<stream>::<group>`: group `b::c` of stream `a` and
    // group `c` of stream `a::b` (or `:c` of `a:` and `c` of `a`) would share them, and lose
    // each other's checkpoints and parked messages. Without ':' the last "::" separates.
    return Invalid("name: a group name must not contain ':'");
  }
  if (def.source.ByRevision()) {
    ANNALS_RETURN_IF_ERROR(ValidateStreamName(def.source.stream, Limits()));
  }
  const GroupStreams streams = StreamsOf(kind, def);
  ANNALS_RETURN_IF_ERROR(ValidateStreamName(streams.parked, Limits(), /*allow_system=*/true));
  std::lock_guard config_lock(config_mu_);
  if (shared_) ANNALS_RETURN_IF_ERROR(SyncConfigLocked());
  std::shared_ptr<Group> existing;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Status(StatusCode::kUnavailable, "delivery is shutting down");
    auto it = entries_.find({kind, def.name});
    if (it != entries_.end()) existing = it->second.group;
  }
  if (existing) {
    GroupDefinition current = existing->definition();
    if (!(current.source == def.source)) {
      return Invalid("source: the source of an existing " + std::string(KindName(kind)) +
                     " cannot change; delete it and create it again");
    }
    current.settings = def.settings;
    current.paused = def.paused;
    auto res = AppendConfig(std::string(KindName(kind)) + "Updated",
                            Json{{"definition", DefinitionToJson(current)}, {"sink", sink}});
    if (!res.ok()) return res.status();
    existing->Update(current.settings, current.paused);
    std::lock_guard lock(mu_);
    auto it = entries_.find({kind, def.name});
    if (it != entries_.end()) it->second.reg = Registered{current, sink};
    return PutResult{current, false};
  }
  auto cursor = ResolveStart(store_, def.source, def.start);
  if (!cursor.ok()) return cursor.status();
  ANNALS_RETURN_IF_ERROR(CheckStartCursor(store_, def.source, *cursor));
  def.start_cursor = *cursor;
  def.generation = config_last_ ? config_last_->value + 1 : 0;
  auto res = AppendConfig(std::string(KindName(kind)) + "Created",
                          Json{{"definition", DefinitionToJson(def)}, {"sink", sink}});
  if (!res.ok()) return res.status();
  def.generation = res->first_revision.value;
  std::shared_ptr<Group> g = MakeGroup(kind, def);
  // A recreated name ignores its predecessor's state. When the lease is not free (another
  // node followed the config stream and took the cursor first), that node drives it.
  if (leases_->TryAcquire(LeaseKey({kind, def.name}))) {
    ANNALS_RETURN_IF_ERROR(g->Load());
    LogTaken(LeaseKey({kind, def.name}));
  }
  {
    std::lock_guard lock(mu_);
    entries_[{kind, def.name}] = Entry{Registered{def, std::move(sink)}, std::move(g)};
  }
  waker_->Wake();
  return PutResult{def, true};
}

Result<Registered> DeliveryService::Get(Kind kind, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find({kind, name});
  if (it == entries_.end()) return NotFound(kind, name);
  Registered reg = it->second.reg;
  reg.definition = it->second.group->definition();
  return reg;
}

Status DeliveryService::Delete(Kind kind, const std::string& name) {
  std::lock_guard config_lock(config_mu_);
  if (shared_) ANNALS_RETURN_IF_ERROR(SyncConfigLocked());
  {
    std::lock_guard lock(mu_);
    if (!entries_.count({kind, name})) return NotFound(kind, name);
  }
  auto res = AppendConfig(std::string(KindName(kind)) + "Deleted", Json{{"name", name}});
  if (!res.ok()) return res.status();
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find({kind, name});
    if (it != entries_.end()) {
      retired_.emplace_back(it->first, std::move(it->second.group));
      entries_.erase(it);
    }
  }
  waker_->Wake();
  return Status::Ok();
}

std::vector<Registered> DeliveryService::List(Kind kind) const {
  std::vector<Registered> out;
  std::lock_guard lock(mu_);
  for (const auto& [key, entry] : entries_) {
    if (key.first != kind) continue;
    out.push_back(entry.reg);
    out.back().definition = entry.group->definition();
  }
  return out;
}

Result<std::shared_ptr<Group>> DeliveryService::Find(Kind kind, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find({kind, name});
  if (it == entries_.end()) return NotFound(kind, name);
  return it->second.group;
}

Status DeliveryService::Reset(Kind kind, const std::string& name, const StartAt& start) {
  auto g = Find(kind, name);
  if (!g.ok()) return g.status();
  ANNALS_RETURN_IF_ERROR((*g)->CheckDriven());
  auto cursor = ResolveStart(store_, (*g)->definition().source, start);
  if (!cursor.ok()) return cursor.status();
  ANNALS_RETURN_IF_ERROR(CheckStartCursor(store_, (*g)->definition().source, *cursor));
  (*g)->Reset(*cursor);
  return Status::Ok();
}

void DeliveryService::Run() {
  std::shared_ptr<Waker> w = waker_;
  std::unique_lock lock(w->mu);
  Clock::time_point next_lease_pass{};
  while (!w->stopping) {
    w->woken = false;
    lock.unlock();
    const Position head = store_->Head();
    const bool full = Clock::now() >= next_lease_pass;
    if (full) next_lease_pass = Clock::now() + kLeaseInterval;
    Lease(full);
    std::vector<std::shared_ptr<Group>> groups;
    std::vector<std::pair<CursorId, std::shared_ptr<Group>>> retired;
    {
      std::lock_guard g(mu_);
      for (auto& [key, entry] : entries_) groups.push_back(entry.group);
      retired.swap(retired_);
    }
    for (auto& [id, g] : retired) {
      g->Stop(/*final_checkpoint=*/false);
      bool reused = false;  // created again under the name: the lease is the new cursor's
      {
        std::lock_guard l(mu_);
        reused = entries_.count(id) > 0;
      }
      if (!reused) leases_->Release(LeaseKey(id));
    }
    retired.clear();
    const auto now = Clock::now();
    Clock::time_point next = now + std::chrono::seconds(1);
    for (auto& g : groups) next = std::min(next, g->Tick(now));
    groups.clear();
    bool arm = false;
    {
      std::lock_guard g(w->mu);
      arm = !w->watch_armed;
      w->watch_armed = true;
    }
    if (arm) {
      const uint64_t id = store_->WatchHead(head, [w](Position) {
        std::lock_guard g(w->mu);
        w->watch_armed = false;
        w->woken = true;
        w->cv.notify_one();
      });
      std::lock_guard g(w->mu);
      w->watch_id = id;
    }
    lock.lock();
    w->cv.wait_until(lock, next, [&] { return w->woken || w->stopping; });
  }
}

void DeliveryService::Lease(bool full) {
  if (full && shared_) {
    const Position head = store_->Head();
    if (head > config_synced_head_) {  // a config change is a commit
      std::lock_guard config_lock(config_mu_);
      if (SyncConfigLocked().ok()) config_synced_head_ = head;
    }
  }
  if (full) leases_->Refresh();
  std::vector<std::pair<std::string, std::shared_ptr<Group>>> groups;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, entry] : entries_) groups.emplace_back(LeaseKey(id), entry.group);
  }
  for (auto& [key, g] : groups) {
    const bool driven = g->Driven();
    if (driven && !leases_->IsHeld(key)) {
      // Another process may hold it already: stop before delivering anything more.
      g->Idle();
      LogLost(key);
    } else if (!driven && full && leases_->TryAcquire(key)) {
      if (g->Load().ok()) {
        LogTaken(key);
      } else {
        leases_->Release(key);  // tried again at the next pass
      }
    }
  }
}

void DeliveryService::Close() {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
  }
  {
    std::lock_guard lock(waker_->mu);
    waker_->stopping = true;
    waker_->cv.notify_one();
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  uint64_t watch = 0;
  bool armed = false;
  {
    std::lock_guard lock(waker_->mu);
    armed = waker_->watch_armed;
    watch = waker_->watch_id;
  }
  if (armed) store_->CancelHeadWatch(watch);
  std::vector<std::shared_ptr<Group>> groups;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, entry] : entries_) groups.push_back(entry.group);
    for (auto& [id, g] : retired_) g->Stop(/*final_checkpoint=*/false);
    retired_.clear();
  }
  for (auto& g : groups) g->Stop();
  // The final checkpoints are written: other processes may take the cursors over now.
  std::vector<std::string> keys;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, entry] : entries_) keys.push_back(LeaseKey(id));
  }
  for (const std::string& key : keys) leases_->Release(key);
}

std::vector<Delivery> PollBlocking(Group& group, const std::string& consumer, uint32_t max,
                                   std::chrono::milliseconds wait) {
  auto promise = std::make_shared<std::promise<std::vector<Delivery>>>();
  auto future = promise->get_future();
  group.Poll(consumer, max, wait,
             [promise](std::vector<Delivery> d) { promise->set_value(std::move(d)); });
  return future.get();
}

}  // namespace annals::delivery
