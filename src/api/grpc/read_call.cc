#include "api/grpc/read_call.h"

#include <spdlog/spdlog.h>

#include <deque>
#include <memory>
#include <mutex>

#include "api/grpc/convert.h"
#include "api/grpc/queued_write_reactor.h"
#include "api/grpc/raw_messages.h"
#include "api/grpc/wire/read_event_message.h"
#include "core/filter_regex.h"

namespace annals::grpcapi {

namespace {

using spb::ReadReq;
using spb::ReadResp;
using ReadOptions = ReadReq::Options;

// Events per store read, and the payload bytes after which a read stops early, so a batch of
// large events stays small in memory. The next batch is read while at most one is queued
// (back-pressure). Fewer, larger reads mean fewer hand-offs between gRPC's threads and the
// workers: a streamed `$all` read went from ~82,000 to ~103,000 events/s going from 64 events
// a read to 1,024 events or 1 MiB (docs/performance.md, "gRPC").
constexpr uint64_t kBatch = 1024;
constexpr uint64_t kBatchBytes = 1 << 20;
// KurrentDB's search window when the client asks for "count" instead of a number.
constexpr uint64_t kDefaultWindow = 32;

// A filter on `$all`, applied here (not by the store) so the subscription knows every event
// it examined and can send checkpoints at event positions, which resume exactly.
struct Filter {
  bool on_stream = false;  // else on the event type
  std::vector<std::string> prefixes;
  std::optional<FilterRegex> regex;
  bool Matches(const RecordedEvent& e) const {
    const std::string& subject = on_stream ? e.stream : e.type;
    if (regex && !regex->Finds(subject)) return false;
    if (prefixes.empty()) return true;
    for (const auto& p : prefixes) {
      if (subject.compare(0, p.size(), p) == 0) return true;
    }
    return false;
  }
};

google::protobuf::Timestamp NowProto() {
  const int64_t ticks = Timestamp::Now().ticks;
  google::protobuf::Timestamp t;
  t.set_seconds(ticks / 10000000);
  t.set_nanos(static_cast<int32_t>((ticks % 10000000) * 100));
  return t;
}

struct ReadState;
using ReadCall = QueuedWriteReactor<ReadState, grpc::ByteBuffer>;

// The state of one call, shared with worker tasks and head watches, which may outlive the
// reactor: they reach it only through `reactor`, which is null once gRPC is done with it.
struct ReadState : std::enable_shared_from_this<ReadState> {
  const ServiceContext* sc = nullptr;
  grpc::CallbackServerContext* ctx = nullptr;  // valid while reactor is set
  // Recursive: gRPC may run a reaction inline from StartWrite or Finish.
  std::recursive_mutex mu;
  ReadCall* reactor = nullptr;

  // The plan, fixed at the start.
  bool all = false;
  std::string stream;
  bool forwards = true;
  bool subscription = false;
  bool structured = false;
  uint64_t remaining = 0;  // reads: events still wanted
  std::optional<Filter> filter;
  uint64_t checkpoint_interval = 0;

  // Cursors, touched only by the one fetch in progress.
  bool started = false;
  bool stream_end_start = false;          // stream subscription/read from the end
  std::optional<uint64_t> next_revision;  // stream: next revision to read (nullopt: end)
  Position next_position;                 // `$all`
  std::optional<Position> skip_through;   // `$all` subscription: exclusive start
  uint64_t considered = 0;                // since the last checkpoint
  bool caught_up_sent = false;

  // Output, under mu.
  std::deque<grpc::ByteBuffer> out;
  size_t last_batch = 0;  // messages the last fetch queued
  std::optional<grpc::Status> final_status;
  bool writing = false;
  bool finishing = false;
  bool fetching = false;
  bool waiting_live = false;
  std::optional<uint64_t> watch_id;

