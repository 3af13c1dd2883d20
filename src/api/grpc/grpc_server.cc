#include "api/grpc/grpc_server.h"

#include <absl/synchronization/mutex.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <mutex>

#include "api/grpc/catalog_service.h"
#include "api/grpc/persistent_service.h"
#include "api/grpc/reads_service.h"
#include "api/grpc/service_context.h"
#include "api/grpc/streams_service.h"
#include "gossip.grpc.pb.h"
#include "serverfeatures.grpc.pb.h"

namespace annals::grpcapi {

namespace {

namespace fpb = ::event_store::client::server_features;
namespace gpb = ::event_store::client::gossip;

// The KurrentDB version Annals speaks for: clients gate features on it (a missing one reads
// as 20.10, which turns off persistent subscriptions to $all).
constexpr const char* kServerVersion = "26.0.0";

// ServerFeatures: exactly what this server implements. Clients pick their code path from it
// (BatchAppend for appends; gRPC or HTTP for persistent-subscription info and replay).
class FeaturesService final : public fpb::ServerFeatures::CallbackService {
 public:
  explicit FeaturesService(bool persistent) : persistent_(persistent) {}
  grpc::ServerUnaryReactor* GetSupportedMethods(grpc::CallbackServerContext* ctx,
                                                const event_store::client::Empty*,
                                                fpb::SupportedMethods* resp) override {
    auto add = [resp](const char* service, const char* method,
                      std::initializer_list<const char*> features) {
      auto* m = resp->add_methods();
      m->set_service_name(service);
      m->set_method_name(method);
      for (const char* f : features) m->add_features(f);
    };
    const char* streams = "event_store.client.streams.streams";
    add(streams, "read", {"position", "events"});
    add(streams, "append", {});
    add(streams, "delete", {});
    add(streams, "tombstone", {});
    add(streams, "batchappend", {"deadline_duration"});
    if (persistent_) {
      const char* ps = "event_store.client.persistent_subscriptions.persistentsubscriptions";
      for (const char* method :
           {"create", "update", "delete", "read", "getinfo", "replayparked", "list"}) {
        add(ps, method, {"stream", "all"});
      }
      add(ps, "restartsubsystem", {});
    }
    add("event_store.client.server_features.serverfeatures", "getsupportedmethods", {});
    add("event_store.client.gossip.gossip", "read", {});
    for (const char* method : {"head", "getstreaminfo", "liststreams"}) {
      add("annals.client.v1.catalog", method, {});
    }
    add("annals.client.v1.reads", "readall", {});
    resp->set_event_store_server_version(kServerVersion);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  bool persistent_;
};

// Gossip: one node, alive, the leader.
class GossipService final : public gpb::Gossip::CallbackService {
 public:
  GossipService(std::string host, unsigned port) : host_(std::move(host)), port_(port) {}
  grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* ctx,
                                 const event_store::client::Empty*,
                                 gpb::ClusterInfo* resp) override {
    auto* m = resp->add_members();
    m->mutable_instance_id()->set_string(id_.ToString());
    m->set_time_stamp(Timestamp::Now().ticks);
    m->set_state(gpb::MemberInfo::Leader);
    m->set_is_alive(true);
    m->mutable_http_end_point()->set_address(host_);
    m->mutable_http_end_point()->set_port(port_);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const Uuid id_ = Uuid::Random();
  std::string host_;
  unsigned port_;
};

}  // namespace

struct GrpcServer::Impl {
  GrpcOptions options;
  ServiceContext sc;
  std::unique_ptr<Workers> workers;
  std::unique_ptr<StreamsService> streams;
  std::unique_ptr<PersistentService> persistent;
  std::unique_ptr<FeaturesService> features;
  std::unique_ptr<GossipService> gossip;
  std::unique_ptr<CatalogService> catalog;
  std::unique_ptr<ReadsService> reads;
  std::unique_ptr<grpc::Server> server;
  std::mutex mu;
  bool stopped = false;
};

GrpcServer::GrpcServer(EventStore* store, delivery::DeliveryService* delivery, GrpcOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->sc.store = store;
  impl_->sc.delivery = delivery;
  impl_->sc.options = &impl_->options;
}

GrpcServer::~GrpcServer() { Stop(); }

void GrpcServer::SetAdvertisedEndpoint(std::string host, unsigned port) {
  impl_->options.advertised_host = std::move(host);
  impl_->options.advertised_port = port;
}

Status GrpcServer::Start() {
  Impl& s = *impl_;
  s.workers = std::make_unique<Workers>(s.options.worker_threads);
  s.sc.workers = s.workers.get();
  s.streams = std::make_unique<StreamsService>(&s.sc);
  s.persistent = std::make_unique<PersistentService>(&s.sc);
  s.features = std::make_unique<FeaturesService>(s.sc.delivery != nullptr);
  s.gossip = std::make_unique<GossipService>(s.options.advertised_host, s.options.advertised_port);
  s.catalog = std::make_unique<CatalogService>(&s.sc);
  s.reads = std::make_unique<ReadsService>(&s.sc);

  // gRPC's locks are Abseil mutexes, and this Abseil is built with its deadlock detection on:
  // a lock-order graph updated at every lock, ~3% of a busy server's time. gRPC is not
  // debugged here; the setting is process-wide.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc::ServerBuilder builder;
  builder.RegisterService(s.streams.get());
  builder.RegisterService(s.persistent.get());
  builder.RegisterService(s.features.get());
  builder.RegisterService(s.gossip.get());
  builder.RegisterService(s.catalog.get());
  builder.RegisterService(s.reads.get());
  const int max_message =
      static_cast<int>(std::min<uint64_t>(s.options.max_message_bytes, INT32_MAX));
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  // Clients ping to keep idle connections (and long subscriptions) alive, the Node client
  // every 10 s: answer every ping instead of calling them abuse (gRPC's default allows one
  // per 5 minutes and then sends GOAWAY).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // No listening port: connections come from the HTTP server's acceptor (AdoptConnection).
  s.server = builder.BuildAndStart();
  if (!s.server) return Status(StatusCode::kInternal, "the gRPC server did not start");
  return Status::Ok();
}

void GrpcServer::AdoptConnection(int fd) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  if (s.stopped || !s.server) {
    ::close(fd);
    return;
  }
  const int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  grpc::AddInsecureChannelFromFd(s.server.get(), fd);
}

void GrpcServer::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    if (s.stopped) return;
    s.stopped = true;
  }
  if (s.server) {
    // Calls in flight (subscriptions never end by themselves) are cancelled after the deadline.
    s.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    s.server->Wait();
  }
  if (s.workers) s.workers->Stop();
}

}  // namespace annals::grpcapi
