// What every service of the gRPC server shares: the store, delivery, options, the worker
// threads for blocking work, and the authentication check.
#pragma once

#include <grpcpp/server_context.h>

#include <atomic>

#include "annals/event_store.h"
#include "api/grpc/grpc_server.h"
#include "api/grpc/workers.h"

namespace annals::grpcapi {

struct ServiceContext {
  EventStore* store = nullptr;
  delivery::DeliveryService* delivery = nullptr;
  const GrpcOptions* options = nullptr;
  Workers* workers = nullptr;

  // Ok, or the store Status that refuses the call (kUnauthenticated, kPermissionDenied).
  Status Authorize(const grpc::ServerContextBase& ctx, Access access,
                   std::string_view stream) const {
    if (!options->authorize) return Status::Ok();
    std::string authorization;
    const auto& md = ctx.client_metadata();
    if (auto it = md.find("authorization"); it != md.end()) {
      authorization.assign(it->second.data(), it->second.size());
    }
    return options->authorize(authorization, access, stream);
  }
};

}  // namespace annals::grpcapi
