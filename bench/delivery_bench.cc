// Delivery benchmarks, in process (docs/benchmarks.md, "Delivery"):
//   annals_delivery_bench webhook  [--events N] [--batch B] [--engine DIR]
//       N events already in the store, one webhook in batch mode to a local receiver
//       (raw sockets, 200 at once): events/s from creation until the receiver has them all.
//   annals_delivery_bench latency  [--rate R] [--seconds S] [--concurrency C] [--engine DIR]
//       appends one event at a time at R/s; a binary-mode webhook to a local receiver; the
//       receiver notes when each event arrives: append issued -> received, p50/p99. (Not from
//       the acknowledgment: the webhook often has the event before Append returns.)
//   annals_delivery_bench group    [--events N] [--consumers C] [--engine DIR]
//       a round-robin group, C consumer threads polling 500 and acking (in process, no HTTP).
//   annals_delivery_bench rest --url http://127.0.0.1:PORT [--events N] [--consumers C]
//       the same through the REST API of a running `annals serve`: the events are appended
//       over HTTP first (100 per request), then C threads poll 500 and ack over keep-alive.
// --engine DIR uses the embedded engine with --unsafe-no-sync semantics (no fsync) in DIR;
// the default is the in-memory store.
// Each mode prints one result line on stdout for scripts/bench (`annals-delivery case=...
// events_per_s=...`, bench/result_line.h) and a sentence on stderr.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>

#include <nlohmann/json.hpp>

#include "annals/engine.h"
#include "delivery/service.h"
#include "delivery/webhook.h"
#include "latency_histogram.h"
#include "memory/memory_store.h"
#include "result_line.h"

using namespace annals;
using namespace annals::delivery;
using Clock = std::chrono::steady_clock;

