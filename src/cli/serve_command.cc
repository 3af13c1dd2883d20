#include "cli/serve_command.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "annals/engine.h"
#include "annals/event_store.h"
#include "annals/postgres_store.h"
#include "api/grpc/grpc_server.h"
#include "api/http/delivery_routes.h"
#include "api/http/encoding.h"
#include "api/http/metrics.h"
#include "api/http/router.h"
#include "api/http/server.h"
#include "api/http/users.h"
#include "cli/cli_common.h"
#include "cli/postgres_uri.h"
#include "delivery/nats_relay.h"
#include "delivery/secret_box.h"
#include "delivery/service.h"
#include "delivery/webhook.h"
#include "memory/memory_store.h"

namespace annals::cli {

namespace {

// One configuration option: a flag, a key in the TOML file, an environment variable. Values
// apply in that order of precedence: flag > environment > file > default. docs/configuration.md
// documents each one; keep the two in step.
struct OptionSpec {
  const char* flag;
  const char* key;
  const char* env;
  const char* def;
  const char* help;
  bool is_switch = false;
};

constexpr OptionSpec kOptions[] = {
    {"--data-dir", "data_dir", "ANNALS_DATA_DIR", "./data",
     "Data directory of the embedded engine (created when missing)"},
    {"--store", "store", "ANNALS_STORE", "engine",
     "Backend: engine (durable, on --data-dir), memory (lost at exit; tests), or a PostgreSQL "
     "URI postgres://... (docs/postgres.md)"},
    {"--durability", "durability", "ANNALS_DURABILITY", "fsync",
     "fsync: acknowledged appends are on disk; unsafe-no-sync: in the page cache only"},
    {"--http", "http.listen", "ANNALS_HTTP", "127.0.0.1:2113",
     "Address to listen on, host:port or [v6]:port (port 0: any free port)"},
    {"--io-threads", "http.io_threads", "ANNALS_IO_THREADS", "0",
     "I/O threads, one io_context each (0: one per core)"},
    {"--blocking-threads", "http.blocking_threads", "ANNALS_BLOCKING_THREADS", "2",
     "Threads for metadata writes and deletes"},
    {"--max-connections", "http.max_connections", "ANNALS_MAX_CONNECTIONS", "10000",
     "Open connections at most; more are answered 503 and closed"},
    {"--max-header-bytes", "http.max_header_bytes", "ANNALS_MAX_HEADER_BYTES", "16384",
     "Request line and headers at most (431 beyond)"},
    {"--max-body-bytes", "http.max_body_bytes", "ANNALS_MAX_BODY_BYTES", "100663296",
     "Request body at most (413 beyond)"},
    {"--read-timeout-ms", "http.read_timeout_ms", "ANNALS_READ_TIMEOUT_MS", "30000",
     "Time to receive one whole request (the connection is closed beyond)"},
    {"--idle-timeout-ms", "http.idle_timeout_ms", "ANNALS_IDLE_TIMEOUT_MS", "60000",
     "Keep-alive wait for the next request before closing"},
    {"--write-timeout-ms", "http.write_timeout_ms", "ANNALS_WRITE_TIMEOUT_MS", "30000",
     "Time to send one response or SSE chunk before the connection is cut"},
    {"--shutdown-timeout-ms", "http.shutdown_timeout_ms", "ANNALS_SHUTDOWN_TIMEOUT_MS", "15000",
     "On SIGTERM, how long requests in flight may take before connections are cut"},
    {"--default-page-size", "http.default_page_size", "ANNALS_DEFAULT_PAGE_SIZE", "100",
     "Events or streams per read when `limit` is not given"},
    {"--max-page-size", "http.max_page_size", "ANNALS_MAX_PAGE_SIZE", "10000",
     "Largest `limit` a read may ask for"},
    {"--sse-heartbeat-ms", "sse.heartbeat_ms", "ANNALS_SSE_HEARTBEAT_MS", "15000",
     "Interval of the SSE heartbeat comment when no event is sent"},
    {"--sse-max-buffer-bytes", "sse.max_buffer_bytes", "ANNALS_SSE_MAX_BUFFER_BYTES", "4194304",
     "Per-subscriber buffer; a live subscriber that overflows it is disconnected"},
    {"--sse-batch-events", "sse.batch_events", "ANNALS_SSE_BATCH_EVENTS", "100",
     "Events per store read for a subscriber"},
    {"--tls-cert", "tls.cert_file", "ANNALS_TLS_CERT", "",
     "PEM certificate chain; with --tls-key, serve HTTPS only"},
    {"--tls-key", "tls.key_file", "ANNALS_TLS_KEY", "", "PEM private key"},
    {"--users-file", "auth.users_file", "ANNALS_USERS_FILE", "",
     "Users and API keys (annals user ...); set: every request but /health needs credentials"},
    {"--insecure", "auth.insecure", "ANNALS_INSECURE", "false",
     "Allow listening beyond loopback without authentication", true},
    {"--secrets-key-file", "delivery.secrets_key_file", "ANNALS_SECRETS_KEY_FILE", "",
     "Key sealing webhook secrets in the store (empty: <data-dir>/delivery-secrets.key; "
     "created 0600 when missing; with --store memory, a key for this run only)"},
    {"--max-event-bytes", "limits.max_event_bytes", "ANNALS_MAX_EVENT_BYTES", "16777216",
     "Data + metadata of one event at most (413 beyond)"},
    {"--max-append-bytes", "limits.max_append_bytes", "ANNALS_MAX_APPEND_BYTES", "67108864",
     "All events of one append at most (413 beyond)"},
    {"--log-level", "log.level", "ANNALS_LOG_LEVEL", "info",
     "trace, debug, info, warn, error or off"},
    {"--advertise", "grpc.advertise", "ANNALS_ADVERTISE", "",
     "host:port that gRPC Gossip gives clients discovering the node (empty: the listening "
     "address, a wildcard host replaced by this machine's name)"},
};

using Values = std::map<std::string, std::string>;  // key -> value

void CollectTomlKeys(const toml::table& table, const std::string& prefix,
                     std::vector<std::string>* keys) {
  for (const auto& [k, v] : table) {
    const std::string path =
        prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = v.as_table()) {
      CollectTomlKeys(*sub, path, keys);
    } else {
      keys->push_back(path);
    }
  }
}

// Applies the TOML file at `path`; an error names the file and the problem.
std::string ApplyTomlFile(const std::string& path, Values* values) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return "config file " + path + ": " + std::string(e.description());
  }
  std::vector<std::string> keys;
  CollectTomlKeys(table, "", &keys);
  for (const std::string& key : keys) {
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& o : kOptions) {
      if (key == o.key) spec = &o;
    }
    if (spec == nullptr) return "config file " + path + ": unknown key '" + key + "'";
    const toml::node_view<toml::node> node = table.at_path(key);
    if (auto s = node.value<std::string>(); s && node.is_string()) {
      (*values)[key] = *s;
    } else if (node.is_integer()) {
      const int64_t i = *node.value<int64_t>();
      if (i < 0) return "config file " + path + ": '" + key + "' must not be negative";
      (*values)[key] = std::to_string(i);
    } else if (node.is_boolean()) {
      (*values)[key] = *node.value<bool>() ? "true" : "false";
    } else {
      return "config file " + path + ": '" + key + "' must be a string, an integer or a boolean";
    }
  }
  return {};
}

