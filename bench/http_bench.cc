// Load generator for `annals serve` over its REST API (HTTP/1.1 keep-alive, one thread and one
// connection per client, the peers' event model from event_model.h):
//
//   annals_http_bench append      --url http://127.0.0.1:2113 --connections 64 --batch 1
//   annals_http_bench read-stream --url ... --connections 8 --streams 2000
//   annals_http_bench read-all    --url ... --connections 1 --page 1000 --events 200000
//   annals_http_bench sse-latency --url ... --subscribers 100 --rate 1000
//   annals_http_bench mixed       --url ... --connections 8 --streams 2000
//   annals_http_bench catch-up    --url ... --subscribers 1 --events 200000
//   annals_http_bench ping        --url ... --connections 4
//
// Closed loop by default (each client sends its next request when the last one is answered).
// `--rate R` makes `append` open loop: requests are scheduled at R per second in all and each
// latency is measured from the request's scheduled time, so a stall is not hidden by the
// clients waiting for it (coordinated omission).
//
// Prints one line per case: `annals-http case=... events_per_s=... p50_ms=... p99_ms=...`.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "annals/types.h"
#include "event_model.h"
#include "latency_histogram.h"
#include "result_line.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using annals::bench::LatencyHistogram;

struct Options {
  std::string url = "http://127.0.0.1:2113";
  std::string host, port;
  int connections = 1;
  int batch = 1;
  double seconds = 10;
  double rate = 0;  // 0: closed loop
  uint64_t streams = 2000;
  uint64_t events = 200000;
  int page = 1000;
  int subscribers = 100;
  std::string prefix;  // stream name prefix, unique per run unless given
};

[[noreturn]] void Die(const std::string& what) { annals::bench::Die("annals_http_bench", what); }

// One keep-alive connection, used by one thread.
class Connection {
 public:
  explicit Connection(const Options& o) : stream_(ioc_) {
    tcp::resolver resolver(ioc_);
    stream_.connect(resolver.resolve(o.host, o.port));
    stream_.socket().set_option(tcp::no_delay(true));
    host_ = o.host + ":" + o.port;
  }

  http::response<http::string_body> Send(http::verb verb, const std::string& target,
                                         std::string body = {},
                                         const char* content_type = "application/json") {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, host_);
    if (!body.empty()) {
      req.set(http::field::content_type, content_type);
      req.body() = std::move(body);
      req.prepare_payload();
    }
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    return res;
  }

  tcp::socket& socket() { return stream_.socket(); }
  beast::flat_buffer& buffer() { return buffer_; }
  beast::tcp_stream& stream() { return stream_; }
  const std::string& host() const { return host_; }

 private:
  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::string host_;
};

std::string AppendBody(uint64_t first_revision, int count) {
  std::string body = "{\"expectedRevision\":";
  body += first_revision == 0 ? "\"no_stream\"" : std::to_string(first_revision - 1);
  body += ",\"events\":[";
  for (int i = 0; i < count; ++i) {
    if (i) body += ',';
    body += fmt::format("{{\"id\":\"{}\",\"type\":\"{}\",\"data\":{},\"metadata\":{}}}",
                        annals::Uuid::Random().ToString(),
                        annals::bench::kEventTypes[(first_revision + static_cast<uint64_t>(i)) %
                                                   annals::bench::kEventsPerStream],
                        annals::bench::kEventData, annals::bench::kEventMetadata);
  }
  body += "]}";
  return body;
}

std::string RunPrefix(const Options& o) { return annals::bench::RunPrefix(o.prefix); }

void PrintLine(const std::string& name, double events_per_s, const LatencyHistogram& h,
               const std::string& extra) {
  annals::bench::PrintResult("annals-http", name, events_per_s, h, extra);
}

// ---- append ----------------------------------------------------------------------------------

