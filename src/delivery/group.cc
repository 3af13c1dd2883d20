#include "delivery/group.h"

#include <algorithm>
#include <unordered_set>

#include "delivery/codec.h"

namespace annals::delivery {

namespace {

constexpr uint32_t kMaxPollEvents = 10000;
// How far Info() counts matching events beyond the read cursor before it gives up.
constexpr uint64_t kLagCountBound = 10000;
constexpr auto kIoRetryDelay = std::chrono::milliseconds(500);
// How far the cursor may move over events the source does not deliver before that alone is
// worth a checkpoint (positions or revisions): what a restart reads again is bounded by it.
constexpr uint64_t kSkippedBeforeCheckpoint = 1 << 20;

ProposedEvent SystemEvent(std::string_view type, std::string data) {
  ProposedEvent e;
  e.type = std::string(type);
  e.data = std::move(data);
  return e;
}

bool TypeWanted(const Source& source, const std::string& type) {
  const auto& types = source.filter.event_types;
  return types.empty() || std::find(types.begin(), types.end(), type) != types.end();
}

}  // namespace

Group::Group(EventStore* store, GroupDefinition def, GroupStreams streams,
             std::function<void()> wake, DriverLookup driver)
    : store_(store),
      streams_(std::move(streams)),
      wake_(std::move(wake)),
      driver_(std::move(driver)),
      def_(std::move(def)) {
  read_cursor_ = def_.start_cursor;
  written_checkpoint_ = read_cursor_;
}

Group::~Group() = default;

GroupDefinition Group::definition() const {
  std::lock_guard lock(mu_);
  return def_;
}

void Group::Update(const GroupSettings& settings, bool paused) {
  {
    std::lock_guard lock(mu_);
    def_.settings = settings;
    def_.paused = paused;
  }
  wake_();
}

Status Group::Load() {
  ReadStreamRequest r;
  r.stream = streams_.checkpoint;
  r.direction = Direction::kBackwards;
  r.max_count = 1;
  auto res = store_->ReadStream(r);
  if (!res.ok() && res.status().code() != StatusCode::kNotFound) return res.status();
  std::lock_guard lock(mu_);
  driven_ = false;
  ForgetLocked();
  if (res.ok() && !res->events.empty() && res->events[0].type == kCheckpointType) {
    auto cp = ParseCheckpoint(res->events[0].data);
    if (cp.ok() && cp->generation == def_.generation) read_cursor_ = cp->cursor;
  }
  written_checkpoint_ = read_cursor_;
  last_checkpoint_write_ = Clock::now();
  ANNALS_RETURN_IF_ERROR(LoadParked());
  driven_ = true;
  return Status::Ok();
}

void Group::ForgetLocked() {
  window_.clear();
  replay_.clear();
  in_flight_.clear();
  in_flight_count_ = 0;
  for (auto& [name, c] : consumers_) c.in_flight = 0;
  park_queue_.clear();
  parked_.clear();
  parked_ids_.clear();
  held_.clear();
  parked_watermark_ = 0;
  parked_last_.reset();
  replaying_ = false;
  replay_through_ = 0;
  read_cursor_ = def_.start_cursor;
  ++epoch_;  // a read begun before is dropped
  reset_to_.reset();
  written_checkpoint_ = read_cursor_;
  resolved_since_checkpoint_ = 0;
  caught_up_ = false;
  retry_io_after_ = Clock::time_point{};
}

void Group::Idle() {
  std::vector<PollCallback> waiting;
  {
    std::lock_guard lock(mu_);
    driven_ = false;
    ForgetLocked();
    for (Waiter& w : waiters_) waiting.push_back(std::move(w.done));
    waiters_.clear();
    for (auto& [name, c] : consumers_) c.waiting = 0;
  }
  for (auto& cb : waiting) cb({});
}

bool Group::Driven() const {
  std::lock_guard lock(mu_);
  return driven_;
}

Status Group::CheckDriven() const { return Driven() ? Status::Ok() : NotDriven(); }

Status Group::NotDriven() const {
  // def_.name never changes (Update changes the settings), so it is read without mu_.
  Result<std::optional<std::string>> driver =
      driver_ ? driver_() : Result<std::optional<std::string>>(std::optional<std::string>());
  if (!driver.ok()) {
    // The lease holder cannot be asked: the database is most likely down, and then no node
    // drives it (each lost its lease with its session).
    return Status(StatusCode::kUnavailable,
                  "'" + def_.name +
                      "' is not driven here, and which node drives it (if any) cannot be "
                      "known now: " +
                      driver.status().message() + "; retry");
  }
  std::string detail = "'" + def_.name + "' is driven by ";
  if (!*driver) {
    detail += "no Annals node at the moment (a node takes it over within about a second)";
  } else {
    detail += "node " + **driver + ", another Annals node on this database";
  }
  return Status(
      StatusCode::kUnavailable,
      detail + ": consume it, and manage its parked messages, on the node that drives it");
}

// Reads the parked stream backwards until everything older is known to be cleared: by the
// largest ParkedReplayed/ParkedTruncated watermark seen, or by an older generation.
Status Group::LoadParked() {
  std::map<uint64_t, ParkedEntry> found;
  uint64_t watermark = 0;
  std::optional<Revision> from;
  bool first = true;
  bool done = false;
  while (!done) {
    ReadStreamRequest r;
    r.stream = streams_.parked;
    r.from = from;
    r.direction = Direction::kBackwards;
    r.max_count = 500;
    auto res = store_->ReadStream(r);
    if (!res.ok()) {
      if (res.status().code() == StatusCode::kNotFound) break;
      return res.status();
    }
    if (first) {
      parked_last_ = res->last_revision.value;
      first = false;
    }
    for (const RecordedEvent& e : res->events) {
      if (e.revision.value < watermark) {
        done = true;
        break;
      }
      if (e.type == kParkedType) {
        uint64_t gen = 0;
        auto entry = ParseParked(e.data, &gen);
        if (!entry.ok()) continue;
        if (gen < def_.generation) {
          done = true;
          break;
        }
        if (gen != def_.generation) continue;
        entry->parked_revision = e.revision.value;
        found.emplace(e.revision.value, std::move(*entry));
      } else if (e.type == kParkedReplayedType || e.type == kParkedTruncatedType) {
        auto marker = ParseParkedCleared(e.data);
        if (!marker.ok()) continue;
        if (marker->generation < def_.generation) {
          done = true;
          break;
        }
        if (marker->generation == def_.generation) {
          watermark = std::max(watermark, marker->cursor + 1);
        }
      }
    }
    if (!res->next) break;
    from = res->next;
  }
  parked_watermark_ = watermark;
  for (auto& [rev, entry] : found) {
    if (rev < watermark) continue;
    ++held_[entry.stream];
    parked_ids_.insert(entry.event_id);
    parked_.emplace(rev, ParkedRef{std::move(entry), false});
  }
  return Status::Ok();
}

void Group::Poll(const std::string& consumer, uint32_t max, std::chrono::milliseconds wait,
                 PollCallback done, bool one_per_stream) {
  max = std::clamp<uint32_t>(max, 1, kMaxPollEvents);
  std::unique_lock lock(mu_);
  const auto now = Clock::now();
  Consumer& c = consumers_[consumer];
  if (c.order == 0) c.order = ++consumer_order_;
  c.last_seen = now;
  std::vector<Delivery> out;
  if (!stopped_) out = TakeLocked(consumer, max, now, one_per_stream);
  if (!out.empty() || wait.count() <= 0 || stopped_) {
    lock.unlock();
    done(std::move(out));
    return;
  }
  ++c.waiting;
  waiters_.push_back(Waiter{consumer, max, one_per_stream, now + wait, std::move(done)});
  lock.unlock();
  wake_();
}

bool Group::LiveLocked(const Consumer& c, Clock::time_point now) const {
  return c.waiting > 0 || now - c.last_seen < def_.settings.consumer_timeout;
}

std::vector<Delivery> Group::TakeLocked(const std::string& consumer, uint32_t max,
                                        Clock::time_point now, bool one_per_stream) {
  std::vector<Delivery> out;
  const GroupSettings& s = def_.settings;
  if (!driven_ || def_.paused || in_flight_count_ >= s.max_in_flight) return out;
  const bool pinned = s.strategy == Strategy::kPinnedByStream;
  // Who may receive what: the live consumers, in name order (pinned) or first-seen order.
  size_t index = 0;
  size_t live = 0;
  if (s.strategy != Strategy::kRoundRobin) {
    const Consumer* primary = nullptr;
    std::string primary_name;
    for (const auto& [name, c] : consumers_) {
      if (!LiveLocked(c, now) && name != consumer) continue;
      if (name == consumer) index = live;
      ++live;
      if (!primary || c.order < primary->order) {
        primary = &c;
        primary_name = name;
      }
    }
    if (s.strategy == Strategy::kDispatchToSingle && primary_name != consumer) return out;
  }
  const uint32_t budget = std::min(max, s.max_in_flight - in_flight_count_);
  std::unordered_set<std::string_view> blocked;  // pinned: streams with an earlier event out
  Consumer& c = consumers_[consumer];
  for (auto* queue : {&replay_, &window_}) {
    for (auto& [seq, m] : *queue) {
      if (out.size() >= budget) break;
      const std::string& stream = m.event->stream;
      if (pinned && blocked.count(stream)) continue;
      bool takeable =
          m.state == State::kReady && m.deadline <= now && !in_flight_.count(m.event->id);
      if (takeable && pinned && live > 1) {
        takeable = std::hash<std::string_view>()(stream) % live == index;
      }
      if (!takeable) {
        if (pinned) blocked.insert(stream);
        continue;
      }
      m.state = State::kInFlight;
      ++m.deliveries;
      m.deadline = now + s.ack_timeout;
      m.consumer = consumer;
      in_flight_.emplace(m.event->id, std::make_pair(m.replay, seq));
      ++in_flight_count_;
      ++c.in_flight;
      ++c.delivered;
      ++delivered_;
      out.push_back(Delivery{m.event->id.ToString(), m.event, m.deliveries, m.replay});
      if (pinned && one_per_stream) blocked.insert(stream);
    }
  }
  return out;
}

Group::Message* Group::FindInFlightLocked(const Uuid& id) {
  auto it = in_flight_.find(id);
  if (it == in_flight_.end()) return nullptr;
  auto& queue = it->second.first ? replay_ : window_;
  auto m = queue.find(it->second.second);
  return m == queue.end() ? nullptr : &m->second;
}

void Group::LandLocked(Message* m) {
  in_flight_.erase(m->event->id);
  --in_flight_count_;
  auto c = consumers_.find(m->consumer);
  if (c != consumers_.end() && c->second.in_flight > 0) --c->second.in_flight;
}

void Group::ResolveLocked(Message* m) {
  if (m->state == State::kInFlight) LandLocked(m);
  if (!m->replay) ++resolved_since_checkpoint_;
  QueueOf(*m).erase(m->seq);
}

void Group::RetryLocked(Message* m, Clock::time_point now, std::chrono::milliseconds at_least,
                        const std::string& why) {
  const GroupSettings& s = def_.settings;
  if (m->deliveries > s.max_retries) {
    ParkLocked(m, "max retries exceeded (" + std::to_string(m->deliveries) + " deliveries)" +
                      (why.empty() ? "" : ": " + why));
    return;
  }
  LandLocked(m);
  m->state = State::kReady;
  ++retried_;
  std::chrono::milliseconds delay{0};
  if (at_least.count() >= 0) {
    // Exponential backoff with jitter: a random delay in [d/2, d], d doubling per delivery.
    const int shift = static_cast<int>(std::min<uint32_t>(m->deliveries - 1, 30));
    auto d = s.retry_backoff_min * (int64_t{1} << shift);
    if (d > s.retry_backoff_max || d.count() < 0) d = s.retry_backoff_max;
    const int64_t half = d.count() / 2;
    delay = std::chrono::milliseconds(half +
                                      (half > 0 ? static_cast<int64_t>(rng_() % (half + 1)) : 0));
    delay = std::max(delay, at_least);
  }
  m->deadline = now + delay;
}

bool Group::HeldLocked(const std::string& stream) const {
  auto it = held_.find(stream);
  return it != held_.end() && it->second > 0;
}

void Group::ParkLocked(Message* m, std::string reason) {
  if (m->state == State::kParking) return;
  if (m->state == State::kInFlight) LandLocked(m);
  m->state = State::kParking;
  m->reason = std::move(reason);
  park_queue_.push_back(m->seq);
  ++held_[m->event->stream];
  if (!def_.settings.park_keeps_order) return;
  // Strict order: the stream's later events that are not out yet are parked behind it.
  const std::string behind =
      "behind parked " + m->event->stream + "@" + std::to_string(m->event->revision.value);
  const std::string& stream = m->event->stream;
  auto park_later = [&](std::map<uint64_t, Message>& queue, uint64_t after) {
    for (auto it = queue.upper_bound(after); it != queue.end(); ++it) {
      Message& o = it->second;
      if (o.event->stream != stream || o.state != State::kReady) continue;
      o.state = State::kParking;
      o.reason = behind;
      park_queue_.push_back(o.seq);
      ++held_[stream];
    }
  };
  if (m->replay) park_later(replay_, m->seq);
  park_later(window_, m->replay ? 0 : m->seq);
}

Status Group::Ack(const std::vector<std::string>& ids) {
  std::vector<Uuid> uuids;
  uuids.reserve(ids.size());
  for (const std::string& id : ids) {
    auto u = Uuid::Parse(id);
    if (!u) return Status(StatusCode::kInvalidArgument, "ack id '" + id + "' is not a UUID");
    uuids.push_back(*u);
  }
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    for (const Uuid& u : uuids) {
      Message* m = FindInFlightLocked(u);
      if (!m) continue;
      ++acked_;
      ResolveLocked(m);
      wake = true;
    }
  }
  if (wake) wake_();
  return Status::Ok();
}