std::string Require(const Values& v, const char* key) { return v.at(key); }

bool ParseU64Option(const Values& v, const char* key, uint64_t* out, std::string* error) {
  auto n = http::ParseU64(v.at(key));
  if (!n) {
    *error = std::string(key) + " must be a non-negative integer, not '" + v.at(key) + "'";
    return false;
  }
  *out = *n;
  return true;
}

bool ParseBoolOption(const Values& v, const char* key, bool* out, std::string* error) {
  const std::string& s = v.at(key);
  if (s == "true" || s == "1" || s == "yes") {
    *out = true;
  } else if (s == "false" || s == "0" || s == "no" || s.empty()) {
    *out = false;
  } else {
    *error = std::string(key) + " must be true or false, not '" + s + "'";
    return false;
  }
  return true;
}

bool IsLoopback(const std::string& listen) {
  return listen.rfind("127.", 0) == 0 || listen.rfind("localhost:", 0) == 0 ||
         listen.rfind("[::1]:", 0) == 0;
}

// A wildcard listening address names no host another machine can reach: this machine's name.
std::string ReachableHost(std::string host) {
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    host = name;
  }
  return host;
}

// How this node is named to the others on one database (its sessions' application_name, which
// they report as the driver of a group it holds): "annals <http address>", with the host name
// for a wildcard address, and the process id when the port is chosen at bind (port 0).
std::string NodeName(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  const std::string host = ReachableHost(listen.substr(0, colon));
  const std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
  if (port == "0") return "annals " + host + " pid " + std::to_string(::getpid());
  return "annals " + host + ":" + port;
}

