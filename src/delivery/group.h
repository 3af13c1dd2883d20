// Group: one durable cursor over the committed log with competing consumers, ack tracking,
// retries, parking and parked-message replay. The DeliveryService owns the groups and runs
// their Tick on its dispatcher thread; consumers call Poll/Ack/Nack from any thread.
//
// State. Events read from the source enter the *window* in source order, each with a
// sequence number. An event stays in the window until it is resolved: acked, skipped, or
// parked durably (its ParkedEvent append acknowledged). The checkpoint is the cursor (revision
// or position) of the oldest unresolved event of the window, or the read cursor when the
// window is empty, so it never passes an unresolved event; it is written to the checkpoint
// stream at the checkpoint interval. After a restart the group reads again from the last
// checkpoint (so does a process that takes the group over from another, after Load): events
// resolved after it are delivered again (at least once).
//
// Replayed parked messages sit in a separate queue that is handed out before the window and
// does not hold the checkpoint back; when all of a replay round is resolved a ParkedReplayed
// marker clears the round's entries from the parked stream.
//
// Thread safety: Poll, Ack, Nack, Info, ListParked, ReplayParked, TruncateParked and Reset may
// be called from any thread; Load, Idle, Tick and Stop only from the dispatcher.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "annals/event_store.h"
#include "delivery/definitions.h"

namespace annals::delivery {

using Clock = std::chrono::steady_clock;
using PollCallback = std::function<void(std::vector<Delivery>)>;

struct UuidHash {
  size_t operator()(const Uuid& u) const {
    return std::hash<std::string_view>()(
        std::string_view(reinterpret_cast<const char*>(u.bytes.data()), u.bytes.size()));
  }
};

struct ParkedPage {
  std::vector<ParkedEntry> entries;
  std::optional<uint64_t> next;  // parked revision to continue from; nullopt at the end
};

struct ReplayResult {
  uint64_t replaying = 0;  // entries handed out again
  uint64_t gone = 0;       // entries whose event can no longer be read (deleted, truncated)
};

// The two system streams of one group.
struct GroupStreams {
  std::string checkpoint;
  std::string parked;
};

// Names the process that drives a group when this one does not (CursorLeases::Holder of its
// lease): nullopt when none does.
using DriverLookup = std::function<Result<std::optional<std::string>>()>;

class Group {
 public:
  // `store` must outlive the group. `wake` asks the dispatcher for a Tick soon. `driver`, when
  // given, names the driving process in the errors of a group not driven here.
  Group(EventStore* store, GroupDefinition def, GroupStreams streams, std::function<void()> wake,
        DriverLookup driver = {});
  ~Group();

  // Takes the group over (the DeliveryService holds its lease, include/annals/cursor_leases.h):
  // forgets what is in memory, then reads the last checkpoint and the parked entries not yet
  // cleared, which another process may have moved. Dispatcher or before the dispatcher starts.
  Status Load();
  // Gives the group up (its lease was lost): answers waiting polls, forgets every event in
  // memory (acks for them are then ignored; the next driver delivers them again) and writes
  // nothing more. Until the next Load, a group not driven here reads nothing and hands
  // nothing out: its polls wait and answer empty. A new group is not driven. Dispatcher only.
  void Idle();
  bool Driven() const;
  // kUnavailable when this process does not drive the group (another node does, or none yet).
  Status CheckDriven() const;

  const GroupStreams& streams() const { return streams_; }
  GroupDefinition definition() const;
  // New settings (and paused flag) apply from the next hand-out.
  void Update(const GroupSettings& settings, bool paused);

  // Hands out up to `max` events to `consumer`; waits up to `wait` when none is ready. The
  // callback runs once, on the calling thread (events ready at once) or on the dispatcher.
  // `one_per_stream` (pinned): at most one event of each stream, for a consumer that handles
  // the events of one answer concurrently (a webhook in binary mode).
  void Poll(const std::string& consumer, uint32_t max, std::chrono::milliseconds wait,
            PollCallback done, bool one_per_stream = false);
  // Unknown or already resolved ids are ignored (a late ack after a redelivery); ids that are
  // not UUIDs are kInvalidArgument. `retry_after` is a lower bound for the retry delay.
  Status Ack(const std::vector<std::string>& ids);
  Status Nack(const std::vector<std::string>& ids, NackAction action, const std::string& reason,
              std::chrono::milliseconds retry_after = {});
  // The consumer went away (an SSE connection closed): those of `ids` still in flight to
  // `consumer` are handed out again at once, as after an ack timeout (others are ignored:
  // acked since, or handed to someone else); its waiting polls are answered empty, and it no
  // longer counts as live for the strategies.
  void Release(const std::string& consumer, const std::vector<Uuid>& ids);
  // A connected subscriber (a gRPC subscription call, an SSE feed) arrives or leaves. Attach is
  // kUnavailable, and counts nothing, when settings.max_subscribers are already connected.
  Status AttachSubscriber();
  void DetachSubscriber();
  // True once the group was deleted or the service closed: polls answer empty at once.
  bool Stopped() const;

  GroupInfo Info();
  Result<ParkedPage> ListParked(uint64_t from, uint32_t max);
  Result<ReplayResult> ReplayParked();
  // Clears every parked entry written so far (a ParkedTruncated marker).
  Status TruncateParked();
  // Moves the cursor to `cursor` (backwards too): events in the window are dropped, in-flight
  // deliveries are forgotten, and the new checkpoint is written at once by the dispatcher.
  void Reset(uint64_t cursor);

