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
#include "shared.pb.h"
#include "streams.pb.h"

namespace annals::grpcapi {

namespace pb = ::event_store::client;
namespace spb = ::event_store::client::streams;

// Accepts both encodings: the string form and the structured one (two big-endian halves).
std::optional<Uuid> UuidFromProto(const pb::UUID& id);
void UuidToProto(const Uuid& id, bool structured, pb::UUID* out);

std::string StreamName(const pb::StreamIdentifier& id);
void SetStream(std::string_view name, pb::StreamIdentifier* out);

// `type`, `content-type` (the only keys of `metadata`) and `created` (100 ns ticks since the
// Unix epoch, decimal); user metadata goes in custom_metadata.
void EventToProto(const RecordedEvent& e, bool structured_uuid, spb::RecordedEvent* out);

// A proposed message; `missing` names the required metadata keys that are absent (the
// caller answers INVALID_ARGUMENT with a missing-required-metadata-property trailer).
Result<ProposedEvent> ProposedFromProto(const spb::ProposedMessage& m, std::string* missing);

// The expected-revision oneof shared by AppendReq, DeleteReq and TombstoneReq (same field
// numbers). `revision` is used when `kind` names it.
template <class Options>
ExpectedRevision ExpectedFromProto(const Options& o) {
  switch (o.expected_stream_revision_case()) {
    case Options::kRevision:
      return ExpectedRevision::Exact(Revision{o.revision()});
    case Options::kNoStream:
      return ExpectedRevision::NoStream();
    case Options::kStreamExists:
      return ExpectedRevision::StreamExists();
    default:
      return ExpectedRevision::Any();
  }
}

// KurrentDB's numbers for expectations in trailers: any -2, no_stream -1, stream_exists -4.
std::string ExpectedVersionText(const ExpectedRevision& e);

// A failed store Status as a gRPC status, with the trailers KurrentDB sends (stream-name,
// exception, versions...) added to `ctx`.
grpc::Status ToGrpc(const Status& s, const std::string& stream, grpc::ServerContextBase* ctx,
                    const Limits& limits);
grpc::Status Invalid(const std::string& message);

// `$$<stream>` → `<stream>`; nullopt for any other name.
std::optional<std::string> MetadataTarget(std::string_view stream);
// The metadata of `stream` as the `$metadata` event KurrentDB would return from `$$<stream>`.
RecordedEvent MetadataEvent(const std::string& stream, const StreamMetadataResult& md,
                            Position position);

}  // namespace annals::grpcapi