struct HostPort {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  unsigned port = 0;
};

// "host:port" or "[v6]:port", the host a name or an address, the port 1 to 65535.
std::optional<HostPort> SplitHostPort(const std::string& text) {
  HostPort out;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    out.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) return std::nullopt;
    out.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  const auto n = http::ParseU64(port);
  if (out.host.empty() || !n || *n == 0 || *n > 65535) return std::nullopt;
  out.port = static_cast<unsigned>(*n);
  return out;
}

struct ServeFlags {
  std::string config;
  bool print_config = false;
  std::map<std::string, std::string> flag_values;  // key -> value, for flags given
  std::map<std::string, CLI::Option*> options;     // key -> CLI option
  std::map<std::string, bool> switches;
};

int RunServe(ServeFlags& flags) {
  // Signals are taken by one thread with sigwait (below); every other thread, including those
  // the store starts when it opens, must block them, so the mask is set before anything starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // internal: wakes the signal thread at exit
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // 1. Defaults, 2. file, 3. environment, 4. flags.
  Values values;
  for (const OptionSpec& o : kOptions) values[o.key] = o.def;
  std::string config_path = flags.config;
  if (config_path.empty()) {
    if (const char* env = std::getenv("ANNALS_CONFIG")) config_path = env;
  }
  if (!config_path.empty()) {
    if (std::string err = ApplyTomlFile(config_path, &values); !err.empty()) {
      std::fprintf(stderr, "annals serve: %s\n", err.c_str());
      return 2;
    }
  }
  for (const OptionSpec& o : kOptions) {
    if (const char* env = std::getenv(o.env)) values[o.key] = env;
  }
  for (const OptionSpec& o : kOptions) {
    CLI::Option* opt = flags.options.at(o.key);
    if (opt->count() == 0) continue;
    values[o.key] =
        o.is_switch ? (flags.switches[o.key] ? "true" : "false") : flags.flag_values[o.key];
  }
  if (flags.print_config) {
    for (const OptionSpec& o : kOptions) {
      std::printf("%s = \"%s\"\n", o.key, values[o.key].c_str());
    }
    return 0;
  }

  std::string error;
  http::ServerOptions server;
  http::RouterOptions router_options;
  uint64_t u = 0;
  bool insecure = false;
  auto ms = [](uint64_t v) { return std::chrono::milliseconds(v); };
  bool ok = true;
  server.listen = Require(values, "http.listen");
  ok = ok && ParseU64Option(values, "http.io_threads", &u, &error);
  server.io_threads = static_cast<unsigned>(u);
  ok = ok && ParseU64Option(values, "http.blocking_threads", &u, &error);
  server.blocking_threads = static_cast<unsigned>(u);
  ok = ok && ParseU64Option(values, "http.max_connections", &server.max_connections, &error);
  ok = ok && ParseU64Option(values, "http.max_header_bytes", &u, &error);
  server.max_header_bytes = static_cast<uint32_t>(std::min<uint64_t>(u, 1u << 30));
  ok = ok && ParseU64Option(values, "http.max_body_bytes", &server.max_body_bytes, &error);
  ok = ok && ParseU64Option(values, "http.read_timeout_ms", &u, &error);
  server.read_timeout = ms(u);
  ok = ok && ParseU64Option(values, "http.idle_timeout_ms", &u, &error);
  server.idle_timeout = ms(u);
  ok = ok && ParseU64Option(values, "http.write_timeout_ms", &u, &error);
  server.write_timeout = ms(u);
  ok = ok && ParseU64Option(values, "http.shutdown_timeout_ms", &u, &error);
  server.shutdown_timeout = ms(u);
  ok = ok &&
       ParseU64Option(values, "http.default_page_size", &router_options.default_page_size, &error);
  ok = ok && ParseU64Option(values, "http.max_page_size", &router_options.max_page_size, &error);
  ok = ok && ParseU64Option(values, "sse.heartbeat_ms", &u, &error);
  server.sse_heartbeat = ms(std::max<uint64_t>(u, 10));
  ok = ok && ParseU64Option(values, "sse.max_buffer_bytes", &server.sse_max_buffer_bytes, &error);
  ok = ok && ParseU64Option(values, "sse.batch_events", &server.sse_batch_events, &error);
  ok = ok && ParseBoolOption(values, "auth.insecure", &insecure, &error);
  server.tls_cert_file = Require(values, "tls.cert_file");
  server.tls_key_file = Require(values, "tls.key_file");
  Limits limits;
  ok = ok && ParseU64Option(values, "limits.max_event_bytes", &limits.max_event_bytes, &error);
  ok = ok && ParseU64Option(values, "limits.max_append_bytes", &limits.max_append_bytes, &error);
  const std::string advertise = Require(values, "grpc.advertise");
  if (ok && !advertise.empty() && !SplitHostPort(advertise)) {
    error = "grpc.advertise must be host:port or [v6]:port, not '" + advertise + "'";
    ok = false;
  }
  const std::string level = Require(values, "log.level");
  // spdlog reads a name it does not know as "off": a typo would silence the server.
  if (ok && spdlog::level::from_str(level) == spdlog::level::off && level != "off") {
    error =
        "log.level must be trace, debug, info, warn, error, critical or off, not '" + level + "'";
    ok = false;
  }
  if (ok && (router_options.default_page_size == 0 ||
             router_options.default_page_size > router_options.max_page_size)) {
    error = "http.default_page_size must be between 1 and http.max_page_size";
    ok = false;
  }
  if (!ok) {
    std::fprintf(stderr, "annals serve: %s\n", error.c_str());
    return 2;
  }
  // Logs go to stderr; stdout carries only the "listening on" line.
  spdlog::set_default_logger(spdlog::stderr_color_mt("annals"));
  spdlog::set_level(spdlog::level::from_str(level));

  // Authentication, when a users file is configured.
  const std::string users_file = Require(values, "auth.users_file");
  std::unique_ptr<http::AccountAuth> auth;
  if (!users_file.empty()) {
    auto users = http::UsersFile::Load(users_file);
    if (!users.ok()) {
      std::fprintf(stderr, "annals serve: %s\n", users.status().message().c_str());
      return 2;
    }
    if (users->accounts.empty()) {
      std::fprintf(stderr, "annals serve: %s has no users: add one with `annals user add`\n",
                   users_file.c_str());
      return 2;
    }
    auth = std::make_unique<http::AccountAuth>(std::move(*users));
  }
  // Refuse to expose an unauthenticated server by accident.
  const bool auth_enabled = auth != nullptr;
  if (!IsLoopback(server.listen) && !auth_enabled && !insecure) {
    std::fprintf(stderr,
                 "annals serve: %s is beyond loopback and authentication is off: configure "
                 "users (--users-file) or pass --insecure\n",
                 server.listen.c_str());
    return 2;
  }

  // The store.
  const std::string store_kind = Require(values, "store");
  const std::string durability = Require(values, "durability");
  if (durability != "fsync" && durability != "unsafe-no-sync") {
    std::fprintf(stderr, "annals serve: durability must be fsync or unsafe-no-sync\n");
    return 2;
  }
  std::unique_ptr<EventStore> store;
  std::unique_ptr<CursorLeases> cursor_leases;  // null: this process owns the store
  Engine* engine = nullptr;
  if (store_kind == "memory") {
    store = NewMemoryStore(limits);
    router_options.store_kind = "memory";
    router_options.durability = "none";
  } else if (store_kind == "engine") {
#ifdef ANNALS_HAVE_ENGINE
    EngineOptions eo;
    eo.data_dir = Require(values, "data_dir");
    eo.limits = limits;
    eo.durability = durability == "fsync" ? Durability::kFsync : Durability::kUnsafeNoSync;
    auto opened = OpenEngine(eo);
    if (!opened.ok()) {
      std::fprintf(stderr, "annals serve: cannot open %s: %s\n", eo.data_dir.c_str(),
                   opened.status().ToString().c_str());
      return ExitCodeFor(opened.status().code());
    }
    engine = opened->get();
    store = std::move(*opened);
    router_options.store_kind = "engine";
    router_options.durability = durability;
#else
    std::fprintf(stderr, "annals serve: this build has no embedded engine; use --store memory\n");
    return 2;
#endif
  } else if (IsPostgresUri(store_kind)) {
    if (durability != "fsync") {
      std::fprintf(stderr,
                   "annals serve: with --store postgres://, durability is the server's "
                   "(synchronous_commit); leave --durability at fsync\n");
      return 2;
    }
    if (Require(values, "delivery.secrets_key_file").empty()) {
      // A key for this run only would leave the secrets that other nodes (or this one after a
      // restart) stored in the shared database unreadable.
      std::fprintf(stderr,
                   "annals serve: with --store postgres://, give --secrets-key-file (the same "
                   "key on every node)\n");
      return 2;
    }
    // libpq would report a malformed URI as a failed connection.
    if (Status valid = ValidatePostgresUri(store_kind); !valid.ok()) {
      std::fprintf(stderr, "annals serve: %s\n", valid.message().c_str());
      return 2;
    }
    PostgresOptions po;
    po.conninfo = store_kind;
    po.application_name = NodeName(server.listen);
    po.limits = limits;
    auto opened = OpenPostgres(po);
    if (!opened.ok()) {
      std::fprintf(stderr, "annals serve: cannot open the PostgreSQL store: %s\n",
                   opened.status().ToString().c_str());
      return ExitCodeFor(opened.status().code());
    }
    store = std::move(*opened);
    // Nodes on one database share the delivery cursors: each is driven by the node that
    // holds its lease (docs/postgres.md, "Delivery leases").
    auto leases = OpenPostgresLeases(po);
    if (!leases.ok()) {
      std::fprintf(stderr, "annals serve: cannot open the PostgreSQL leases: %s\n",
                   leases.status().ToString().c_str());
      return ExitCodeFor(leases.status().code());
    }
    cursor_leases = std::move(*leases);
    router_options.store_kind = "postgres";
    router_options.durability = "server";
  } else {
    std::fprintf(stderr,
                 "annals serve: store must be engine, memory or a postgres:// URI, not '%s'\n",
                 store_kind.c_str());
    return 2;
  }
  router_options.tls = !server.tls_cert_file.empty();
  router_options.auth = auth_enabled;

  std::signal(SIGPIPE, SIG_IGN);

  // Persistent subscriptions and webhooks: cursors over the store (docs/delivery.md).
  auto delivery_service = delivery::DeliveryService::Open(store.get(), std::move(cursor_leases));
  if (!delivery_service.ok()) {
    std::fprintf(stderr, "annals serve: delivery: %s\n",
                 delivery_service.status().ToString().c_str());
    return ExitCodeFor(delivery_service.status().code());
  }
  // Webhook secrets are sealed with a server key before they reach the config stream, which
  // every reader of `$all` can read.
  std::shared_ptr<const delivery::SecretBox> secrets;
  std::string key_file = Require(values, "delivery.secrets_key_file");
  if (key_file.empty() && store_kind == "engine") {
    key_file =
        (std::filesystem::path(Require(values, "data_dir")) / "delivery-secrets.key").string();
  }
  if (key_file.empty()) {
    secrets = std::make_shared<delivery::SecretBox>(delivery::SecretBox::Ephemeral());
  } else {
    auto box = delivery::SecretBox::FromKeyFile(key_file);
    if (!box.ok()) {
      std::fprintf(stderr, "annals serve: %s\n", box.status().message().c_str());
      return ExitCodeFor(box.status().code());
    }
    secrets = std::make_shared<delivery::SecretBox>(std::move(*box));
  }
  auto webhooks = delivery::WebhookManager::Start(delivery_service->get(), secrets);
  if (!webhooks.ok()) {
    std::fprintf(stderr, "annals serve: webhooks: %s\n", webhooks.status().ToString().c_str());
    return ExitCodeFor(webhooks.status().code());
  }
  auto relays = delivery::RelayManager::Start(delivery_service->get());
  if (!relays.ok()) {
    std::fprintf(stderr, "annals serve: relays: %s\n", relays.status().ToString().c_str());
    return ExitCodeFor(relays.status().code());
  }
  http::DeliveryRoutes delivery_routes(delivery_service->get(), webhooks->get(), relays->get());

  http::Metrics metrics;
  http::Router router(store.get(), engine, &metrics, auth.get(), router_options);
  router.SetDelivery(&delivery_routes);
  // KurrentDB's gRPC protocol on the same port: the HTTP acceptor hands over every connection
  // that opens with the HTTP/2 preface (docs/grpc-api.md).
  grpcapi::GrpcOptions grpc_options;
  grpc_options.limits = limits;
  if (auth) {
    // With users configured every gRPC call needs credentials (anonymous only in insecure
    // mode), and the same roles and stream prefixes apply as over HTTP.
    grpc_options.authorize = [a = auth.get()](const std::string& authorization,
                                              grpcapi::Access access,
                                              std::string_view stream) -> Status {
      if (authorization.empty()) return Status(StatusCode::kUnauthenticated, "no credentials");
      auto principal = a->Authenticate(authorization);
      if (!principal.ok()) return principal.status();
      static constexpr http::Operation kOps[] = {
          http::Operation::kRead,           // Access::kRead
          http::Operation::kWrite,          // Access::kWrite
          http::Operation::kDelete,         // Access::kDelete
          http::Operation::kMetadataRead,   // Access::kMetadataRead
          http::Operation::kMetadataWrite,  // Access::kMetadataWrite
          http::Operation::kDelete,         // Access::kManage, as the HTTP delivery routes
      };
      return a->Check(*principal, kOps[static_cast<int>(access)], stream);
    };
  }
  grpcapi::GrpcServer grpc_server(store.get(), delivery_service->get(), grpc_options);
  server.on_http2 = [&grpc_server](int fd) { grpc_server.AdoptConnection(fd); };
  http::Server http_server(&router, &metrics, store.get(), server, auth.get());
  if (Status s = http_server.Start(); !s.ok()) {
    // A malformed --http is kInvalidArgument (2), a port in use kUnavailable (9).
    std::fprintf(stderr, "annals serve: %s\n", s.message().c_str());
    return ExitCodeFor(s.code());
  }
  // Gossip's endpoint needs the bound port (--http may ask for port 0). Connections are
  // accepted from Run() on, after both servers started.
  const auto advertised = SplitHostPort(advertise.empty() ? http_server.BoundAddress() : advertise);
  if (advertised) {
    grpc_server.SetAdvertisedEndpoint(ReachableHost(advertised->host), advertised->port);
  }
  if (Status s = grpc_server.Start(); !s.ok()) {
    std::fprintf(stderr, "annals serve: grpc: %s\n", s.message().c_str());
    return ExitCodeFor(s.code());
  }
  const std::string scheme = router_options.tls ? "https" : "http";
  std::printf("annals: listening on %s://%s (store: %s, durability: %s)\n", scheme.c_str(),
              http_server.BoundAddress().c_str(), router_options.store_kind.c_str(),
              router_options.durability.c_str());
  std::fflush(stdout);

  std::atomic<bool> done{false};
  std::thread signal_thread([&] {
    int stops = 0;
    while (true) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (done.load()) return;
      if (sig == SIGUSR1) continue;
      if (++stops == 1) {
        spdlog::info("annals: signal {}: stopping", sig);
        // Long polls are answered (empty) and checkpoints written before the server drains.
        (*webhooks)->Close();
        (*relays)->Close();
        (*delivery_service)->Close();
        grpc_server.Stop();  // ends gRPC subscriptions and calls in flight
        http_server.Stop();
      } else {
        spdlog::warn("annals: second signal: exiting at once");
        std::_Exit(1);
      }
    }
  });
  http_server.Run();
  grpc_server.Stop();
  done.store(true);
  pthread_kill(signal_thread.native_handle(), SIGUSR1);
  signal_thread.join();
  webhooks->reset();
  relays->reset();
  delivery_service->reset();
  // Closing the engine finishes its queued appends and syncs.
  if (engine != nullptr) engine->Close();
  store.reset();
  spdlog::info("annals: stopped");
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* sub =
      app.add_subcommand("serve", "Serve the HTTP/JSON API (REST + Server-Sent Events)");
  sub->add_option("--config", flags->config, "TOML configuration file (env ANNALS_CONFIG)");
  sub->add_flag("--print-config", flags->print_config,
                "Print the effective configuration and exit");
  for (const OptionSpec& o : kOptions) {
    const std::string help =
        std::string(o.help) + " [default: " + o.def + "; env " + o.env + "; file " + o.key + "]";
    if (o.is_switch) {
      flags->options[o.key] = sub->add_flag(o.flag, flags->switches[o.key], help);
    } else {
      flags->options[o.key] = sub->add_option(o.flag, flags->flag_values[o.key], help);
    }
  }
  sub->callback([flags] {
    const int rc = RunServe(*flags);
    if (rc != 0) throw CommandFailed{rc};  // cli::Run returns it as the exit code
  });
}

}  // namespace annals::cli
