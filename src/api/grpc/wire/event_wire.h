// Events and identifiers in KurrentDB's v1 messages, both ways: the server (api/grpc) writes
// recorded events and reads proposed ones; the C++ SDK's gRPC store does the opposite.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "annals/status.h"
#include "annals/types.h"
#include "shared.pb.h"
#include "streams.pb.h"

namespace annals::grpcwire {

namespace pb = ::event_store::client;
namespace spb = ::event_store::client::streams;

// Accepts both encodings: the string form and the structured one (two big-endian halves).
std::optional<Uuid> UuidFromProto(const pb::UUID& id);
// The structured encoding's two halves (most, then least significant bits) as a UUID.
Uuid UuidFromHalves(uint64_t most, uint64_t least);
void UuidToProto(const Uuid& id, bool structured, pb::UUID* out);

std::string StreamName(const pb::StreamIdentifier& id);
void SetStream(std::string_view name, pb::StreamIdentifier* out);

// `type`, `content-type` (the only keys of `metadata`) and `created` (100 ns ticks since the
// Unix epoch, decimal); user metadata goes in custom_metadata.
void EventToProto(const RecordedEvent& e, bool structured_uuid, spb::RecordedEvent* out);
Result<RecordedEvent> RecordedFromProto(const spb::RecordedEvent& m);

// A proposed message; `missing` names the required metadata keys that are absent (the
// caller answers INVALID_ARGUMENT with a missing-required-metadata-property trailer). The
// payloads are moved out of `m`, which the server's reactors reuse for their next read.
Result<ProposedEvent> ProposedFromProto(spb::ProposedMessage&& m, std::string* missing);
void ProposedToProto(const ProposedEvent& e, const Uuid& id, spb::ProposedMessage* out);

}  // namespace annals::grpcwire
