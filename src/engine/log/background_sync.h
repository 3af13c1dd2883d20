// Runs one fdatasync at a time on its own thread, so the writer can write the index batch of a
// group commit while the disk makes its log bytes durable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "annals/status.h"
#include "engine/log/segments.h"

namespace annals::log {

class BackgroundSync {
 public:
  BackgroundSync();
  ~BackgroundSync();
  BackgroundSync(const BackgroundSync&) = delete;
  BackgroundSync& operator=(const BackgroundSync&) = delete;

  // Starts syncing `file`. At most one sync is in flight: call Wait() before the next Start().
  void Start(std::shared_ptr<SegmentFile> file);
  // Blocks until the started sync finished and returns its result; `took` (optional) is how
  // long the fdatasync itself ran.
  Status Wait(std::chrono::nanoseconds* took = nullptr);

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<SegmentFile> pending_;
  bool done_ = true;
  bool stop_ = false;
  Status result_;
  std::chrono::nanoseconds took_{0};
  std::thread thread_;
};

}  // namespace annals::log