int RunAppend(const Options& o) {
  const std::string prefix = RunPrefix(o);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> events{0}, conflicts{0};
  std::vector<LatencyHistogram> hist(static_cast<size_t>(o.connections));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  // Open loop: client c sends its k-th request at start + (k * connections + c) / rate.
  const double interval_s = o.rate > 0 ? o.connections / o.rate : 0;
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      Connection conn(o);
      uint64_t stream_no = 0, revision = 0, k = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const int count =
            std::min<int>(o.batch, annals::bench::kEventsPerStream - static_cast<int>(revision));
        const std::string target = fmt::format("/streams/{}-{}-{}", prefix, c, stream_no);
        std::string body =
            AppendBody(revision, o.batch > annals::bench::kEventsPerStream ? o.batch : count);
        auto t0 = Clock::now();
        if (interval_s > 0) {
          const auto due =
              start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                          (static_cast<double>(k) + c / double(o.connections)) * interval_s));
          std::this_thread::sleep_until(due);
          t0 = due;
          ++k;
        }
        auto res = conn.Send(http::verb::post, target, std::move(body));
        hist[static_cast<size_t>(c)].Record(Clock::now() - t0);
        if (res.result() != http::status::created) {
          Die(fmt::format("append to {}: {} {}", target, res.result_int(), res.body()));
        }
        const uint64_t n = o.batch > annals::bench::kEventsPerStream ? o.batch : count;
        events.fetch_add(n, std::memory_order_relaxed);
        revision += n;
        if (revision >= annals::bench::kEventsPerStream) {
          ++stream_no;
          revision = 0;
        }
      }
      // A stale expected revision must be refused (the peers check the same).
      auto res =
          conn.Send(http::verb::post, fmt::format("/streams/{}-{}-0", prefix, c), AppendBody(1, 1));
      if (res.result() == http::status::conflict) conflicts.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  LatencyHistogram all;
  for (auto& h : hist) all.Merge(h);
  PrintLine(fmt::format("append_batch{}_c{}{}", o.batch, o.connections,
                        o.rate > 0 ? fmt::format("_rate{:.0f}", o.rate) : ""),
            static_cast<double>(events.load()) / elapsed, all,
            fmt::format(" occ_conflict={}", conflicts.load() == static_cast<uint64_t>(o.connections)
                                                ? "detected"
                                                : "MISSED"));
  return 0;
}

// ---- reads -----------------------------------------------------------------------------------

