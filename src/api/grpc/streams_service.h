// event_store.client.streams.Streams over an EventStore (docs/grpc-api.md, "Streams").
#pragma once

#include "api/grpc/service_context.h"
#include "streams.grpc.pb.h"

namespace annals::grpcapi {

// Read is a raw method (read_call.h); the others take and give messages.
using StreamsServiceBase = event_store::client::streams::Streams::WithRawCallbackMethod_Read<
    event_store::client::streams::Streams::WithCallbackMethod_Append<
        event_store::client::streams::Streams::WithCallbackMethod_Delete<
            event_store::client::streams::Streams::WithCallbackMethod_Tombstone<
                event_store::client::streams::Streams::WithCallbackMethod_BatchAppend<
                    event_store::client::streams::Streams::Service>>>>>;

class StreamsService final : public StreamsServiceBase {
 public:
  explicit StreamsService(const ServiceContext* sc) : sc_(sc) {}

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Read(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request) override;
  grpc::ServerReadReactor<event_store::client::streams::AppendReq>* Append(
      grpc::CallbackServerContext* ctx, event_store::client::streams::AppendResp* resp) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const event_store::client::streams::DeleteReq* req,
                                   event_store::client::streams::DeleteResp* resp) override;
  grpc::ServerUnaryReactor* Tombstone(grpc::CallbackServerContext* ctx,
                                      const event_store::client::streams::TombstoneReq* req,
                                      event_store::client::streams::TombstoneResp* resp) override;
  grpc::ServerBidiReactor<event_store::client::streams::BatchAppendReq,
                          event_store::client::streams::BatchAppendResp>*
  BatchAppend(grpc::CallbackServerContext* ctx) override;

 private:
  const ServiceContext* sc_;
};

}  // namespace annals::grpcapi
