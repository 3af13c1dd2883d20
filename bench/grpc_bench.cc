// Load generator for `annals serve` over KurrentDB's v1 gRPC protocol (h2c on the HTTP port),
// with the peers' event model from event_model.h:
//
//   annals_grpc_bench append       --target 127.0.0.1:2113 --calls 64 [--batch 10]
//   annals_grpc_bench batch-append --target ... --calls 8 --batch 100
//   annals_grpc_bench read-all     --target ... --events 1000000
//   annals_grpc_bench persistent   --target ... --events 200000 --calls 500 --batch 100
//   annals_grpc_bench stream-ceiling --events 200000
//
// `append` drives the C++ SDK's gRPC store (annals::ConnectGrpc): `--calls` appends in flight
// at once on one HTTP/2 connection, each the next one of its stream with an exact expected
// revision, completions on gRPC's callback threads (no thread per call). `batch-append` drives
// Streams.BatchAppend directly: one bidirectional call with `--calls` batches in flight, each a
// new stream of `--batch` events. `read-all` preloads `--events` events, then streams `$all`
// from the start in one Read call (count = all of them), again and again for `--seconds`, then
// the same with Annals' Reads.ReadAll (up to 1,000 events a message; docs/grpc-api.md); both
// decode the messages into RecordedEvents as the C++ SDK does. `persistent` reads a persistent
// subscription group on `$all` with one consumer (event messages one by one, acks batched), as
// the official clients do. `stream-ceiling` is what gRPC alone allows for one-event messages (a
// server in this process, the lightest client).
//
// Prints one line per case: `annals-grpc case=... events_per_s=... p50_ms=... p99_ms=...`.
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "annals/grpc_store.h"
#include "annals/types.h"
#include "annals_reads.pb.h"
#include "api/grpc/wire/read_message_decoder.h"
#include "event_model.h"
#include "grpc_client/raw_server_stream.h"
#include "latency_histogram.h"
#include "persistent.grpc.pb.h"
#include "result_line.h"
#include "streams.grpc.pb.h"

namespace {

namespace spb = ::event_store::client::streams;
namespace cpb = ::annals::client::v1;
namespace ppb = ::event_store::client::persistent_subscriptions;
using Clock = std::chrono::steady_clock;
using annals::bench::LatencyHistogram;

struct Options {
  std::string target = "127.0.0.1:2113";
  int calls = 64;
  int batch = 1;
  double seconds = 10;
  uint64_t events = 1000000;
  std::string prefix;
};

[[noreturn]] void Die(const std::string& what) { annals::bench::Die("annals_grpc_bench", what); }

std::string RunPrefix(const Options& o) { return annals::bench::RunPrefix(o.prefix); }

void PrintLine(const std::string& name, double events_per_s, const LatencyHistogram& h,
               const std::string& extra) {
  annals::bench::PrintResult("annals-grpc", name, events_per_s, h, extra);
}

annals::ProposedEvent ModelEvent(uint64_t revision) {
  annals::ProposedEvent e;
  e.id = annals::Uuid::Random();
  e.type = annals::bench::kEventTypes[revision % annals::bench::kEventsPerStream];
  e.data = annals::bench::kEventData;
  e.metadata = annals::bench::kEventMetadata;
  return e;
}

// ---- append (the SDK's gRPC store) -------------------------------------------------------------

// One of the `--calls` appends in flight: its streams, in turn, 10 events each.
struct Slot {
  int index = 0;
  uint64_t stream_no = 0;
  uint64_t revision = 0;
  Clock::time_point sent;
  LatencyHistogram hist;
};

int RunAppend(const Options& o) {
  auto store = annals::ConnectGrpc(
      {.connection_string = "kurrentdb://" + o.target + "?tls=false&defaultDeadline=60000"});
  if (!store.ok()) Die(store.status().ToString());
  annals::EventStore& s = **store;
  const std::string prefix = RunPrefix(o);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> events{0};
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  std::string failure;
  std::vector<Slot> slots(static_cast<size_t>(o.calls));
  const uint64_t per_append =
      static_cast<uint64_t>(std::min(o.batch, annals::bench::kEventsPerStream));

  // Sends the slot's next append; the completion (on a gRPC thread) sends the one after.
  std::function<void(Slot*)> send = [&](Slot* slot) {
    annals::AppendRequest r;
    r.stream = fmt::format("{}-{}-{}", prefix, slot->index, slot->stream_no);
    r.expected = slot->revision == 0
                     ? annals::ExpectedRevision::NoStream()
                     : annals::ExpectedRevision::Exact(annals::Revision{slot->revision - 1});
    for (uint64_t i = 0; i < per_append; ++i) r.events.push_back(ModelEvent(slot->revision + i));
    slot->sent = Clock::now();
    s.AppendAsync(std::move(r), [&, slot](annals::Result<annals::AppendResult> result) {
      slot->hist.Record(Clock::now() - slot->sent);
      if (!result.ok()) {
        std::lock_guard lock(mu);
        failure = result.status().ToString();
        stop = true;
      } else {
        events.fetch_add(per_append, std::memory_order_relaxed);
        slot->revision += per_append;
        if (slot->revision >= annals::bench::kEventsPerStream) {
          ++slot->stream_no;
          slot->revision = 0;
        }
      }
      if (!stop.load(std::memory_order_relaxed)) {
        send(slot);
        return;
      }
      std::lock_guard lock(mu);
      if (--in_flight == 0) cv.notify_all();
    });
  };
  const auto start = Clock::now();
  in_flight = o.calls;
  for (int i = 0; i < o.calls; ++i) {
    slots[static_cast<size_t>(i)].index = i;
    send(&slots[static_cast<size_t>(i)]);
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (!failure.empty()) Die("append: " + failure);
  // A stale expected revision must be refused (the peers check the same).
  annals::AppendRequest stale;
  stale.stream = fmt::format("{}-0-0", prefix);
  stale.expected = annals::ExpectedRevision::Exact(annals::Revision{0});
  stale.events.push_back(ModelEvent(1));
  auto conflict = s.Append(stale);
  const bool detected =
      !conflict.ok() && conflict.status().code() == annals::StatusCode::kWrongExpectedRevision;
  LatencyHistogram all;
  for (auto& slot : slots) all.Merge(slot.hist);
  PrintLine(fmt::format("append_batch{}_c{}", o.batch, o.calls),
            static_cast<double>(events.load()) / elapsed, all,
            fmt::format(" occ_conflict={}", detected ? "detected" : "MISSED"));
  return 0;
}

// ---- BatchAppend (the protocol's own stub) ----------------------------------------------------

std::shared_ptr<grpc::Channel> Channel(const Options& o) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args);
}

