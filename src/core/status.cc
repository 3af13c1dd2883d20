#include "annals/status.h"

#include <string>

namespace annals {

// snake_case names, like ExpectedRevision's words: these are what the HTTP API and the CLI
// print, so they are part of the external interface and must not change.
std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kTooLarge:
      return "too_large";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kWrongExpectedRevision:
      return "wrong_expected_revision";
    case StatusCode::kIdempotencyConflict:
      return "idempotency_conflict";
    case StatusCode::kStreamDeleted:
      return "stream_deleted";
    case StatusCode::kUnauthenticated:
      return "unauthenticated";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kIoError:
      return "io_error";
    case StatusCode::kInternal:
      return "internal";
    case StatusCode::kUnimplemented:
      return "unimplemented";
  }
  // Only reachable through a cast of an out-of-range integer (e.g. a corrupt wire value).
  return "unknown";
}

Status Status::WrongRevision(std::string stream, RevisionConflict conflict) {
  std::string message = "wrong expected revision for stream '";
  message += stream;
  message += "': expected ";
  message += conflict.expected.ToString();
  message += ", actual ";
  message += conflict.actual ? std::to_string(conflict.actual->value) : std::string("none");
  Status status(StatusCode::kWrongExpectedRevision, std::move(message));
  status.conflict_ = conflict;
  return status;
}

std::string Status::ToString() const {
  std::string out(StatusCodeName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace annals
