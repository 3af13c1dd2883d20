// The conformance suite against the in-memory reference store.
//
// The model keeps nothing on disk, so to run the reopen tests against it too, `open(dir)` hands
// out handles to one store per directory that outlives its handles: destroying the store and
// opening the directory again finds the same store, as a durable backend would.
#include <map>
#include <mutex>

#include "conformance/conformance_suite.h"
#include "memory/memory_store.h"

namespace annals {
namespace {

// Forwards every call to a shared store.
class SharedHandle final : public EventStore {
 public:
  explicit SharedHandle(std::shared_ptr<EventStore> store) : store_(std::move(store)) {}
  Result<AppendResult> Append(const AppendRequest& r) override { return store_->Append(r); }
  void AppendAsync(AppendRequest r, std::function<void(Result<AppendResult>)> done) override {
    store_->AppendAsync(std::move(r), std::move(done));
  }
  Result<ReadStreamResult> ReadStream(const ReadStreamRequest& r) override {
    return store_->ReadStream(r);
  }
  Result<ReadAllResult> ReadAll(const ReadAllRequest& r) override { return store_->ReadAll(r); }
  Result<StreamInfo> GetStreamInfo(const std::string& s) override {
    return store_->GetStreamInfo(s);
  }
  Result<ListStreamsResult> ListStreams(const ListStreamsRequest& r) override {
    return store_->ListStreams(r);
  }
  Result<StreamMetadataResult> GetStreamMetadata(const std::string& s) override {
    return store_->GetStreamMetadata(s);
  }
  Result<AppendResult> SetStreamMetadata(const std::string& s, ExpectedRevision e,
                                         const StreamMetadata& m) override {
    return store_->SetStreamMetadata(s, e, m);
  }
  Result<DeleteResult> DeleteStream(const std::string& s, ExpectedRevision e,
                                    DeleteMode mode) override {
    return store_->DeleteStream(s, e, mode);
  }
  Position Head() const override { return store_->Head(); }
  Position WaitForHead(Position after, std::chrono::milliseconds timeout) override {
    return store_->WaitForHead(after, timeout);
  }
  uint64_t WatchHead(Position after, CommitCallback callback) override {
    return store_->WatchHead(after, std::move(callback));
  }
  void CancelHeadWatch(uint64_t id) override { store_->CancelHeadWatch(id); }

 private:
  std::shared_ptr<EventStore> store_;
};

std::unique_ptr<EventStore> OpenMemory(const std::string& dir) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<EventStore>> stores;
  std::lock_guard lock(mu);
  std::shared_ptr<EventStore>& store = stores[dir];
  if (!store) store = NewMemoryStore();
  return std::make_unique<SharedHandle>(store);
}

}  // namespace
}  // namespace annals

ANNALS_CONFORMANCE_BACKEND(Memory, /*reopenable=*/true, annals::OpenMemory);
