// ThreadedHeadWatches: EventStore::WatchHead and CancelHeadWatch for stores that learn of a
// commit only by a blocking wait (the SDK's REST and gRPC stores): one thread per watch, which
// waits in slices so that a cancel or a close ends it promptly.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "annals/event_store.h"

namespace annals {

class ThreadedHeadWatches {
 public:
  // The store's WaitForHead: returns the head once it is past `after`, or after `timeout`.
  using Wait = std::function<Position(Position after, std::chrono::milliseconds timeout)>;
  ThreadedHeadWatches(Wait wait, std::chrono::milliseconds slice)
      : wait_(std::move(wait)), slice_(slice) {}
  ~ThreadedHeadWatches() { Close(); }
  ThreadedHeadWatches(const ThreadedHeadWatches&) = delete;
  ThreadedHeadWatches& operator=(const ThreadedHeadWatches&) = delete;

  // EventStore::WatchHead: `callback` runs once, on the watch's thread.
  uint64_t Watch(Position after, CommitCallback callback);
  // The thread ends within one slice; Close() joins it.
  void Cancel(uint64_t id);
  // Watches still pending fire with the head they last saw (the interface's contract: nothing
  // commits through a closed store); joins every thread. Idempotent; call it before the store
  // that `wait` uses goes away.
  void Close();

 private:
  struct Entry {
    std::shared_ptr<std::atomic<bool>> cancelled;
    std::thread thread;
  };
  const Wait wait_;
  const std::chrono::milliseconds slice_;
  std::atomic<bool> closing_{false};
  std::mutex mu_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_id_ = 0;
};

}  // namespace annals
