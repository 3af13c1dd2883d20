// annals.client.v1.Reads: `$all` streamed with many events per message, for the C++ SDK
// (docs/grpc-api.md, "Annals extensions"). KurrentDB's Streams.Read stays one event a message.
#pragma once

#include "annals_reads.grpc.pb.h"
#include "api/grpc/service_context.h"

namespace annals::grpcapi {

namespace rpb = ::annals::client::v1;

class ReadsService final : public rpb::Reads::CallbackService {
 public:
  explicit ReadsService(const ServiceContext* sc) : sc_(sc) {}

  grpc::ServerWriteReactor<rpb::ReadAllResp>* ReadAll(grpc::CallbackServerContext* ctx,
                                                      const rpb::ReadAllReq* req) override;

 private:
  const ServiceContext* sc_;
};

}  // namespace annals::grpcapi