Status Group::Nack(const std::vector<std::string>& ids, NackAction action,
                   const std::string& reason, std::chrono::milliseconds retry_after) {
  std::vector<Uuid> uuids;
  for (const std::string& id : ids) {
    auto u = Uuid::Parse(id);
    if (!u) return Status(StatusCode::kInvalidArgument, "nack id '" + id + "' is not a UUID");
    uuids.push_back(*u);
  }
  {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    for (const Uuid& u : uuids) {
      Message* m = FindInFlightLocked(u);
      if (!m) continue;
      switch (action) {
        case NackAction::kRetry:
          RetryLocked(m, now, retry_after, reason);
          break;
        case NackAction::kPark:
          ParkLocked(m, reason.empty() ? "parked by consumer" : reason);
          break;
        case NackAction::kSkip:
          ResolveLocked(m);
          break;
      }
    }
  }
  wake_();
  return Status::Ok();
}

void Group::Release(const std::string& consumer, const std::vector<Uuid>& ids) {
  std::vector<PollCallback> dropped;
  {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    for (const Uuid& u : ids) {
      Message* m = FindInFlightLocked(u);
      if (m != nullptr && m->consumer == consumer) {
        RetryLocked(m, now, std::chrono::milliseconds(-1), "the consumer disconnected");
      }
    }
    // A poll it left waiting would take the released events for nobody; and a consumer that
    // is gone must not keep its pinned streams for the consumer timeout.
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->consumer != consumer) {
        ++it;
        continue;
      }
      dropped.push_back(std::move(it->done));
      it = waiters_.erase(it);
    }
    if (auto c = consumers_.find(consumer); c != consumers_.end()) {
      c->second.waiting = 0;
      if (c->second.in_flight == 0) consumers_.erase(c);
    }
  }
  for (auto& done : dropped) done({});
  wake_();
}

