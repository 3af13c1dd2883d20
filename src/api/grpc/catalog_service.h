// annals.client.v1.Catalog: the stream catalog and the head of the log, which KurrentDB's v1
// protocol has no message for (docs/grpc-api.md, "Annals extensions").
#pragma once

#include "annals_catalog.grpc.pb.h"
#include "api/grpc/service_context.h"

namespace annals::grpcapi {

namespace cpb = ::annals::client::v1;

class CatalogService final : public cpb::Catalog::CallbackService {
 public:
  explicit CatalogService(const ServiceContext* sc) : sc_(sc) {}

  grpc::ServerUnaryReactor* Head(grpc::CallbackServerContext* ctx,
                                 const event_store::client::Empty* req,
                                 cpb::HeadResp* resp) override;
  grpc::ServerUnaryReactor* GetStreamInfo(grpc::CallbackServerContext* ctx,
                                          const cpb::StreamInfoReq* req,
                                          cpb::StreamInfo* resp) override;
  grpc::ServerUnaryReactor* ListStreams(grpc::CallbackServerContext* ctx,
                                        const cpb::ListStreamsReq* req,
                                        cpb::ListStreamsResp* resp) override;

 private:
  const ServiceContext* sc_;
};

}  // namespace annals::grpcapi