void SetCorrelation(uint64_t n, event_store::client::UUID* id) {
  // Any UUID will do: the call's own counter, in the structured form.
  id->mutable_structured()->set_most_significant_bits(0x4000);
  id->mutable_structured()->set_least_significant_bits(static_cast<int64_t>(n));
}

spb::BatchAppendReq BatchRequest(const std::string& stream, uint64_t correlation, int batch) {
  spb::BatchAppendReq req;
  SetCorrelation(correlation, req.mutable_correlation_id());
  req.mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
  req.mutable_options()->mutable_no_stream();
  req.mutable_options()->mutable_deadline()->set_seconds(60);
  for (int i = 0; i < batch; ++i) {
    annals::ProposedEvent e = ModelEvent(static_cast<uint64_t>(i));
    auto* m = req.add_proposed_messages();
    m->mutable_id()->set_string(e.id->ToString());
    (*m->mutable_metadata())["type"] = e.type;
    (*m->mutable_metadata())["content-type"] = "application/json";
    m->set_data(e.data);
    m->set_custom_metadata(e.metadata);
  }
  req.set_is_final(true);
  return req;
}

// Sends batches of `batch` events, each to a new stream, with `window` in flight on one call,
// for `seconds`; returns the events acknowledged and fills `hist` with batch latencies.
uint64_t DriveBatchAppend(const Options& o, const std::string& prefix, int window, double seconds,
                          LatencyHistogram* hist) {
  auto stub = spb::Streams::NewStub(Channel(o));
  grpc::ClientContext ctx;
  auto call = stub->BatchAppend(&ctx);
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, Clock::time_point> pending;
  uint64_t acked = 0;
  std::string failure;
  std::thread reader([&] {
    spb::BatchAppendResp resp;
    while (call->Read(&resp)) {
      const auto n =
          static_cast<uint64_t>(resp.correlation_id().structured().least_significant_bits());
      std::lock_guard lock(mu);
      auto it = pending.find(n);
      if (it != pending.end()) {
        hist->Record(Clock::now() - it->second);
        pending.erase(it);
      }
      if (resp.has_error()) {
        failure = resp.error().message();
      } else {
        acked += static_cast<uint64_t>(o.batch);
      }
      cv.notify_all();
    }
  });
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  uint64_t next = 0;
  while (Clock::now() < end) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock,
              [&] { return pending.size() < static_cast<size_t>(window) || !failure.empty(); });
      if (!failure.empty()) break;
      pending.emplace(next, Clock::now());
    }
    if (!call->Write(BatchRequest(fmt::format("{}-{}", prefix, next), next, o.batch))) break;
    ++next;
  }
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(60), [&] { return pending.empty(); });
  }
  call->WritesDone();
  reader.join();
  grpc::Status st = call->Finish();
  if (!failure.empty()) Die("batch append: " + failure);
  if (!st.ok()) Die("batch append: " + st.error_message());
  return acked;
}

