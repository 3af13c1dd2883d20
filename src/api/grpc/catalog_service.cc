#include "api/grpc/catalog_service.h"

#include "api/grpc/convert.h"

namespace annals::grpcapi {

namespace {

// The REST API's page sizes (docs/http-api.md), so both APIs page the catalog alike.
constexpr uint64_t kDefaultPage = 100;
constexpr uint64_t kMaxPage = 1000;

void InfoToProto(const StreamInfo& info, cpb::StreamInfo* out) {
  SetStream(info.name, out->mutable_stream_identifier());
  switch (info.state) {
    case StreamState::kActive:
      out->set_state(cpb::StreamInfo::ACTIVE);
      break;
    case StreamState::kSoftDeleted:
      out->set_state(cpb::StreamInfo::SOFT_DELETED);
      break;
    case StreamState::kTombstoned:
      out->set_state(cpb::StreamInfo::TOMBSTONED);
      break;
  }
  if (info.last_revision) out->set_last_revision(info.last_revision->value);
  out->set_event_count(info.event_count);
  out->set_last_position(info.last_position.value);
  out->set_created_ticks(info.created.ticks);
  out->set_last_updated_ticks(info.last_updated.ticks);
}

}  // namespace

grpc::ServerUnaryReactor* CatalogService::Head(grpc::CallbackServerContext* ctx,
                                               const event_store::client::Empty*,
                                               cpb::HeadResp* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (Status allowed = sc_->Authorize(*ctx, Access::kRead, ""); !allowed.ok()) {
    reactor->Finish(ToGrpc(allowed, "$all", ctx, sc_->options->limits));
    return reactor;
  }
  resp->set_position(sc_->store->Head().value);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* CatalogService::GetStreamInfo(grpc::CallbackServerContext* ctx,
                                                        const cpb::StreamInfoReq* req,
                                                        cpb::StreamInfo* resp) {
  auto* reactor = ctx->DefaultReactor();
  const std::string stream = StreamName(req->stream_identifier());
  if (stream.empty()) {
    reactor->Finish(Invalid("the stream name is empty"));
    return reactor;
  }
  if (Status allowed = sc_->Authorize(*ctx, Access::kRead, stream); !allowed.ok()) {
    reactor->Finish(ToGrpc(allowed, stream, ctx, sc_->options->limits));
    return reactor;
  }
  // A store read: off the gRPC thread.
  sc_->workers->Post([sc = sc_, ctx, reactor, resp, stream] {
    auto info = sc->store->GetStreamInfo(stream);
    if (!info.ok()) {
      reactor->Finish(ToGrpc(info.status(), stream, ctx, sc->options->limits));
      return;
    }
    InfoToProto(*info, resp);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* CatalogService::ListStreams(grpc::CallbackServerContext* ctx,
                                                      const cpb::ListStreamsReq* req,
                                                      cpb::ListStreamsResp* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (Status allowed = sc_->Authorize(*ctx, Access::kRead, ""); !allowed.ok()) {
    reactor->Finish(ToGrpc(allowed, "$all", ctx, sc_->options->limits));
    return reactor;
  }
  if (req->limit() > kMaxPage) {
    reactor->Finish(Invalid("limit is over " + std::to_string(kMaxPage)));
    return reactor;
  }
  ListStreamsRequest r;
  r.prefix = req->prefix();
  r.after = req->after();
  r.limit = req->limit() == 0 ? kDefaultPage : req->limit();
  r.include_system = req->include_system();
  sc_->workers->Post([sc = sc_, ctx, reactor, resp, r = std::move(r)] {
    auto page = sc->store->ListStreams(r);
    if (!page.ok()) {
      reactor->Finish(ToGrpc(page.status(), "", ctx, sc->options->limits));
      return;
    }
    for (const StreamInfo& info : page->streams) InfoToProto(info, resp->add_streams());
    resp->set_next_after(page->next_after);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace annals::grpcapi
