#include "grpc_client/grpc_status.h"

#include <charconv>

namespace annals::grpcclient {

namespace {

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

}  // namespace

std::string Trailer(const grpc::ClientContext& ctx, std::string_view key) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return {};
  return std::string(it->second.data(), it->second.size());
}

std::optional<ExpectedRevision> ExpectedFromText(std::string_view text) {
  auto n = ParseInt(text);
  if (!n) return std::nullopt;
  switch (*n) {
    case -2:
      return ExpectedRevision::Any();
    case -1:
      return ExpectedRevision::NoStream();
    case -4:
      return ExpectedRevision::StreamExists();
    default:
      if (*n < 0) return std::nullopt;
      return ExpectedRevision::Exact(Revision{static_cast<uint64_t>(*n)});
  }
}

Status FromGrpc(const grpc::Status& status, const grpc::ClientContext& ctx,
                const std::string& stream) {
  const std::string exception = Trailer(ctx, "exception");
  const std::string& message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return Status::Ok();
    case grpc::StatusCode::INVALID_ARGUMENT:
      if (exception == "maximum-append-size-exceeded") {
        return Status(StatusCode::kTooLarge, message);
      }
      return Status(StatusCode::kInvalidArgument, message);
    case grpc::StatusCode::NOT_FOUND:
      return Status(StatusCode::kNotFound, message);
    case grpc::StatusCode::FAILED_PRECONDITION:
      if (exception == "wrong-expected-version") {
        RevisionConflict c{.expected = ExpectedFromText(Trailer(ctx, "expected-version"))
                                           .value_or(ExpectedRevision::Any()),
                           .actual = std::nullopt};
        // Absent, or negative: the stream has no events.
        if (auto actual = ParseInt(Trailer(ctx, "actual-version")); actual && *actual >= 0) {
          c.actual = Revision{static_cast<uint64_t>(*actual)};
        }
        return Status::WrongRevision(stream, c);
      }
      if (exception == "stream-deleted") return Status(StatusCode::kStreamDeleted, message);
      // Annals answers a reuse of event ids with other events this way, without a trailer.
      return Status(StatusCode::kIdempotencyConflict, message);
    case grpc::StatusCode::UNAUTHENTICATED:
      return Status(StatusCode::kUnauthenticated, message);
    case grpc::StatusCode::PERMISSION_DENIED:
      return Status(StatusCode::kPermissionDenied, message);
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED:
      return Status(StatusCode::kUnavailable, "server unavailable: " + message);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:  // a message over a gRPC size limit
      return Status(StatusCode::kTooLarge, message);
    case grpc::StatusCode::DATA_LOSS:
      return Status(StatusCode::kCorruption, message);
    case grpc::StatusCode::UNIMPLEMENTED:
      return Status(StatusCode::kUnimplemented, message);
    default:
      break;
  }
  return Status(StatusCode::kInternal, message);
}

}  // namespace annals::grpcclient
