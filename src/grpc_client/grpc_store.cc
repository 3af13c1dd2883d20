// The EventStore over KurrentDB's v1 gRPC protocol (include/annals/grpc_store.h).
#include "annals/grpc_store.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "annals/limits.h"
#include "annals_catalog.grpc.pb.h"
#include "annals_reads.pb.h"
#include "api/grpc/wire/event_wire.h"
#include "api/grpc/wire/read_message_decoder.h"
#include "core/base64.h"
#include "core/event_filter_matcher.h"
#include "core/stream_metadata_codec.h"
#include "core/threaded_head_watches.h"
#include "grpc_client/grpc_status.h"
#include "grpc_client/raw_server_stream.h"
#include "serverfeatures.grpc.pb.h"
#include "streams.grpc.pb.h"

namespace annals {
namespace grpcclient {
namespace {

namespace spb = ::event_store::client::streams;
namespace cpb = ::annals::client::v1;
namespace fpb = ::event_store::client::server_features;
using grpcwire::ProposedToProto;
using grpcwire::RecordedFromProto;
using grpcwire::SetStream;
using ReadOptions = spb::ReadReq::Options;

// Events asked for by one read call; a larger max_count is answered by a shorter page (with
// its `next`), as the REST store does.
constexpr uint64_t kMaxPage = 10000;
// Reads called through the generic stub, their answers decoded from their bytes.
const char* const kReadMethod = "/event_store.client.streams.Streams/Read";
const char* const kReadAllMethod = "/annals.client.v1.Reads/ReadAll";
// How long one wait on a `$all` subscription lasts before the head is checked again.
constexpr auto kWaitSlice = std::chrono::milliseconds(500);

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kInvalidArgument, "cannot read tlsCAFile '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const GrpcEndpoint& ep) {
  if (!ep.tls) return grpc::InsecureChannelCredentials();
  std::string roots;
  if (!ep.ca_file.empty()) {
    auto pem = ReadFile(ep.ca_file);
    if (!pem.ok()) return pem.status();
    roots = std::move(*pem);
  }
  if (ep.verify_cert) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = std::move(roots);
    return grpc::SslCredentials(options);
  }
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_verify_server_certs(false);
  options.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  options.set_check_call_host(false);
  return grpc::experimental::TlsCredentials(options);
}

// A read of `$all` or of a stream, whole: every message until the server ends the call.
struct ReadOutcome {
  std::vector<RecordedEvent> events;
  bool stream_not_found = false;
  std::map<std::string, std::string> trailers;  // Annals' (docs/grpc-api.md)
};

class GrpcStore final : public EventStore {
 public:
  GrpcStore(GrpcEndpoint ep, std::shared_ptr<grpc::Channel> channel)
      : ep_(std::move(ep)),
        channel_(std::move(channel)),
        streams_(spb::Streams::NewStub(channel_)),
        catalog_(cpb::Catalog::NewStub(channel_)),
        generic_(channel_) {
    if (!ep_.username.empty()) {
      authorization_ = "Basic " + Base64Encode(ep_.username + ":" + ep_.password);
    }
  }

  ~GrpcStore() override {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      for (grpc::ClientContext* ctx : waits_) ctx->TryCancel();
    }
    watches_.Close();
    // Async appends hold `this` until their completion ran.
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
  }

  // Asks the server what it offers; kUnavailable when it does not answer.
  Status Connect() {
    auto features = fpb::ServerFeatures::NewStub(channel_);
    grpc::ClientContext ctx;
    Prepare(&ctx);
    fpb::SupportedMethods methods;
    grpc::Status st = features->GetSupportedMethods(&ctx, event_store::client::Empty(), &methods);
    if (st.error_code() == grpc::StatusCode::UNIMPLEMENTED) return Status::Ok();  // old servers
    if (!st.ok()) return FromGrpc(st, ctx, "");
    if (!ep_.annals_extensions) return Status::Ok();  // behave as against other servers
    for (const auto& m : methods.methods()) {
      if (m.service_name() == "annals.client.v1.catalog") has_catalog_ = true;
      if (m.service_name() == "annals.client.v1.reads") has_reads_ = true;
    }
    return Status::Ok();
  }