  // Dispatcher: reads the source when there is room, expires acks, retries, long polls,
  // writes parks and checkpoints. Returns when it next needs to run (absent a wake).
  Clock::time_point Tick(Clock::time_point now);
  // Dispatcher: answers waiting polls (empty) and, when `final_checkpoint`, writes the
  // checkpoint if it moved (not for a deleted group, whose name may already be reused).
  void Stop(bool final_checkpoint = true);

 private:
  enum class State : uint8_t { kReady, kInFlight, kParking };
  struct Message {
    uint64_t seq = 0;
    bool replay = false;
    uint64_t cursor = 0;           // window: revision or position
    uint64_t parked_revision = 0;  // replay: the entry being replayed
    std::shared_ptr<const RecordedEvent> event;
    uint32_t deliveries = 0;
    State state = State::kReady;
    Clock::time_point deadline{};  // in flight: ack deadline; ready: not before
    std::string consumer;
    std::string reason;  // parking
  };
  struct Waiter {
    std::string consumer;
    uint32_t max = 0;
    bool one_per_stream = false;
    Clock::time_point deadline;
    PollCallback done;
  };
  struct Consumer {
    Clock::time_point last_seen{};
    uint64_t order = 0;  // first seen
    uint32_t in_flight = 0;
    uint32_t waiting = 0;
    uint64_t delivered = 0;
  };
  struct ParkedRef {
    ParkedEntry entry;
    bool in_replay = false;  // part of the replay round in progress
  };

  // All *Locked members need mu_.
  std::vector<Delivery> TakeLocked(const std::string& consumer, uint32_t max, Clock::time_point now,
                                   bool one_per_stream);
  bool LiveLocked(const Consumer& c, Clock::time_point now) const;
  Message* FindInFlightLocked(const Uuid& id);
  void LandLocked(Message* m);  // out of flight, not resolved
  void ResolveLocked(Message* m);
  void ClearThroughLocked(uint64_t through);
  // `at_least` < 0: at once (an ack timeout). Past max retries the event is parked, with
  // `why` (the last failure) in the reason.
  void RetryLocked(Message* m, Clock::time_point now, std::chrono::milliseconds at_least,
                   const std::string& why);
  void ParkLocked(Message* m, std::string reason);
  bool HeldLocked(const std::string& stream) const;
  uint64_t CheckpointLocked() const;
  // Whether checkpoint `cp` is worth a timed write: it moved, and over delivered events (or
  // far): a cursor that only passes events it does not deliver writes nothing while idle.
  bool CheckpointWorthWritingLocked(uint64_t cp) const;
  std::map<uint64_t, Message>& QueueOf(const Message& m) { return m.replay ? replay_ : window_; }
  void ServeWaitersLocked(Clock::time_point now,
                          std::vector<std::pair<PollCallback, std::vector<Delivery>>>* done);

  // Dispatcher-side I/O, outside mu_. AppendDurable appends to one of the group's system
  // streams and, on failure, records the error and delays the next durable write.
  Result<AppendResult> AppendDurable(const std::string& stream, std::vector<ProposedEvent> events,
                                     std::string_view what);
  void Fill();
  void WriteParks();
  void WriteCheckpoint(Clock::time_point now, bool force, bool if_changed);
  Status LoadParked();
  // Back to a cursor at the definition's start with nothing in memory (Load, Idle).
  void ForgetLocked();
  // Without mu_: the lookup may take a round trip.
  Status NotDriven() const;

  EventStore* const store_;
  const GroupStreams streams_;
  const std::function<void()> wake_;
  const DriverLookup driver_;

  mutable std::mutex mu_;
  GroupDefinition def_;
  std::map<uint64_t, Message> window_;  // unresolved, by seq
  std::map<uint64_t, Message> replay_;  // unresolved replayed parked messages, by seq
  std::unordered_map<Uuid, std::pair<bool, uint64_t>, UuidHash> in_flight_;  // id -> (replay, seq)
  uint32_t in_flight_count_ = 0;
  std::deque<Waiter> waiters_;
  std::map<std::string, Consumer> consumers_;
  uint64_t consumer_order_ = 0;
  uint64_t next_seq_ = 1;
  std::vector<uint64_t> park_queue_;  // seqs (window or replay) waiting for their append
  // Parked entries not yet cleared, by parked revision.
  std::map<uint64_t, ParkedRef> parked_;
  std::unordered_set<Uuid, UuidHash> parked_ids_;
  std::unordered_map<std::string, uint64_t> held_;  // stream -> parked entries not in replay
  uint64_t parked_watermark_ = 0;                   // entries at revisions < this are cleared
  std::optional<uint64_t> parked_last_;             // last revision of the parked stream
  bool replaying_ = false;
  uint64_t replay_through_ = 0;
  uint64_t read_cursor_ = 0;  // the next cursor value to read (dispatcher writes)
  uint64_t epoch_ = 0;        // bumped by Reset: a read begun before it is dropped
  std::optional<uint64_t> reset_to_;
  uint64_t written_checkpoint_ = 0;
  bool checkpoint_known_ = false;  // written_checkpoint_ reflects the stream
  uint64_t resolved_since_checkpoint_ = 0;
  Clock::time_point last_checkpoint_write_{};
  bool caught_up_ = false;
  Position caught_up_head_;
  bool stopped_ = false;
  uint32_t subscribers_ = 0;  // connected: AttachSubscriber minus DetachSubscriber
  bool driven_ = false;       // Load succeeded and Idle was not called since
  std::string last_error_;
  Clock::time_point retry_io_after_{};  // after a failed durable write
  uint64_t delivered_ = 0, acked_ = 0, retried_ = 0, parked_total_ = 0;
  std::minstd_rand rng_{std::random_device{}()};
};

}  // namespace annals::delivery
