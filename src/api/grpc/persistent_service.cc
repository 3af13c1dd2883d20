#include "api/grpc/persistent_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <set>

#include "api/grpc/convert.h"
#include "api/grpc/raw_messages.h"
#include "api/grpc/wire/read_event_message.h"
#include "delivery/service.h"

namespace annals::grpcapi {

namespace {

using delivery::GroupDefinition;
using delivery::Kind;

constexpr std::string_view kAll = "$all";

grpc::Status GroupError(grpc::ServerContextBase* ctx, grpc::StatusCode code, const char* exception,
                        const std::string& stream, const std::string& group,
                        const std::string& message) {
  ctx->AddTrailingMetadata("exception", exception);
  ctx->AddTrailingMetadata("stream-name", stream);
  ctx->AddTrailingMetadata("group-name", group);
  return grpc::Status(code, message);
}

grpc::Status NotFound(grpc::ServerContextBase* ctx, const std::string& stream,
                      const std::string& group) {
  return GroupError(ctx, grpc::StatusCode::NOT_FOUND, "persistent-subscription-does-not-exist",
                    stream, group,
                    "subscription group " + group + " on stream " + stream + " does not exist");
}

std::string SourceName(const GroupDefinition& def) {
  return def.source.ByRevision() ? def.source.stream : std::string(kAll);
}

// KurrentDB's strategy names.
std::string StrategyText(delivery::Strategy s) {
  switch (s) {
    case delivery::Strategy::kDispatchToSingle:
      return "DispatchToSingle";
    case delivery::Strategy::kPinnedByStream:
      return "Pinned";
    case delivery::Strategy::kRoundRobin:
      break;
  }
  return "RoundRobin";
}

// kInvalidArgument for what no group can run with: a negative count or duration (which read as
// "unset" before, silently), or a consumer strategy this server does not know.
Status ApplySettings(const ppb::Settings& s, delivery::GroupSettings* g) {
  using std::chrono::milliseconds;
  const auto invalid = [](const char* what) {
    return Status(StatusCode::kInvalidArgument, std::string("settings: ") + what);
  };
  if (s.max_retry_count() < 0) return invalid("max_retry_count must not be negative");
  if (s.max_subscriber_count() < 0) return invalid("max_subscriber_count must not be negative");
  if ((s.message_timeout_case() == ppb::Settings::kMessageTimeoutMs &&
       s.message_timeout_ms() < 0) ||
      (s.message_timeout_case() == ppb::Settings::kMessageTimeoutTicks &&
       s.message_timeout_ticks() < 0)) {
    return invalid("the message timeout must not be negative");
  }
  if ((s.checkpoint_after_case() == ppb::Settings::kCheckpointAfterMs &&
       s.checkpoint_after_ms() < 0) ||
      (s.checkpoint_after_case() == ppb::Settings::kCheckpointAfterTicks &&
       s.checkpoint_after_ticks() < 0)) {
    return invalid("checkpoint_after must not be negative");
  }
  g->max_retries = static_cast<uint32_t>(s.max_retry_count());
  g->max_subscribers = static_cast<uint32_t>(s.max_subscriber_count());
  if (s.message_timeout_case() == ppb::Settings::kMessageTimeoutMs && s.message_timeout_ms() > 0) {
    g->ack_timeout = milliseconds(s.message_timeout_ms());
  } else if (s.message_timeout_case() == ppb::Settings::kMessageTimeoutTicks &&
             s.message_timeout_ticks() > 0) {
    g->ack_timeout = milliseconds(s.message_timeout_ticks() / 10000);
  }
  if (s.checkpoint_after_case() == ppb::Settings::kCheckpointAfterMs &&
      s.checkpoint_after_ms() > 0) {
    g->checkpoint_after = milliseconds(s.checkpoint_after_ms());
  } else if (s.checkpoint_after_case() == ppb::Settings::kCheckpointAfterTicks &&
             s.checkpoint_after_ticks() > 0) {
    g->checkpoint_after = milliseconds(s.checkpoint_after_ticks() / 10000);
  }
  if (s.max_checkpoint_count() > 0) {
    g->checkpoint_max_count = static_cast<uint32_t>(s.max_checkpoint_count());
  }
  if (s.history_buffer_size() > 0) g->buffer_size = static_cast<uint32_t>(s.history_buffer_size());
  if (s.read_batch_size() > 0) g->read_batch = static_cast<uint32_t>(s.read_batch_size());
  std::string strategy = s.consumer_strategy();
  if (strategy.empty()) {
    switch (s.named_consumer_strategy()) {
      case ppb::Settings::DispatchToSingle:
        strategy = "DispatchToSingle";
        break;
      case ppb::Settings::Pinned:
        strategy = "Pinned";
        break;
      default:
        strategy = "RoundRobin";
        break;
    }
  }
  if (strategy == "DispatchToSingle") {
    g->strategy = delivery::Strategy::kDispatchToSingle;
  } else if (strategy == "Pinned" || strategy == "PinnedByCorrelation") {
    g->strategy = delivery::Strategy::kPinnedByStream;
  } else if (strategy == "RoundRobin") {
    g->strategy = delivery::Strategy::kRoundRobin;
  } else {
    return invalid(
        "consumer_strategy must be RoundRobin, DispatchToSingle, Pinned or "
        "PinnedByCorrelation");
  }
  return Status::Ok();
}

delivery::StartAt StartAtKind(delivery::StartAt::Kind kind, uint64_t value = 0) {
  delivery::StartAt s;
  s.kind = kind;
  s.value = value;
  return s;
}

// The definition a Create or Update asks for. Node uses the legacy shape: the stream in field
// 1 and the start revision in settings.revision.
Result<GroupDefinition> DefinitionFrom(const ppb::CreateOptions& o) {
  GroupDefinition def;
  def.name = o.group_name();
  ANNALS_RETURN_IF_ERROR(ApplySettings(o.settings(), &def.settings));
  using delivery::StartAt;
  auto start_revision = [&](uint64_t r) {
    if (r == 0) return StartAt{};
    if (r == UINT64_MAX) return StartAtKind(StartAt::Kind::kEnd);
    return StartAtKind(StartAt::Kind::kPosition, r);
  };
  if (o.has_stream()) {
    def.source.stream = StreamName(o.stream().stream_identifier());
    switch (o.stream().revision_option_case()) {
      case ppb::StreamOptions::kRevision:
        def.start = start_revision(o.stream().revision());
        break;
      case ppb::StreamOptions::kEnd:
        def.start = StartAtKind(StartAt::Kind::kEnd);
        break;
      default:
        break;
    }
  } else if (o.has_all()) {
    const auto& a = o.all();
    switch (a.all_option_case()) {
      case ppb::AllOptions::kPosition:
        def.start = StartAtKind(StartAt::Kind::kPosition, a.position().commit_position());
        break;
      case ppb::AllOptions::kEnd:
        def.start = StartAtKind(StartAt::Kind::kEnd);
        break;
      default:
        break;
    }
    if (a.has_filter()) {
      const auto& f = a.filter();
      if (f.has_stream_identifier()) {
        def.source.filter.stream_regex = f.stream_identifier().regex();
        for (const auto& p : f.stream_identifier().prefix()) {
          def.source.filter.stream_prefixes.push_back(p);
        }
      } else if (f.has_event_type()) {
        def.source.filter.type_regex = f.event_type().regex();
        for (const auto& p : f.event_type().prefix()) def.source.filter.type_prefixes.push_back(p);
      }
    }
  } else {
    def.source.stream = StreamName(o.stream_identifier());
    def.start = start_revision(o.settings().revision());
  }
  if (def.source.stream == kAll) def.source.stream.clear();
  if (def.name.empty()) return Status(StatusCode::kInvalidArgument, "the group name is empty");
  return def;
}

std::string CursorText(const GroupDefinition& def, uint64_t cursor) {
  if (def.source.ByRevision()) return std::to_string(cursor);
  return "C:" + std::to_string(cursor) + "/P:" + std::to_string(cursor);
}

void InfoToProto(const delivery::GroupInfo& info, ppb::SubscriptionInfo* out) {
  const GroupDefinition& def = info.definition;
  const bool by_revision = def.source.ByRevision();
  out->set_event_source(SourceName(def));
  out->set_group_name(def.name);
  out->set_status(def.paused ? "Paused" : "Live");
  for (const auto& c : info.consumers) {
    auto* ci = out->add_connections();
    ci->set_from(c.name);
    ci->set_connection_name(c.name);
    ci->set_total_items(static_cast<int64_t>(c.delivered));
    ci->set_in_flight_messages(static_cast<int32_t>(c.in_flight));
  }
  out->set_total_items(static_cast<int64_t>(info.delivered));
  // The cursors are "next to read": the last event processed is the one before.
  if (info.checkpoint > 0 || !by_revision) {
    out->set_last_checkpointed_event_position(
        CursorText(def, by_revision ? info.checkpoint - 1 : info.checkpoint));
  }
  if (info.read_cursor > 0 || !by_revision) {
    out->set_last_known_event_position(
        CursorText(def, by_revision ? info.read_cursor - 1 : info.read_cursor));
  }
  switch (def.start.kind) {
    case delivery::StartAt::Kind::kBeginning:
      out->set_start_from(by_revision ? "0" : "C:0/P:0");
      break;
    case delivery::StartAt::Kind::kEnd:
      out->set_start_from(by_revision ? "-1" : "C:-1/P:-1");
      break;
    default:
      out->set_start_from(CursorText(def, def.start_cursor));
      break;
  }
  const auto& s = def.settings;
  out->set_message_timeout_milliseconds(static_cast<int32_t>(s.ack_timeout.count()));
  out->set_max_retry_count(static_cast<int32_t>(s.max_retries));
  out->set_live_buffer_size(static_cast<int32_t>(s.buffer_size));
  out->set_buffer_size(static_cast<int32_t>(s.buffer_size));
  out->set_read_batch_size(static_cast<int32_t>(s.read_batch));
  out->set_check_point_after_milliseconds(static_cast<int32_t>(s.checkpoint_after.count()));
  out->set_min_check_point_count(1);
  out->set_max_check_point_count(static_cast<int32_t>(s.checkpoint_max_count));
  out->set_read_buffer_count(static_cast<int32_t>(info.buffered));
  out->set_total_in_flight_messages(static_cast<int32_t>(info.in_flight));
  out->set_outstanding_messages_count(static_cast<int32_t>(info.in_flight));
  out->set_named_consumer_strategy(StrategyText(s.strategy));
  out->set_max_subscriber_count(static_cast<int32_t>(s.max_subscribers));
  out->set_parked_message_count(static_cast<int64_t>(info.parked));
}

// The stream a request names: a stream identifier, or `$all`.
template <class Options>
std::string RequestedSource(const Options& o, bool all) {
  return all ? std::string(kAll) : StreamName(o.stream_identifier());
}

// The group named by a request, when its source is the requested stream (or `$all`).
Result<std::shared_ptr<delivery::Group>> FindGroup(delivery::DeliveryService* d,
                                                   const std::string& source,
                                                   const std::string& group) {
  auto g = d->Find(Kind::kGroup, group);
  if (!g.ok()) return g.status();
  if (SourceName((*g)->definition()) != source) {
    return Status(StatusCode::kNotFound, "no such group on that stream");
  }
  return g;
}

// --- Read -----------------------------------------------------------------------------------

class PersistentRead;

// Shared with poll callbacks, which may outlive the reactor.
struct PersistentState : std::enable_shared_from_this<PersistentState> {
  const ServiceContext* sc = nullptr;
  std::recursive_mutex mu;
  PersistentRead* reactor = nullptr;
  grpc::CallbackServerContext* ctx = nullptr;  // valid while reactor is set
  std::string source;                          // the stream or `$all`, for trailers
  bool in_poll = false;                        // inside Group::Poll: an answer now is synchronous
  std::shared_ptr<delivery::Group> group;
  std::string consumer;
  uint32_t buffer = 10;
  bool structured = false;
  bool subscribed = false;  // options received, group found
  bool stopped = false;     // the client sent Stop: no more hand-outs
  bool polling = false;
  bool writing = false;
  bool finishing = false;
  std::optional<grpc::Status> final_status;
  // Messages to send, encoded; an event's id kept to give it back if it is never sent.
  struct Outgoing {
    grpc::ByteBuffer bytes;
    std::optional<Uuid> event_id;
  };
  std::deque<Outgoing> out;
  std::set<std::string> outstanding;  // handed out, not acked or nacked

