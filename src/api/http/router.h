// The HTTP API's request handling, free of I/O: a Request in, an action out.
//
// Most requests are answered at once with a Response (reads run inline: they are fast). An
// append comes back as an AppendCall, which the session hands to EventStore::AppendAsync and
// completes with FinishAppend, so no I/O thread waits on a disk sync. Other writes (metadata,
// delete) come back as a BlockingCall to run on a blocking pool. A request for Server-Sent
// Events comes back as an SseCall for the session's streaming loop.
//
// Thread safety: Dispatch and FinishAppend may be called from any thread concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "annals/event_store.h"
#include "api/http/message.h"
#include "api/http/metrics.h"
#include "api/http/sse.h"

namespace annals {
class Engine;
}

namespace annals::http {

class Authorizer;
class DeliveryRoutes;

struct RouterOptions {
  uint64_t default_page_size = 100;  // `limit` when a read does not say
  uint64_t max_page_size = 10000;    // larger `limit`s are refused (400)
  std::string version = "0.1.0";
  std::string store_kind = "memory";  // "engine" or "memory", for /info
  std::string durability = "none";    // "fsync", "unsafe-no-sync" or "none" (memory)
  bool tls = false;
  bool auth = false;
};

struct AppendCall {
  AppendRequest request;
  std::string instance;  // the request path, /streams/{stream} as sent
  uint64_t events = 0;   // for the metrics: the request may be moved out before FinishAppend
  uint64_t bytes = 0;    // data + metadata of all events
  std::chrono::steady_clock::time_point started;
};

struct BlockingCall {
  std::function<Response()> run;
};

struct SseCall {
  SseSpec spec;
  std::shared_ptr<SseFeed> feed;  // set: frames come from it instead of a log cursor
};

// A response that comes later, from another thread (a long poll): the session calls `start`
// once with a callback that must be called exactly once, from any thread.
struct AsyncCall {
  std::function<void(std::function<void(Response)>)> start;
};

struct Routed {
  Route route = Route::kUnmatched;
  std::variant<Response, AppendCall, BlockingCall, SseCall, AsyncCall> action;
};

class Router {
 public:
  // `store` and `metrics` must outlive the router; `engine` (may be null) is the same object as
  // `store` when it is the embedded engine, for its stats. `authorizer` may be null: then every
  // request is allowed.
  Router(EventStore* store, Engine* engine, Metrics* metrics, const Authorizer* authorizer,
         RouterOptions options);

  // May pad `request.body` in place for the JSON parser.
  Routed Dispatch(Request& request) const;
  // Reads `call` for its instance and counts only: `call.request` may have been moved out.
  Response FinishAppend(const AppendCall& call, const Result<AppendResult>& result) const;

  // Serves /subscriptions and /webhooks (delivery_routes.h); `routes` must outlive the router.
  void SetDelivery(const DeliveryRoutes* routes) { delivery_ = routes; }

  // /health/ready answers 503 once the server is stopping (and while the store cannot reach
  // its database: EventStore::CheckHealth).
  void SetStopping() { stopping_.store(true, std::memory_order_relaxed); }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }

 private:
  Routed StreamRoute(Request& request, std::string_view stream, std::string_view query) const;
  Routed MetadataRoute(Request& request, std::string_view stream, std::string_view query) const;
  Routed AllRoute(Request& request, std::string_view query) const;
  Routed StreamsRoute(Request& request, std::string_view query) const;
  Routed AppendRoute(Request& request, std::string stream, std::string_view query) const;
  Response Info() const;

  EventStore* store_;
  Engine* engine_;
  Metrics* metrics_;
  const Authorizer* authorizer_;
  RouterOptions options_;
  const DeliveryRoutes* delivery_ = nullptr;
  std::atomic<bool> stopping_{false};
};

}  // namespace annals::http