  Result<AppendResult> Append(const AppendRequest& request) override {
    std::promise<Result<AppendResult>> promise;
    auto future = promise.get_future();
    AppendAsync(request, [&promise](Result<AppendResult> r) { promise.set_value(std::move(r)); });
    return future.get();
  }

  void AppendAsync(AppendRequest request, std::function<void(Result<AppendResult>)> done) override {
    if (request.system_writer) {
      done(Status(StatusCode::kPermissionDenied,
                  "system_writer appends are not served over the gRPC API"));
      return;
    }
    // The protocol can send an append of no events (it only checks the expectation); the
    // interface refuses it as the engine does.
    if (request.events.empty()) {
      done(ValidateAppend(request, Limits()));
      return;
    }
    {
      std::lock_guard lock(mu_);
      ++in_flight_;
    }
    new AppendCall(this, std::move(request), std::move(done));
  }

  Result<ReadStreamResult> ReadStream(const ReadStreamRequest& request) override {
    if (request.max_count == 0) {
      return Status(StatusCode::kInvalidArgument, "max_count must be at least 1");
    }
    const uint64_t page = std::min(request.max_count, kMaxPage);
    spb::ReadReq req;
    ReadOptions& o = *req.mutable_options();
    SetStream(request.stream, o.mutable_stream()->mutable_stream_identifier());
    if (request.from) {
      o.mutable_stream()->set_revision(request.from->value);
    } else if (request.direction == Direction::kForwards) {
      o.mutable_stream()->mutable_start();
    } else {
      o.mutable_stream()->mutable_end();
    }
    o.set_read_direction(request.direction == Direction::kForwards ? ReadOptions::Forwards
                                                                   : ReadOptions::Backwards);
    // One more than asked for: that one is `next`, the first event that did not fit.
    o.set_count(page + 1);
    o.mutable_no_filter();
    o.mutable_uuid_option()->mutable_string();
    auto out = Read(req, request.stream);
    if (!out.ok()) return out.status();
    if (out->stream_not_found) {
      return Status(StatusCode::kNotFound, "stream '" + request.stream + "' does not exist");
    }
    ReadStreamResult result;
    result.events = std::move(out->events);
    if (result.events.size() > page) {
      result.next = result.events[page].revision;
      result.events.resize(page);
    }
    if (auto it = out->trailers.find("annals-last-revision"); it != out->trailers.end()) {
      result.last_revision = Revision{std::strtoull(it->second.c_str(), nullptr, 10)};
    } else {
      auto last = LastRevision(request.stream);
      if (!last.ok()) return last.status();
      result.last_revision = *last;
    }
    return result;
  }

  Result<ReadAllResult> ReadAll(const ReadAllRequest& request) override {
    if (request.max_count == 0) {
      return Status(StatusCode::kInvalidArgument, "max_count must be at least 1");
    }
    if (has_reads_) return ReadAllBatched(request);
    auto matcher = EventFilterMatcher::Compile(request.filter);
    if (!matcher.ok()) return matcher.status();
    const bool forwards = request.direction == Direction::kForwards;
    const uint64_t page = std::min(request.max_count, kMaxPage);
    ReadAllResult result;
    Position from = request.from;
    // A continuation starts at the last event already examined: forwards, reads include
    // `from`, so that one event is skipped (positions of other servers are not arithmetic).
    std::optional<Position> skip;
    while (true) {
      spb::ReadReq req;
      ReadOptions& o = *req.mutable_options();
      if (forwards && from == Position::Start()) {
        o.mutable_all()->mutable_start();
      } else if (!forwards && from == Position::End()) {
        o.mutable_all()->mutable_end();
      } else {
        o.mutable_all()->mutable_position()->set_commit_position(from.value);
        o.mutable_all()->mutable_position()->set_prepare_position(from.value);
      }
      o.set_read_direction(forwards ? ReadOptions::Forwards : ReadOptions::Backwards);
      const uint64_t asked = page + 1 - result.events.size() + (skip ? 1 : 0);
      o.set_count(asked);
      if (!ServerFilter(request.filter, o.mutable_filter())) o.mutable_no_filter();
      o.mutable_uuid_option()->mutable_string();
      auto out = Read(req, "$all");
      if (!out.ok()) return out.status();
      const bool server_end = out->events.size() < asked;
      for (RecordedEvent& e : out->events) {
        if (skip && e.position == *skip) continue;
        if (matcher->Matches(e.stream, e.type)) result.events.push_back(std::move(e));
      }
      if (result.events.size() > page) {
        // The one past the page says where to continue: forwards it is the next to read,
        // backwards reads stop below the last one returned.
        result.next = forwards ? result.events[page].position : result.events[page - 1].position;
        result.events.resize(page);
        return result;
      }
      if (server_end) {
        result.end_of_log = true;
        if (!forwards) {
          result.next = result.events.empty() ? Position::Start() : result.events.back().position;
        } else if (auto it = out->trailers.find("annals-next-position");
                   it != out->trailers.end()) {
          result.next = Position{std::strtoull(it->second.c_str(), nullptr, 10)};
        } else if (!out->events.empty()) {
          result.next = Position{out->events.back().position.value + 1};
        } else {
          result.next = skip ? Position{skip->value + 1} : from;
        }
        return result;
      }
      // The server's narrower filter let through events this one refused: read on.
      from = out->events.back().position;
      skip = forwards ? std::optional<Position>(from) : std::nullopt;
    }
  }

