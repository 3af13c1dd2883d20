// The reactor of a server-streaming call whose messages are queued in a shared State: worker
// tasks (store reads, head watches) hold the State and may outlive the reactor, so they reach
// it only through `State::reactor`, null once gRPC is done with the call.
//
// State provides: `std::recursive_mutex mu` (gRPC may run a reaction inline from StartWrite or
// Finish), `QueuedWriteReactor<State, Resp>* reactor`, a `std::deque out` of messages (front:
// being written while `writing`; popped here when written), `bool writing`,
// `std::optional<grpc::Status> final_status`, `void Kick()` (under mu: starts the next write, the
// finish or the next fetch) and `void OnCallDone()` (after the reactor is detached, without mu).
#pragma once

#include <grpcpp/support/server_callback.h>

#include <memory>
#include <mutex>

namespace annals::grpcapi {

template <class State, class Resp>
class QueuedWriteReactor final : public grpc::ServerWriteReactor<Resp> {
 public:
  explicit QueuedWriteReactor(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void Begin() {
    std::lock_guard lock(state_->mu);
    state_->reactor = this;
    state_->Kick();
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(state_->mu);
    state_->writing = false;
    if (!state_->out.empty()) state_->out.pop_front();
    if (!ok) {
      // The client went away: nothing more can be sent.
      state_->out.clear();
      if (!state_->final_status) state_->final_status = grpc::Status::CANCELLED;
    }
    state_->Kick();
  }
  void OnCancel() override {
    std::lock_guard lock(state_->mu);
    state_->out.clear();
    if (!state_->final_status) state_->final_status = grpc::Status::CANCELLED;
    state_->Kick();
  }
  void OnDone() override {
    {
      std::lock_guard lock(state_->mu);
      state_->reactor = nullptr;
    }
    state_->OnCallDone();
    delete this;
  }

 private:
  std::shared_ptr<State> state_;
};

// A streaming call that only finishes, with an error or an empty OK.
template <class Resp>
class FinishedWriteReactor final : public grpc::ServerWriteReactor<Resp> {
 public:
  explicit FinishedWriteReactor(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace annals::grpcapi
