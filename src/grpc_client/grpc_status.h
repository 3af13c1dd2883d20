// A failed gRPC call as the Status the engine would have returned: KurrentDB's status codes
// and `exception` trailers (docs/grpc-api.md, "Errors") mapped back.
#pragma once

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <string>

#include "annals/status.h"

namespace annals::grpcclient {

// `ctx` holds the trailers of the finished call; `stream` names the stream in messages.
Status FromGrpc(const grpc::Status& status, const grpc::ClientContext& ctx,
                const std::string& stream);

// A trailer's value, empty when absent.
std::string Trailer(const grpc::ClientContext& ctx, std::string_view key);

// KurrentDB's numbers for expectations in trailers (any -2, no_stream -1, stream_exists -4).
std::optional<ExpectedRevision> ExpectedFromText(std::string_view text);

}  // namespace annals::grpcclient