Status Group::AttachSubscriber() {
  std::lock_guard lock(mu_);
  const uint32_t max = def_.settings.max_subscribers;
  if (max != 0 && subscribers_ >= max) {
    return Status(StatusCode::kUnavailable, "subscription group " + def_.name +
                                                " already has its maximum of " +
                                                std::to_string(max) + " subscribers");
  }
  ++subscribers_;
  return Status::Ok();
}

void Group::DetachSubscriber() {
  std::lock_guard lock(mu_);
  if (subscribers_ > 0) --subscribers_;
}

bool Group::Stopped() const {
  std::lock_guard lock(mu_);
  return stopped_;
}

uint64_t Group::CheckpointLocked() const {
  return window_.empty() ? read_cursor_ : window_.begin()->second.cursor;
}

bool Group::CheckpointWorthWritingLocked(uint64_t cp) const {
  if (cp == written_checkpoint_) return false;
  if (written_checkpoint_ == ~uint64_t{0} || resolved_since_checkpoint_ > 0) return true;
  // Only events the source does not deliver were passed: this cursor's own last checkpoint,
  // other cursors' ones, other streams. Written for those alone, an `$all`-based cursor
  // passed its own checkpoint event and wrote another every interval, for ever, idle.
  return cp > written_checkpoint_ && cp - written_checkpoint_ >= kSkippedBeforeCheckpoint;
}

