// The REST face of delivery (docs/http-api.md, "Delivery"): persistent consumer groups under
// /subscriptions and webhooks under /webhooks, translated to annals::delivery calls. I/O-free
// like the rest of the router: a long poll comes back as an AsyncCall.
//
//   PUT|GET|DELETE /subscriptions/{group}     GET /subscriptions
//   POST /subscriptions/{group}/poll?max=&wait=&consumer=
//   POST /subscriptions/{group}/ack           {"ids": [...]}
//   POST /subscriptions/{group}/nack          {"ids": [...], "action": "retry"|"park"|"skip", ...}
//   POST /subscriptions/{group}/reset         {"from": ...}
//   GET|DELETE /subscriptions/{group}/parked  POST /subscriptions/{group}/parked/replay
//   PUT|GET|DELETE /webhooks/{name}           GET /webhooks
//   POST /webhooks/{name}/pause|resume|reset  GET|DELETE /webhooks/{name}/parked
//   POST /webhooks/{name}/parked/replay
//
// Thread safety: Dispatch may be called from any thread concurrently.
#pragma once

#include <string_view>
#include <vector>

#include "api/http/auth.h"
#include "api/http/router.h"

namespace annals::delivery {
class DeliveryService;
class WebhookManager;
}  // namespace annals::delivery

namespace annals::http {

class DeliveryRoutes {
 public:
  // Both must outlive the routes; `webhooks` may be null (then /webhooks is not served).
  DeliveryRoutes(delivery::DeliveryService* service, delivery::WebhookManager* webhooks)
      : service_(service), webhooks_(webhooks) {}

  // True for paths under /subscriptions and /webhooks (`segs` are the path's segments).
  static bool Owns(const std::vector<std::string_view>& segs);
  static Route RouteOf(const std::vector<std::string_view>& segs);
  // Consuming (poll, ack, nack, reading parked messages) reads the whole log: kRead of `$all`.
  // Creating, changing and deleting groups and webhooks, replaying and truncating: kDelete
  // (an administrator), since a webhook can send any event anywhere.
  static Operation OperationOf(std::string_view method, const std::vector<std::string_view>& segs);

  Routed Dispatch(Request& req, const std::vector<std::string_view>& segs,
                  std::string_view query) const;

 private:
  Routed Subscriptions(Request& req, const std::vector<std::string_view>& segs,
                       std::string_view query) const;
  Routed Webhooks(Request& req, const std::vector<std::string_view>& segs,
                  std::string_view query) const;

  delivery::DeliveryService* service_;
  delivery::WebhookManager* webhooks_;
};

}  // namespace annals::http