  void Kick();
  void Deliver(std::vector<delivery::Delivery> batch);
};

class PersistentRead final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  PersistentRead(const ServiceContext* sc, grpc::CallbackServerContext* ctx)
      : sc_(sc), ctx_(ctx), state_(std::make_shared<PersistentState>()) {
    state_->sc = sc;
    state_->reactor = this;
    state_->ctx = ctx;
    if (sc->delivery == nullptr) {
      End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "persistent subscriptions are off"));
      return;
    }
    StartRead(&raw_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      End(grpc::Status::OK);  // the client half-closed or went away
      return;
    }
    if (!ParseRequest(raw_, &msg_)) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "the request is not a persistent subscription ReadReq"));
      return;
    }
    std::lock_guard lock(state_->mu);
    if (msg_.has_options()) {
      Subscribe(msg_.options());
    } else if (!state_->subscribed) {
      // Nothing can be acked before the options named a group (KurrentDB fails it too).
      if (!state_->final_status) {
        state_->final_status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                            "the first message must be the options");
      }
      state_->Kick();
    } else if (msg_.has_ack() || msg_.has_nack()) {
      const auto& ids = msg_.has_ack() ? msg_.ack().ids() : msg_.nack().ids();
      std::vector<std::string> keys;
      for (const auto& id : ids) {
        if (auto u = UuidFromProto(id)) keys.push_back(u->ToString());
      }
      for (const auto& k : keys) state_->outstanding.erase(k);
      if (state_->group) {
        if (msg_.has_ack()) {
          (void)state_->group->Ack(keys);
        } else {
          delivery::NackAction action = delivery::NackAction::kRetry;
          if (msg_.nack().action() == ppb::ReadReq::Nack::Park) {
            action = delivery::NackAction::kPark;
          } else if (msg_.nack().action() == ppb::ReadReq::Nack::Skip) {
            action = delivery::NackAction::kSkip;
          }
          (void)state_->group->Nack(keys, action, msg_.nack().reason());
        }
      }
      if (state_->group && msg_.has_nack() && msg_.nack().action() == ppb::ReadReq::Nack::Stop) {
        StopOnRequest();
      }
      state_->Kick();
    } else if (msg_.has_stop()) {
      state_->stopped = true;
    }
    if (!state_->final_status) StartRead(&raw_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(state_->mu);
    state_->writing = false;
    if (!state_->out.empty()) state_->out.pop_front();
    if (!ok) {
      state_->out.clear();
      if (!state_->final_status) state_->final_status = grpc::Status::CANCELLED;
    }
    state_->Kick();
  }
  void OnCancel() override { End(grpc::Status::CANCELLED); }
  void OnDone() override {
    std::vector<Uuid> unresolved;
    std::shared_ptr<delivery::Group> group;
    std::string consumer;
    {
      std::lock_guard lock(state_->mu);
      state_->reactor = nullptr;
      for (const std::string& id : state_->outstanding) {
        if (auto u = Uuid::Parse(id)) unresolved.push_back(*u);
      }
      state_->outstanding.clear();
      group = state_->group;
      consumer = state_->consumer;
    }
    if (group) {  // set only once attached
      group->DetachSubscriber();
      // Events handed to this consumer and not acked go to the others at once, and its
      // waiting poll ends (it would take events for nobody).
      group->Release(consumer, unresolved);
    }
    delete this;
  }

 private:
  void End(grpc::Status status) {
    std::lock_guard lock(state_->mu);
    if (!state_->final_status) state_->final_status = std::move(status);
    if (!state_->final_status->ok()) state_->out.clear();
    state_->Kick();
  }
  // Under the state's mutex. A nack with `stop`: the nacked events were retried (KurrentDB leaves
  // this action unimplemented and drops them from its outstanding set; here they stay
  // at-least-once), and this call is handed nothing more until the client ends it. The call is
  // not ended here: the official clients wait for their half of a call that the server ended
  // OK, and KurrentDB never does. Events queued behind the one being written go back to the
  // group at once, and so does the waiting poll (it would take events for nobody).
  void StopOnRequest() {
    state_->stopped = true;
    std::vector<Uuid> queued;
    while (state_->out.size() > (state_->writing ? 1u : 0u)) {
      if (const std::optional<Uuid>& id = state_->out.back().event_id) {
        state_->outstanding.erase(id->ToString());
        queued.push_back(*id);
      }
      state_->out.pop_back();
    }
    state_->group->Release(state_->consumer, queued);
  }
  // Under the state's mutex.
  void Subscribe(const ppb::ReadReq::Options& o) {
    auto refuse = [this](const char* why) {
      state_->final_status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why);
      state_->Kick();
    };
    // A second options message cannot move a running subscription to another group.
    if (state_->subscribed) return refuse("the options were sent twice");
    if (o.uuid_option().content_case() == ppb::UUIDOption::CONTENT_NOT_SET) {
      return refuse("uuid_option is required: structured or string");
    }
    if (o.buffer_size() < 0) return refuse("buffer_size must not be negative (0: the default)");
    const std::string source = RequestedSource(o, o.has_all());
    const Status allowed =
        sc_->Authorize(*ctx_, Access::kRead, source == kAll ? std::string_view() : source);
    if (!allowed.ok()) {
      state_->final_status = ToGrpc(allowed, source, ctx_, sc_->options->limits);
      state_->Kick();
      return;
    }
    auto g = FindGroup(sc_->delivery, source, o.group_name());
    if (!g.ok()) {
      state_->final_status = NotFound(ctx_, source, o.group_name());
      state_->Kick();
      return;
    }
    if (Status driven = (*g)->CheckDriven(); !driven.ok()) {
      // Another node on the same database drives the group (docs/postgres.md).
      state_->final_status = ToGrpc(driven, source, ctx_, sc_->options->limits);
      state_->Kick();
      return;
    }
    if (Status attached = (*g)->AttachSubscriber(); !attached.ok()) {
      // As KurrentDB: the clients raise their "maximum subscribers reached" error from these.
      ctx_->AddTrailingMetadata("exception", "maximum-subscribers-reached");
      ctx_->AddTrailingMetadata("stream-name", source);
      ctx_->AddTrailingMetadata("group-name", o.group_name());
      state_->final_status =
          grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, attached.message());
      state_->Kick();
      return;
    }
    state_->group = *g;
    state_->source = source;
    state_->subscribed = true;
    state_->structured = o.uuid_option().has_structured();
    state_->buffer = o.buffer_size() > 0 ? static_cast<uint32_t>(o.buffer_size()) : 10;
    state_->consumer = "grpc-" + Uuid::Random().ToString().substr(0, 8) + "@" + ctx_->peer();
    ppb::ReadResp c;
    c.mutable_subscription_confirmation()->set_subscription_id(source + "::" + o.group_name());
    state_->out.push_back({Serialized(c), std::nullopt});
    state_->Kick();
  }

  friend struct PersistentState;
  const ServiceContext* sc_;
  grpc::CallbackServerContext* ctx_;
  std::shared_ptr<PersistentState> state_;
  grpc::ByteBuffer raw_;  // the client's next message, as received
  ppb::ReadReq msg_;      // ...parsed
};