void Group::Reset(uint64_t cursor) {
  {
    std::lock_guard lock(mu_);
    if (!driven_) return;  // the service refuses it first
    ++epoch_;
    reset_to_ = cursor;
    for (auto& [seq, m] : window_) {
      if (m.state == State::kInFlight) LandLocked(&m);
      if (m.state == State::kParking) {
        auto h = held_.find(m.event->stream);
        if (h != held_.end() && h->second > 0) --h->second;
      }
    }
    window_.clear();
    std::erase_if(park_queue_, [&](uint64_t seq) { return !replay_.count(seq); });
  }
  wake_();
}

void Group::Fill() {
  uint64_t cursor;
  uint64_t epoch;
  uint32_t want;
  Source source;
  {
    std::lock_guard lock(mu_);
    if (stopped_ || !driven_ || window_.size() >= def_.settings.buffer_size) return;
    if (caught_up_ && !(store_->Head() > caught_up_head_)) return;
    if (Clock::now() < retry_io_after_) return;
    cursor = read_cursor_;
    epoch = epoch_;
    want = std::min<uint32_t>(def_.settings.read_batch,
                              def_.settings.buffer_size - static_cast<uint32_t>(window_.size()));
    source = def_.source;
  }
  const Position head_before = store_->Head();
  std::vector<RecordedEvent> events;
  uint64_t next = cursor;
  bool end = false;
  Status error;
  if (source.ByRevision()) {
    ReadStreamRequest r;
    r.stream = source.stream;
    r.from = Revision{cursor};
    r.max_count = want;
    auto res = store_->ReadStream(r);
    if (res.ok()) {
      events = std::move(res->events);
      if (!events.empty()) next = events.back().revision.value + 1;
      if (events.empty() && res->next) next = res->next->value;
      end = !res->next.has_value();
    } else if (res.status().code() == StatusCode::kNotFound) {
      end = true;  // not written yet (or soft-deleted): wait for its events
    } else {
      error = res.status();
    }
  } else {
    ReadAllRequest r;
    r.from = Position{cursor};
    r.max_count = want;
    r.filter = source.filter;
    auto res = store_->ReadAll(r);
    if (res.ok()) {
      events = std::move(res->events);
      next = res->next.value;
      end = res->end_of_log;
    } else {
      error = res.status();
    }
  }
  std::lock_guard lock(mu_);
  if (epoch != epoch_) return;  // a Reset moved the cursor meanwhile
  if (!error.ok()) {
    last_error_ = "reading the source: " + error.ToString();
    retry_io_after_ = Clock::now() + kIoRetryDelay;
    // A tombstoned stream has nothing more to give: wait for the head to move (it cannot
    // come back, but the error stays visible in Info()).
    caught_up_ = true;
    caught_up_head_ = head_before;
    return;
  }
  for (RecordedEvent& e : events) {
    if (source.ByRevision() && !TypeWanted(source, e.type)) continue;
    if (!source.ByRevision() && IsDeliveryStateStream(e.stream)) continue;
    if (parked_ids_.count(e.id)) continue;  // parked before a restart, not yet cleared
    const uint64_t seq = next_seq_++;
    const uint64_t at = source.ByRevision() ? e.revision.value : e.position.value;
    Message& m = window_.emplace(seq, Message{}).first->second;
    m.seq = seq;
    m.cursor = at;
    m.event = std::make_shared<const RecordedEvent>(std::move(e));
    if (def_.settings.park_keeps_order && HeldLocked(m.event->stream)) {
      ParkLocked(&m, "behind a parked event of " + m.event->stream);
    }
  }
  read_cursor_ = next;
  caught_up_ = end;
  caught_up_head_ = head_before;
}

