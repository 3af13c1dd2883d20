#include "api/grpc/reads_service.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>

#include "api/grpc/convert.h"
#include "api/grpc/queued_write_reactor.h"
#include "api/grpc/raw_messages.h"
#include "api/grpc/wire/read_event_message.h"

namespace annals::grpcapi {

namespace {

// Events per store read, and so at most per message; and the payload bytes after which a
// store read stops early, so a read of large events holds a few MiB, not 1,000 events.
constexpr uint64_t kEventsPerRead = 1000;
constexpr uint64_t kBytesPerRead = 4 << 20;
// A message is closed before an event would take it past this (its encoded size); a single
// larger event (up to the event size limit, below the message limit) travels alone.
constexpr size_t kMessageBytes = 1 << 20;
// Messages queued ahead of the one being written: the next store read and its conversion run
// on a worker while gRPC writes, and a slow client holds at most this much in memory.
constexpr size_t kQueuedMessages = 2;

struct ReadAllState;
using ReadAllCall = QueuedWriteReactor<ReadAllState, grpc::ByteBuffer>;

// Shared with the worker reading ahead (queued_write_reactor.h).
struct ReadAllState : std::enable_shared_from_this<ReadAllState> {
  const ServiceContext* sc = nullptr;
  grpc::CallbackServerContext* ctx = nullptr;
  ReadAllRequest request;
  uint64_t remaining = 0;

  // Recursive: gRPC may run a reaction inline from StartWrite or Finish.
  std::recursive_mutex mu;
  ReadAllCall* reactor = nullptr;
  std::deque<grpc::ByteBuffer> out;  // front: being written while `writing`
  std::optional<grpc::Status> final_status;
  bool writing = false;
  bool fetching = false;
  bool read_done = false;  // the last message is queued
  bool finishing = false;

  void Kick();
  void StartFetch();
  void Fetch();
  void OnCallDone() {}
};

// Under mu: the next write, the finish, or the next store read.
void ReadAllState::Kick() {
  if (reactor == nullptr || finishing) return;
  if (!writing && !out.empty()) {
    writing = true;
    reactor->StartWrite(&out.front());
  }
  if (writing) {
    if (!fetching && !read_done && !final_status && out.size() <= kQueuedMessages) StartFetch();
    return;
  }
  if (final_status || read_done) {
    finishing = true;
    reactor->Finish(final_status.value_or(grpc::Status::OK));
    return;
  }
  if (!fetching) StartFetch();
}

void ReadAllState::StartFetch() {
  fetching = true;
  if (!sc->workers->Post([self = shared_from_this()] { self->Fetch(); })) {
    fetching = false;
    final_status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping");
  }
}

void ReadAllState::Fetch() {
  ReadAllRequest r = request;  // only this task touches `request` while `fetching`
  r.max_count = std::min(remaining, kEventsPerRead);
  r.max_bytes = kBytesPerRead;
  auto read = sc->store->ReadAll(r);
  // Encoded by hand, straight from the events (grpcwire::ReadAllRespMessage): building
  // protobuf messages (even in an arena) and serialising them was most of a batched read's
  // server time.
  std::vector<grpcwire::ReadAllRespMessage> messages;
  bool last = false;
  if (read.ok()) {
    grpcwire::ReadAllRespMessage* message = nullptr;
    uint64_t payload = 0;  // what max_bytes counts
    for (const RecordedEvent& e : read->events) {
      payload += e.data.size() + e.metadata.size();
      const size_t size = e.data.size() + e.metadata.size() + e.stream.size() + e.type.size();
      if (message == nullptr || (message->size() > 0 && message->size() + size > kMessageBytes)) {
        message = &messages.emplace_back();
      }
      message->Add(e);
    }
    const uint64_t n = read->events.size();
    remaining -= n;
    request.from = read->next;
    // Fewer than asked without reaching the end or the byte budget: the read stopped on
    // max_scan, and `next` is the checkpoint the client continues from.
    last = remaining == 0 || read->end_of_log || (n < r.max_count && payload < r.max_bytes);
    if (last) {
      if (messages.empty()) messages.emplace_back();
      messages.back().SetLast(read->next.value, read->end_of_log);
    }
  }
  std::vector<grpc::ByteBuffer> encoded;
  for (const grpcwire::ReadAllRespMessage& m : messages) encoded.push_back(EncodedBuffer(m));
  std::lock_guard lock(mu);
  fetching = false;
  if (reactor == nullptr) return;  // the call is over: ctx is gone
  for (auto& m : encoded) out.push_back(std::move(m));
  // The error's trailers go on ctx, so only while the call lives.
  if (!read.ok() && !final_status) {
    final_status = ToGrpc(read.status(), "$all", ctx, sc->options->limits);
  }
  if (last) read_done = true;
  Kick();
}

EventFilter FilterFromProto(const rpb::EventFilter& f) {
  EventFilter out;
  out.stream_prefixes.assign(f.stream_prefixes().begin(), f.stream_prefixes().end());
  out.category = f.category();
  out.event_types.assign(f.event_types().begin(), f.event_types().end());
  out.type_prefixes.assign(f.type_prefixes().begin(), f.type_prefixes().end());
  out.type_regex = f.type_regex();
  out.stream_regex = f.stream_regex();
  out.exclude_system_events = f.exclude_system_events();
  return out;
}

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* ReadsService::ReadAll(grpc::CallbackServerContext* ctx,
                                                                  const grpc::ByteBuffer* request) {
  rpb::ReadAllReq parsed;
  if (!ParseRequest(*request, &parsed)) {
    return new FinishedWriteReactor<grpc::ByteBuffer>(Invalid("the request is not a ReadAllReq"));
  }
  const rpb::ReadAllReq* req = &parsed;
  if (Status allowed = sc_->Authorize(*ctx, Access::kRead, "$all"); !allowed.ok()) {
    return new FinishedWriteReactor<grpc::ByteBuffer>(
        ToGrpc(allowed, "$all", ctx, sc_->options->limits));
  }
  auto state = std::make_shared<ReadAllState>();
  state->sc = sc_;
  state->ctx = ctx;
  ReadAllRequest& r = state->request;
  r.direction = req->backwards() ? Direction::kBackwards : Direction::kForwards;
  r.from = req->backwards() && req->from_end() ? Position::End() : Position{req->from_position()};
  r.filter = FilterFromProto(req->filter());
  if (req->max_scan() > 0) r.max_scan = req->max_scan();
  state->remaining = req->max_count() > 0 ? req->max_count() : std::numeric_limits<uint64_t>::max();
  auto* call = new ReadAllCall(state);
  call->Begin();
  return call;
}

}  // namespace annals::grpcapi