// Under mu: the next write, the finish, or the next poll.
void PersistentState::Kick() {
  if (reactor == nullptr || writing || finishing) return;
  if (!out.empty()) {
    writing = true;
    reactor->StartWrite(&out.front().bytes);
    return;
  }
  if (final_status) {
    finishing = true;
    reactor->Finish(*final_status);
    return;
  }
  if (!subscribed || stopped || polling || outstanding.size() >= buffer) return;
  polling = true;
  const uint32_t max = buffer - static_cast<uint32_t>(outstanding.size());
  // The callback runs inline (events ready) or on the dispatcher; it only queues.
  in_poll = true;
  group->Poll(consumer, max, std::chrono::milliseconds(1000),
              [self = shared_from_this()](std::vector<delivery::Delivery> batch) {
                self->Deliver(std::move(batch));
              });
  in_poll = false;
}

void PersistentState::Deliver(std::vector<delivery::Delivery> batch) {
  std::lock_guard lock(mu);
  polling = false;
  if (reactor == nullptr || final_status) {
    // Nobody to give them to: let the group hand them out again at once (no retry backoff).
    std::vector<Uuid> ids;
    for (const auto& d : batch) ids.push_back(d.event->id);
    if (!ids.empty()) group->Release(consumer, ids);
    return;
  }
  if (Status driven = group->CheckDriven(); batch.empty() && !driven.ok()) {
    // This node lost the group's lease: another node delivers its events now.
    final_status = grpc::Status(grpc::StatusCode::UNAVAILABLE, driven.message());
    Kick();
    return;
  }
  if (batch.empty() && in_poll) {
    // Only a stopped group answers an empty poll at once: it was deleted (or the server is
    // stopping). Polling again would spin: the subscription is dropped, as KurrentDB does.
    const std::string group_name = group->definition().name;
    ctx->AddTrailingMetadata("exception", "persistent-subscription-dropped");
    ctx->AddTrailingMetadata("stream-name", source);
    ctx->AddTrailingMetadata("group-name", group_name);
    final_status = grpc::Status(grpc::StatusCode::CANCELLED,
                                "subscription group " + group_name + " was dropped");
    Kick();
    return;
  }
  for (const auto& d : batch) {
    outstanding.insert(d.ack_id);
    // retry_count is an int32 in the protocol.
    const uint32_t retries = std::min<uint32_t>(d.delivery_count > 0 ? d.delivery_count - 1 : 0,
                                                std::numeric_limits<int32_t>::max());
    const grpcwire::ReadEventMessage message(*d.event, structured, /*with_position=*/true, retries);
    out.push_back({EncodedBuffer(message), d.event->id});
  }
  Kick();
}

}  // namespace

