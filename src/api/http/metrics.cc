#include "api/http/metrics.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "annals/engine.h"

namespace annals::http {

namespace {

constexpr std::array<std::string_view, static_cast<size_t>(Route::kCount)> kRouteLabels = {
    "unmatched",      "/health/live",      "/health/ready",
    "/info",          "/metrics",          "/problems/{kind}",
    "/streams",       "/streams/{stream}", "/streams/{stream}/metadata",
    "/all",           "/subscriptions",    "/subscriptions/{group}",
    "/webhooks",      "/webhooks/{name}",  "/relays",
    "/relays/{name}",
};
constexpr std::array<std::string_view, static_cast<size_t>(Method::kCount)> kMethodLabels = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "other"};

void AppendF(std::string* out, const char* fmt, auto... args) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof(buf), fmt, args...);
  if (n > 0) out->append(buf, std::min(static_cast<size_t>(n), sizeof(buf) - 1));
}

void Header(std::string* out, std::string_view name, std::string_view type, std::string_view help) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void Scalar(std::string* out, std::string_view name, std::string_view type, std::string_view help,
            uint64_t value) {
  Header(out, name, type, help);
  out->append(name);
  AppendF(out, " %" PRIu64 "\n", value);
}

}  // namespace

std::string_view RouteLabel(Route route) { return kRouteLabels[static_cast<size_t>(route)]; }

Method MethodOf(std::string_view m) {
  if (m == "GET") return Method::kGet;
  if (m == "HEAD") return Method::kHead;
  if (m == "POST") return Method::kPost;
  if (m == "PUT") return Method::kPut;
  if (m == "DELETE") return Method::kDelete;
  return Method::kOther;
}

void Histogram::Observe(std::chrono::nanoseconds d) {
  const double s = std::chrono::duration<double>(d).count();
  size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, d.count())),
                    std::memory_order_relaxed);
}

