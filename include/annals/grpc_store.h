// The gRPC store: the EventStore interface over KurrentDB's v1 gRPC protocol, against
// `annals serve` (same port as HTTP) or any KurrentDB/EventStoreDB-protocol server, so the C++
// SDK is also a C++ client for KurrentDB:
//
//   auto store = annals::ConnectGrpc({.connection_string =
//   "kurrentdb://127.0.0.1:2113?tls=false"}); if (!store.ok()) { ... store.status() ... }
//   (*store)->Append({.stream = "visit-42", .expected = ExpectedRevision::NoStream(), ...});
//
// Errors carry the same StatusCodes the engine returns (a wrong expected revision carries its
// RevisionConflict); a server that cannot be reached is kUnavailable.
//
// Against Annals it behaves as the embedded engine does, with Annals' extensions to the
// protocol (docs/grpc-api.md, "Annals extensions"). Against other servers (docs/sdk.md):
// - ListStreams and GetStreamInfo answer kUnimplemented (the v1 protocol has no catalog);
// - Head() is the position after the last event, plus one; AppendResult::idempotent is false.
// Everywhere:
// - `AppendRequest::system_writer` is refused (kPermissionDenied): no client writes `$` streams;
// - `ReadAllRequest::max_scan` is the server's;
// - WaitForHead/WatchHead wait on a catch-up subscription to `$all`.
//
// Thread safety: every method may be called from any thread concurrently. One HTTP/2
// connection carries every call.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "annals/event_store.h"

namespace annals {

struct GrpcStoreOptions {
  // KurrentDB's single-node connection string:
  //   kurrentdb://[user:password@]host[:port][?tls=false&tlsVerifyCert=false&tlsCAFile=PATH
  //              &defaultDeadline=MS&annalsExtensions=false]
  // `esdb://` and `kdb://` are accepted too. TLS is on unless `tls=false`, as in KurrentDB's
  // clients; the port defaults to 2113. Cluster discovery (`+discover`, several hosts) is
  // refused: Annals runs as one node.
  std::string connection_string;
};

// The parsed connection string (exposed for tests and tools).
struct GrpcEndpoint {
  std::string host;
  uint16_t port = 2113;
  std::string username;  // empty: no credentials
  std::string password;
  bool tls = true;
  bool verify_cert = true;
  std::string ca_file;                                            // PEM; empty: the system's roots
  std::chrono::milliseconds deadline = std::chrono::seconds(10);  // every call but subscriptions
  // Annals' extensions (catalog, batched `$all` reads, trailers), used when the server lists
  // them. `annalsExtensions=false` ignores them: the store then behaves exactly as against a
  // KurrentDB server, which is how its fallbacks are tested.
  bool annals_extensions = true;
};
Result<GrpcEndpoint> ParseGrpcConnectionString(std::string_view text);

// Connects (ServerFeatures) and returns the store; kUnavailable when the server does not answer.
Result<std::unique_ptr<EventStore>> ConnectGrpc(const GrpcStoreOptions& options);

}  // namespace annals