grpc::ServerUnaryReactor* PersistentService::Run(grpc::CallbackServerContext* ctx, Access access,
                                                 std::function<grpc::Status()> work) {
  auto* reactor = ctx->DefaultReactor();
  if (Status allowed = sc_->Authorize(*ctx, access, {}); !allowed.ok()) {
    reactor->Finish(ToGrpc(allowed, "", ctx, sc_->options->limits));
    return reactor;
  }
  if (sc_->delivery == nullptr) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "persistent subscriptions are off"));
    return reactor;
  }
  sc_->workers->Post([reactor, work = std::move(work)] { reactor->Finish(work()); });
  return reactor;
}

grpc::ServerUnaryReactor* PersistentService::Create(grpc::CallbackServerContext* ctx,
                                                    const ppb::CreateReq* req, ppb::CreateResp*) {
  return Run(ctx, Access::kManage, [this, ctx, req] {
    auto def = DefinitionFrom(req->options());
    if (!def.ok()) return ToGrpc(def.status(), "", ctx, sc_->options->limits);
    const std::string source = SourceName(*def);
    // Annals' group names are unique across sources: a name in use is "exists".
    if (sc_->delivery->Get(Kind::kGroup, def->name).ok()) {
      return GroupError(ctx, grpc::StatusCode::ALREADY_EXISTS, "persistent-subscription-exists",
                        source, def->name, "subscription group " + def->name + " exists");
    }
    auto put = sc_->delivery->Put(Kind::kGroup, std::move(*def));
    if (!put.ok()) return ToGrpc(put.status(), source, ctx, sc_->options->limits);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* PersistentService::Update(grpc::CallbackServerContext* ctx,
                                                    const ppb::UpdateReq* req, ppb::UpdateResp*) {
  return Run(ctx, Access::kManage, [this, ctx, req] {
    auto def = DefinitionFrom(req->options());
    if (!def.ok()) return ToGrpc(def.status(), "", ctx, sc_->options->limits);
    const std::string source = SourceName(*def);
    auto existing = sc_->delivery->Get(Kind::kGroup, def->name);
    if (!existing.ok() || SourceName(existing->definition) != source) {
      return NotFound(ctx, source, def->name);
    }
    // The source is kept (filters are not part of KurrentDB's update) and so is the start.
    GroupDefinition updated = existing->definition;
    updated.settings = def->settings;
    auto put = sc_->delivery->Put(Kind::kGroup, std::move(updated));
    if (!put.ok()) return ToGrpc(put.status(), source, ctx, sc_->options->limits);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* PersistentService::Delete(grpc::CallbackServerContext* ctx,
                                                    const ppb::DeleteReq* req, ppb::DeleteResp*) {
  return Run(ctx, Access::kManage, [this, ctx, req] {
    const auto& o = req->options();
    const std::string source = RequestedSource(o, o.has_all());
    auto g = FindGroup(sc_->delivery, source, o.group_name());
    if (!g.ok()) return NotFound(ctx, source, o.group_name());
    Status s = sc_->delivery->Delete(Kind::kGroup, o.group_name());
    if (s.code() == StatusCode::kNotFound) return NotFound(ctx, source, o.group_name());
    if (!s.ok()) return ToGrpc(s, source, ctx, sc_->options->limits);
    return grpc::Status::OK;
  });
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* PersistentService::Read(
    grpc::CallbackServerContext* ctx) {
  return new PersistentRead(sc_, ctx);
}

grpc::ServerUnaryReactor* PersistentService::GetInfo(grpc::CallbackServerContext* ctx,
                                                     const ppb::GetInfoReq* req,
                                                     ppb::GetInfoResp* resp) {
  return Run(ctx, Access::kRead, [this, ctx, req, resp] {
    const auto& o = req->options();
    const std::string source = RequestedSource(o, o.has_all());
    auto g = FindGroup(sc_->delivery, source, o.group_name());
    if (!g.ok()) return NotFound(ctx, source, o.group_name());
    InfoToProto((*g)->Info(), resp->mutable_subscription_info());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* PersistentService::ReplayParked(grpc::CallbackServerContext* ctx,
                                                          const ppb::ReplayParkedReq* req,
                                                          ppb::ReplayParkedResp*) {
  return Run(ctx, Access::kManage, [this, ctx, req] {
    const auto& o = req->options();
    const std::string source = RequestedSource(o, o.has_all());
    auto g = FindGroup(sc_->delivery, source, o.group_name());
    if (!g.ok()) return NotFound(ctx, source, o.group_name());
    auto r = (*g)->ReplayParked();
    if (!r.ok()) return ToGrpc(r.status(), source, ctx, sc_->options->limits);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* PersistentService::List(grpc::CallbackServerContext* ctx,
                                                  const ppb::ListReq* req, ppb::ListResp* resp) {
  return Run(ctx, Access::kRead, [this, req, resp] {
    std::optional<std::string> only;
    const auto& o = req->options();
    if (o.has_list_for_stream()) {
      const auto& s = o.list_for_stream();
      only = s.has_all() ? std::string(kAll) : StreamName(s.stream());
    }
    for (const auto& reg : sc_->delivery->List(Kind::kGroup)) {
      if (only && SourceName(reg.definition) != *only) continue;
      auto g = sc_->delivery->Find(Kind::kGroup, reg.definition.name);
      if (!g.ok()) continue;
      InfoToProto((*g)->Info(), resp->add_subscriptions());
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* PersistentService::RestartSubsystem(grpc::CallbackServerContext* ctx,
                                                              const event_store::client::Empty*,
                                                              event_store::client::Empty*) {
  // Annals' groups have no subsystem to restart: each group recovers on its own.
  return Run(ctx, Access::kManage, [] { return grpc::Status::OK; });
}

}  // namespace annals::grpcapi
