// Conversions between KurrentDB's v1 messages and Annals' types, and the error mapping: the
// status codes and `exception` trailers the official clients turn into typed errors
// (docs/grpc-api.md lists them).
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <optional>
#include <string>

#include "annals/event_store.h"
#include "annals/limits.h"
#include "annals/status.h"
#include "api/grpc/wire/event_wire.h"
#include "shared.pb.h"
#include "streams.pb.h"

namespace annals::grpcapi {

namespace pb = ::event_store::client;
namespace spb = ::event_store::client::streams;

using grpcwire::EventToProto;
using grpcwire::ProposedFromProto;
using grpcwire::SetStream;
using grpcwire::StreamName;
using grpcwire::UuidFromProto;
using grpcwire::UuidToProto;

// The expected-revision oneof shared by AppendReq, DeleteReq and TombstoneReq (same field
// numbers); nullopt when the request sets none of them (KurrentDB refuses that too: `any` is
// sent explicitly by every client).
template <class Options>
std::optional<ExpectedRevision> ExpectedFromProto(const Options& o) {
  switch (o.expected_stream_revision_case()) {
    case Options::kRevision:
      return ExpectedRevision::Exact(Revision{o.revision()});
    case Options::kNoStream:
      return ExpectedRevision::NoStream();
    case Options::kStreamExists:
      return ExpectedRevision::StreamExists();
    case Options::kAny:
      return ExpectedRevision::Any();
    default:
      return std::nullopt;
  }
}
inline constexpr char kNoExpectedRevision[] =
    "options need an expected revision: revision, no_stream, any or stream_exists";

// KurrentDB's numbers for expectations in trailers: any -2, no_stream -1, stream_exists -4.
std::string ExpectedVersionText(const ExpectedRevision& e);

// A failed store Status as a gRPC status, with the trailers KurrentDB sends (stream-name,
// exception, versions...) added to `ctx`.
grpc::Status ToGrpc(const Status& s, const std::string& stream, grpc::ServerContextBase* ctx,
                    const Limits& limits);
grpc::Status Invalid(const std::string& message);

// `$$<stream>` → `<stream>`; nullopt for any other name.
std::optional<std::string> MetadataTarget(std::string_view stream);

}  // namespace annals::grpcapi
