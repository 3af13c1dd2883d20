#include "api/grpc/streams_service.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>
#include <map>
#include <mutex>

#include "api/grpc/convert.h"
#include "api/grpc/read_call.h"
#include "core/expected_revision_check.h"
#include "core/stream_metadata_codec.h"

namespace annals::grpcapi {

namespace {

using spb::AppendReq;
using spb::AppendResp;
using spb::BatchAppendReq;
using spb::BatchAppendResp;

// Writes to `$$<stream>` are metadata updates (that is how clients set stream metadata): one
// `$metadata` event whose JSON becomes the stream's metadata.
Result<AppendResult> AppendMetadata(EventStore* store, const std::string& target,
                                    const AppendRequest& req) {
  if (req.events.size() != 1 || req.events[0].type != kMetadataEventType) {
    return Status(StatusCode::kInvalidArgument,
                  "a metadata stream takes exactly one $metadata event");
  }
  auto md = ParseStreamMetadataJson(req.events[0].data);
  if (!md.ok()) return md.status();
  return store->SetStreamMetadata(target, req.expected, *md);
}

// An append of no events only checks the expected revision (KurrentDB allows it).
Result<AppendResult> CheckOnly(EventStore* store, const AppendRequest& req) {
  auto info = store->GetStreamInfo(req.stream);
  if (!info.ok() && info.status().code() != StatusCode::kNotFound) return info.status();
  std::optional<Revision> last;
  bool soft_deleted = false;
  if (info.ok()) {
    if (info->state == StreamState::kTombstoned) {
      return Status(StatusCode::kStreamDeleted, "stream '" + req.stream + "' is deleted");
    }
    last = info->last_revision;
    soft_deleted = info->state == StreamState::kSoftDeleted;
  }
  ANNALS_RETURN_IF_ERROR(CheckExpectedRevision(req.stream, req.expected, last, soft_deleted));
  AppendResult r;
  r.last_revision = last.value_or(Revision{UINT64_MAX});
  r.position = info.ok() ? info->last_position : Position::Start();
  return r;
}

// Fills an Append answer from the store's result: success, or wrong expected version in-band
// (both the 20.6.0 fields and the current ones). Other failures are a gRPC status.
grpc::Status FillAppendResp(const Result<AppendResult>& r, const AppendRequest& req,
                            grpc::ServerContextBase* ctx, const Limits& limits, AppendResp* resp) {
  if (r.ok()) {
    // Annals' trailer for the C++ SDK: nothing was written, the events were already there.
    if (r->idempotent && ctx != nullptr) ctx->AddTrailingMetadata("annals-idempotent", "true");
    auto* ok = resp->mutable_success();
    if (r->last_revision.value == UINT64_MAX) {
      ok->mutable_no_stream();
      ok->mutable_no_position();
    } else {
      ok->set_current_revision(r->last_revision.value);
      ok->mutable_position()->set_commit_position(r->position.value);
      ok->mutable_position()->set_prepare_position(r->position.value);
    }
    return grpc::Status::OK;
  }
  const Status& s = r.status();
  if (s.code() != StatusCode::kWrongExpectedRevision || !s.conflict()) {
    return ToGrpc(s, req.stream, ctx, limits);
  }
  auto* w = resp->mutable_wrong_expected_version();
  const RevisionConflict& c = *s.conflict();
  if (c.actual) {
    w->set_current_revision_20_6_0(c.actual->value);
    w->set_current_revision(c.actual->value);
  } else {
    w->mutable_no_stream_20_6_0();
    w->mutable_current_no_stream();
  }
  switch (c.expected.kind()) {
    case ExpectedRevision::Kind::kAny:
      w->mutable_any_20_6_0();
      w->mutable_expected_any();
      break;
    case ExpectedRevision::Kind::kNoStream:
      w->set_expected_revision_20_6_0(UINT64_MAX);  // -1 as 20.6.0 clients read it
      w->mutable_expected_no_stream();
      break;
    case ExpectedRevision::Kind::kStreamExists:
      w->mutable_stream_exists_20_6_0();
      w->mutable_expected_stream_exists();
      break;
    case ExpectedRevision::Kind::kExact:
      w->set_expected_revision_20_6_0(c.expected.revision().value);
      w->set_expected_revision(c.expected.revision().value);
      break;
  }
  return grpc::Status::OK;
}

// Runs an append (or a metadata write) and calls `done` with the result, on a store thread
// or a worker: `done` must be cheap.
void RunAppend(const ServiceContext* sc, AppendRequest req,
               std::function<void(const AppendRequest&, Result<AppendResult>)> done) {
  if (auto target = MetadataTarget(req.stream)) {
    sc->workers->Post([sc, req = std::move(req), target = *target, done = std::move(done)] {
      done(req, AppendMetadata(sc->store, target, req));
    });
    return;
  }
  if (req.events.empty()) {
    sc->workers->Post([sc, req = std::move(req), done = std::move(done)] {
      done(req, CheckOnly(sc->store, req));
    });
    return;
  }
  auto shared = std::make_shared<AppendRequest>(std::move(req));
  sc->store->AppendAsync(*shared, [shared, done = std::move(done)](Result<AppendResult> r) {
    done(*shared, std::move(r));
  });
}

// Streams.Append: options, then proposed messages, then the client half-closes.
class AppendCall final : public grpc::ServerReadReactor<AppendReq> {
 public:
  AppendCall(const ServiceContext* sc, grpc::CallbackServerContext* ctx, AppendResp* resp)
      : sc_(sc), ctx_(ctx), resp_(resp) {
    StartRead(&msg_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      if (!have_options_) {
        Finish(Invalid("append options are missing"));
        return;
      }
      // The read loop ends on the client's half-close, and also when the call is cancelled or
      // its deadline passes (gRPC reports both alike, and IsCancelled() may not know yet). An
      // aborted call must write nothing, as KurrentDB, which reads the whole request before it
      // appends: the client would be told "cancelled" about a torn prefix of its append that it
      // could neither finish nor retry. So the initial metadata goes out first: the transport
      // refuses it once the stream is reset, and accepts it after a half-close.
      StartSendInitialMetadata();
      return;
    }
    if (msg_.has_options()) {
      if (have_options_) {
        Finish(Invalid("append options sent twice"));
        return;
      }
      have_options_ = true;
      req_.stream = StreamName(msg_.options().stream_identifier());
      const auto expected = ExpectedFromProto(msg_.options());
      if (!expected) {
        Finish(Invalid(kNoExpectedRevision));
        return;
      }
      req_.expected = *expected;
      const auto target = MetadataTarget(req_.stream);
      const Status allowed = target ? sc_->Authorize(*ctx_, Access::kMetadataWrite, *target)
                                    : sc_->Authorize(*ctx_, Access::kWrite, req_.stream);
      if (!allowed.ok()) {
        Finish(ToGrpc(allowed, req_.stream, ctx_, sc_->options->limits));
        return;
      }
    } else if (msg_.has_proposed_message()) {
      if (!have_options_) {
        Finish(Invalid("append options must come first"));
        return;
      }
      std::string missing;
      auto e = ProposedFromProto(std::move(*msg_.mutable_proposed_message()), &missing);
      if (!e.ok()) {
        if (!missing.empty()) {
          ctx_->AddTrailingMetadata("exception", "missing-required-metadata-property");
          ctx_->AddTrailingMetadata("required-metadata-properties", "type,content-type");
        }
        Finish(Invalid(e.status().message()));
        return;
      }
      bytes_ += e->data.size() + e->metadata.size();
      if (bytes_ > sc_->options->limits.max_append_bytes) {
        Finish(ToGrpc(Status(StatusCode::kTooLarge, "the append is over the size limit"),
                      req_.stream, ctx_, sc_->options->limits));
        return;
      }
      req_.events.push_back(std::move(*e));
    }
    StartRead(&msg_);
  }
  void OnSendInitialMetadataDone(bool ok) override {
    if (!ok) {
      Finish(std::chrono::system_clock::now() >= ctx_->deadline()
                 ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the deadline passed")
                 : grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
      return;
    }
    RunAppend(sc_, std::move(req_), [this](const AppendRequest& req, Result<AppendResult> r) {
      Finish(FillAppendResp(r, req, ctx_, sc_->options->limits, resp_));
    });
  }
  void OnDone() override { delete this; }

 private:
  const ServiceContext* sc_;
  grpc::CallbackServerContext* ctx_;
  AppendResp* resp_;
  AppendReq msg_;
  AppendRequest req_;
  bool have_options_ = false;
  uint64_t bytes_ = 0;
};

// Delete and Tombstone: the same options, the same answer.
template <class Req, class Resp>
grpc::ServerUnaryReactor* RunDelete(const ServiceContext* sc, grpc::CallbackServerContext* ctx,
                                    const Req* req, Resp* resp, DeleteMode mode) {
  auto* reactor = ctx->DefaultReactor();
  const std::string stream = StreamName(req->options().stream_identifier());
  const auto expected_or_none = ExpectedFromProto(req->options());
  if (!expected_or_none) {
    reactor->Finish(Invalid(kNoExpectedRevision));
    return reactor;
  }
  const ExpectedRevision expected = *expected_or_none;
  if (Status allowed = sc->Authorize(*ctx, Access::kDelete, stream); !allowed.ok()) {
    reactor->Finish(ToGrpc(allowed, stream, ctx, sc->options->limits));
    return reactor;
  }
  // Deletes write and sync: not on a gRPC thread.
  sc->workers->Post([sc, ctx, reactor, resp, stream, expected, mode] {
    auto r = sc->store->DeleteStream(stream, expected, mode);
    if (!r.ok()) {
      reactor->Finish(ToGrpc(r.status(), stream, ctx, sc->options->limits));
      return;
    }
    resp->mutable_position()->set_commit_position(r->position.value);
    resp->mutable_position()->set_prepare_position(r->position.value);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

// Streams.BatchAppend: requests multiplexed by correlation id; each id's messages accumulate
// until `is_final`, then append; answers are written in completion order.
class BatchAppendCall final : public grpc::ServerBidiReactor<BatchAppendReq, BatchAppendResp> {
 public:
  BatchAppendCall(const ServiceContext* sc, grpc::CallbackServerContext* ctx) : sc_(sc), ctx_(ctx) {
    StartRead(&msg_);
  }
  void OnReadDone(bool ok) override {
    std::lock_guard lock(mu_);
    if (!ok) {
      reading_done_ = true;
      MaybeFinishLocked();
      return;
    }
    const std::string key = msg_.correlation_id().SerializeAsString();
    Pending& p = pending_[key];
    // Every answer names its correlation id, errors too: the clients match answers by it.
    p.correlation = msg_.correlation_id();
    std::optional<Status> bad;
    if (msg_.has_options() && p.has_options) {
      bad = Status(StatusCode::kInvalidArgument, "options sent twice for one correlation id");
    } else if (msg_.has_options()) {
      p.has_options = true;
      p.deadline = DeadlineOf(msg_.options());
      p.req.stream = StreamName(msg_.options().stream_identifier());
      p.options = msg_.options();
      p.allowed = sc_->Authorize(*ctx_, Access::kWrite, p.req.stream);
      switch (msg_.options().expected_stream_position_case()) {
        case BatchAppendReq::Options::kStreamPosition:
          p.req.expected = ExpectedRevision::Exact(Revision{msg_.options().stream_position()});
          break;
        case BatchAppendReq::Options::kNoStream:
          p.req.expected = ExpectedRevision::NoStream();
          break;
        case BatchAppendReq::Options::kStreamExists:
          p.req.expected = ExpectedRevision::StreamExists();
          break;
        case BatchAppendReq::Options::kAny:
          p.req.expected = ExpectedRevision::Any();
          break;
        default:
          bad = Status(StatusCode::kInvalidArgument,
                       "options need an expected stream position: stream_position, no_stream, "
                       "any or stream_exists");
          break;
      }
    } else if (!p.has_options) {
      bad = Status(StatusCode::kInvalidArgument,
                   "the first message of a correlation id must carry its options");
    }
    if (!bad && !p.allowed.ok()) bad = p.allowed;
    for (auto& m : *msg_.mutable_proposed_messages()) {
      if (bad) break;
      std::string missing;
      auto e = ProposedFromProto(std::move(m), &missing);
      if (!e.ok()) {
        bad = e.status();
        break;
      }
      p.req.events.push_back(std::move(*e));
    }
    if (msg_.is_final() || bad) {
      Pending done = std::move(p);
      pending_.erase(key);
      ++in_flight_;
      if (!bad && done.deadline && std::chrono::system_clock::now() >= *done.deadline) {
        // As KurrentDB: an append whose deadline passed is answered with a Timeout (the
        // clients' DeadlineExceededError). It was never submitted: nothing is written.
        done.expired = true;
        bad =
            Status(StatusCode::kUnavailable, "the append's deadline passed before it was written");
      }
      if (bad) {
        CompleteLocked(done, Result<AppendResult>(*bad));
      } else {
        // The events go to the store; the answer needs the rest (the stream's name).
        auto shared = std::make_shared<Pending>(std::move(done));
        AppendRequest req = std::move(shared->req);
        shared->req.stream = req.stream;
        RunAppend(sc_, std::move(req),
                  [this, shared](const AppendRequest&, Result<AppendResult> r) {
                    std::lock_guard lock(mu_);
                    CompleteLocked(*shared, r);
                  });
      }
    }
    StartRead(&msg_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    out_.pop_front();
    if (!ok) {
      out_.clear();
      broken_ = true;
    }
    WriteNextLocked();
    MaybeFinishLocked();
  }
  void OnDone() override {
    // Finish may run OnDone on another thread while the caller still holds mu_: wait for it.
    { std::lock_guard lock(mu_); }
    delete this;
  }

 private:
  struct Pending {
    event_store::client::UUID correlation;
    bool has_options = false;
    BatchAppendReq::Options options;
    AppendRequest req;
    Status allowed;
    std::optional<std::chrono::system_clock::time_point> deadline;
    bool expired = false;  // refused because its deadline passed
  };

  // The options' deadline: a point in time (`deadline_21_10_0`, what the Node clients send) or a
  // duration from now (`deadline`); none when absent, or too far ahead for the clock's 64-bit
  // nanoseconds (year 2262; a client's "never" is often year 9999), which would wrap to the past.
  static std::optional<std::chrono::system_clock::time_point> DeadlineOf(
      const BatchAppendReq::Options& o) {
    using namespace std::chrono;
    constexpr int64_t kFarSeconds = 9'000'000'000;  // ~285 years, within 64-bit nanoseconds
    const auto clamp = [](int64_t s) { return std::max(s, -kFarSeconds); };
    switch (o.deadline_option_case()) {
      case BatchAppendReq::Options::kDeadline21100:
        if (o.deadline_21_10_0().seconds() >= kFarSeconds) return std::nullopt;
        return system_clock::time_point(
            duration_cast<system_clock::duration>(seconds(clamp(o.deadline_21_10_0().seconds())) +
                                                  nanoseconds(o.deadline_21_10_0().nanos())));
      case BatchAppendReq::Options::kDeadline:
        if (o.deadline().seconds() >= kFarSeconds / 2) return std::nullopt;
        return system_clock::now() +
               duration_cast<system_clock::duration>(seconds(clamp(o.deadline().seconds())) +
                                                     nanoseconds(o.deadline().nanos()));
      default:
        return std::nullopt;
    }
  }

  void CompleteLocked(const Pending& p, const Result<AppendResult>& r) {
    --in_flight_;
    BatchAppendResp resp;
    *resp.mutable_correlation_id() = p.correlation;
    SetStream(p.req.stream, resp.mutable_stream_identifier());
    if (r.ok()) {
      resp.mutable_success()->set_current_revision(r->last_revision.value);
      resp.mutable_success()->mutable_position()->set_commit_position(r->position.value);
      resp.mutable_success()->mutable_position()->set_prepare_position(r->position.value);
    } else {
      auto* err = resp.mutable_error();
      const Status& s = r.status();
      if (p.expired) {
        err->set_code(static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED));
        err->mutable_details()->PackFrom(event_store::client::Timeout());
      } else if (s.code() == StatusCode::kWrongExpectedRevision && s.conflict()) {
        // Clients read one detail: the specific one.
        err->set_code(static_cast<int>(grpc::StatusCode::ALREADY_EXISTS));
        event_store::client::WrongExpectedVersion w;
        if (s.conflict()->actual) {
          w.set_current_stream_revision(s.conflict()->actual->value);
        } else {
          w.mutable_current_no_stream();
        }
        const ExpectedRevision& e = s.conflict()->expected;
        if (e.kind() == ExpectedRevision::Kind::kExact) {
          w.set_expected_stream_position(e.revision().value);
        } else if (e.kind() == ExpectedRevision::Kind::kNoStream) {
          w.mutable_expected_no_stream();
        } else if (e.kind() == ExpectedRevision::Kind::kStreamExists) {
          w.mutable_expected_stream_exists();
        } else {
          w.mutable_expected_any();
        }
        err->mutable_details()->PackFrom(w);
      } else if (s.code() == StatusCode::kStreamDeleted) {
        err->set_code(static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
        event_store::client::StreamDeleted d;
        SetStream(p.req.stream, d.mutable_stream_identifier());
        err->mutable_details()->PackFrom(d);
      } else if (s.code() == StatusCode::kTooLarge) {
        err->set_code(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
        event_store::client::MaximumAppendSizeExceeded d;
        d.set_maxappendsize(static_cast<uint32_t>(
            std::min<uint64_t>(sc_->options->limits.max_append_bytes, UINT32_MAX)));
        err->mutable_details()->PackFrom(d);
      } else if (s.code() == StatusCode::kPermissionDenied ||
                 s.code() == StatusCode::kUnauthenticated) {
        err->set_code(static_cast<int>(s.code() == StatusCode::kUnauthenticated
                                           ? grpc::StatusCode::UNAUTHENTICATED
                                           : grpc::StatusCode::PERMISSION_DENIED));
        err->mutable_details()->PackFrom(event_store::client::AccessDenied());
      } else {
        err->set_code(
            static_cast<int>(ToGrpc(s, p.req.stream, nullptr, sc_->options->limits).error_code()));
        event_store::client::BadRequest d;
        d.set_message(s.message());
        err->mutable_details()->PackFrom(d);
      }
      err->set_message(s.message());
    }
    if (!broken_) out_.push_back(std::move(resp));
    WriteNextLocked();
    MaybeFinishLocked();
  }
  void WriteNextLocked() {
    if (writing_ || out_.empty() || finished_) return;
    writing_ = true;
    StartWrite(&out_.front());
  }
  void MaybeFinishLocked() {
    if (finished_ || !reading_done_ || in_flight_ > 0 || writing_ || !out_.empty()) return;
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  const ServiceContext* sc_;
  grpc::CallbackServerContext* ctx_;
  std::recursive_mutex mu_;
  BatchAppendReq msg_;
  std::map<std::string, Pending> pending_;
  std::deque<BatchAppendResp> out_;
  int in_flight_ = 0;
  bool writing_ = false;
  bool reading_done_ = false;
  bool broken_ = false;
  bool finished_ = false;
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* StreamsService::Read(grpc::CallbackServerContext* ctx,
                                                                 const grpc::ByteBuffer* request) {
  return NewReadCall(sc_, ctx, *request);
}

grpc::ServerReadReactor<AppendReq>* StreamsService::Append(grpc::CallbackServerContext* ctx,
                                                           AppendResp* resp) {
  return new AppendCall(sc_, ctx, resp);
}

grpc::ServerUnaryReactor* StreamsService::Delete(grpc::CallbackServerContext* ctx,
                                                 const spb::DeleteReq* req, spb::DeleteResp* resp) {
  return RunDelete(sc_, ctx, req, resp, DeleteMode::kSoft);
}

grpc::ServerUnaryReactor* StreamsService::Tombstone(grpc::CallbackServerContext* ctx,
                                                    const spb::TombstoneReq* req,
                                                    spb::TombstoneResp* resp) {
  return RunDelete(sc_, ctx, req, resp, DeleteMode::kTombstone);
}

grpc::ServerBidiReactor<BatchAppendReq, BatchAppendResp>* StreamsService::BatchAppend(
    grpc::CallbackServerContext* ctx) {
  return new BatchAppendCall(sc_, ctx);
}

}  // namespace annals::grpcapi