int RunBatchAppend(const Options& o) {
  LatencyHistogram hist;
  const auto start = Clock::now();
  const uint64_t events = DriveBatchAppend(o, RunPrefix(o), o.calls, o.seconds, &hist);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  PrintLine(fmt::format("batchappend_batch{}_c{}", o.batch, o.calls),
            static_cast<double>(events) / elapsed, hist, "");
  return 0;
}

// ---- read $all, streamed -----------------------------------------------------------------------

// One Streams.Read call, whole, its event messages decoded into RecordedEvents as the C++ SDK
// decodes them (raw messages, read_message_decoder.h); returns how many events came.
uint64_t ReadStreamed(grpc::GenericStub* stub, const spb::ReadReq& req, const std::string& what) {
  grpc::ClientContext ctx;
  annals::grpcclient::RawServerStream reader(stub, &ctx, "/event_store.client.streams.Streams/Read",
                                             req);
  uint64_t n = 0;
  grpc::ByteBuffer buffer;
  while (reader.Read(&buffer)) {
    grpc::ProtoBufferReader bytes(&buffer);
    annals::RecordedEvent event;
    if (annals::grpcwire::DecodeReadRespEvent(&bytes, &event)) ++n;
  }
  if (grpc::Status st = reader.Finish(); !st.ok()) Die(what + ": " + st.error_message());
  return n;
}

// Calls `read_once` (one whole read; returns its events) again and again for `o.seconds` and
// prints the rate as case `<label>_<events>`.
void MeasureReads(const Options& o, const std::string& label, const std::string& extra,
                  const std::function<uint64_t()>& read_once) {
  LatencyHistogram per_read;
  uint64_t events = 0;
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  do {
    const auto t0 = Clock::now();
    const uint64_t n = read_once();
    if (n < o.events) Die(fmt::format("{}: {} events, expected {}", label, n, o.events));
    per_read.Record(Clock::now() - t0);
    events += n;
  } while (Clock::now() < end);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  PrintLine(fmt::format("{}_{}", label, o.events), static_cast<double>(events) / elapsed, per_read,
            extra);
}

// Appends `o.events` events with BatchAppend, 100 a batch, each batch a new stream.
void Preload(const Options& o) {
  uint64_t loaded = 0;
  const std::string prefix = RunPrefix(o);
  for (int round = 0; loaded < o.events; ++round) {
    auto stub = spb::Streams::NewStub(Channel(o));
    grpc::ClientContext ctx;
    auto call = stub->BatchAppend(&ctx);
    uint64_t sent = 0;
    for (; loaded + sent < o.events; sent += 100) {
      call->Write(BatchRequest(fmt::format("{}-{}-{}", prefix, round, sent), sent, 100));
    }
    call->WritesDone();
    spb::BatchAppendResp resp;
    while (call->Read(&resp)) {
      if (resp.has_error()) Die("preload: " + resp.error().message());
      loaded += 100;
    }
    if (grpc::Status st = call->Finish(); !st.ok()) Die("preload: " + st.error_message());
  }
}

