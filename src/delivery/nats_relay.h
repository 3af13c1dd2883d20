// NATS JetStream relay: publishes a filtered slice of the log to JetStream, driven by a durable
// cursor like a webhook (Kind::kRelay, pinned by stream, parked events hold their stream).
//
// Each event is published with js_PublishMsg (the publish is acknowledged by the JetStream
// stream, so an ack means stored by NATS) to the subject `<prefix>.<category>.<stream>` (each
// token with every character outside [A-Za-z0-9_-] replaced by '_'), with the headers
// `Nats-Msg-Id` = event id (JetStream drops a duplicate within the stream's duplicate window),
// `Annals-Stream`, `Annals-Type`, `Annals-Revision`, `Annals-Position`, `Annals-Created`,
// `Annals-Delivery-Attempt` and `Content-Type`; the payload is the event's data. Events of a
// batch are published in order; a failed publish is retried (with the rest of its batch) after
// the backoff; the connection reconnects by itself.
//
// One thread per relay. Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "delivery/service.h"

namespace annals::delivery {

struct RelayConfig {
  std::string name;
  std::string url = "nats://127.0.0.1:4222";
  Source filter;
  StartAt start;
  std::string subject_prefix = "annals";
  // When set, a JetStream stream of this name over `<prefix>.>` is created if missing.
  std::string create_stream;
  uint32_t batch_size = 100;
  uint32_t max_attempts = 1000;  // publishes of one event before it is parked
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds timeout{5000};  // one publish acknowledgement
  bool paused = false;
};

Json RelaySinkJson(const RelayConfig& c);
Status RelaySinkFromJson(const Json& j, RelayConfig* c);
// `<prefix>.<category>.<stream>` with unsafe characters replaced.
std::string RelaySubject(const std::string& prefix, const std::string& stream);

struct RelayStatus {
  RelayConfig config;
  GroupInfo cursor;
  bool connected = false;
  uint64_t published = 0;
  uint64_t failed = 0;
  std::string last_error;
};

class RelayManager {
 public:
  // Starts every registered relay. `service` must outlive the manager.
  static Result<std::unique_ptr<RelayManager>> Start(DeliveryService* service);
  ~RelayManager();  // Close()
  RelayManager(const RelayManager&) = delete;
  RelayManager& operator=(const RelayManager&) = delete;

  Result<bool> Put(RelayConfig config);  // true when created; the filter cannot change
  Result<RelayStatus> Get(const std::string& name) const;
  std::vector<RelayStatus> List() const;
  Status Delete(const std::string& name);
  Result<std::shared_ptr<Group>> Cursor(const std::string& name) const;
  void Close();

 private:
  struct Impl;
  explicit RelayManager(DeliveryService* service);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals::delivery