  Result<StreamInfo> GetStreamInfo(const std::string& stream) override {
    ANNALS_RETURN_IF_ERROR(NeedCatalog("GetStreamInfo"));
    grpc::ClientContext ctx;
    Prepare(&ctx);
    cpb::StreamInfoReq req;
    SetStream(stream, req.mutable_stream_identifier());
    cpb::StreamInfo resp;
    grpc::Status st = catalog_->GetStreamInfo(&ctx, req, &resp);
    if (!st.ok()) return FromGrpc(st, ctx, stream);
    return InfoFromProto(resp);
  }

  Result<ListStreamsResult> ListStreams(const ListStreamsRequest& request) override {
    ANNALS_RETURN_IF_ERROR(NeedCatalog("ListStreams"));
    if (request.limit == 0) return Status(StatusCode::kInvalidArgument, "limit must be at least 1");
    grpc::ClientContext ctx;
    Prepare(&ctx);
    cpb::ListStreamsReq req;
    req.set_prefix(request.prefix);
    req.set_after(request.after);
    // The server's largest page; a shorter page still says where to continue.
    req.set_limit(std::min<uint64_t>(request.limit, 1000));
    req.set_include_system(request.include_system);
    cpb::ListStreamsResp resp;
    grpc::Status st = catalog_->ListStreams(&ctx, req, &resp);
    if (!st.ok()) return FromGrpc(st, ctx, "");
    ListStreamsResult result;
    for (const auto& s : resp.streams()) result.streams.push_back(InfoFromProto(s));
    result.next_after = resp.next_after();
    return result;
  }

  Result<StreamMetadataResult> GetStreamMetadata(const std::string& stream) override {
    auto read = ReadStream({.stream = MetadataStreamOf(stream),
                            .from = std::nullopt,
                            .direction = Direction::kBackwards,
                            .max_count = 1});
    if (!read.ok()) {
      if (read.status().code() == StatusCode::kNotFound) return StreamMetadataResult{};
      return read.status();
    }
    if (read->events.empty()) return StreamMetadataResult{};
    auto metadata = ParseStreamMetadataJson(read->events[0].data);
    if (!metadata.ok()) return metadata.status();
    return StreamMetadataResult{*metadata, read->events[0].revision};
  }

  Result<AppendResult> SetStreamMetadata(const std::string& stream, ExpectedRevision expected,
                                         const StreamMetadata& metadata) override {
    AppendRequest request;
    request.stream = MetadataStreamOf(stream);
    request.expected = expected;
    ProposedEvent e;
    e.type = std::string(kMetadataEventType);
    e.data = StreamMetadataToJson(metadata);
    request.events.push_back(std::move(e));
    return Append(request);
  }