int RunReadAll(const Options& o) {
  Preload(o);
  // KurrentDB's Streams.Read: one event a message, what the official clients receive.
  grpc::GenericStub streams(Channel(o));
  MeasureReads(o, "read_all_streamed", "", [&] {
    spb::ReadReq req;
    auto* opt = req.mutable_options();
    opt->mutable_all()->mutable_start();
    opt->set_read_direction(spb::ReadReq::Options::Forwards);
    opt->set_count(o.events);
    opt->mutable_no_filter();
    opt->mutable_uuid_option()->mutable_string();
    return ReadStreamed(&streams, req, "read $all");
  });
  // Annals' Reads.ReadAll: up to 1,000 events a message, decoded into RecordedEvents as the
  // C++ SDK does (raw messages, read_message_decoder.h).
  grpc::GenericStub generic(Channel(o));
  MeasureReads(o, "read_all_batched", "", [&] {
    cpb::ReadAllReq req;
    req.set_max_count(o.events);
    grpc::ClientContext ctx;
    annals::grpcclient::RawServerStream reader(&generic, &ctx, "/annals.client.v1.Reads/ReadAll",
                                               req);
    uint64_t n = 0;
    grpc::ByteBuffer buffer;
    std::vector<annals::RecordedEvent> events;
    while (reader.Read(&buffer)) {
      grpc::ProtoBufferReader bytes(&buffer);
      annals::grpcwire::ReadAllRespTail tail;
      events.clear();
      const annals::Status s = annals::grpcwire::DecodeReadAllResp(&bytes, &events, &tail);
      if (!s.ok()) Die("read $all: " + s.message());
      n += events.size();
    }
    if (grpc::Status st = reader.Finish(); !st.ok()) Die("read $all: " + st.error_message());
    return n;
  });
  return 0;
}

// ---- a persistent subscription (PersistentSubscriptions.Read) --------------------------------

// A group on `$all` from its start, created after `o.events` events were appended, read by one
// consumer that acks in batches of `o.batch` ids, with up to `o.calls` events in flight (the
// subscription's buffer size), as the official clients read it. The rate is from the first
// event to the last of the preloaded ones.
int RunPersistent(const Options& o) {
  Preload(o);
  auto stub = ppb::PersistentSubscriptions::NewStub(Channel(o));
  const std::string group = RunPrefix(o) + "-bench";
  {
    ppb::CreateReq req;
    auto* options = req.mutable_options();
    options->set_group_name(group);
    options->mutable_all()->mutable_start();
    options->mutable_all()->mutable_no_filter();
    auto* settings = options->mutable_settings();
    settings->set_max_retry_count(10);
    settings->set_message_timeout_ms(30000);
    settings->set_checkpoint_after_ms(1000);
    settings->set_max_checkpoint_count(1000);
    settings->set_history_buffer_size(1000);
    settings->set_read_batch_size(500);
    settings->set_consumer_strategy("RoundRobin");
    grpc::ClientContext ctx;
    ppb::CreateResp resp;
    if (grpc::Status st = stub->Create(&ctx, req, &resp); !st.ok()) {
      Die("create the group: " + st.error_message());
    }
  }
  grpc::ClientContext ctx;
  auto call = stub->Read(&ctx);
  ppb::ReadReq subscribe;
  auto* options = subscribe.mutable_options();
  options->mutable_all();
  options->set_group_name(group);
  options->set_buffer_size(o.calls);
  options->mutable_uuid_option()->mutable_structured();
  if (!call->Write(subscribe)) Die("persistent read: the subscription was refused");
  ppb::ReadResp resp;
  ppb::ReadReq ack;
  uint64_t received = 0;
  Clock::time_point start;
  while (received < o.events && call->Read(&resp)) {
    if (!resp.has_event()) continue;  // the confirmation
    if (received++ == 0) start = Clock::now();
    *ack.mutable_ack()->add_ids() = resp.event().event().id();
    if (ack.ack().ids_size() >= o.batch) {
      if (!call->Write(ack)) break;
      ack.Clear();
    }
  }
  const Clock::duration took = Clock::now() - start;
  if (ack.has_ack()) call->Write(ack);
  ctx.TryCancel();
  call->Finish();
  if (received < o.events) {
    Die(fmt::format("persistent read: {} events of {}", received, o.events));
  }
  LatencyHistogram whole;  // one sample: the read of all of them, as read-all's per-read lines
  whole.Record(took);
  PrintLine(fmt::format("persistent_all_buffer{}_ack{}_{}", o.calls, o.batch, o.events),
            static_cast<double>(received - 1) / std::chrono::duration<double>(took).count(), whole,
            "");
  return 0;
}

// ---- gRPC's own ceiling for one-event messages ------------------------------------------------

