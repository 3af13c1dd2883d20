#include "api/grpc/wire/event_wire.h"

#include <cstdlib>

namespace annals::grpcwire {

Uuid UuidFromHalves(uint64_t most, uint64_t least) {
  Uuid u;
  for (int i = 0; i < 8; ++i) {
    u.bytes[i] = static_cast<uint8_t>(most >> (56 - 8 * i));
    u.bytes[8 + i] = static_cast<uint8_t>(least >> (56 - 8 * i));
  }
  return u;
}

std::optional<Uuid> UuidFromProto(const pb::UUID& id) {
  if (id.has_structured()) {
    return UuidFromHalves(static_cast<uint64_t>(id.structured().most_significant_bits()),
                          static_cast<uint64_t>(id.structured().least_significant_bits()));
  }
  if (id.value_case() == pb::UUID::kString) return Uuid::Parse(id.string());
  return std::nullopt;
}

void UuidToProto(const Uuid& id, bool structured, pb::UUID* out) {
  if (!structured) {
    out->set_string(id.ToString());
    return;
  }
  uint64_t hi = 0;
  uint64_t lo = 0;
  for (int i = 0; i < 8; ++i) {
    hi = (hi << 8) | id.bytes[i];
    lo = (lo << 8) | id.bytes[8 + i];
  }
  out->mutable_structured()->set_most_significant_bits(static_cast<int64_t>(hi));
  out->mutable_structured()->set_least_significant_bits(static_cast<int64_t>(lo));
}

std::string StreamName(const pb::StreamIdentifier& id) { return id.stream_name(); }

void SetStream(std::string_view name, pb::StreamIdentifier* out) {
  out->set_stream_name(std::string(name));
}

void EventToProto(const RecordedEvent& e, bool structured_uuid, spb::RecordedEvent* out) {
  UuidToProto(e.id, structured_uuid, out->mutable_id());
  SetStream(e.stream, out->mutable_stream_identifier());
  out->set_stream_revision(e.revision.value);
  // Annals has one position per event: commit == prepare.
  out->set_prepare_position(e.position.value);
  out->set_commit_position(e.position.value);
  auto& md = *out->mutable_metadata();
  md["type"] = e.type;
  md["content-type"] = e.content_type;
  md["created"] = std::to_string(e.created.ticks);
  out->set_custom_metadata(e.metadata);
  out->set_data(e.data);
}

Result<ProposedEvent> ProposedFromProto(spb::ProposedMessage&& m, std::string* missing) {
  ProposedEvent e;
  if (m.has_id()) {
    auto id = UuidFromProto(m.id());
    if (!id) return Status(StatusCode::kInvalidArgument, "an event id is not a UUID");
    e.id = *id;
  }
  const auto& md = m.metadata();
  auto type = md.find("type");
  auto content_type = md.find("content-type");
  missing->clear();
  if (type == md.end()) *missing = "type";
  if (content_type == md.end()) *missing += missing->empty() ? "content-type" : ",content-type";
  if (!missing->empty()) {
    return Status(StatusCode::kInvalidArgument, "missing required metadata: " + *missing);
  }
  e.type = type->second;
  e.content_type = content_type->second;
  e.data = std::move(*m.mutable_data());
  e.metadata = std::move(*m.mutable_custom_metadata());
  return e;
}

void ProposedToProto(const ProposedEvent& e, const Uuid& id, spb::ProposedMessage* out) {
  UuidToProto(id, /*structured=*/false, out->mutable_id());
  auto& md = *out->mutable_metadata();
  md["type"] = e.type;
  md["content-type"] = e.content_type;
  out->set_custom_metadata(e.metadata);
  out->set_data(e.data);
}

Result<RecordedEvent> RecordedFromProto(const spb::RecordedEvent& m) {
  RecordedEvent e;
  auto id = UuidFromProto(m.id());
  if (!id) return Status(StatusCode::kInternal, "the server sent an event id that is not a UUID");
  e.id = *id;
  e.stream = StreamName(m.stream_identifier());
  e.revision = Revision{m.stream_revision()};
  e.position = Position{m.commit_position()};
  const auto& md = m.metadata();
  if (auto it = md.find("type"); it != md.end()) e.type = it->second;
  if (auto it = md.find("content-type"); it != md.end()) e.content_type = it->second;
  if (auto it = md.find("created"); it != md.end()) {
    char* end = nullptr;
    e.created.ticks = std::strtoll(it->second.c_str(), &end, 10);
  }
  e.metadata = m.custom_metadata();
  e.data = m.data();
  return e;
}

}  // namespace annals::grpcwire
