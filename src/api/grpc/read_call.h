// Streams.Read: stream and `$all` reads, forwards and backwards, with filters, and catch-up
// subscriptions (confirmation, events, caught-up, live; checkpoints for filtered `$all`).
#pragma once

#include "api/grpc/service_context.h"
#include "streams.grpc.pb.h"

namespace annals::grpcapi {

// The reactor of one Read call; it deletes itself when gRPC is done with it. The method is
// raw: the call parses its ReadReq and sends ReadResp messages serialised by the workers that
// build them, so gRPC's callback thread, which every message of every read passes through,
// only sends bytes (docs/performance.md, "gRPC").
grpc::ServerWriteReactor<grpc::ByteBuffer>* NewReadCall(const ServiceContext* sc,
                                                        grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer& request);

}  // namespace annals::grpcapi
