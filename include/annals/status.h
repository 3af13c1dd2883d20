// Status and Result<T>: expected failures as values.
//
// Each code exists because a caller reacts to it differently; the codes map one-to-one onto HTTP
// statuses and gRPC codes (see docs/errors.md). Programmer errors are assertions, not codes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "annals/types.h"

namespace annals {

enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument,        // malformed input: a name, an id, JSON, a range (HTTP 400)
  kTooLarge,               // an event or an append over its size limit (HTTP 413)
  kNotFound,               // no such stream (HTTP 404)
  kWrongExpectedRevision,  // optimistic concurrency check failed (HTTP 409)
  kIdempotencyConflict,    // event ids already used differently (HTTP 409)
  kStreamDeleted,          // the stream is tombstoned for ever (HTTP 410)
  kUnauthenticated,        // who the caller is is unknown (HTTP 401)
  kPermissionDenied,       // the caller may not do this (HTTP 403)
  kUnavailable,            // shutting down, or overloaded: retry later (HTTP 503)
  kCorruption,             // stored data failed a checksum or a consistency check (HTTP 500)
  kIoError,                // the operating system refused a read, write or sync (HTTP 500)
  kInternal,               // a bug (HTTP 500)
  kUnimplemented,          // a remote server does not offer the operation (HTTP 501)
};

std::string_view StatusCodeName(StatusCode code);

// What an append expected and what the stream really was, carried by kWrongExpectedRevision.
struct RevisionConflict {
  ExpectedRevision expected;
  // The stream's last revision; nullopt when the stream has no events (or never existed).
  std::optional<Revision> actual;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status WrongRevision(std::string stream, RevisionConflict conflict);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::optional<RevisionConflict>& conflict() const { return conflict_; }
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::optional<RevisionConflict> conflict_;
};

// A value or the Status that explains its absence. Never holds an ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace annals

// Evaluates `expr` (a Status); returns it from the enclosing function when it is not ok.
#define ANNALS_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::annals::Status annals_status_ = (expr);        \
    if (!annals_status_.ok()) return annals_status_; \
  } while (0)