Result<AppendResult> Group::AppendDurable(const std::string& stream,
                                          std::vector<ProposedEvent> events,
                                          std::string_view what) {
  AppendRequest req;
  req.stream = stream;
  req.system_writer = true;
  req.events = std::move(events);
  auto res = store_->Append(req);
  std::lock_guard lock(mu_);
  if (!res.ok()) {
    last_error_ = std::string(what) + ": " + res.status().ToString();
    retry_io_after_ = Clock::now() + kIoRetryDelay;
  } else if (stream == streams_.parked) {
    parked_last_ = std::max(parked_last_.value_or(0), res->last_revision.value);
  }
  return res;
}

void Group::WriteParks() {
  std::vector<uint64_t> seqs;
  std::vector<ParkedEntry> entries;
  uint64_t generation;
  {
    std::lock_guard lock(mu_);
    if (!driven_ || park_queue_.empty() || Clock::now() < retry_io_after_) return;
    generation = def_.generation;
    const Timestamp now = Timestamp::Now();
    for (uint64_t seq : park_queue_) {
      Message* m = nullptr;
      if (auto it = replay_.find(seq); it != replay_.end()) m = &it->second;
      if (auto it = window_.find(seq); it != window_.end()) m = &it->second;
      if (!m) continue;
      ParkedEntry e;
      e.stream = m->event->stream;
      e.revision = m->event->revision;
      e.position = m->event->position;
      e.event_id = m->event->id;
      e.reason = m->reason;
      e.attempts = m->deliveries;
      e.parked_at = now;
      seqs.push_back(seq);
      entries.push_back(std::move(e));
    }
  }
  const size_t taken = seqs.size();
  if (taken == 0) {
    std::lock_guard lock(mu_);
    park_queue_.clear();
    return;
  }
  std::vector<ProposedEvent> events;
  for (const ParkedEntry& e : entries) {
    events.push_back(SystemEvent(kParkedType, ParkedJson(generation, e)));
  }
  auto res = AppendDurable(streams_.parked, std::move(events), "parking");
  if (!res.ok()) return;
  std::lock_guard lock(mu_);
  std::unordered_set<uint64_t> done(seqs.begin(), seqs.end());
  std::erase_if(park_queue_, [&](uint64_t seq) { return done.count(seq) > 0; });
  for (size_t i = 0; i < taken; ++i) {
    const uint64_t rev = res->first_revision.value + i;
    entries[i].parked_revision = rev;
    parked_ids_.insert(entries[i].event_id);
    parked_.emplace(rev, ParkedRef{std::move(entries[i]), false});
    ++parked_total_;
    Message* m = nullptr;
    if (auto it = replay_.find(seqs[i]); it != replay_.end()) m = &it->second;
    if (auto it = window_.find(seqs[i]); it != window_.end()) m = &it->second;
    if (m && m->state == State::kParking) ResolveLocked(m);
  }
}

