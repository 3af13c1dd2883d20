// The REST face of delivery (docs/http-api.md, "Delivery"): persistent consumer groups under
// /subscriptions and webhooks under /webhooks, translated to annals::delivery calls. I/O-free
// like the rest of the router: a long poll comes back as an AsyncCall.
//
//   PUT|GET|DELETE /subscriptions/{group}     GET /subscriptions
//   POST /subscriptions/{group}/poll?max=&wait=&consumer=
//   GET /subscriptions/{group}/events?max=&consumer=   (Server-Sent Events; ack/nack by POST)
//   POST /subscriptions/{group}/ack           {"ids": [...]}
//   POST /subscriptions/{group}/nack          {"ids": [...], "action": "retry"|"park"|"skip", ...}
//   POST /subscriptions/{group}/reset         {"from": ...}
//   GET|DELETE /subscriptions/{group}/parked  POST /subscriptions/{group}/parked/replay
//   PUT|GET|DELETE /webhooks/{name}           GET /webhooks
//   POST /webhooks/{name}/pause|resume|reset  GET|DELETE /webhooks/{name}/parked
//   POST /webhooks/{name}/parked/replay
//   PUT|GET|DELETE /relays/{name}             GET /relays
//   POST /relays/{name}/reset                 GET|DELETE /relays/{name}/parked
//   POST /relays/{name}/parked/replay
//
// Thread safety: Dispatch may be called from any thread concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/http/auth.h"
#include "api/http/router.h"

namespace annals::delivery {
class DeliveryService;
class RelayManager;
class WebhookManager;
}  // namespace annals::delivery

namespace annals::http {

class DeliveryRoutes {
 public:
  // All must outlive the routes; `webhooks` and `relays` may be null (then /webhooks or
  // /relays is not served).
  DeliveryRoutes(delivery::DeliveryService* service, delivery::WebhookManager* webhooks,
                 delivery::RelayManager* relays = nullptr)
      : service_(service), webhooks_(webhooks), relays_(relays) {}

  // True for paths under /subscriptions, /webhooks and /relays (`segs`: the path's segments).
  static bool Owns(const std::vector<std::string_view>& segs);
  static Route RouteOf(const std::vector<std::string_view>& segs);
  // Consuming (poll, ack, nack, reading parked messages) reads the whole log: kRead of `$all`.
  // Creating, changing and deleting groups, webhooks and relays, replaying and truncating:
  // kDelete (an administrator), since a webhook or a relay can send any event anywhere.
  static Operation OperationOf(std::string_view method, const std::vector<std::string_view>& segs);

  Routed Dispatch(Request& req, const std::vector<std::string_view>& segs,
                  std::string_view query) const;

  // Appends the per-cursor gauges to /metrics: lag in events and seconds, in flight, parked,
  // labelled kind="subscription"|"webhook"|"relay" and name.
  void RenderMetrics(std::string* out) const;

 private:
  Routed Subscriptions(Request& req, const std::vector<std::string_view>& segs,
                       std::string_view query) const;
  Routed Webhooks(Request& req, const std::vector<std::string_view>& segs,
                  std::string_view query) const;
  Routed Relays(Request& req, const std::vector<std::string_view>& segs,
                std::string_view query) const;

  delivery::DeliveryService* service_;
  delivery::WebhookManager* webhooks_;
  delivery::RelayManager* relays_;
};

}  // namespace annals::http
