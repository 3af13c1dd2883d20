// GrpcServer: KurrentDB's v1 gRPC services (Streams, PersistentSubscriptions, ServerFeatures,
// Gossip; docs/grpc-api.md) over an EventStore and the delivery service. It has no listening
// socket of its own: the HTTP server hands it the connections that open with the HTTP/2
// preface (one port for both protocols, as KurrentDB), through AdoptConnection.
//
//   GrpcServer grpc(store, delivery, options);
//   if (Status s = grpc.Start(); !s.ok()) ...
//   http_options.on_http2 = [&](int fd) { grpc.AdoptConnection(fd); };
//   ... grpc.Stop();   // ends calls in flight, then returns
//
// This header includes no gRPC header, so its users do not pay for them.
// Thread safety: AdoptConnection may be called from any thread once Start succeeded.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "annals/event_store.h"
#include "annals/limits.h"
#include "annals/status.h"

namespace annals::delivery {
class DeliveryService;
}

namespace annals::grpcapi {

// What a call does, for the authorization check: reads (and subscriptions, acks, group info),
// appends, deletes, stream metadata, and managing persistent subscription groups.
enum class Access : uint8_t { kRead, kWrite, kDelete, kMetadataRead, kMetadataWrite, kManage };

struct GrpcOptions {
  // May the caller with this `authorization` header value (empty when absent) do `access` to
  // `stream` (empty: `$all` or the server)? Ok, kUnauthenticated or kPermissionDenied. Null:
  // every caller may do everything, credentials or not (KurrentDB's insecure mode).
  std::function<Status(const std::string& authorization, Access access, std::string_view stream)>
      authorize;
  Limits limits;                             // reported in maximum-append-size trailers
  uint64_t max_message_bytes = 96ull << 20;  // one gRPC message (a 16 MiB event fits)
  unsigned worker_threads = 2;               // for store reads of streaming calls
  // Gossip's answer: where clients that discover the cluster connect (SetAdvertisedEndpoint).
  std::string advertised_host = "127.0.0.1";
  unsigned advertised_port = 2113;
};

class GrpcServer {
 public:
  // `store` and `delivery` must outlive the server; `delivery` may be null (no persistent
  // subscriptions: those calls answer UNAVAILABLE and are not advertised).
  GrpcServer(EventStore* store, delivery::DeliveryService* delivery, GrpcOptions options);
  ~GrpcServer();  // Stop()
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Before Start(): the endpoint Gossip gives clients, once the listening port is known.
  void SetAdvertisedEndpoint(std::string host, unsigned port);
  Status Start();
  // Takes ownership of a connected socket whose peer speaks HTTP/2 from its first byte (the
  // preface not yet read) and serves gRPC on it.
  void AdoptConnection(int fd);
  // Ends subscriptions and calls in flight (within a few seconds) and stops. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals::grpcapi
