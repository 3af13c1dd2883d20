// RFC 9457 problem details: one stable `type` URI per kind of error (docs/http-api.md lists them).
//
// Types are relative URIs ("/problems/wrong-expected-revision"), resolved against the server's
// address, where GET answers a short description of the problem kind.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "annals/status.h"
#include "api/http/message.h"

namespace annals::http {

enum class ProblemKind : uint8_t {
  // One per StatusCode (StatusCode::kOk has none).
  kInvalidArgument,
  kTooLarge,
  kNotFound,
  kWrongExpectedRevision,
  kIdempotencyConflict,
  kStreamDeleted,
  kUnauthenticated,
  kPermissionDenied,
  kUnavailable,
  kCorruption,
  kIoError,
  kInternal,
  // HTTP-level kinds.
  kNoSuchRoute,           // 404: no resource at this path
  kMethodNotAllowed,      // 405
  kUnsupportedMediaType,  // 415
  kHeaderTooLarge,        // 431
  kMalformedRequest,      // 400: the HTTP message itself could not be parsed
  kRequestTimeout,        // 408
  kSlowConsumer,          // SSE only: the client fell too far behind and is disconnected
};

struct ProblemInfo {
  ProblemKind kind;
  unsigned status;
  std::string_view slug;   // the last segment of the type URI
  std::string_view title;  // short, constant per kind
  std::string_view description;
};

const ProblemInfo& InfoOf(ProblemKind kind);
std::span<const ProblemInfo> AllProblems();
ProblemKind KindOf(StatusCode code);
// "/problems/<slug>".
std::string TypeUri(ProblemKind kind);

struct Problem {
  ProblemKind kind = ProblemKind::kInternal;
  std::string detail;
  std::string instance;                      // the request path, when known
  std::string field;                         // the request member or parameter at fault, when known
  std::optional<RevisionConflict> conflict;  // kWrongExpectedRevision
};

Problem ProblemFromStatus(const Status& status, std::string instance = {});
// The problem+json document alone (used inside SSE `error` events too).
std::string ProblemJson(const Problem& problem);
Response ProblemResponse(const Problem& problem);
Response ProblemResponse(ProblemKind kind, std::string detail, std::string field = {});

}  // namespace annals::http