  Result<DeleteResult> DeleteStream(const std::string& stream, ExpectedRevision expected,
                                    DeleteMode mode) override {
    spb::DeleteOptions options;
    SetStream(stream, options.mutable_stream_identifier());
    SetExpected(expected, &options);
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status st;
    const spb::Position* position = nullptr;
    spb::DeleteResp deleted;
    spb::TombstoneResp tombstoned;
    if (mode == DeleteMode::kSoft) {
      spb::DeleteReq req;
      *req.mutable_options() = options;
      st = streams_->Delete(&ctx, req, &deleted);
      if (deleted.has_position()) position = &deleted.position();
    } else {
      spb::TombstoneReq req;
      *req.mutable_options() = options;
      st = streams_->Tombstone(&ctx, req, &tombstoned);
      if (tombstoned.has_position()) position = &tombstoned.position();
    }
    if (!st.ok()) return FromGrpc(st, ctx, stream);
    return DeleteResult{Position{position ? position->commit_position() : 0}};
  }

  Position Head() const override {
    if (has_catalog_) {
      grpc::ClientContext ctx;
      Prepare(&ctx);
      cpb::HeadResp resp;
      if (catalog_->Head(&ctx, event_store::client::Empty(), &resp).ok()) {
        return Position{resp.position()};
      }
      return Position::Start();
    }
    // Other servers: one past the last event's position (positions are not contiguous there,
    // but a later event is always past it).
    spb::ReadReq req;
    ReadOptions& o = *req.mutable_options();
    o.mutable_all()->mutable_end();
    o.set_read_direction(ReadOptions::Backwards);
    o.set_count(1);
    o.mutable_no_filter();
    o.mutable_uuid_option()->mutable_string();
    auto out = const_cast<GrpcStore*>(this)->Read(req, "$all");
    if (!out.ok() || out->events.empty()) return Position::Start();
    return Position{out->events[0].position.value + 1};
  }

