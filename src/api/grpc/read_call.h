// Streams.Read: stream and `$all` reads, forwards and backwards, with filters, and catch-up
// subscriptions (confirmation, events, caught-up, live; checkpoints for filtered `$all`).
#pragma once

#include "api/grpc/service_context.h"
#include "streams.grpc.pb.h"

namespace annals::grpcapi {

// The reactor of one Read call; it deletes itself when gRPC is done with it.
grpc::ServerWriteReactor<event_store::client::streams::ReadResp>* NewReadCall(
    const ServiceContext* sc, grpc::CallbackServerContext* ctx,
    const event_store::client::streams::ReadReq& req);

}  // namespace annals::grpcapi