// Streams.Read answered by a server in this process that sends one prebuilt event message
// `events` times, one write in flight, as Annals' reads do (read_call.cc): no store, no
// conversion. What one client can receive over gRPC on this machine, whatever the server does.
class CeilingService final : public spb::Streams::CallbackService {
 public:
  CeilingService(uint64_t events) : events_(events) {
    auto* e = message_.mutable_event()->mutable_event();
    e->mutable_id()->set_string("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    e->mutable_stream_identifier()->set_stream_name("visit-123456-7");
    e->set_stream_revision(7);
    e->set_prepare_position(123456789);
    e->set_commit_position(123456789);
    (*e->mutable_metadata())["type"] = annals::bench::kEventTypes[0];
    (*e->mutable_metadata())["content-type"] = "application/json";
    (*e->mutable_metadata())["created"] = "17325312000000000";
    e->set_custom_metadata(annals::bench::kEventMetadata);
    e->set_data(annals::bench::kEventData);
    message_.mutable_event()->set_commit_position(123456789);
  }
  grpc::ServerWriteReactor<spb::ReadResp>* Read(grpc::CallbackServerContext*,
                                                const spb::ReadReq*) override {
    return new Reactor(&message_, events_);
  }
  size_t MessageBytes() const { return message_.ByteSizeLong(); }

 private:
  class Reactor final : public grpc::ServerWriteReactor<spb::ReadResp> {
   public:
    Reactor(const spb::ReadResp* message, uint64_t left) : message_(message), left_(left) {
      Next();
    }
    void OnWriteDone(bool ok) override {
      if (ok) {
        Next();
      } else {
        Finish(grpc::Status::CANCELLED);
      }
    }
    void OnDone() override { delete this; }

   private:
    void Next() {
      if (left_ == 0) {
        Finish(grpc::Status::OK);
        return;
      }
      --left_;
      StartWrite(message_);
    }
    const spb::ReadResp* message_;
    uint64_t left_;
  };
  const uint64_t events_;
  spb::ReadResp message_;
};

int RunStreamCeiling(Options o) {
  CeilingService service(o.events);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) Die("stream-ceiling: the in-process server did not start");
  o.target = fmt::format("127.0.0.1:{}", port);
  // The lightest client: one protobuf message parsed again and again (no event built), so the
  // ceiling is gRPC's, and Annals' streamed read (which builds events, as the SDK does) is
  // measured against at least what it could reach.
  auto stub = spb::Streams::NewStub(Channel(o));
  MeasureReads(o, "stream_ceiling", fmt::format(" message_bytes={}", service.MessageBytes()), [&] {
    grpc::ClientContext ctx;
    auto reader = stub->Read(&ctx, spb::ReadReq());
    spb::ReadResp resp;
    uint64_t n = 0;
    while (reader->Read(&resp)) n += resp.has_event() ? 1 : 0;
    if (grpc::Status st = reader->Finish(); !st.ok()) Die("stream-ceiling: " + st.error_message());
    return n;
  });
  server->Shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // As the server does (grpc_server.cc): no lock-order graph on every gRPC lock.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"annals_grpc_bench: load against a running `annals serve` over gRPC"};
  app.require_subcommand(1);
  Options o;
  auto common = [&](CLI::App* sub) {
    sub->add_option("--target", o.target, "host:port of the server (h2c)");
    sub->add_option("--seconds", o.seconds, "measured duration");
    sub->add_option("--prefix", o.prefix, "stream name prefix (default: random per run)");
  };
  auto* append = app.add_subcommand("append", "appends through the SDK's gRPC store");
  common(append);
  append->add_option("--calls", o.calls, "appends in flight");
  append->add_option("--batch", o.batch, "events per append (at most 10: one stream's events)");
  auto* batch = app.add_subcommand("batch-append", "Streams.BatchAppend, one stream per batch");
  common(batch);
  batch->add_option("--calls", o.calls, "batches in flight on the call");
  batch->add_option("--batch", o.batch, "events per batch");
  auto* read_all = app.add_subcommand(
      "read-all", "$all read whole, repeated: Streams.Read, then Annals' Reads.ReadAll");
  common(read_all);
  read_all->add_option("--events", o.events, "events in the store, all read by each call");
  auto* persistent = app.add_subcommand(
      "persistent", "a persistent subscription on $all read by one consumer, acks in batches");
  common(persistent);
  persistent->add_option("--events", o.events, "events appended first, then read");
  persistent->add_option("--calls", o.calls, "buffer size: events in flight to the consumer");
  persistent->add_option("--batch", o.batch, "ids per ack");
  auto* ceiling = app.add_subcommand(
      "stream-ceiling", "one-event messages from an in-process server that only sends them");
  ceiling->add_option("--seconds", o.seconds, "measured duration");
  ceiling->add_option("--events", o.events, "messages a call");
  CLI11_PARSE(app, argc, argv);
  if (*append) return RunAppend(o);
  if (*batch) return RunBatchAppend(o);
  if (*read_all) return RunReadAll(o);
  if (*persistent) return RunPersistent(o);
  if (*ceiling) return RunStreamCeiling(o);
  return 1;
}
