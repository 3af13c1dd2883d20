// Server metrics, rendered by hand in the Prometheus text exposition format (version 0.0.4).
//
// Thread safety: every method may be called from any thread; counters are relaxed atomics, so a
// scrape sees each counter consistent but not all of them at one instant.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace annals {
struct EngineStats;
}

namespace annals::http {

// The route a request matched, the `route` label of the request counters.
enum class Route : uint8_t {
  kUnmatched,
  kHealthLive,
  kHealthReady,
  kInfo,
  kMetrics,
  kProblems,
  kStreams,         // /streams
  kStream,          // /streams/{stream}
  kStreamMetadata,  // /streams/{stream}/metadata
  kAll,             // /all
  kSubscriptions,   // /subscriptions
  kSubscription,    // /subscriptions/{group}[/...]
  kWebhooks,        // /webhooks
  kWebhook,         // /webhooks/{name}[/...]
  kRelays,          // /relays
  kRelay,           // /relays/{name}[/...]
  kCount,
};
std::string_view RouteLabel(Route route);

enum class Method : uint8_t { kGet, kHead, kPost, kPut, kDelete, kOther, kCount };
Method MethodOf(std::string_view method);

// A latency histogram with fixed buckets (seconds), Prometheus-style cumulative on output.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
  void Observe(std::chrono::nanoseconds d);
  void Render(std::string* out, std::string_view name, std::string_view help) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};  // last: +Inf
  std::atomic<uint64_t> sum_ns_{0};
};

// A histogram family from per-bucket counts (not cumulative; the last is +Inf), rendered
// cumulative as Prometheus wants it.
void RenderBuckets(std::string* out, std::string_view name, std::string_view help,
                   std::span<const double> bounds, std::span<const uint64_t> counts, double sum);

// One sample of a labelled gauge family; `labels` is rendered between the braces as given,
// e.g. `kind="webhook",name="` + EscapeLabel(name) + `"`.
struct GaugeSample {
  std::string labels;
  double value = 0;
};
std::string EscapeLabel(std::string_view value);
void RenderGauges(std::string* out, std::string_view name, std::string_view help,
                  const std::vector<GaugeSample>& samples);

// One live SSE subscriber's progress, for the lag gauge. Owned by its session.
struct SseClientState {
  std::atomic<uint64_t> delivered_position{0};  // position of the last event sent
};

class Metrics {
 public:
  void CountRequest(Route route, Method method, unsigned status);
  void ObserveAppend(std::chrono::nanoseconds latency, uint64_t events, uint64_t bytes, bool ok,
                     bool idempotent);
  void ConnectionOpened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  void ConnectionRejected() { connections_rejected_.fetch_add(1, std::memory_order_relaxed); }
  void MalformedRequest() { malformed_.fetch_add(1, std::memory_order_relaxed); }
  void AuthDenied(bool unauthenticated);
  void SseEventsSent(uint64_t n) { sse_events_.fetch_add(n, std::memory_order_relaxed); }
  void SseSlowConsumer() { sse_slow_.fetch_add(1, std::memory_order_relaxed); }
  void SseClientAdded(SseClientState* client);
  void SseClientRemoved(SseClientState* client);

  int64_t connections() const { return connections_.load(std::memory_order_relaxed); }

  // The exposition text. `head` is the store's head position (for the subscriber lag gauge);
  // `engine` adds the engine's counters when the store is the embedded engine.
  std::string Render(uint64_t head, const EngineStats* engine) const;

 private:
  static constexpr std::array<unsigned, 20> kStatuses = {200, 201, 204, 400, 401, 403, 404,
                                                         405, 406, 408, 409, 410, 411, 413,
                                                         415, 431, 500, 501, 503, 0};
  static size_t StatusIndex(unsigned status);

  std::array<std::atomic<uint64_t>, static_cast<size_t>(Route::kCount) *
                                        static_cast<size_t>(Method::kCount) * kStatuses.size()>
      requests_{};
  Histogram append_latency_;
  std::atomic<uint64_t> appends_ok_{0};
  std::atomic<uint64_t> appends_idempotent_{0};
  std::atomic<uint64_t> appends_failed_{0};
  std::atomic<uint64_t> appended_events_{0};
  std::atomic<uint64_t> appended_bytes_{0};
  std::atomic<int64_t> connections_{0};
  std::atomic<uint64_t> connections_rejected_{0};
  std::atomic<uint64_t> malformed_{0};
  std::atomic<uint64_t> auth_unauthenticated_{0};
  std::atomic<uint64_t> auth_forbidden_{0};
  std::atomic<uint64_t> sse_events_{0};
  std::atomic<uint64_t> sse_slow_{0};
  mutable std::mutex sse_mu_;
  std::unordered_set<SseClientState*> sse_clients_;  // guarded by sse_mu_
};

}  // namespace annals::http
