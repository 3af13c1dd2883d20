// The HTTP/1.1 server: Boost.Beast over Asio with C++20 coroutines, one io_context (and one
// thread) per I/O thread, requests handed to the I/O-free Router.
//
//   Server server(&router, &metrics, store, options);
//   if (Status s = server.Start(); !s.ok()) ...   // binds
//   std::thread t([&] { server.Run(); });          // or Run() on the main thread
//   ... server.Stop();                             // any thread, e.g. on SIGTERM
//
// Limits: header and body size, read/idle/write timeouts, maximum connections. Appends go to
// EventStore::AppendAsync and resume on the connection's thread; metadata writes and deletes
// run on a small blocking pool; reads run inline. Stop() is graceful: the listener closes, idle
// connections close, SSE subscribers end, requests in flight (appends included) are answered,
// then Run() returns; after `shutdown_timeout` it returns anyway.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "annals/event_store.h"
#include "annals/status.h"
#include "api/http/metrics.h"
#include "api/http/router.h"

namespace annals::http {

class Authenticator;

struct ServerOptions {
  std::string listen = "127.0.0.1:2113";  // host:port, [v6]:port; port 0 picks a free port
  unsigned io_threads = 0;                // 0: one per core
  unsigned blocking_threads = 2;          // for metadata writes and deletes
  uint64_t max_connections = 10000;
  uint32_t max_header_bytes = 16 << 10;            // request line and headers
  uint64_t max_body_bytes = 96ull << 20;           // a 64 MiB append in base64 fits
  std::chrono::milliseconds read_timeout{30000};   // to receive one whole request
  std::chrono::milliseconds idle_timeout{60000};   // keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{30000};  // to send one response or SSE chunk
  std::chrono::milliseconds shutdown_timeout{15000};
  std::chrono::milliseconds sse_heartbeat{15000};
  uint64_t sse_max_buffer_bytes = 4ull << 20;  // per subscriber; over it: slow consumer
  uint64_t sse_batch_events = 100;             // events per store read
  // TLS: both set, or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  // One port for HTTP/1.1 and gRPC (docs/grpc-api.md): when set, a plain-TCP connection that
  // opens with the HTTP/2 preface (h2c with prior knowledge, what gRPC clients send with
  // tls=false) is given, socket and all, to this function (the gRPC server) on an I/O thread.
  std::function<void(int fd)> on_http2;
};

class Server {
 public:
  // All pointers must outlive the server. `authenticator` may be null (no authentication).
  Server(Router* router, Metrics* metrics, EventStore* store, ServerOptions options,
         const Authenticator* authenticator = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. kInvalidArgument for a bad address or TLS files, kUnavailable when the
  // address cannot be bound.
  Status Start();
  // The bound address, "127.0.0.1:2113" or "[::1]:2113" (valid after Start).
  std::string BoundAddress() const;
  // Serves until Stop() has drained the connections (or its timeout passed). Call once.
  void Run();
  // Thread-safe, idempotent; returns at once.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals::http
