// annals.client.v1.Reads: `$all` streamed with many events per message, for the C++ SDK
// (docs/grpc-api.md, "Annals extensions"). KurrentDB's Streams.Read stays one event a message.
#pragma once

#include "annals_reads.grpc.pb.h"
#include "api/grpc/service_context.h"

namespace annals::grpcapi {

namespace rpb = ::annals::client::v1;

// ReadAll is a raw method (raw_messages.h): it parses its ReadAllReq and sends messages encoded
// by the workers (grpcwire::ReadAllRespMessage).
class ReadsService final : public rpb::Reads::WithRawCallbackMethod_ReadAll<rpb::Reads::Service> {
 public:
  explicit ReadsService(const ServiceContext* sc) : sc_(sc) {}

  grpc::ServerWriteReactor<grpc::ByteBuffer>* ReadAll(grpc::CallbackServerContext* ctx,
                                                      const grpc::ByteBuffer* request) override;

 private:
  const ServiceContext* sc_;
};

}  // namespace annals::grpcapi
