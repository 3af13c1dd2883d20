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

  // Ok, or UNAUTHENTICATED when authentication is on and the call's Basic credentials do not
  // check out. Anonymous calls are allowed only when authentication is off.
  grpc::Status Authenticate(const grpc::ServerContextBase& ctx) const {
    if (!options->authenticate) return grpc::Status::OK;
    std::string authorization;
    const auto& md = ctx.client_metadata();
    if (auto it = md.find("authorization"); it != md.end()) {
      authorization.assign(it->second.data(), it->second.size());
    }
    Status s = options->authenticate(authorization);
    if (s.ok()) return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, s.message());
  }
};

}  // namespace annals::grpcapi