void Group::WriteCheckpoint(Clock::time_point now, bool force, bool if_changed) {
  uint64_t cp;
  uint64_t generation;
  {
    std::lock_guard lock(mu_);
    if (!driven_) return;  // another node's checkpoint is its own to write
    cp = CheckpointLocked();
    if (cp == written_checkpoint_ && !force) return;
    const bool due = force || if_changed ||
                     (CheckpointWorthWritingLocked(cp) &&
                      (resolved_since_checkpoint_ >= def_.settings.checkpoint_max_count ||
                       now - last_checkpoint_write_ >= def_.settings.checkpoint_after));
    if (!due || now < retry_io_after_) return;
    generation = def_.generation;
  }
  std::vector<ProposedEvent> events;
  events.push_back(SystemEvent(kCheckpointType, CheckpointJson(generation, cp)));
  if (!AppendDurable(streams_.checkpoint, std::move(events), "writing the checkpoint").ok()) {
    return;
  }
  std::lock_guard lock(mu_);
  written_checkpoint_ = cp;
  resolved_since_checkpoint_ = 0;
  last_checkpoint_write_ = now;
}

void Group::ServeWaitersLocked(Clock::time_point now,
                               std::vector<std::pair<PollCallback, std::vector<Delivery>>>* done) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    std::vector<Delivery> got;
    if (!stopped_) got = TakeLocked(it->consumer, it->max, now, it->one_per_stream);
    if (got.empty() && now < it->deadline && !stopped_) {
      ++it;
      continue;
    }
    Consumer& c = consumers_[it->consumer];
    if (c.waiting > 0) --c.waiting;
    c.last_seen = now;
    done->emplace_back(std::move(it->done), std::move(got));
    it = waiters_.erase(it);
  }
}

void Group::ClearThroughLocked(uint64_t through) {
  for (auto it = parked_.begin(); it != parked_.end() && it->first <= through;) {
    if (!it->second.in_replay) {
      auto h = held_.find(it->second.entry.stream);
      if (h != held_.end() && h->second > 0) --h->second;
    }
    parked_ids_.erase(it->second.entry.event_id);
    it = parked_.erase(it);
  }
  parked_watermark_ = std::max(parked_watermark_, through + 1);
}