  Position WaitForHead(Position after, std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      Position head = Head();
      if (head > after || Closing()) return head;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return head;
      head = WaitOnSubscription(after, std::min(deadline, now + kWaitSlice));
      if (head > after) return head;
    }
  }

  uint64_t WatchHead(Position after, CommitCallback callback) override {
    return watches_.Watch(after, std::move(callback));
  }

  void CancelHeadWatch(uint64_t id) override { watches_.Cancel(id); }

 private:
  // Streams.Append: the options, then each event, the last one half-closing the call.
  class AppendCall final : public grpc::ClientWriteReactor<spb::AppendReq> {
   public:
    AppendCall(GrpcStore* store, AppendRequest request,
               std::function<void(Result<AppendResult>)> done)
        : store_(store), request_(std::move(request)), done_(std::move(done)) {
      messages_.resize(request_.events.size() + 1);
      auto* options = messages_[0].mutable_options();
      SetStream(request_.stream, options->mutable_stream_identifier());
      SetExpected(request_.expected, options);
      for (size_t i = 0; i < request_.events.size(); ++i) {
        const ProposedEvent& e = request_.events[i];
        ProposedToProto(e, e.id.value_or(Uuid::Random()),
                        messages_[i + 1].mutable_proposed_message());
      }
      // The deadline grows with the append: a message per event, each written in turn.
      uint64_t bytes = 0;
      for (const ProposedEvent& e : request_.events) bytes += e.data.size() + e.metadata.size();
      store_->Prepare(&ctx_, std::chrono::milliseconds(request_.events.size() + bytes / 10000));
      store_->streams_->async()->Append(&ctx_, &resp_, this);
      WriteNext();
      StartCall();
    }
    void OnWriteDone(bool ok) override {
      if (ok && next_ < messages_.size()) WriteNext();
      // Not ok: the call failed; OnDone follows with its status.
    }
    void OnDone(const grpc::Status& status) override {
      GrpcStore* store = store_;
      done_(store->AppendOutcome(status, ctx_, resp_, request_));
      delete this;
      std::lock_guard lock(store->mu_);
      --store->in_flight_;
      store->cv_.notify_all();
    }

   private:
    void WriteNext() {
      const size_t i = next_++;
      if (next_ == messages_.size()) {
        StartWriteLast(&messages_[i], grpc::WriteOptions());
      } else {
        StartWrite(&messages_[i]);
      }
    }
    GrpcStore* store_;
    AppendRequest request_;
    std::function<void(Result<AppendResult>)> done_;
    std::vector<spb::AppendReq> messages_;
    size_t next_ = 0;
    grpc::ClientContext ctx_;
    spb::AppendResp resp_;
  };

  template <class Options>
  static void SetExpected(const ExpectedRevision& e, Options* o) {
    switch (e.kind()) {
      case ExpectedRevision::Kind::kAny:
        o->mutable_any();
        break;
      case ExpectedRevision::Kind::kNoStream:
        o->mutable_no_stream();
        break;
      case ExpectedRevision::Kind::kStreamExists:
        o->mutable_stream_exists();
        break;
      case ExpectedRevision::Kind::kExact:
        o->set_revision(e.revision().value);
        break;
    }
  }

  Result<AppendResult> AppendOutcome(const grpc::Status& status, const grpc::ClientContext& ctx,
                                     const spb::AppendResp& resp, const AppendRequest& request) {
    if (!status.ok()) return FromGrpc(status, ctx, request.stream);
    if (resp.has_wrong_expected_version()) {
      const auto& w = resp.wrong_expected_version();
      RevisionConflict c{.expected = request.expected, .actual = std::nullopt};
      if (w.current_revision_option_case() ==
          spb::AppendResp::WrongExpectedVersion::kCurrentRevision) {
        c.actual = Revision{w.current_revision()};
      }
      return Status::WrongRevision(request.stream, c);
    }
    if (!resp.has_success() || !resp.success().has_current_revision()) {
      return Status(StatusCode::kInternal, "the server answered an append without a revision");
    }
    const auto& ok = resp.success();
    AppendResult r;
    r.last_revision = Revision{ok.current_revision()};
    r.first_revision = Revision{ok.current_revision() + 1 - request.events.size()};
    r.position = Position{ok.has_position() ? ok.position().commit_position() : 0};
    r.idempotent = ep_.annals_extensions && Trailer(ctx, "annals-idempotent") == "true";
    return r;
  }

  // `extra`: more time for a call that carries much (one message per event of an append).
  void Prepare(grpc::ClientContext* ctx,
               std::chrono::milliseconds extra = std::chrono::milliseconds(0)) const {
    ctx->set_deadline(std::chrono::system_clock::now() + ep_.deadline + extra);
    if (!authorization_.empty()) ctx->AddMetadata("authorization", authorization_);
  }

  // One read call, whole. The deadline covers the call; a read is bounded by its count.
  Result<ReadOutcome> Read(const spb::ReadReq& req, const std::string& stream) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    ReadOutcome out;
    // Raw messages: each event's is decoded straight into a RecordedEvent; any other message
    // (and one the fast path declines) is parsed by protobuf (read_message_decoder.h).
    RawServerStream reader(&generic_, &ctx, kReadMethod, req);
    grpc::ByteBuffer buffer;
    Status decode = Status::Ok();
    while (decode.ok() && reader.Read(&buffer)) {
      {
        grpc::ProtoBufferReader bytes(&buffer);
        RecordedEvent event;
        if (grpcwire::DecodeReadRespEvent(&bytes, &event)) {
          out.events.push_back(std::move(event));
          continue;
        }
      }
      spb::ReadResp resp;
      if (!grpc::GenericDeserialize<grpc::ProtoBufferReader, spb::ReadResp>(&buffer, &resp).ok()) {
        decode = Status(StatusCode::kInternal, "the server sent a ReadResp that does not parse");
      } else if (resp.has_event()) {
        auto e = RecordedFromProto(resp.event().event());
        if (e.ok()) {
          out.events.push_back(std::move(e).value());
        } else {
          decode = e.status();
        }
      } else if (resp.has_stream_not_found()) {
        out.stream_not_found = true;
      }
      if (!decode.ok()) ctx.TryCancel();  // the rest is of no use
    }
    grpc::Status st = reader.Finish();
    if (!decode.ok()) return decode;
    if (!st.ok()) return FromGrpc(st, ctx, stream);
    for (const auto& [key, value] : ctx.GetServerTrailingMetadata()) {
      if (ep_.annals_extensions && key.starts_with("annals-")) {
        out.trailers.emplace(std::string(key.data(), key.size()),
                             std::string(value.data(), value.size()));
      }
    }
    return out;
  }

  // ReadAll through annals.client.v1.Reads: the whole filter and max_scan are the server's,
  // and many events come per message.
  Result<ReadAllResult> ReadAllBatched(const ReadAllRequest& request) {
    cpb::ReadAllReq req;
    req.set_from_position(request.from.value);
    req.set_backwards(request.direction == Direction::kBackwards);
    req.set_from_end(request.direction == Direction::kBackwards && request.from == Position::End());
    req.set_max_count(std::min(request.max_count, kMaxPage));
    req.set_max_scan(request.max_scan);
    const EventFilter& f = request.filter;
    cpb::EventFilter& filter = *req.mutable_filter();
    for (const auto& p : f.stream_prefixes) filter.add_stream_prefixes(p);
    filter.set_category(f.category);
    for (const auto& t : f.event_types) filter.add_event_types(t);
    for (const auto& p : f.type_prefixes) filter.add_type_prefixes(p);
    filter.set_type_regex(f.type_regex);
    filter.set_stream_regex(f.stream_regex);
    filter.set_exclude_system_events(f.exclude_system_events);
    grpc::ClientContext ctx;
    Prepare(&ctx);
    // Raw messages decoded straight into the result's events (read_message_decoder.h).
    RawServerStream reader(&generic_, &ctx, kReadAllMethod, req);
    ReadAllResult result;
    Status decode = Status::Ok();
    bool last = false;
    grpc::ByteBuffer buffer;
    while (reader.Read(&buffer)) {
      grpc::ProtoBufferReader bytes(&buffer);
      grpcwire::ReadAllRespTail tail;
      decode = grpcwire::DecodeReadAllResp(&bytes, &result.events, &tail);
      if (!decode.ok()) {
        ctx.TryCancel();  // the rest is of no use
        break;
      }
      if (tail.last) {
        last = true;
        result.next = Position{tail.next_position};
        result.end_of_log = tail.end_of_log;
      }
    }
    grpc::Status st = reader.Finish();
    if (!decode.ok()) return decode;
    if (!st.ok()) return FromGrpc(st, ctx, "$all");
    if (!last)
      return Status(StatusCode::kInternal, "the read of $all ended without its last message");
    return result;
  }

  // The stream's last revision, for servers that do not send it with a read.
  Result<Revision> LastRevision(const std::string& stream) {
    spb::ReadReq req;
    ReadOptions& o = *req.mutable_options();
    SetStream(stream, o.mutable_stream()->mutable_stream_identifier());
    o.mutable_stream()->mutable_end();
    o.set_read_direction(ReadOptions::Backwards);
    o.set_count(1);
    o.mutable_no_filter();
    o.mutable_uuid_option()->mutable_string();
    auto out = Read(req, stream);
    if (!out.ok()) return out.status();
    if (out->events.empty()) {
      return Status(StatusCode::kNotFound, "stream '" + stream + "' does not exist");
    }
    return out->events[0].revision;
  }

  // The part of `f` KurrentDB's filter can say (one expression, on streams or on types);
  // ReadAll re-applies the whole filter to what comes back. False: no server filter.
  static bool ServerFilter(const EventFilter& f, ReadOptions::FilterOptions* out) {
    ReadOptions::FilterOptions::Expression* x = nullptr;
    if (!f.stream_prefixes.empty() && f.category.empty()) {
      x = out->mutable_stream_identifier();
      for (const auto& p : f.stream_prefixes) x->add_prefix(p);
    } else if (!f.category.empty()) {
      x = out->mutable_stream_identifier();
      x->add_prefix(f.category);  // also `<category>x-...`: refused again here
    } else if (!f.event_types.empty() || !f.type_prefixes.empty()) {
      x = out->mutable_event_type();
      for (const auto& t : f.event_types) x->add_prefix(t);
      for (const auto& p : f.type_prefixes) x->add_prefix(p);
    } else if (!f.type_regex.empty()) {
      x = out->mutable_event_type();
      x->set_regex(f.type_regex);
    } else if (!f.stream_regex.empty()) {
      x = out->mutable_stream_identifier();
      x->set_regex(f.stream_regex);
    } else {
      return false;
    }
    out->mutable_count();
    out->set_checkpointintervalmultiplier(1);
    return true;
  }

  Status NeedCatalog(const char* what) const {
    if (has_catalog_) return Status::Ok();
    return Status(StatusCode::kUnimplemented,
                  std::string(what) + ": the server has no stream catalog over gRPC");
  }

  static StreamInfo InfoFromProto(const cpb::StreamInfo& s) {
    StreamInfo info;
    info.name = s.stream_identifier().stream_name();
    switch (s.state()) {
      case cpb::StreamInfo::SOFT_DELETED:
        info.state = StreamState::kSoftDeleted;
        break;
      case cpb::StreamInfo::TOMBSTONED:
        info.state = StreamState::kTombstoned;
        break;
      default:
        info.state = StreamState::kActive;
        break;
    }
    if (s.has_last_revision()) info.last_revision = Revision{s.last_revision()};
    info.event_count = s.event_count();
    info.last_position = Position{s.last_position()};
    info.created = Timestamp{s.created_ticks()};
    info.last_updated = Timestamp{s.last_updated_ticks()};
    return info;
  }

  bool Closing() {
    std::lock_guard lock(mu_);
    return closing_;
  }

  // Subscribes to `$all` from its end and returns once an event arrives after the
  // subscription caught up and the head is past `after`, or at `until`. Race-free: what
  // committed before the subscription caught up is seen by the Head() after `caught_up`.
  Position WaitOnSubscription(Position after, std::chrono::steady_clock::time_point until) {
    grpc::ClientContext ctx;
    if (!authorization_.empty()) ctx.AddMetadata("authorization", authorization_);
    ctx.set_deadline(std::chrono::system_clock::now() + (until - std::chrono::steady_clock::now()));
    {
      std::lock_guard lock(mu_);
      if (closing_) return Head();
      waits_.insert(&ctx);
    }
    spb::ReadReq req;
    ReadOptions& o = *req.mutable_options();
    o.mutable_all()->mutable_end();
    o.set_read_direction(ReadOptions::Forwards);
    o.mutable_subscription();
    o.mutable_no_filter();
    o.mutable_uuid_option()->mutable_string();
    auto reader = streams_->Read(&ctx, req);
    spb::ReadResp resp;
    Position head = Position::Start();
    while (reader->Read(&resp)) {
      if (resp.has_caught_up() || resp.has_event()) {
        head = Head();
        if (head > after) break;
      }
    }
    ctx.TryCancel();
    reader->Finish();
    std::lock_guard lock(mu_);
    waits_.erase(&ctx);
    return head;
  }

  const GrpcEndpoint ep_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<spb::Streams::Stub> streams_;
  std::unique_ptr<cpb::Catalog::Stub> catalog_;
  std::string authorization_;
  grpc::GenericStub generic_;  // calls whose answers are decoded without protobuf objects
  bool has_catalog_ = false;   // set once by Connect()
  bool has_reads_ = false;     // likewise

  std::mutex mu_;
  std::condition_variable cv_;
  bool closing_ = false;
  uint64_t in_flight_ = 0;  // async appends
  std::set<grpc::ClientContext*> waits_;
  ThreadedHeadWatches watches_{[this](Position after, std::chrono::milliseconds timeout) {
                                 return WaitForHead(after, timeout);
                               },
                               kWaitSlice};
};

}  // namespace
}  // namespace grpcclient

Result<std::unique_ptr<EventStore>> ConnectGrpc(const GrpcStoreOptions& options) {
  auto ep = ParseGrpcConnectionString(options.connection_string);
  if (!ep.ok()) return ep.status();
  auto credentials = grpcclient::Credentials(*ep);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  // Events up to the server's limits (16 MiB by default, a read page of many): no 4 MiB cap.
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // A subscription may be idle for long: keep the connection known to be alive.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  const std::string target = ep->host + ":" + std::to_string(ep->port);
  auto channel = grpc::CreateCustomChannel(target, *credentials, args);
  auto store = std::make_unique<grpcclient::GrpcStore>(*ep, std::move(channel));
  ANNALS_RETURN_IF_ERROR(store->Connect());
  return std::unique_ptr<EventStore>(std::move(store));
}

}  // namespace annals
