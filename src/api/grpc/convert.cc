#include "api/grpc/convert.h"

namespace annals::grpcapi {

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
    case StatusCode::kUnimplemented:
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, s.message());
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

}  // namespace annals::grpcapi