Clock::time_point Group::Tick(Clock::time_point now) {
  {
    std::lock_guard lock(mu_);
    if (reset_to_ && driven_) {
      read_cursor_ = *reset_to_;
      reset_to_.reset();
      caught_up_ = false;
      last_checkpoint_write_ = Clock::time_point{};  // due at once
      resolved_since_checkpoint_ = def_.settings.checkpoint_max_count;
      written_checkpoint_ = ~uint64_t{0};
    }
  }
  Fill();
  std::vector<std::pair<PollCallback, std::vector<Delivery>>> done;
  bool replay_done = false;
  uint64_t through = 0;
  uint64_t generation = 0;
  Clock::time_point next = now + std::chrono::seconds(1);
  {
    std::lock_guard lock(mu_);
    // Ack timeouts: hand the event out again (at once), or park it past max retries.
    for (auto* queue : {&replay_, &window_}) {
      std::vector<Message*> expired;
      for (auto& [seq, m] : *queue) {
        if (m.state == State::kInFlight && m.deadline <= now) expired.push_back(&m);
      }
      for (Message* m : expired) {
        RetryLocked(m, now, std::chrono::milliseconds(-1), "ack timeout");
      }
    }
    for (auto it = consumers_.begin(); it != consumers_.end();) {
      const Consumer& c = it->second;
      const bool forgotten = c.in_flight == 0 && c.waiting == 0 &&
                             now - c.last_seen > 10 * def_.settings.consumer_timeout;
      it = forgotten ? consumers_.erase(it) : std::next(it);
    }
    replay_done = replaying_ && replay_.empty() && replay_through_ > 0;
    through = replay_through_ - 1;
    generation = def_.generation;
    ServeWaitersLocked(now, &done);
    for (auto* queue : {&replay_, &window_}) {
      for (auto& [seq, m] : *queue) {
        if (m.state != State::kParking && m.deadline > now) next = std::min(next, m.deadline);
      }
    }
    for (const Waiter& w : waiters_) next = std::min(next, w.deadline);
    if (CheckpointWorthWritingLocked(CheckpointLocked())) {
      next = std::min(next, last_checkpoint_write_ + def_.settings.checkpoint_after);
    }
    const bool reading = driven_ && !caught_up_ && window_.size() < def_.settings.buffer_size;
    if (!park_queue_.empty() || reading) {
      next = std::min(next, std::max(now, retry_io_after_));
    }
  }
  WriteParks();
  if (replay_done) {
    std::vector<ProposedEvent> events;
    events.push_back(SystemEvent(kParkedReplayedType, ParkedClearedJson(generation, through)));
    if (AppendDurable(streams_.parked, std::move(events), "writing the replay marker").ok()) {
      std::lock_guard lock(mu_);
      ClearThroughLocked(through);
      replaying_ = false;
      replay_through_ = 0;
    }
  }
  WriteCheckpoint(now, false, false);
  for (auto& [cb, events] : done) cb(std::move(events));
  return next;
}

Status Group::TruncateParked() {
  uint64_t through;
  uint64_t generation;
  {
    std::unique_lock lock(mu_);
    if (!driven_) {
      lock.unlock();
      return NotDriven();
    }
    if (!parked_last_) return Status::Ok();  // nothing was ever parked
    through = *parked_last_;
    generation = def_.generation;
  }
  std::vector<ProposedEvent> events;
  events.push_back(SystemEvent(kParkedTruncatedType, ParkedClearedJson(generation, through)));
  auto res = AppendDurable(streams_.parked, std::move(events), "truncating parked messages");
  if (!res.ok()) return res.status();
  std::lock_guard lock(mu_);
  ClearThroughLocked(through);
  return Status::Ok();
}

Result<ReplayResult> Group::ReplayParked() {
  std::vector<ParkedEntry> round;
  uint64_t through;
  {
    std::unique_lock lock(mu_);
    if (!driven_) {
      lock.unlock();
      return NotDriven();
    }
    if (replaying_) return Status(StatusCode::kUnavailable, "a replay is already running");
    if (parked_.empty()) return ReplayResult{};
    replaying_ = true;
    replay_through_ = 0;
    through = parked_.rbegin()->first;
    for (const auto& [rev, ref] : parked_) round.push_back(ref.entry);
  }
  ReplayResult result;
  std::vector<std::shared_ptr<const RecordedEvent>> events(round.size());
  for (size_t i = 0; i < round.size(); ++i) {
    ReadStreamRequest r;
    r.stream = round[i].stream;
    r.from = round[i].revision;
    r.max_count = 1;
    auto res = store_->ReadStream(r);
    if (res.ok() && !res->events.empty() && res->events[0].id == round[i].event_id) {
      events[i] = std::make_shared<const RecordedEvent>(std::move(res->events[0]));
      ++result.replaying;
    } else {
      ++result.gone;
    }
  }
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < round.size(); ++i) {
      auto ref = parked_.find(round[i].parked_revision);
      if (ref != parked_.end() && !ref->second.in_replay) {
        ref->second.in_replay = true;
        auto h = held_.find(round[i].stream);
        if (h != held_.end() && h->second > 0) --h->second;
      }
      if (!events[i]) continue;
      const uint64_t seq = next_seq_++;
      Message& m = replay_.emplace(seq, Message{}).first->second;
      m.seq = seq;
      m.replay = true;
      m.parked_revision = round[i].parked_revision;
      m.event = std::move(events[i]);
    }
    replay_through_ = through + 1;
  }
  wake_();
  return result;
}