  void Kick();
  void Fetch();
  // One store read; fills `batch` and may set *final.
  // A store error ends the call; its trailers are added under mu, before Finish.
  struct Fetched {
    std::vector<grpc::ByteBuffer> batch;
    std::optional<grpc::Status> final;
    std::optional<Status> error;
    Position watch_after = Position::End();  // End: do not watch
    // Annals' trailers of a finished read, for the C++ SDK (docs/grpc-api.md): what KurrentDB's
    // messages cannot say exactly. Official clients ignore unknown trailers.
    std::vector<std::pair<std::string, std::string>> trailers;
  };
  void FetchStream(Fetched* f);
  void FetchAll(Fetched* f);
  // Encoded without protobuf objects (grpcwire::ReadEventMessage): most of what a read sends.
  void AddEvent(const RecordedEvent& e, std::vector<grpc::ByteBuffer>* batch) const {
    batch->push_back(
        EncodedBuffer(grpcwire::ReadEventMessage(e, structured, /*with_position=*/all)));
  }
  void StopWatch();
  void OnCallDone() { StopWatch(); }
};

void ReadState::StopWatch() {
  std::optional<uint64_t> id;
  {
    std::lock_guard lock(mu);
    id.swap(watch_id);
  }
  if (id) sc->store->CancelHeadWatch(*id);
}

// Under mu: starts the next write, the finish, or the next fetch.
void ReadState::Kick() {
  if (reactor == nullptr || writing || finishing) return;
  if (!out.empty()) {
    writing = true;
    // No buffer_hint: a hinted write completes only once a later write flushes it (also with
    // GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE set), and the callback API allows one write in flight,
    // so the call would stall. Each message is one write (docs/performance.md, "gRPC reads").
    reactor->StartWrite(&out.front());
    // Read ahead: the next store read runs while this batch is written. Appending to the
    // deque leaves the message being written in place.
    if (!fetching && !waiting_live && !final_status && out.size() <= last_batch) {
      fetching = true;
      sc->workers->Post([self = shared_from_this()] { self->Fetch(); });
    }
    return;
  }
  if (final_status) {
    finishing = true;
    reactor->Finish(*final_status);
    return;
  }
  if (fetching || waiting_live) return;
  fetching = true;
  sc->workers->Post([self = shared_from_this()] { self->Fetch(); });
}

void ReadState::Fetch() {
  Fetched f;
  {
    std::lock_guard lock(mu);
    if (reactor == nullptr || final_status) {
      fetching = false;
      return;
    }
  }
  if (all) {
    FetchAll(&f);
  } else {
    FetchStream(&f);
  }
  const bool go_live = subscription && !f.final && !f.error && f.watch_after != Position::End();
  {
    std::lock_guard lock(mu);
    fetching = false;
    if (!final_status && reactor != nullptr) {
      for (auto& r : f.batch) out.push_back(std::move(r));
      last_batch = f.batch.size();
      if (f.error) {
        final_status = ToGrpc(*f.error, all ? "$all" : stream, ctx, sc->options->limits);
      } else if (f.final) {
        for (const auto& [key, value] : f.trailers) ctx->AddTrailingMetadata(key, value);
        final_status = std::move(f.final);
      }
      if (go_live) waiting_live = true;
    }
  }
  if (go_live) {
    // Live: read again once the head moves past what was just read. The callback runs on a
    // store thread and must be cheap: it only posts.
    std::weak_ptr<ReadState> weak = shared_from_this();
    const uint64_t id = sc->store->WatchHead(f.watch_after, [weak](Position) {
      auto self = weak.lock();
      if (!self) return;
      self->sc->workers->Post([self] {
        std::lock_guard lock(self->mu);
        self->watch_id.reset();
        self->waiting_live = false;
        self->Kick();
      });
    });
    std::lock_guard lock(mu);
    if (waiting_live) watch_id = id;
  }
  std::lock_guard lock(mu);
  Kick();
}

void ReadState::FetchStream(Fetched* f) {
  std::vector<grpc::ByteBuffer>* batch = &f->batch;
  std::optional<grpc::Status>* final = &f->final;
  Position* watch_after = &f->watch_after;
  EventStore* store = sc->store;
  const Position head = store->Head();  // before the read: a later commit fires the watch
  if (!started) {
    started = true;
    // A tombstoned stream's metadata is gone with it: its `$$` stream reads as deleted too,
    // as the store's GetStreamMetadata answers.
    if (auto target = MetadataTarget(stream)) {
      auto info = store->GetStreamInfo(*target);
      if (info.ok() && info->state == StreamState::kTombstoned) {
        f->error = Status(StatusCode::kStreamDeleted, "stream '" + *target + "' is deleted");
        return;
      }
    }
    if (stream_end_start) {
      // From the end: after the stream's current last event.
      auto info = store->GetStreamInfo(stream);
      if (info.ok() && info->state == StreamState::kTombstoned) {
        f->error = Status(StatusCode::kStreamDeleted, "stream '" + stream + "' is deleted");
        return;
      }
      next_revision = (info.ok() && info->last_revision) ? info->last_revision->value + 1 : 0;
      if (!subscription) {
        // A forwards read from the end: nothing, but a missing stream still says so.
        if (!info.ok() || info->state != StreamState::kActive) {
          ReadResp r;
          SetStream(stream, r.mutable_stream_not_found()->mutable_stream_identifier());
          batch->push_back(Serialized(r));
        }
        *final = grpc::Status::OK;
        return;
      }
    }
  }
  ReadStreamRequest req;
  req.stream = stream;
  req.direction = forwards ? Direction::kForwards : Direction::kBackwards;
  req.from = next_revision ? std::optional<Revision>(Revision{*next_revision}) : std::nullopt;
  req.max_count = subscription ? kBatch : std::min(remaining, kBatch);
  req.max_bytes = kBatchBytes;
  auto r = store->ReadStream(req);
  if (!r.ok()) {
    if (r.status().code() == StatusCode::kNotFound) {
      if (subscription) {
        // A subscription to a missing stream is confirmed and waits for it.
        if (!caught_up_sent) {
          caught_up_sent = true;
          ReadResp c;
          *c.mutable_caught_up()->mutable_timestamp() = NowProto();
          batch->push_back(Serialized(c));
        }
        *watch_after = head;
        return;
      }
      ReadResp nf;
      SetStream(stream, nf.mutable_stream_not_found()->mutable_stream_identifier());
      batch->push_back(Serialized(nf));
      *final = grpc::Status::OK;
      return;
    }
    f->error = r.status();
    return;
  }
  for (const RecordedEvent& e : r->events) AddEvent(e, batch);
  if (!subscription) {
    remaining -= std::min<uint64_t>(remaining, r->events.size());
    if (remaining == 0 || !r->next) {
      *final = grpc::Status::OK;
      f->trailers.emplace_back("annals-last-revision", std::to_string(r->last_revision.value));
    }
    next_revision = r->next ? std::optional<uint64_t>(r->next->value) : std::nullopt;
    return;
  }
  if (!r->events.empty()) next_revision = r->events.back().revision.value + 1;
  if (!r->next) {
    if (!caught_up_sent) {
      caught_up_sent = true;
      ReadResp c;
      *c.mutable_caught_up()->mutable_timestamp() = NowProto();
      // The stream's last revision: what the subscription has caught up with, also when
      // it started beyond it.
      if (r->last_revision.value != UINT64_MAX) {
        c.mutable_caught_up()->set_stream_revision(static_cast<int64_t>(r->last_revision.value));
      }
      batch->push_back(Serialized(c));
    }
    *watch_after = head;
  }
}

void ReadState::FetchAll(Fetched* f) {
  std::vector<grpc::ByteBuffer>* batch = &f->batch;
  std::optional<grpc::Status>* final = &f->final;
  Position* watch_after = &f->watch_after;
  EventStore* store = sc->store;
  if (!started) {
    started = true;
    if (stream_end_start) {
      if (forwards) {
        next_position = store->Head();
        if (!subscription) {
          *final = grpc::Status::OK;
          return;
        }
      } else {
        next_position = Position::End();
      }
    }
  }
  ReadAllRequest req;
  req.from = next_position;
  req.direction = forwards ? Direction::kForwards : Direction::kBackwards;
  req.max_count = (subscription || filter) ? kBatch : std::min(remaining, kBatch);
  req.max_bytes = kBatchBytes;
  auto r = store->ReadAll(req);
  if (!r.ok()) {
    f->error = r.status();
    return;
  }
  for (const RecordedEvent& e : r->events) {
    if (skip_through && e.position <= *skip_through) continue;
    if (!subscription && remaining == 0) break;
    const bool match = !filter || filter->Matches(e);
    if (match) {
      AddEvent(e, batch);
      if (!subscription) --remaining;
    }
    if (subscription && filter && ++considered >= checkpoint_interval) {
      // Every `window x multiplier` examined events, where to resume from (exclusive).
      considered = 0;
      ReadResp c;
      c.mutable_checkpoint()->set_commit_position(e.position.value);
      c.mutable_checkpoint()->set_prepare_position(e.position.value);
      *c.mutable_checkpoint()->mutable_timestamp() = NowProto();
      batch->push_back(Serialized(c));
    }
  }
  next_position = r->next;
  if (!subscription) {
    if (remaining == 0 || r->end_of_log) *final = grpc::Status::OK;
    // Where a forward read that reached the end continues: the head it read up to.
    if (r->end_of_log && remaining > 0 && forwards) {
      f->trailers.emplace_back("annals-next-position", std::to_string(r->next.value));
    }
    return;
  }
  if (r->end_of_log) {
    if (!caught_up_sent) {
      caught_up_sent = true;
      ReadResp c;
      *c.mutable_caught_up()->mutable_timestamp() = NowProto();
      batch->push_back(Serialized(c));
    }
    *watch_after = r->next;
  }
}

// Checks the request and fills the plan; an error status for an invalid combination.
grpc::Status Plan(const ReadReq& req, ReadState* s) {
  if (!req.has_options()) return Invalid("read options are missing");
  const ReadOptions& o = req.options();
  if (o.uuid_option().content_case() == ReadOptions::UUIDOption::CONTENT_NOT_SET) {
    return Invalid("uuid_option is required");
  }
  s->structured = o.uuid_option().has_structured();
  if (o.read_direction() != ReadOptions::Forwards && o.read_direction() != ReadOptions::Backwards) {
    return Invalid("read_direction must be Forwards or Backwards");
  }
  s->forwards = o.read_direction() == ReadOptions::Forwards;
  switch (o.count_option_case()) {
    case ReadOptions::kCount:
      s->remaining = o.count();
      break;
    case ReadOptions::kSubscription:
      s->subscription = true;
      if (!s->forwards) return Invalid("a subscription reads forwards");
      break;
    default:
      return Invalid("count_option is required");
  }
  if (o.has_stream()) {
    if (o.has_filter()) return Invalid("a filter applies to $all only");
    const auto& so = o.stream();
    s->stream = StreamName(so.stream_identifier());
    if (s->stream.empty()) return Invalid("the stream name is empty");
    switch (so.revision_option_case()) {
      case ReadOptions::StreamOptions::kRevision:
        // Subscriptions start after the given revision; reads at it. No revision follows
        // UINT64_MAX (the protocol's "none"): a subscription from there is one from the end,
        // where r + 1 would wrap to the stream's start.
        if (s->subscription && so.revision() == UINT64_MAX) {
          s->stream_end_start = true;
        } else {
          s->next_revision = so.revision() + (s->subscription ? 1 : 0);
        }
        break;
      case ReadOptions::StreamOptions::kEnd:
        if (s->forwards) s->stream_end_start = true;
        break;  // backwards from the end: nullopt
      case ReadOptions::StreamOptions::kStart:
        s->next_revision = 0;
        break;
      default:
        return Invalid("stream options need a revision_option: start, end or revision");
    }
    return grpc::Status::OK;
  }
  if (!o.has_all()) return Invalid("stream_option is required");
  s->all = true;
  const auto& ao = o.all();
  switch (ao.all_option_case()) {
    case ReadOptions::AllOptions::kPosition:
      s->next_position = Position{ao.position().commit_position()};
      if (s->subscription) s->skip_through = s->next_position;
      break;
    case ReadOptions::AllOptions::kEnd:
      s->stream_end_start = true;
      break;
    case ReadOptions::AllOptions::kStart:
      s->next_position = Position::Start();  // backwards from the start reads nothing
      break;
    default:
      return Invalid("$all options need an all_option: start, end or position");
  }
  if (o.has_filter()) {
    const auto& f = o.filter();
    Filter filter;
    const ReadOptions::FilterOptions::Expression* ex = nullptr;
    if (f.has_stream_identifier()) {
      filter.on_stream = true;
      ex = &f.stream_identifier();
    } else if (f.has_event_type()) {
      ex = &f.event_type();
    } else {
      return Invalid("a filter needs a stream or event type expression");
    }
    if (ex->prefix().empty() && ex->regex().empty()) {
      // Taken as no filter, it would deliver every event to a client that asked for some.
      return Invalid("a filter expression needs a regex or at least one prefix");
    }
    for (const auto& p : ex->prefix()) filter.prefixes.push_back(p);
    if (!ex->regex().empty()) {
      auto re = FilterRegex::Compile(ex->regex(), "filter regex");
      if (!re.ok()) return Invalid(re.status().message());
      filter.regex = std::move(re).value();
    }
    const uint64_t window = f.window_case() == ReadOptions::FilterOptions::kMax && f.max() > 0
                                ? f.max()
                                : kDefaultWindow;
    s->checkpoint_interval = window * std::max<uint32_t>(1, f.checkpointintervalmultiplier());
    s->filter = std::move(filter);
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* NewReadCall(const ServiceContext* sc,
                                                        grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer& request) {
  ReadReq req;
  if (!ParseRequest(request, &req)) {
    return new FinishedWriteReactor<grpc::ByteBuffer>(Invalid("the request is not a ReadReq"));
  }
  auto state = std::make_shared<ReadState>();
  state->sc = sc;
  state->ctx = ctx;
  if (grpc::Status s = Plan(req, state.get()); !s.ok())
    return new FinishedWriteReactor<grpc::ByteBuffer>(s);
  const auto target = state->all ? std::nullopt : MetadataTarget(state->stream);
  const Status allowed = target ? sc->Authorize(*ctx, Access::kMetadataRead, *target)
                                : sc->Authorize(*ctx, Access::kRead, state->stream);
  if (!allowed.ok()) {
    return new FinishedWriteReactor<grpc::ByteBuffer>(
        ToGrpc(allowed, state->stream, ctx, sc->options->limits));
  }
  if (!state->subscription && state->remaining == 0) {
    return new FinishedWriteReactor<grpc::ByteBuffer>(grpc::Status::OK);
  }
  if (state->subscription) {
    ReadResp confirmation;
    confirmation.mutable_confirmation()->set_subscription_id(Uuid::Random().ToString());
    state->out.push_back(Serialized(confirmation));
  }
  auto* call = new ReadCall(state);
  call->Begin();
  return call;
}

}  // namespace annals::grpcapi
