#include "engine/log/background_sync.h"

namespace annals::log {

BackgroundSync::BackgroundSync() : thread_([this] { Run(); }) {}

BackgroundSync::~BackgroundSync() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BackgroundSync::Start(std::shared_ptr<SegmentFile> file) {
  {
    std::lock_guard lock(mu_);
    pending_ = std::move(file);
    done_ = false;
  }
  cv_.notify_all();
}

Status BackgroundSync::Wait(std::chrono::nanoseconds* took) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return done_; });
  if (took != nullptr) *took = took_;
  return result_;
}

void BackgroundSync::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return pending_ != nullptr || stop_; });
    if (pending_ == nullptr) return;
    std::shared_ptr<SegmentFile> file = std::move(pending_);
    pending_ = nullptr;
    lock.unlock();
    const auto started = std::chrono::steady_clock::now();
    Status s = file->Sync();
    const auto took = std::chrono::steady_clock::now() - started;
    lock.lock();
    result_ = std::move(s);
    took_ = took;
    done_ = true;
    cv_.notify_all();
  }
}

}  // namespace annals::log
