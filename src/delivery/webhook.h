// Webhooks: push delivery of a filtered slice of the log to an HTTP endpoint, as CloudEvents
// (webhook_format.h), signed, retried with backoff, parked when they keep failing.
//
// A webhook is a cursor of the DeliveryService (Kind::kWebhook) with the pinned strategy and
// `parkKeepsOrder`: each stream is delivered in order, a failing event holds back only its own
// stream, and after max attempts it is parked with the stream's later events behind it (other
// streams keep flowing). One thread drives every webhook through libcurl's multi interface
// (connection reuse per host, timeouts, TLS verification on), fed by the groups' long polls.
//
// Responses: 2xx = delivered (acked). 410 Gone disables the webhook (paused, with the reason;
// Resume enables it again). Anything else — 5xx, 429, other 4xx, timeouts, connection errors —
// is retried after the group's exponential backoff with jitter, or after Retry-After when the
// receiver sent one and it is longer.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "delivery/secret_box.h"
#include "delivery/service.h"

namespace annals::delivery {

struct WebhookConfig {
  std::string name;
  std::string url;
  Source filter;  // a stream, a category, event types...
  StartAt start;
  std::string secret;  // "whsec_<base64>" or any text; empty: unsigned
  // A stored secret this server's key cannot open (the key file was replaced): kept as it is,
  // and the webhook stays disabled until it is PUT again with its secret.
  std::string sealed_secret;
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
  uint32_t max_attempts = 10;  // deliveries of one event before it is parked
  std::chrono::milliseconds backoff_min{500};
  std::chrono::milliseconds backoff_max{60000};
  uint32_t batch_size = 1;  // 1: binary mode; more: structured batches of up to this many
  std::chrono::milliseconds timeout{10000};  // whole request
  uint32_t concurrency = 8;                  // requests in flight
  std::string ce_source = "annals";          // CloudEvents `source`
  bool paused = false;
  std::string disabled_reason;  // set when a 410 disabled it
};

// The sink JSON of the REST shape (with `filter` and `from`, and the secret in plain text: the
// routes drop it). What the config stream stores has it sealed instead (secret_box.h).
Json WebhookSinkJson(const WebhookConfig& c);
Status WebhookSinkFromJson(const Json& j, WebhookConfig* c);

struct WebhookStatus {
  WebhookConfig config;
  GroupInfo cursor;
  std::string last_error;
  unsigned last_status = 0;  // HTTP status of the last response, 0 for none
  uint64_t requests = 0;
  uint64_t failed_requests = 0;
  uint64_t delivered_events = 0;
  uint32_t requests_in_flight = 0;
};

class WebhookManager {
 public:
  // Starts the pushers of every registered webhook. `service` must outlive the manager.
  // With `box`, secrets are stored sealed as `sealedSecret` (`secret` stored in plain text by
  // an older version is still read, and sealed when the webhook is next written); without,
  // they are stored in plain text (embedded use, tests).
  static Result<std::unique_ptr<WebhookManager>> Start(
      DeliveryService* service, std::shared_ptr<const SecretBox> box = nullptr);
  ~WebhookManager();  // Close()
  WebhookManager(const WebhookManager&) = delete;
  WebhookManager& operator=(const WebhookManager&) = delete;

  // Creates or updates (the filter cannot change). Returns true when created.
  Result<bool> Put(WebhookConfig config);
  Result<WebhookStatus> Get(const std::string& name) const;
  std::vector<WebhookStatus> List() const;
  Status Delete(const std::string& name);
  Status Pause(const std::string& name);
  Status Resume(const std::string& name);  // also re-enables after a 410
  // Moves the cursor (replay from a position or a time, or skip to the end).
  Status Reset(const std::string& name, const StartAt& start);
  // The cursor, for the parked-message operations.
  Result<std::shared_ptr<Group>> Cursor(const std::string& name) const;

  // Stops the pusher; requests in flight are abandoned (their events are delivered again).
  void Close();

 private:
  struct Impl;
  explicit WebhookManager(DeliveryService* service);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals::delivery