// Writes `streams` streams of 10 events each, in 10-event appends over 8 connections.
void Preload(const Options& o, const std::string& prefix, uint64_t streams) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Connection conn(o);
      for (uint64_t s = static_cast<uint64_t>(t); s < streams; s += 8) {
        auto res = conn.Send(http::verb::post, fmt::format("/streams/{}-{}", prefix, s),
                             AppendBody(0, annals::bench::kEventsPerStream));
        if (res.result() != http::status::created) {
          Die(fmt::format("preload: {} {}", res.result_int(), res.body()));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
}

template <typename Request>
int RunClosedLoopReads(const Options& o, const std::string& name, Request request) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> events{0};
  std::vector<LatencyHistogram> hist(static_cast<size_t>(o.connections));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      Connection conn(o);
      std::mt19937_64 rng(static_cast<uint64_t>(c) * 7919 + 1);
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = Clock::now();
        const uint64_t n = request(conn, rng);
        hist[static_cast<size_t>(c)].Record(Clock::now() - t0);
        events.fetch_add(n, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  LatencyHistogram all;
  for (auto& h : hist) all.Merge(h);
  PrintLine(name, static_cast<double>(events.load()) / elapsed, all, "");
  return 0;
}

// GET /health/live in a closed loop: request traffic that touches no storage, run beside a disk
// measurement to see what loopback network load alone does to fdatasync (scripts/bench).
int RunPing(const Options& o) {
  return RunClosedLoopReads(o, fmt::format("ping_c{}", o.connections),
                            [](Connection& conn, std::mt19937_64&) -> uint64_t {
                              auto res = conn.Send(http::verb::get, "/health/live");
                              if (res.result_int() / 100 != 2)
                                Die(fmt::format("GET /health/live: {}", res.result_int()));
                              return 1;
                            });
}

// Counts the events of a JSON page by their "position" members (one per event).
uint64_t CountEvents(const std::string& body) {
  uint64_t n = 0;
  for (size_t at = body.find("\"position\""); at != std::string::npos;
       at = body.find("\"position\"", at + 1)) {
    ++n;
  }
  return n;
}

int RunReadStream(const Options& o) {
  const std::string prefix = RunPrefix(o);
  Preload(o, prefix, o.streams);
  return RunClosedLoopReads(o, fmt::format("read_stream_c{}", o.connections),
                            [&](Connection& conn, std::mt19937_64& rng) -> uint64_t {
                              const std::string target =
                                  fmt::format("/streams/{}-{}?limit=10", prefix, rng() % o.streams);
                              auto res = conn.Send(http::verb::get, target);
                              if (res.result() != http::status::ok)
                                Die(fmt::format("GET {}: {}", target, res.result_int()));
                              const uint64_t n = CountEvents(res.body());
                              if (n != annals::bench::kEventsPerStream)
                                Die(fmt::format("GET {}: {} events", target, n));
                              return n;
                            });
}

// Preloads --events events, then reads the whole log in pages, starting again at the start
// when it reaches the end; each client keeps its own cursor.
int RunReadAll(const Options& o) {
  Preload(o, RunPrefix(o), o.events / annals::bench::kEventsPerStream);
  std::mutex mu;
  std::map<Connection*, std::string> cursors;
  return RunClosedLoopReads(
      o, fmt::format("read_all_page{}_c{}", o.page, o.connections),
      [&](Connection& conn, std::mt19937_64&) -> uint64_t {
        std::string from;
        {
          std::lock_guard g(mu);
          from = cursors.try_emplace(&conn, "start").first->second;
        }
        auto res = conn.Send(http::verb::get, fmt::format("/all?from={}&limit={}", from, o.page));
        if (res.result() != http::status::ok) Die(fmt::format("GET /all: {}", res.result_int()));
        const std::string& b = res.body();
        const size_t at = b.find("\"nextPosition\":");
        const uint64_t n = CountEvents(b);
        std::string following = "start";
        if (at != std::string::npos && n == static_cast<uint64_t>(o.page)) {
          following = std::to_string(std::stoull(b.substr(at + 15)));
        }
        std::lock_guard g(mu);
        cursors[&conn] = following;
        return n;
      });
}

// ---- mixed -------------------------------------------------------------------------------------

// Half the clients append single events (closed loop, as `append`) while the other half read
// random preloaded 10-event streams (as `read-stream`), at the same time. Two lines: the
// appends' and the reads'.
int RunMixed(const Options& o) {
  const std::string prefix = RunPrefix(o);
  Preload(o, prefix + "-r", o.streams);
  const int writers = std::max(1, o.connections / 2);
  const int readers = std::max(1, o.connections - writers);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> appended{0}, read{0};
  std::vector<LatencyHistogram> write_hist(static_cast<size_t>(writers));
  std::vector<LatencyHistogram> read_hist(static_cast<size_t>(readers));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      Connection conn(o);
      uint64_t stream_no = 0, revision = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::string target = fmt::format("/streams/{}-w{}-{}", prefix, w, stream_no);
        const auto t0 = Clock::now();
        auto res = conn.Send(http::verb::post, target, AppendBody(revision, 1));
        write_hist[static_cast<size_t>(w)].Record(Clock::now() - t0);
        if (res.result() != http::status::created) {
          Die(fmt::format("append to {}: {} {}", target, res.result_int(), res.body()));
        }
        appended.fetch_add(1, std::memory_order_relaxed);
        if (++revision == annals::bench::kEventsPerStream) ++stream_no, revision = 0;
      }
    });
  }
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      Connection conn(o);
      std::mt19937_64 rng(static_cast<uint64_t>(r) * 7919 + 1);
      while (!stop.load(std::memory_order_relaxed)) {
        const std::string target =
            fmt::format("/streams/{}-r-{}?limit=10", prefix, rng() % o.streams);
        const auto t0 = Clock::now();
        auto res = conn.Send(http::verb::get, target);
        read_hist[static_cast<size_t>(r)].Record(Clock::now() - t0);
        const uint64_t n = CountEvents(res.body());
        if (res.result() != http::status::ok || n != annals::bench::kEventsPerStream) {
          Die(fmt::format("GET {}: {}, {} events", target, res.result_int(), n));
        }
        read.fetch_add(n, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  LatencyHistogram writes, reads;
  for (auto& h : write_hist) writes.Merge(h);
  for (auto& h : read_hist) reads.Merge(h);
  const std::string mix = fmt::format(" writers={} readers={}", writers, readers);
  PrintLine(fmt::format("mixed_c{}_appends", o.connections),
            static_cast<double>(appended.load()) / elapsed, writes, mix);
  PrintLine(fmt::format("mixed_c{}_reads", o.connections),
            static_cast<double>(read.load()) / elapsed, reads, mix);
  return 0;
}

// ---- SSE ---------------------------------------------------------------------------------------

// Follows `target` as an SSE stream: `subscribed` runs once the response headers arrived, then
// `on_line(line, received_at)` for every line until it returns false, `stop` is set or the
// stream ends.
template <typename OnLine>
void FollowSse(Connection& conn, const std::string& target, const std::atomic<bool>& stop,
               const std::function<void()>& subscribed, OnLine on_line) {
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, conn.host());
  req.set(http::field::accept, "text/event-stream");
  http::write(conn.stream(), req);
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(conn.stream(), conn.buffer(), parser);
  if (parser.get().result() != http::status::ok) Die("SSE subscribe refused");
  subscribed();
  std::string line;
  char chunk[16384];
  beast::error_code ec;
  while (!stop.load(std::memory_order_relaxed) && !parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    // read_some returns as soon as some body bytes arrived (read would wait for a full
    // buffer, stamping frames with the time the buffer filled).
    http::read_some(conn.stream(), conn.buffer(), parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return;
    const auto now = Clock::now();
    const size_t n = sizeof chunk - parser.get().body().size;
    for (size_t i = 0; i < n; ++i) {
      if (chunk[i] != '\n') {
        line.push_back(chunk[i]);
        continue;
      }
      if (!on_line(line, now)) return;
      line.clear();
    }
  }
}

// Preloads --events events and appends one more, whose position ends the catch-up; then
// --subscribers SSE subscribers read `$all` from the start until each has that position: the
// rate at which a new read model catches up with the log. The latency line is each
// subscriber's time to catch up.
int RunCatchUp(const Options& o) {
  const std::string prefix = RunPrefix(o);
  Preload(o, prefix, o.events / annals::bench::kEventsPerStream);
  uint64_t last = 0;
  {
    Connection writer(o);
    auto res =
        writer.Send(http::verb::post, fmt::format("/streams/{}-end", prefix), AppendBody(0, 1));
    if (res.result() != http::status::created) Die(fmt::format("append: {}", res.result_int()));
    last = std::stoull(res.body().substr(res.body().find("\"position\":") + 11));
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> events{0};
  std::vector<Clock::duration> took(static_cast<size_t>(o.subscribers));
  std::vector<std::thread> subs;
  const auto start = Clock::now();
  for (int s = 0; s < o.subscribers; ++s) {
    subs.emplace_back([&, s] {
      Connection conn(o);
      uint64_t seen = 0;
      FollowSse(
          conn, "/all?from=start", stop, [] {},
          [&](const std::string& line, Clock::time_point now) {
            if (line.rfind("id: ", 0) != 0) return true;
            ++seen;
            if (std::stoull(line.substr(4)) < last) return true;
            took[static_cast<size_t>(s)] = now - start;
            return false;
          });
      if (took[static_cast<size_t>(s)] == Clock::duration{}) Die("a subscriber did not catch up");
      events.fetch_add(seen);
    });
  }
  for (auto& t : subs) t.join();
  LatencyHistogram caught_up;
  Clock::duration slowest{};
  for (const Clock::duration& d : took) {
    caught_up.Record(d);
    slowest = std::max(slowest, d);
  }
  const double elapsed = std::chrono::duration<double>(slowest).count();
  PrintLine(fmt::format("catch_up_sse_{}_s{}", o.events, o.subscribers),
            static_cast<double>(events.load()) / elapsed, caught_up,
            fmt::format(" caught_up_s={:.3f} events_each={}", elapsed,
                        events.load() / static_cast<uint64_t>(o.subscribers)));
  return 0;
}

// ---- SSE latency -----------------------------------------------------------------------------

// Subscribes on `conn` and leaves the socket non-blocking for raw reads; returns the body bytes
// that arrived with the response header.
std::string SubscribeRaw(Connection& conn, const std::string& target) {
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, conn.host());
  req.set(http::field::accept, "text/event-stream");
  http::write(conn.stream(), req);
  http::response_parser<http::buffer_body> parser;
  http::read_header(conn.stream(), conn.buffer(), parser);
  if (parser.get().result() != http::status::ok) Die("SSE subscribe refused");
  // The server ends the body by closing the connection: what follows the header is SSE text.
  const auto data = conn.buffer().data();
  std::string early(static_cast<const char*>(data.data()), data.size());
  const int fd = conn.socket().native_handle();
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return early;
}

// Every subscriber's frames, read by one thread through epoll. A thread per subscriber (as
// before) cost 100 thread wake-ups per event on the machine's 2 cores, most of the server's
// kernel time in this case: the bench measured its own subscribers more than the server.
class SseFollowers {
 public:
  struct Follower {
    std::unique_ptr<Connection> conn;
    std::string line;                                          // the unfinished line
    std::vector<std::pair<uint64_t, Clock::time_point>> seen;  // position, parsed at
    bool open = true;
  };

  SseFollowers(const Options& o, int count) : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epoll_ < 0) Die("epoll_create1 failed");
    followers_.resize(static_cast<size_t>(count));
    for (size_t i = 0; i < followers_.size(); ++i) {
      Follower& f = followers_[i];
      f.conn = std::make_unique<Connection>(o);
      Consume(f, SubscribeRaw(*f.conn, "/all?from=end"), Clock::now());
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, f.conn->socket().native_handle(), &ev) != 0) {
        Die("epoll_ctl failed");
      }
    }
  }
  ~SseFollowers() { ::close(epoll_); }

  // Reads until `stop` is set.
  void Run(const std::atomic<bool>& stop) {
    std::vector<epoll_event> ready(64);
    char chunk[16384];
    while (!stop.load(std::memory_order_relaxed)) {
      const int n = ::epoll_wait(epoll_, ready.data(), static_cast<int>(ready.size()), 50);
      for (int r = 0; r < n; ++r) {
        Follower& f = followers_[ready[static_cast<size_t>(r)].data.u64];
        const int fd = f.conn->socket().native_handle();
        while (f.open) {
          const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
          if (got > 0) {
            Consume(f, std::string_view(chunk, static_cast<size_t>(got)), Clock::now());
            continue;
          }
          if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          if (got < 0 && errno == EINTR) continue;
          f.open = false;  // the server closed the stream (or the connection failed)
          ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
        }
      }
    }
  }

  const std::vector<Follower>& followers() const { return followers_; }
  uint64_t errors() const { return errors_; }

 private:
  void Consume(Follower& f, std::string_view bytes, Clock::time_point now) {
    for (char c : bytes) {
      if (c != '\n') {
        f.line.push_back(c);
        continue;
      }
      if (f.line.rfind("id: ", 0) == 0) f.seen.emplace_back(std::stoull(f.line.substr(4)), now);
      if (f.line.rfind("event: error", 0) == 0) ++errors_;
      f.line.clear();
    }
  }

  int epoll_;
  std::vector<Follower> followers_;
  uint64_t errors_ = 0;
};

