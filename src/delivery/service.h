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
// docs/delivery.md). Depends only on the EventStore and CursorLeases interfaces.
//
// Several processes over one shared store (the PostgreSQL backend): the service drives a
// cursor only while it holds the cursor's lease (CursorLeases, key "<Kind>/<name>"). About
// once a second it follows the config stream (definitions made by other processes), checks
// its leases, gives up the cursors whose lease it lost (Group::Idle) and tries to take every
// cursor it does not drive; a cursor it takes over is loaded from the store first
// (Group::Load), so it resumes at the last checkpoint another process wrote (at least once).
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

#include "annals/cursor_leases.h"
#include "annals/event_store.h"
#include "delivery/codec.h"
#include "delivery/definitions.h"
#include "delivery/group.h"

namespace annals::delivery {

// What a cursor is for. Names are unique per kind.
enum class Kind : uint8_t { kGroup, kWebhook, kRelay };
std::string_view KindName(Kind kind);  // "Group", "Webhook", "Relay" (config event prefix)

// A cursor: its kind and name.
using CursorId = std::pair<Kind, std::string>;

// The lease key of a cursor: "<Kind>/<name>".
std::string LeaseKey(const CursorId& id);

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
  // Reads the config stream, loads the checkpoint and parked state of every cursor whose lease
  // it gets, and starts the dispatcher. `store` must outlive the service. Without `leases`
  // the store is this process's alone: every cursor is driven here (LocalCursorLeases), and
  // the config stream is read only at open.
  static Result<std::unique_ptr<DeliveryService>> Open(
      EventStore* store, std::unique_ptr<CursorLeases> leases = nullptr);
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
  // The live cursor, for Poll/Ack/Nack/Info/parked operations; kNotFound when absent. A cursor
  // another process drives is found too: Group::CheckDriven says whether it can be consumed.
  Result<std::shared_ptr<Group>> Find(Kind kind, const std::string& name) const;
  // Moves a cursor to a start point (a position or a time: replay; or the end: skip ahead).
  // kUnavailable when another process drives it.
  Status Reset(Kind kind, const std::string& name, const StartAt& start);

  // Stops the dispatcher, answers waiting polls, writes final checkpoints. Idempotent.
  void Close();

  EventStore* store() const { return store_; }
  // Other processes share the store (Open was given leases): definitions may change there.
  bool shared() const { return shared_; }

 private:
  struct Waker;
  struct Entry {
    Registered reg;
    std::shared_ptr<Group> group;
  };
  DeliveryService(EventStore* store, std::unique_ptr<CursorLeases> leases, bool shared);
  // Logs that this node took (and, Load done, drives) or lost a cursor, when shared.
  void LogTaken(const std::string& key) const;
  void LogLost(const std::string& key) const;
  // Reads the config stream from where it was read last and applies what other processes
  // (or, at open, earlier runs) wrote. Needs config_mu_.
  Status SyncConfigLocked();
  Status ApplyConfigLocked(const RecordedEvent& e);
  // The dispatcher's lease pass: gives up lost cursors, takes free ones. `full`: also follows
  // the config stream and checks and tries to take leases (about once a second).
  void Lease(bool full);
  Result<AppendResult> AppendConfig(std::string type, const Json& data);
  std::shared_ptr<Group> MakeGroup(Kind kind, const GroupDefinition& def);
  void Run();

  EventStore* const store_;
  // Shared with the groups, which ask it who drives them (Group's DriverLookup).
  const std::shared_ptr<CursorLeases> leases_;
  const bool shared_;  // other processes use the store: follow the config stream
  std::shared_ptr<Waker> waker_;
  std::mutex config_mu_;  // serialises config writes
  std::optional<Revision> config_last_;
  mutable std::mutex mu_;
  std::map<CursorId, Entry> entries_;
  // Deleted: stopped by the dispatcher, which then gives their lease (key) back.
  std::vector<std::pair<CursorId, std::shared_ptr<Group>>> retired_;
  Position config_synced_head_;  // the head when the config stream was last followed
  std::thread dispatcher_;
  bool closed_ = false;
};

// Polls and waits for the answer on the calling thread.
std::vector<Delivery> PollBlocking(Group& group, const std::string& consumer, uint32_t max,
                                   std::chrono::milliseconds wait);

// A group name: 1..200 bytes of printable UTF-8 without '/'.
Status ValidateName(std::string_view name);

}  // namespace annals::delivery