Result<ParkedPage> Group::ListParked(uint64_t from, uint32_t max) {
  ParkedPage page;
  std::unique_lock lock(mu_);
  if (!driven_) {
    lock.unlock();
    return NotDriven();
  }
  for (auto it = parked_.lower_bound(from); it != parked_.end(); ++it) {
    if (page.entries.size() >= max) {
      page.next = it->first;
      break;
    }
    page.entries.push_back(it->second.entry);
  }
  return page;
}

GroupInfo Group::Info() {
  GroupInfo info;
  const auto now = Clock::now();
  std::optional<Timestamp> oldest;
  {
    std::lock_guard lock(mu_);
    info.definition = def_;
    info.checkpoint = written_checkpoint_ == ~uint64_t{0} ? read_cursor_ : written_checkpoint_;
    info.read_cursor = read_cursor_;
    info.in_flight = in_flight_count_;
    info.buffered = static_cast<uint32_t>(window_.size() + replay_.size()) - in_flight_count_;
    for (const auto& [rev, ref] : parked_) info.parked += ref.in_replay ? 0 : 1;
    info.replaying = replaying_;
    info.delivered = delivered_;
    info.acked = acked_;
    info.retried = retried_;
    info.parked_total = parked_total_;
    info.last_error = last_error_;
    info.driven_here = driven_;
    info.lag_events = window_.size();
    if (!window_.empty()) oldest = window_.begin()->second.event->created;
    for (const auto* queue : {&window_, &replay_}) {
      for (const auto& [seq, m] : *queue) info.attempts = std::max(info.attempts, m.deliveries);
    }
    for (const auto& [name, c] : consumers_) {
      if (!LiveLocked(c, now) && c.in_flight == 0) continue;
      info.consumers.push_back(
          ConsumerInfo{name, c.in_flight, c.delivered,
                       std::chrono::duration_cast<std::chrono::milliseconds>(now - c.last_seen)});
    }
  }
  // Events not read yet: counted from the read cursor, up to a bound.
  const Source& source = info.definition.source;
  if (source.ByRevision()) {
    auto si = store_->GetStreamInfo(source.stream);
    if (si.ok() && si->last_revision && si->last_revision->value + 1 > info.read_cursor) {
      info.lag_events += si->last_revision->value + 1 - info.read_cursor;
      info.lag_exact = source.filter.event_types.empty();
      if (!oldest) {
        ReadStreamRequest r{source.stream, Revision{info.read_cursor}, Direction::kForwards, 1};
        auto first = store_->ReadStream(r);
        if (first.ok() && !first->events.empty()) oldest = first->events[0].created;
      }
    }
  } else {
    ReadAllRequest r;
    r.from = Position{info.read_cursor};
    r.filter = source.filter;
    r.max_count = 1000;
    uint64_t counted = 0;
    while (counted < kLagCountBound) {
      auto res = store_->ReadAll(r);
      if (!res.ok()) break;
      if (!oldest && !res->events.empty()) oldest = res->events[0].created;
      counted += res->events.size();
      if (res->end_of_log) break;
      r.from = res->next;
    }
    info.lag_events += counted;
    info.lag_exact = counted < kLagCountBound;
  }
  if (oldest) {
    const int64_t age_ticks = Timestamp::Now().ticks - oldest->ticks;
    info.lag_seconds = age_ticks > 0 ? static_cast<double>(age_ticks) / 1e7 : 0.0;
  }
  return info;
}

void Group::Stop(bool final_checkpoint) {
  std::vector<PollCallback> waiting;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    for (Waiter& w : waiters_) waiting.push_back(std::move(w.done));
    waiters_.clear();
    retry_io_after_ = Clock::time_point{};
  }
  for (auto& cb : waiting) cb({});
  if (!final_checkpoint) return;
  WriteParks();
  WriteCheckpoint(Clock::now(), /*force=*/false, /*if_changed=*/true);
}

}  // namespace annals::delivery