// Subscribers follow /all live; one writer appends at --rate. Latency of an event is the time
// from its append being acknowledged to the moment each subscriber has parsed its frame.
int RunSseLatency(const Options& o) {
  const std::string prefix = RunPrefix(o);
  SseFollowers followers(o, o.subscribers);
  std::atomic<bool> stop{false};
  std::thread reader([&] { followers.Run(stop); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::map<uint64_t, Clock::time_point> acked;  // position -> acknowledged at
  const double rate = o.rate > 0 ? o.rate : 1000;
  const auto start = Clock::now();
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  uint64_t k = 0;
  {
    Connection writer(o);
    while (Clock::now() - start < std::chrono::duration<double>(o.seconds)) {
      std::this_thread::sleep_until(
          start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(k)));
      const uint64_t stream = k / annals::bench::kEventsPerStream;
      const uint64_t revision = k % annals::bench::kEventsPerStream;
      auto res = writer.Send(http::verb::post, fmt::format("/streams/{}-{}", prefix, stream),
                             AppendBody(revision, 1));
      const auto now = Clock::now();
      if (res.result() != http::status::created) Die(fmt::format("append: {}", res.result_int()));
      const size_t at = res.body().find("\"position\":");
      acked[std::stoull(res.body().substr(at + 11))] = now;
      ++k;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the last frames arrive
  stop = true;
  reader.join();
  LatencyHistogram all;
  uint64_t missing = 0;
  for (const auto& f : followers.followers()) {
    uint64_t matched = 0;
    for (auto& [position, at] : f.seen) {
      auto it = acked.find(position);
      if (it == acked.end()) continue;
      all.Record(at - it->second);
      ++matched;
    }
    missing += acked.size() - std::min<uint64_t>(acked.size(), matched);
  }
  PrintLine(fmt::format("sse_latency_s{}_rate{:.0f}", o.subscribers, rate),
            static_cast<double>(k) / o.seconds, all,
            fmt::format(" deliveries={} missing={} slow_consumer_errors={}", all.Count(), missing,
                        followers.errors()));
  return missing == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"annals_http_bench: load against a running `annals serve`"};
  app.require_subcommand(1);
  Options o;
  auto common = [&](CLI::App* sub) {
    sub->add_option("--url", o.url, "server base URL (http only)");
    sub->add_option("--connections", o.connections, "concurrent clients");
    sub->add_option("--seconds", o.seconds, "measured duration");
    sub->add_option("--prefix", o.prefix, "stream name prefix (default: random per run)");
  };
  auto* append = app.add_subcommand("append", "appends with an exact expected revision");
  common(append);
  append->add_option("--batch", o.batch, "events per append");
  append->add_option("--rate", o.rate, "open loop: appends per second in all (0: closed loop)");
  auto* read_stream = app.add_subcommand("read-stream", "GET one random 10-event stream");
  common(read_stream);
  read_stream->add_option("--streams", o.streams, "streams preloaded and read");
  auto* read_all = app.add_subcommand("read-all", "GET /all in pages");
  common(read_all);
  read_all->add_option("--page", o.page, "events per page");
  read_all->add_option("--events", o.events, "events in the store before reading");
  auto* sse = app.add_subcommand("sse-latency", "append-acknowledged to SSE-received latency");
  common(sse);
  sse->add_option("--subscribers", o.subscribers, "live SSE subscribers to /all");
  sse->add_option("--rate", o.rate, "appends per second");
  auto* mixed = app.add_subcommand("mixed", "half the clients append, half read streams");
  common(mixed);
  mixed->add_option("--streams", o.streams, "streams preloaded and read");
  auto* catch_up = app.add_subcommand("catch-up", "SSE subscribers read $all from the start");
  common(catch_up);
  catch_up->add_option("--events", o.events, "events in the store before subscribing");
  catch_up->add_option("--subscribers", o.subscribers, "SSE subscribers");
  auto* ping = app.add_subcommand("ping", "GET /health/live (requests, no storage work)");
  common(ping);
  CLI11_PARSE(app, argc, argv);

  const std::string scheme = "http://";
  if (o.url.rfind(scheme, 0) != 0) Die("--url must start with http://");
  std::string hostport = o.url.substr(scheme.size());
  if (const size_t slash = hostport.find('/'); slash != std::string::npos) hostport.resize(slash);
  const size_t colon = hostport.rfind(':');
  o.host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  o.port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  try {
    if (*append) return RunAppend(o);
    if (*read_stream) return RunReadStream(o);
    if (*read_all) return RunReadAll(o);
    if (*sse) return RunSseLatency(o);
    if (*mixed) return RunMixed(o);
    if (*catch_up) return RunCatchUp(o);
    if (*ping) return RunPing(o);
  } catch (const std::exception& e) {
    Die(e.what());
  }
  return 1;
}
