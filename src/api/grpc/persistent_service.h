// event_store.client.persistent_subscriptions.PersistentSubscriptions over the consumer
// groups of the delivery service (docs/grpc-api.md, "Persistent subscriptions").
#pragma once

#include "api/grpc/service_context.h"
#include "persistent.grpc.pb.h"

namespace annals::grpcapi {

namespace ppb = ::event_store::client::persistent_subscriptions;

// Read is a raw method: each event message is encoded by hand (wire/read_event_message.h) on
// the thread that delivers it, not serialised on gRPC's; the others take and give messages.
using PersistentServiceBase = ppb::PersistentSubscriptions::WithRawCallbackMethod_Read<
    ppb::PersistentSubscriptions::WithCallbackMethod_Create<
        ppb::PersistentSubscriptions::WithCallbackMethod_Update<
            ppb::PersistentSubscriptions::WithCallbackMethod_Delete<
                ppb::PersistentSubscriptions::WithCallbackMethod_GetInfo<
                    ppb::PersistentSubscriptions::WithCallbackMethod_ReplayParked<
                        ppb::PersistentSubscriptions::WithCallbackMethod_List<
                            ppb::PersistentSubscriptions::WithCallbackMethod_RestartSubsystem<
                                ppb::PersistentSubscriptions::Service>>>>>>>>;

class PersistentService final : public PersistentServiceBase {
 public:
  explicit PersistentService(const ServiceContext* sc) : sc_(sc) {}

  grpc::ServerUnaryReactor* Create(grpc::CallbackServerContext* ctx, const ppb::CreateReq* req,
                                   ppb::CreateResp* resp) override;
  grpc::ServerUnaryReactor* Update(grpc::CallbackServerContext* ctx, const ppb::UpdateReq* req,
                                   ppb::UpdateResp* resp) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx, const ppb::DeleteReq* req,
                                   ppb::DeleteResp* resp) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Read(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* GetInfo(grpc::CallbackServerContext* ctx, const ppb::GetInfoReq* req,
                                    ppb::GetInfoResp* resp) override;
  grpc::ServerUnaryReactor* ReplayParked(grpc::CallbackServerContext* ctx,
                                         const ppb::ReplayParkedReq* req,
                                         ppb::ReplayParkedResp* resp) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx, const ppb::ListReq* req,
                                 ppb::ListResp* resp) override;
  grpc::ServerUnaryReactor* RestartSubsystem(grpc::CallbackServerContext* ctx,
                                             const event_store::client::Empty* req,
                                             event_store::client::Empty* resp) override;

 private:
  // Checks `access` (to no stream in particular), then runs `work` on a worker (group changes write
  // to the store) and finishes with its status.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, Access access,
                                std::function<grpc::Status()> work);
  const ServiceContext* sc_;
};

}  // namespace annals::grpcapi
