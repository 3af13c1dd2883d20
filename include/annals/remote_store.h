// The remote store: the EventStore interface over a server's REST API (docs/http-api.md), so
// application code is the same against the embedded engine and against `annals serve`:
//
//   auto store = annals::ConnectRemote({.url = "http://127.0.0.1:2113"});
//   if (!store.ok()) { ... store.status() ... }
//   (*store)->Append({.stream = "visit-42", .expected = ExpectedRevision::NoStream(), ...});
//
// Errors are the server's problem documents mapped back to the same StatusCodes the engine
// returns (a wrong expected revision carries its RevisionConflict); a server that cannot be
// reached is kUnavailable. Connections are kept alive and reused (libcurl).
//
// Where it differs from the embedded engine (docs/sdk.md lists them):
// - `AppendRequest::system_writer` is refused (kPermissionDenied): no client writes `$` streams.
// - `ReadAllRequest::max_scan` is the server's; `max_count` is capped at the server's page size.
// - Event times have microsecond precision (the API's RFC 3339 form).
// - WaitForHead/WatchHead wait on a Server-Sent Events subscription to `$all`.
//
// Thread safety: every method may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "annals/event_store.h"

namespace annals {

struct RemoteOptions {
  std::string url;  // the server's base URL: "http://127.0.0.1:2113"
  // The whole Authorization header value ("Basic ...", "Bearer annals_..."); empty: none.
  std::string authorization;
  std::chrono::milliseconds timeout = std::chrono::seconds(30);  // one request
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(5);
};

// Connects (GET /info) and returns the store; kUnavailable when the server does not answer.
Result<std::unique_ptr<EventStore>> ConnectRemote(const RemoteOptions& options);

}  // namespace annals
