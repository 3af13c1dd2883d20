#include "api/http/problem.h"

#include <array>
#include <cassert>

#include "api/http/encoding.h"
#include "api/http/json_fields.h"
#include "core/json_writer.h"

namespace annals::http {

namespace {

constexpr std::array<ProblemInfo, 19> kProblems = {{
    {ProblemKind::kInvalidArgument, 400, "invalid-argument", "Invalid argument",
     "The request is malformed: a stream name, an event, an id, a JSON body, a query "
     "parameter or a range is not valid. `detail` says why and `field` names the culprit."},
    {ProblemKind::kTooLarge, 413, "too-large", "Too large",
     "An event, an append or the request body is over its size limit."},
    {ProblemKind::kNotFound, 404, "not-found", "Not found",
     "The stream has no events (it never existed or it was soft-deleted), or the consumer "
     "group, webhook or relay named in the path does not exist. `detail` says which."},
    {ProblemKind::kWrongExpectedRevision, 409, "wrong-expected-revision", "Wrong expected revision",
     "The optimistic concurrency check failed: `expectedRevision` is what the request "
     "expected, `actualRevision` the stream's last revision (null when it has no events). "
     "Read the stream again, decide again, retry."},
    {ProblemKind::kIdempotencyConflict, 409, "idempotency-conflict", "Idempotency conflict",
     "Some event ids of the append were already used, but not by an identical earlier append "
     "to this stream: a client bug, or ids reused across different events."},
    {ProblemKind::kStreamDeleted, 410, "stream-deleted", "Stream deleted",
     "The stream was tombstoned: it can never be read or written again."},
    {ProblemKind::kUnauthenticated, 401, "unauthenticated", "Unauthenticated",
     "The request carries no credentials, or credentials that are not valid."},
    {ProblemKind::kPermissionDenied, 403, "permission-denied", "Permission denied",
     "The caller is known but may not do this to this stream."},
    {ProblemKind::kUnavailable, 503, "unavailable", "Unavailable",
     "The server is shutting down or over a limit (connections): retry later, elsewhere."},
    {ProblemKind::kCorruption, 500, "corruption", "Corruption",
     "Stored data failed a checksum or a consistency check. The operator must look."},
    {ProblemKind::kIoError, 500, "io-error", "I/O error",
     "The operating system refused a read, a write or a sync."},
    {ProblemKind::kInternal, 500, "internal", "Internal error", "A bug in the server."},
    {ProblemKind::kNoSuchRoute, 404, "no-such-route", "No such route",
     "Nothing is served at this path."},
    {ProblemKind::kMethodNotAllowed, 405, "method-not-allowed", "Method not allowed",
     "The path exists but not with this method; the `Allow` header lists the methods."},
    {ProblemKind::kUnsupportedMediaType, 415, "unsupported-media-type", "Unsupported media type",
     "Request bodies must be `application/json`."},
    {ProblemKind::kHeaderTooLarge, 431, "header-too-large", "Request header fields too large",
     "The request line and headers are over the server's limit."},
    {ProblemKind::kMalformedRequest, 400, "malformed-request", "Malformed HTTP request",
     "The HTTP message could not be parsed (bad request line, header or chunked encoding). "
     "The connection is closed."},
    {ProblemKind::kRequestTimeout, 408, "request-timeout", "Request timeout",
     "The request was not received within the read timeout. The connection is closed."},
    {ProblemKind::kSlowConsumer, 200, "slow-consumer", "Slow consumer",
     "Sent as an SSE `error` event: the client read more slowly than events were committed "
     "and its buffer filled. The stream is closed; reconnect with Last-Event-ID to resume."},
}};

}  // namespace

const ProblemInfo& InfoOf(ProblemKind kind) {
  const auto& info = kProblems[static_cast<size_t>(kind)];
  assert(info.kind == kind && "kProblems must be in enum order");
  return info;
}

std::span<const ProblemInfo> AllProblems() { return kProblems; }

ProblemKind KindOf(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
      return ProblemKind::kInvalidArgument;
    case StatusCode::kTooLarge:
      return ProblemKind::kTooLarge;
    case StatusCode::kNotFound:
      return ProblemKind::kNotFound;
    case StatusCode::kWrongExpectedRevision:
      return ProblemKind::kWrongExpectedRevision;
    case StatusCode::kIdempotencyConflict:
      return ProblemKind::kIdempotencyConflict;
    case StatusCode::kStreamDeleted:
      return ProblemKind::kStreamDeleted;
    case StatusCode::kUnauthenticated:
      return ProblemKind::kUnauthenticated;
    case StatusCode::kPermissionDenied:
      return ProblemKind::kPermissionDenied;
    case StatusCode::kUnavailable:
      return ProblemKind::kUnavailable;
    case StatusCode::kCorruption:
      return ProblemKind::kCorruption;
    case StatusCode::kIoError:
      return ProblemKind::kIoError;
    case StatusCode::kOk:
    case StatusCode::kInternal:
    case StatusCode::kUnimplemented:  // only the SDK's remote stores return it
      break;
  }
  return ProblemKind::kInternal;
}

std::string TypeUri(ProblemKind kind) { return "/problems/" + std::string(InfoOf(kind).slug); }

Problem ProblemFromStatus(const Status& status, std::string instance) {
  Problem p;
  p.kind = KindOf(status.code());
  p.detail = status.message();
  p.instance = std::move(instance);
  p.conflict = status.conflict();
  return p;
}

std::string ProblemJson(const Problem& problem) {
  const ProblemInfo& info = InfoOf(problem.kind);
  JsonWriter w;
  w.BeginObject();
  Field(w, "type", TypeUri(problem.kind));
  Field(w, "title", info.title);
  if (problem.kind != ProblemKind::kSlowConsumer) FieldUint(w, "status", info.status);
  // These may echo request bytes: made valid UTF-8 so the document stays valid JSON.
  if (!problem.detail.empty()) Field(w, "detail", ToValidUtf8(problem.detail));
  if (!problem.instance.empty()) Field(w, "instance", ToValidUtf8(problem.instance));
  if (!problem.field.empty()) Field(w, "field", ToValidUtf8(problem.field));
  if (problem.conflict) {
    const ExpectedRevision& e = problem.conflict->expected;
    w.Key("expectedRevision");
    if (e.kind() == ExpectedRevision::Kind::kExact) {
      w.Uint(e.revision().value);
    } else {
      w.String(e.ToString());
    }
    w.Key("actualRevision");
    if (problem.conflict->actual) {
      w.Uint(problem.conflict->actual->value);
    } else {
      w.Null();
    }
  }
  w.EndObject();
  return w.Take();
}

Response ProblemResponse(const Problem& problem) {
  Response r;
  r.status = InfoOf(problem.kind).status;
  r.content_type = std::string(kProblemJson);
  r.body = ProblemJson(problem);
  if (problem.kind == ProblemKind::kUnavailable) r.AddHeader("Retry-After", "1");
  return r;
}

Response ProblemResponse(ProblemKind kind, std::string detail, std::string field) {
  Problem p;
  p.kind = kind;
  p.detail = std::move(detail);
  p.field = std::move(field);
  return ProblemResponse(p);
}

}  // namespace annals::http
