// An EventStore that forwards every call to another one, for backends whose test handle must
// own more than the store: a store shared between handles (the in-memory model, which has no
// disk to reopen), or a server process behind a remote store. `on_close` runs after the store
// is released, when the handle is destroyed.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "annals/event_store.h"

namespace annals::conformance {

class ForwardingStore final : public EventStore {
 public:
  explicit ForwardingStore(std::shared_ptr<EventStore> store, std::function<void()> on_close = {})
      : store_(std::move(store)), on_close_(std::move(on_close)) {}
  ~ForwardingStore() override {
    store_.reset();
    if (on_close_) on_close_();
  }
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
  std::function<void()> on_close_;
};

}  // namespace annals::conformance
