#include "core/threaded_head_watches.h"

namespace annals {

uint64_t ThreadedHeadWatches::Watch(Position after, CommitCallback callback) {
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  std::lock_guard lock(mu_);
  const uint64_t id = ++next_id_;
  Entry& entry = entries_[id];
  entry.cancelled = cancelled;
  entry.thread = std::thread([this, after, cancelled, callback = std::move(callback)] {
    Position head = after;
    while (!cancelled->load() && !closing_.load()) {
      head = wait_(after, slice_);
      if (head > after) break;
    }
    // Fired once: when the head passed `after`, or when the store closes, unless cancelled.
    if (!cancelled->exchange(true)) callback(head);
  });
  return id;
}

void ThreadedHeadWatches::Cancel(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second.cancelled->store(true);
}

void ThreadedHeadWatches::Close() {
  closing_.store(true);
  std::map<uint64_t, Entry> entries;
  {
    std::lock_guard lock(mu_);
    entries.swap(entries_);
  }
  for (auto& [id, entry] : entries) entry.thread.join();
}

}  // namespace annals
