// DeliveryService: the registry of durable cursors over one EventStore — persistent consumer
// groups, and the cursors behind webhooks and relays — and the one dispatcher thread that
// drives them all (reads, timeouts, retries, long polls, parks, checkpoints), woken by
// EventStore::WatchHead on every commit.
//
//   auto svc = DeliveryService::Open(store);          // rebuilds the registry from the store
//   (*svc)->Put(Kind::kGroup, {.name = "g1", .source = {.filter = {.category = "visit"}}});
//   auto g = (*svc)->Find(Kind::kGroup, "g1");
//   auto batch = PollBlocking(**g, "consumer-1", 100, 5s);
//   (*g)->Ack({batch[0].ack_id});
//
// Everything durable is an event in the store, appended with `system_writer`: definitions in
// `$annals-delivery-config`, checkpoints and parked messages in per-cursor streams (see
// docs/delivery.md). Depends only on the EventStore interface.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "annals/event_store.h"
#include "delivery/codec.h"
#include "delivery/definitions.h"
#include "delivery/group.h"

namespace annals::delivery {

// What a cursor is for. Names are unique per kind.
enum class Kind : uint8_t { kGroup, kWebhook, kRelay };
std::string_view KindName(Kind kind);  // "Group", "Webhook", "Relay" (config event prefix)

// The checkpoint and parked streams of a cursor: KurrentDB's names for groups
// (`$persistentsubscription-<stream or $all>::<group>-checkpoint|-parked`),
// `$webhook-<name>-…` and `$relay-<name>-…` for the others.
GroupStreams StreamsOf(Kind kind, const GroupDefinition& def);

// Resolves a start point into a cursor value: a revision for a stream source, a position
// otherwise. A time is found by a binary search over the stream's revisions (stream source,
// O(log n) reads) or by a backward scan of `$all` from the head (O(events since that time)).
Result<uint64_t> ResolveStart(EventStore* store, const Source& source, const StartAt& start);

struct PutResult {
  GroupDefinition definition;
  bool created = false;
};

struct Registered {
  GroupDefinition definition;
  Json sink;  // the kind's own settings (a webhook's URL, secret...), opaque here
};

class DeliveryService {
 public:
  // Reads the config stream, loads every cursor's checkpoint and parked state, and starts the
  // dispatcher. `store` must outlive the service.
  static Result<std::unique_ptr<DeliveryService>> Open(EventStore* store);
  ~DeliveryService();  // Close()
  DeliveryService(const DeliveryService&) = delete;
  DeliveryService& operator=(const DeliveryService&) = delete;

  // Creates a cursor, or updates one: the source must be the same (kInvalidArgument
  // otherwise); settings, paused and sink change; the start is kept (Reset moves a cursor).
  Result<PutResult> Put(Kind kind, GroupDefinition def, Json sink = Json::object());
  Result<Registered> Get(Kind kind, const std::string& name) const;
  // kNotFound when there is no such cursor. Waiting polls get empty answers.
  Status Delete(Kind kind, const std::string& name);
  std::vector<Registered> List(Kind kind) const;
  // The live cursor, for Poll/Ack/Nack/Info/parked operations; kNotFound when absent.
  Result<std::shared_ptr<Group>> Find(Kind kind, const std::string& name) const;
  // Moves a cursor to a start point (a position or a time: replay; or the end: skip ahead).
  Status Reset(Kind kind, const std::string& name, const StartAt& start);

  // Stops the dispatcher, answers waiting polls, writes final checkpoints. Idempotent.
  void Close();

  EventStore* store() const { return store_; }

 private:
  struct Waker;
  struct Entry {
    Registered reg;
    std::shared_ptr<Group> group;
  };
  explicit DeliveryService(EventStore* store);
  Status LoadConfig();
  Result<AppendResult> AppendConfig(std::string type, const Json& data);
  std::shared_ptr<Group> MakeGroup(Kind kind, const GroupDefinition& def);
  void Run();

  EventStore* const store_;
  std::shared_ptr<Waker> waker_;
  std::mutex config_mu_;  // serialises config writes
  std::optional<Revision> config_last_;
  mutable std::mutex mu_;
  std::map<std::pair<Kind, std::string>, Entry> entries_;
  std::vector<std::shared_ptr<Group>> retired_;  // deleted: stopped by the dispatcher
  std::thread dispatcher_;
  bool closed_ = false;
};

// Polls and waits for the answer on the calling thread.
std::vector<Delivery> PollBlocking(Group& group, const std::string& consumer, uint32_t max,
                                   std::chrono::milliseconds wait);

// A group name: 1..200 bytes of printable UTF-8 without '/'.
Status ValidateName(std::string_view name);

}  // namespace annals::delivery
