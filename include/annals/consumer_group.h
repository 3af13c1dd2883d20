// A client of a server's persistent consumer groups over REST (docs/http-api.md,
// "Persistent subscriptions"; semantics in docs/delivery.md): create a group, poll (long
// poll), ack, nack. Delivery is at least once: pair it with IdempotentConsumer
// (annals/projection.h) so a redelivered event is handled once.
//
//   annals::ConsumerGroupClient group({.url = "http://127.0.0.1:2113"}, "surveys");
//   group.Create(R"({"source":{"eventType":"PatientCheckedOut"},"from":"start"})");
//   auto batch = group.Poll("worker-1", 100, std::chrono::seconds(5));
//   ... handle ... group.Ack(ids);
//
// Thread safety: every method may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "annals/remote_store.h"

namespace annals {

namespace sdk {
class HttpClient;
}

struct Delivery {
  RecordedEvent event;
  std::string ack_id;
  uint32_t delivery_count = 1;  // 1 on the first delivery
  bool replayed = false;        // handed out again by a parked-message replay
};

enum class NackAction : uint8_t { kRetry, kPark, kSkip };

class ConsumerGroupClient {
 public:
  ConsumerGroupClient(const RemoteOptions& server, std::string group);
  ~ConsumerGroupClient();

  // PUT /subscriptions/{group} with `definition_json` (source, from, settings): creates the
  // group or updates its settings. Ok when it was created or already existed.
  Status Create(std::string_view definition_json);
  // Up to `max` events, waiting up to `wait` when none is ready.
  Result<std::vector<Delivery>> Poll(std::string_view consumer, uint32_t max,
                                     std::chrono::milliseconds wait);
  Status Ack(const std::vector<std::string>& ack_ids);
  Status Nack(const std::vector<std::string>& ack_ids, NackAction action,
              std::string_view reason = {});

 private:
  std::unique_ptr<sdk::HttpClient> client_;
  std::string path_;  // /subscriptions/{group}
};

}  // namespace annals