namespace {

// A minimal HTTP receiver: answers 200 to every request, counts CloudEvents (one per request in
// binary mode, one per "specversion" in a batch) and notes the arrival of each binary event.
class Receiver {
 public:
  Receiver() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 64);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        int one = 1;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::thread([this, c] { Serve(c); }).detach();
      }
    }).detach();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  uint64_t events() const { return events_.load(); }
  std::vector<std::pair<std::string, Clock::time_point>> Arrivals() {
    std::lock_guard l(mu_);
    return arrivals_;
  }

 private:
  void Serve(int c) {
    std::string buf;
    char chunk[1 << 16];
    for (;;) {
      size_t head;
      while ((head = buf.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
        if (n <= 0) return (void)::close(c);
        buf.append(chunk, n);
      }
      std::string h = buf.substr(0, head);
      for (char& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      size_t cl = h.find("content-length:");
      size_t len = cl == std::string::npos ? 0 : std::stoul(h.substr(cl + 15));
      buf.erase(0, head + 4);
      while (buf.size() < len) {
        ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
        if (n <= 0) return (void)::close(c);
        buf.append(chunk, n);
      }
      const auto now = Clock::now();
      std::string body = buf.substr(0, len);
      buf.erase(0, len);
      size_t id = h.find("ce-id:");
      if (id != std::string::npos) {
        std::lock_guard l(mu_);
        arrivals_.emplace_back(h.substr(id + 7, 36), now);
        events_ += 1;
      } else {
        uint64_t n = 0;
        for (size_t p = body.find("\"specversion\""); p != std::string::npos;
             p = body.find("\"specversion\"", p + 1)) {
          ++n;
        }
        events_ += n;
      }
      static const char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
      if (::send(c, kOk, sizeof kOk - 1, MSG_NOSIGNAL) < 0) return (void)::close(c);
    }
  }
  int fd_;
  uint16_t port_;
  std::atomic<uint64_t> events_{0};
  std::mutex mu_;
  std::vector<std::pair<std::string, Clock::time_point>> arrivals_;
};

std::unique_ptr<EventStore> OpenStore(const std::string& dir) {
  if (dir.empty()) return NewMemoryStore();
  EngineOptions o;
  o.data_dir = dir;
  o.durability = Durability::kUnsafeNoSync;
  auto e = OpenEngine(o);
  if (!e.ok()) {
    std::fprintf(stderr, "%s\n", e.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*e);
}

void Fill(EventStore* store, uint64_t events) {
  const std::string data(200, 'x');
  for (uint64_t i = 0; i < events; i += 100) {
    AppendRequest r;
    r.stream = "visit-" + std::to_string(i / 100);
    for (int k = 0; k < 100; ++k) {
      ProposedEvent e;
      e.type = "PatientCheckedIn";
      e.data = "{\"p\":\"" + data + "\"}";
      r.events.push_back(std::move(e));
    }
    if (!store->Append(r).ok()) std::exit(1);
  }
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A throughput case: no per-event latency, so only the rate and the totals.
void PrintRate(const std::string& name, uint64_t events, double seconds) {
  std::fprintf(stderr, "%s: %llu events in %.3f s\n", name.c_str(),
               static_cast<unsigned long long>(events), seconds);
  fmt::print("annals-delivery case={} events_per_s={:.0f} events={} seconds={:.3f}\n", name,
             events / seconds, events, seconds);
  std::fflush(stdout);
}

size_t Collect(char* p, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}

// One HTTP request on `curl` (kept alive between calls); returns the status, fills `out`.
long Http(CURL* curl, const std::string& method, const std::string& url, const std::string& body,
          std::string* out) {
  out->clear();
  curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  return status;
}

int RestBench(const std::string& url, uint64_t n, uint64_t consumers) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* c = curl_easy_init();
  std::string out;
  const std::string data(200, 'x');
  for (uint64_t i = 0; i < n; i += 100) {
    std::string body = "{\"events\":[";
    for (int k = 0; k < 100; ++k) {
      body += std::string(k ? "," : "") + "{\"type\":\"PatientCheckedIn\",\"data\":{\"p\":\"" +
              data + "\"}}";
    }
    body += "]}";
    if (Http(c, "POST", url + "/streams/visit-" + std::to_string(i / 100), body, &out) != 201) {
      std::fprintf(stderr, "append failed: %s\n", out.c_str());
      return 1;
    }
  }
  const auto t0 = Clock::now();
  if (Http(c, "PUT", url + "/subscriptions/rest-bench",
           R"({"source":{"category":"visit"},"settings":{"maxInFlight":4000,"bufferSize":8000}})",
           &out) /
          100 !=
      2) {
    std::fprintf(stderr, "create failed: %s\n", out.c_str());
    return 1;
  }
  std::atomic<uint64_t> done{0};
  std::vector<std::thread> ts;
  for (uint64_t i = 0; i < consumers; ++i) {
    ts.emplace_back([&, i] {
      CURL* k = curl_easy_init();
      std::string got, ignored;
      const std::string poll =
          url + "/subscriptions/rest-bench/poll?max=500&wait=200&consumer=c" + std::to_string(i);
      while (done < n) {
        if (Http(k, "POST", poll, "", &got) != 200) break;
        auto j = nlohmann::json::parse(got);
        nlohmann::json ids = nlohmann::json::array();
        for (auto& e : j["events"]) ids.push_back(e["ackId"]);
        if (ids.empty()) continue;
        Http(k, "POST", url + "/subscriptions/rest-bench/ack", nlohmann::json{{"ids", ids}}.dump(),
             &ignored);
        done += ids.size();
      }
      curl_easy_cleanup(k);
    });
  }
  for (auto& t : ts) t.join();
  const double s = Seconds(Clock::now() - t0);
  PrintRate(fmt::format("group_rest_c{}", consumers), done.load(), s);
  Http(c, "DELETE", url + "/subscriptions/rest-bench", "", &out);
  curl_easy_cleanup(c);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s webhook|latency|group [options]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  std::map<std::string, std::string> opt;
  for (int i = 2; i + 1 < argc; i += 2) opt[argv[i]] = argv[i + 1];
  auto num = [&](const char* k, uint64_t d) { return opt.count(k) ? std::stoull(opt[k]) : d; };
  if (mode == "rest")
    return RestBench(opt["--url"], num("--events", 200000), num("--consumers", 4));
  auto store = OpenStore(opt.count("--engine") ? opt["--engine"] : "");
  auto svc = DeliveryService::Open(store.get());
  if (!svc.ok()) return 1;

  if (mode == "webhook") {
    const uint64_t n = num("--events", 200000);
    Fill(store.get(), n);
    Receiver rx;
    auto hooks = WebhookManager::Start(svc->get());
    WebhookConfig c;
    c.name = "bench";
    c.url = rx.Url();
    c.filter.filter.category = "visit";
    c.batch_size = static_cast<uint32_t>(num("--batch", 100));
    c.concurrency = static_cast<uint32_t>(num("--concurrency", 8));
    const auto t0 = Clock::now();
    if (!(*hooks)->Put(c).ok()) return 1;
    while (rx.events() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const double s = Seconds(Clock::now() - t0);
    PrintRate(fmt::format("webhook_batch{}_c{}", c.batch_size, c.concurrency), n, s);
    return 0;
  }
  if (mode == "latency") {
    const uint64_t rate = num("--rate", 1000);
    const uint64_t seconds = num("--seconds", 10);
    Receiver rx;
    auto hooks = WebhookManager::Start(svc->get());
    WebhookConfig c;
    c.name = "latency";
    c.url = rx.Url();
    c.filter.filter.category = "visit";
    c.concurrency = static_cast<uint32_t>(num("--concurrency", 8));
    if (!(*hooks)->Put(c).ok()) return 1;
    std::map<std::string, Clock::time_point> issued;
    const uint64_t total = rate * seconds;
    const auto start = Clock::now();
    for (uint64_t i = 0; i < total; ++i) {
      const auto due = start + std::chrono::nanoseconds(i * 1'000'000'000ull / rate);
      std::this_thread::sleep_until(due);
      AppendRequest r;
      r.stream = "visit-" + std::to_string(i % 100);
      ProposedEvent e;
      e.id = Uuid::Random();
      e.type = "PatientCheckedIn";
      e.data = "{\"i\":1}";
      const std::string id = e.id->ToString();
      r.events.push_back(std::move(e));
      issued[id] = Clock::now();
      if (!store->Append(r).ok()) return 1;
    }
    while (rx.events() < total) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    bench::LatencyHistogram h;
    for (auto& [id, at] : rx.Arrivals()) {
      auto it = issued.find(id);
      if (it != issued.end()) h.Record(at - it->second);
    }
    const double s = Seconds(Clock::now() - start);
    std::fprintf(stderr,
                 "webhook latency at %llu events/s over %llu s: p50 %.2f ms, p99 %.2f ms, max "
                 "%.2f ms\n",
                 static_cast<unsigned long long>(rate), static_cast<unsigned long long>(seconds),
                 h.PercentileMs(0.5), h.PercentileMs(0.99), h.PercentileMs(1));
    bench::PrintResult("annals-delivery", fmt::format("webhook_latency_rate{}", rate), total / s, h,
                       fmt::format(" deliveries={} missing={}", h.Count(), total - h.Count()));
    return 0;
  }
  if (mode == "group") {
    const uint64_t n = num("--events", 200000);
    const uint64_t consumers = num("--consumers", 4);
    Fill(store.get(), n);
    GroupDefinition d;
    d.name = "bench";
    d.source.filter.category = "visit";
    d.settings.max_in_flight = 4000;
    d.settings.buffer_size = 8000;
    const auto t0 = Clock::now();
    if (!(*svc)->Put(Kind::kGroup, d).ok()) return 1;
    auto g = *(*svc)->Find(Kind::kGroup, "bench");
    std::atomic<uint64_t> done{0};
    std::vector<std::thread> ts;
    for (uint64_t i = 0; i < consumers; ++i) {
      ts.emplace_back([&, i] {
        while (done < n) {
          auto batch =
              PollBlocking(*g, "c" + std::to_string(i), 500, std::chrono::milliseconds(100));
          std::vector<std::string> ids;
          for (auto& x : batch) ids.push_back(x.ack_id);
          (void)g->Ack(ids);
          done += batch.size();
        }
      });
    }
    for (auto& t : ts) t.join();
    const double s = Seconds(Clock::now() - t0);
    PrintRate(fmt::format("group_c{}", consumers), n, s);
    return 0;
  }
  return 2;
}
