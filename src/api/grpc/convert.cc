#include "api/grpc/convert.h"

#include "core/stream_metadata_codec.h"

namespace annals::grpcapi {

std::optional<Uuid> UuidFromProto(const pb::UUID& id) {
  if (id.has_structured()) {
    Uuid u;
    const uint64_t hi = static_cast<uint64_t>(id.structured().most_significant_bits());
    const uint64_t lo = static_cast<uint64_t>(id.structured().least_significant_bits());
    for (int i = 0; i < 8; ++i) {
      u.bytes[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
      u.bytes[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
    }
    return u;
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

Result<ProposedEvent> ProposedFromProto(const spb::ProposedMessage& m, std::string* missing) {
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
  e.data = m.data();
  e.metadata = m.custom_metadata();
  return e;
}

std::string ExpectedVersionText(const ExpectedRevision& e) {
  switch (e.kind()) {
    case ExpectedRevision::Kind::kAny:
      return "-2";
    case ExpectedRevision::Kind::kNoStream:
      return "-1";
    case ExpectedRevision::Kind::kStreamExists:
      return "-4";
    case ExpectedRevision::Kind::kExact:
      break;
  }
  return std::to_string(e.revision().value);
}

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

grpc::Status ToGrpc(const Status& s, const std::string& stream, grpc::ServerContextBase* ctx,
                    const Limits& limits) {
  auto trailer = [ctx](const char* key, const std::string& value) {
    if (ctx != nullptr) ctx->AddTrailingMetadata(key, value);
  };
  switch (s.code()) {
    case StatusCode::kOk:
      return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
      return Invalid(s.message());
    case StatusCode::kTooLarge:
      trailer("exception", "maximum-append-size-exceeded");
      trailer("maximum-append-size", std::to_string(limits.max_append_bytes));
      return Invalid(s.message());
    case StatusCode::kNotFound:
      trailer("exception", "stream-not-found");
      trailer("stream-name", stream);
      return grpc::Status(grpc::StatusCode::NOT_FOUND, s.message());
    case StatusCode::kWrongExpectedRevision: {
      trailer("exception", "wrong-expected-version");
      trailer("stream-name", stream);
      if (s.conflict()) {
        trailer("expected-version", ExpectedVersionText(s.conflict()->expected));
        // Absent means no stream, as the clients read it.
        if (s.conflict()->actual) {
          trailer("actual-version", std::to_string(s.conflict()->actual->value));
        }
      }
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, s.message());
    }
    case StatusCode::kIdempotencyConflict:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, s.message());
    case StatusCode::kStreamDeleted:
      trailer("exception", "stream-deleted");
      trailer("stream-name", stream);
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, s.message());
    case StatusCode::kUnauthenticated:
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, s.message());
    case StatusCode::kPermissionDenied:
      trailer("exception", "access-denied");
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, s.message());
    case StatusCode::kUnavailable:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, s.message());
    case StatusCode::kCorruption:
      return grpc::Status(grpc::StatusCode::DATA_LOSS, s.message());
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      break;
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, s.message());
}

std::optional<std::string> MetadataTarget(std::string_view stream) {
  if (stream.size() > 2 && stream.substr(0, 2) == "$$") return std::string(stream.substr(2));
  return std::nullopt;
}

RecordedEvent MetadataEvent(const std::string& stream, const StreamMetadataResult& md,
                            Position position) {
  RecordedEvent e;
  e.stream = MetadataStreamOf(stream);
  e.type = std::string(kMetadataEventType);
  e.revision = md.metadata_revision.value_or(Revision{0});
  e.position = position;
  e.content_type = std::string(kContentTypeJson);
  e.data = StreamMetadataToJson(md.metadata);
  return e;
}

}  // namespace annals::grpcapi