void Histogram::Render(std::string* out, std::string_view name, std::string_view help) const {
  std::array<uint64_t, kBounds.size() + 1> counts;
  for (size_t i = 0; i <= kBounds.size(); ++i) {
    counts[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  RenderBuckets(out, name, help, kBounds, counts,
                static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
}

void RenderBuckets(std::string* out, std::string_view name, std::string_view help,
                   std::span<const double> bounds, std::span<const uint64_t> counts, double sum) {
  Header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    out->append(name).append("_bucket{le=\"");
    if (i < bounds.size()) {
      AppendF(out, "%g", bounds[i]);
    } else {
      out->append("+Inf");
    }
    AppendF(out, "\"} %" PRIu64 "\n", cumulative);
  }
  out->append(name);
  AppendF(out, "_sum %.9f\n", sum);
  out->append(name);
  AppendF(out, "_count %" PRIu64 "\n", cumulative);
}

std::string EscapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void RenderGauges(std::string* out, std::string_view name, std::string_view help,
                  const std::vector<GaugeSample>& samples) {
  Header(out, name, "gauge", help);
  for (const GaugeSample& s : samples) {
    out->append(name).append("{").append(s.labels).append("}");
    AppendF(out, " %.6g\n", s.value);
  }
}

size_t Metrics::StatusIndex(unsigned status) {
  for (size_t i = 0; i + 1 < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return i;
  }
  return kStatuses.size() - 1;
}

void Metrics::CountRequest(Route route, Method method, unsigned status) {
  const size_t i = (static_cast<size_t>(route) * static_cast<size_t>(Method::kCount) +
                    static_cast<size_t>(method)) *
                       kStatuses.size() +
                   StatusIndex(status);
  requests_[i].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::ObserveAppend(std::chrono::nanoseconds latency, uint64_t events, uint64_t bytes,
                            bool ok, bool idempotent) {
  append_latency_.Observe(latency);
  if (!ok) {
    appends_failed_.fetch_add(1, std::memory_order_relaxed);
  } else if (idempotent) {
    appends_idempotent_.fetch_add(1, std::memory_order_relaxed);
  } else {
    appends_ok_.fetch_add(1, std::memory_order_relaxed);
    appended_events_.fetch_add(events, std::memory_order_relaxed);
    appended_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }
}

void Metrics::AuthDenied(bool unauthenticated) {
  (unauthenticated ? auth_unauthenticated_ : auth_forbidden_)
      .fetch_add(1, std::memory_order_relaxed);
}

void Metrics::SseClientAdded(SseClientState* client) {
  std::lock_guard lock(sse_mu_);
  sse_clients_.insert(client);
}

void Metrics::SseClientRemoved(SseClientState* client) {
  std::lock_guard lock(sse_mu_);
  sse_clients_.erase(client);
}

std::string Metrics::Render(uint64_t head, const EngineStats* engine) const {
  std::string out;
  out.reserve(8192);
  Header(&out, "annals_http_requests_total", "counter",
         "HTTP requests answered, by route, method and status (status 0: any other).");
  for (size_t r = 0; r < static_cast<size_t>(Route::kCount); ++r) {
    for (size_t m = 0; m < static_cast<size_t>(Method::kCount); ++m) {
      for (size_t s = 0; s < kStatuses.size(); ++s) {
        const size_t i = (r * static_cast<size_t>(Method::kCount) + m) * kStatuses.size() + s;
        const uint64_t v = requests_[i].load(std::memory_order_relaxed);
        if (v == 0) continue;
        out.append("annals_http_requests_total{route=\"").append(kRouteLabels[r]);
        out.append("\",method=\"").append(kMethodLabels[m]);
        AppendF(&out, "\",status=\"%u\"} %" PRIu64 "\n", kStatuses[s], v);
      }
    }
  }
  append_latency_.Render(&out, "annals_append_duration_seconds",
                         "Time from a parsed append request to the store's acknowledgement.");
  Header(&out, "annals_appends_total", "counter", "Append requests by result.");
  AppendF(&out, "annals_appends_total{result=\"written\"} %" PRIu64 "\n",
          appends_ok_.load(std::memory_order_relaxed));
  AppendF(&out, "annals_appends_total{result=\"idempotent\"} %" PRIu64 "\n",
          appends_idempotent_.load(std::memory_order_relaxed));
  AppendF(&out, "annals_appends_total{result=\"failed\"} %" PRIu64 "\n",
          appends_failed_.load(std::memory_order_relaxed));
  Scalar(&out, "annals_appended_events_total", "counter", "Events written by HTTP appends.",
         appended_events_.load(std::memory_order_relaxed));
  Scalar(&out, "annals_appended_bytes_total", "counter",
         "Bytes of event data and metadata written by HTTP appends.",
         appended_bytes_.load(std::memory_order_relaxed));
  Scalar(&out, "annals_http_connections", "gauge", "Open HTTP connections.",
         static_cast<uint64_t>(std::max<int64_t>(0, connections_.load())));
  Scalar(&out, "annals_http_connections_rejected_total", "counter",
         "Connections refused because max_connections was reached.",
         connections_rejected_.load(std::memory_order_relaxed));
  Scalar(&out, "annals_http_malformed_requests_total", "counter",
         "Requests that were not valid HTTP/1.1 (the connection was closed).",
         malformed_.load(std::memory_order_relaxed));
  Header(&out, "annals_auth_denied_total", "counter", "Requests denied by authentication.");
  AppendF(&out, "annals_auth_denied_total{reason=\"unauthenticated\"} %" PRIu64 "\n",
          auth_unauthenticated_.load(std::memory_order_relaxed));
  AppendF(&out, "annals_auth_denied_total{reason=\"forbidden\"} %" PRIu64 "\n",
          auth_forbidden_.load(std::memory_order_relaxed));
  {
    std::lock_guard lock(sse_mu_);
    Scalar(&out, "annals_sse_clients", "gauge", "Connected Server-Sent Events subscribers.",
           sse_clients_.size());
    uint64_t max_lag = 0;
    for (const SseClientState* c : sse_clients_) {
      const uint64_t p = c->delivered_position.load(std::memory_order_relaxed);
      if (head > p) max_lag = std::max(max_lag, head - p);
    }
    Scalar(&out, "annals_sse_max_lag_positions", "gauge",
           "Largest distance, in log positions (bytes), between the head and the last event "
           "sent to an SSE subscriber.",
           max_lag);
  }
  Scalar(&out, "annals_sse_events_sent_total", "counter", "Events sent to SSE subscribers.",
         sse_events_.load(std::memory_order_relaxed));
  Scalar(&out, "annals_sse_slow_consumers_total", "counter",
         "SSE subscribers disconnected because their buffer filled.",
         sse_slow_.load(std::memory_order_relaxed));
  Scalar(&out, "annals_head_position", "gauge", "The store's head position.", head);
  if (engine != nullptr) {
    Scalar(&out, "annals_engine_events_appended_total", "counter", "Events the engine wrote.",
           engine->events_appended);
    Scalar(&out, "annals_engine_bytes_appended_total", "counter", "Bytes the engine wrote.",
           engine->bytes_appended);
    Scalar(&out, "annals_engine_appends_total", "counter", "Appends the engine committed.",
           engine->appends);
    Scalar(&out, "annals_engine_group_commits_total", "counter",
           "Group commits (one write and one sync each).", engine->group_commits);
    Scalar(&out, "annals_engine_fsyncs_total", "counter", "fdatasync calls on the log.",
           engine->fsyncs);
    Scalar(&out, "annals_engine_segments", "gauge", "Log segment files.", engine->segments);
    Scalar(&out, "annals_engine_recovered_records", "gauge",
           "Records replayed into the index at open.", engine->recovered_records);
    Scalar(&out, "annals_engine_truncated_bytes", "gauge", "Torn-tail bytes cut at open.",
           engine->truncated_bytes);
    Scalar(&out, "annals_engine_unflushed_event_ids", "gauge",
           "Event ids held in memory until the index flushes them.", engine->unflushed_event_ids);
    RenderBuckets(&out, "annals_engine_fsync_duration_seconds",
                  "Duration of each fdatasync of the log.", kFsyncSecondsBounds,
                  engine->fsync_seconds.buckets, engine->fsync_seconds.sum);
    RenderBuckets(&out, "annals_engine_group_commit_requests",
                  "Requests (appends, metadata writes, deletes) written by one group commit.",
                  kCommitBatchBounds, engine->group_commit_requests.buckets,
                  engine->group_commit_requests.sum);
  }
  return out;
}

}  // namespace annals::http
