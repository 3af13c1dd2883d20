// In-process benchmark of the embedded engine with the peers' event model
// (../shared/bench/peers: stream visit-<n>, 10 events per stream, 203-byte JSON data, 52-byte
// JSON metadata, a random UUID per event, an exact expected revision on every append).
//
//   annals_engine_bench append --writers 64 --batch 1 --seconds 10 --dir /tmp/x
//   annals_engine_bench read-all --events 1000000 --dir /tmp/x
//   annals_engine_bench read-stream --streams 100000 --writers 8 --dir /tmp/x
//   annals_engine_bench recovery --events 10000000 --streams 1000000 --dir /tmp/x
//   annals_engine_bench scale --events 10000000 --streams 1000000 --step 1000000 --dir /tmp/x
//
// Prints one line per case: `annals case=... events_per_s=... p50_ms=... p99_ms=...`.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "annals/engine.h"
#include "event_model.h"

namespace {

using namespace annals;
using Clock = std::chrono::steady_clock;

using bench::MakeAppend;
using bench::Percentile;
constexpr int kEventsPerStream = bench::kEventsPerStream;

struct Options {
  std::string dir = "/tmp/annals-engine-bench";
  std::string label;  // open-once
  int writers = 1;
  int batch = 1;
  double seconds = 10;
  uint64_t events = 1'000'000;
  uint64_t streams = 100'000;
  bool no_sync = false;
  bool keep = false;
  uint64_t step = 1'000'000;  // scale
};

std::unique_ptr<Engine> Open(const Options& o) {
  EngineOptions e;
  e.data_dir = o.dir;
  e.durability = o.no_sync ? Durability::kUnsafeNoSync : Durability::kFsync;
  auto engine = OpenEngine(e);
  if (!engine.ok()) {
    fmt::print(stderr, "open {}: {}\n", o.dir, engine.status().ToString());
    std::exit(1);
  }
  return std::move(engine).value();
}

// A line of /proc/self/status in bytes: VmRSS counts the mapped log segments' pages too (page
// cache the kernel may drop); RssAnon is the process's own memory.
uint64_t StatusBytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string key;
  uint64_t kb = 0;
  while (in >> key) {
    if (key == field) {
      in >> kb;
      break;
    }
  }
  return kb * 1024;
}

uint64_t RssBytes() { return StatusBytes("VmRSS:"); }

int RunAppend(const Options& o) {
  std::filesystem::remove_all(o.dir);
  auto engine = Open(o);
  bench::AppendRun run = bench::RunAppendWriters(*engine, o.writers, o.batch, o.seconds);
  const double elapsed = run.seconds;
  std::vector<double>& all = run.latencies_ms;
  const auto& events = run.events;
  const auto& conflicts_detected = run.conflicts_detected;
  const EngineStats stats = engine->Stats();
  const double appends = static_cast<double>(all.size());
  fmt::print(
      "annals case=append_batch{}_c{} events={} events_per_s={:.0f} appends_per_s={:.0f} "
      "p50_ms={:.3f} "
      "p90_ms={:.3f} p99_ms={:.3f} p999_ms={:.3f} max_ms={:.3f} events_per_fsync={:.1f} "
      "occ_conflict={} durability={}\n",
      o.batch, o.writers, events, static_cast<double>(events) / elapsed, appends / elapsed,
      Percentile(all, 0.5), Percentile(all, 0.9), Percentile(all, 0.99), Percentile(all, 0.999),
      Percentile(all, 1.0),
      stats.fsyncs ? static_cast<double>(stats.events_appended) / static_cast<double>(stats.fsyncs)
                   : 0.0,
      conflicts_detected == static_cast<uint64_t>(o.writers) ? "detected" : "MISSED",
      o.no_sync ? "unsafe-no-sync" : "fsync");
  engine.reset();
  if (!o.keep) std::filesystem::remove_all(o.dir);
  return 0;
}

// Events per append when `events` are spread over `streams` streams (at most 100).
uint64_t EventsPerAppend(uint64_t events, uint64_t streams) {
  return std::min<uint64_t>(100, std::max<uint64_t>(1, events / streams));
}

// Appends the events [from, to) of a store of `total` events over `streams` streams (append i
// goes to stream i % streams), from 8 threads. Filling in steps continues where the last left.
void FillRange(Engine& engine, uint64_t from, uint64_t to, uint64_t total, uint64_t streams,
               const char* prefix = "visit") {
  const uint64_t per_append = EventsPerAppend(total, streams);
  std::vector<std::thread> threads;
  const int kThreads = 8;
  const uint64_t first = from / per_append;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = first + static_cast<uint64_t>(t); i * per_append < to; i += kThreads) {
        const uint64_t stream = i % streams;
        const uint64_t revision = (i / streams) * per_append;
        AppendRequest r = MakeAppend(fmt::format("{}-{}", prefix, stream), revision,
                                     static_cast<int>(per_append));
        auto result = engine.Append(r);
        if (!result.ok()) {
          fmt::print(stderr, "fill: {}\n", result.status().ToString());
          std::exit(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
}

// Fills the store with `events` events over `streams` streams, in appends of up to 100 events.
void Fill(Engine& engine, uint64_t events, uint64_t streams, const char* prefix = "visit") {
  FillRange(engine, 0, events, events, streams, prefix);
}

int RunReadAll(const Options& o) {
  std::filesystem::remove_all(o.dir);
  auto engine = Open(o);
  Fill(*engine, o.events, std::max<uint64_t>(1, o.events / kEventsPerStream));
  for (int pass = 0; pass < 2; ++pass) {  // the first pass warms the page cache
    const auto t0 = Clock::now();
    ReadAllRequest r;
    r.max_count = 1000;
    uint64_t n = 0;
    while (true) {
      auto page = engine->ReadAll(r);
      if (!page.ok()) {
        fmt::print(stderr, "read: {}\n", page.status().ToString());
        return 1;
      }
      n += page->events.size();
      if (page->end_of_log) break;
      r.from = page->next;
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (pass == 1) {
      fmt::print("annals case=read_all_page1000_c1 events={} events_per_s={:.0f}\n", n, n / s);
    }
  }
  engine.reset();
  if (!o.keep) std::filesystem::remove_all(o.dir);
  return 0;
}

// The peers' read_stream case: `streams` streams of 10 events, `writers` reader threads each
// reading one random whole stream at a time.
int RunReadStream(const Options& o) {
  std::filesystem::remove_all(o.dir);
  auto engine = Open(o);
  Fill(*engine, o.streams * kEventsPerStream, o.streams);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> events{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(o.writers));
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int t = 0; t < o.writers; ++t) {
    threads.emplace_back([&, t] {
      uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(t + 1);
      auto& lat = latencies[static_cast<size_t>(t)];
      while (!stop.load(std::memory_order_relaxed)) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ReadStreamRequest r;
        r.stream = fmt::format("visit-{}", x % o.streams);
        r.max_count = kEventsPerStream;
        const auto begin = Clock::now();
        auto read = engine->ReadStream(r);
        lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
        if (!read.ok() || read->events.size() != kEventsPerStream) {
          fmt::print(stderr, "read {}: {}\n", r.stream,
                     read.ok() ? "short" : read.status().ToString());
          std::exit(1);
        }
        events.fetch_add(read->events.size(), std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  fmt::print("annals case=read_stream_c{} events_per_s={:.0f} p50_ms={:.4f} p99_ms={:.4f}\n",
             o.writers, static_cast<double>(events) / s, Percentile(all, 0.5),
             Percentile(all, 0.99));
  engine.reset();
  if (!o.keep) std::filesystem::remove_all(o.dir);
  return 0;
}

// One timed open of an existing directory (the recovery case runs it as a new process).
// `killed_writer` then appends 10,000 events and SIGKILLs itself: what a crash leaves behind.
int RunOpenOnce(const Options& o) {
  const auto t0 = Clock::now();
  auto engine = Open(o);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  ReadStreamRequest r;
  r.stream = "visit-1";
  const bool readable = engine->ReadStream(r).ok();
  fmt::print(
      "annals case=recovery_{} events={} streams={} ready_s={:.2f} rss_mib={:.0f} replayed={} "
      "readable={}\n",
      o.label, o.events, o.streams, s, RssBytes() / 1048576.0, engine->Stats().recovered_records,
      readable);
  std::fflush(stdout);
  if (o.label != "killed_writer") return 0;  // the destructor closes cleanly
  // New streams each run (named by the pid), so a kept directory can be crashed again.
  for (int i = 0; i < 10000; ++i) {
    (void)engine->Append(MakeAppend(fmt::format("late-{}-{}", getpid(), i), 0, 10));
  }
  kill(getpid(), SIGKILL);
  return 1;
}

// Opens the closed store three times, each in a new process (this binary again, `open-once`):
// after a clean stop, then to append and be SIGKILLed, then after that crash. A new process
// has the store's RSS alone, and a forked child would inherit RocksDB's background threads as
// already running (they are not), so its close would wait for them for ever.
void TimedOpens(const Options& o, uint64_t events) {
  for (const char* label : {"after_clean_stop", "killed_writer", "after_sigkill"}) {
    const std::string command = fmt::format(
        "/proc/{}/exe open-once --label {} --dir '{}' --events {} --streams {}{}", getpid(), label,
        o.dir, events, o.streams, o.no_sync ? " --unsafe-no-sync" : "");
    std::fflush(stdout);
    (void)std::system(command.c_str());  // killed_writer ends by SIGKILL, by design
  }
}

int RunRecovery(const Options& o) {
  std::filesystem::remove_all(o.dir);
  const auto fill0 = Clock::now();
  {
    auto engine = Open(o);
    Fill(*engine, o.events, o.streams);
  }
  const double fill_s = std::chrono::duration<double>(Clock::now() - fill0).count();
  fmt::print("# filled {} events in {} streams in {:.1f} s\n", o.events, o.streams, fill_s);
  TimedOpens(o, o.events);
  if (!o.keep) std::filesystem::remove_all(o.dir);
  return 0;
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  return bytes;
}

// Latencies (ms) of `n` reads of whole random streams among the first `written` streams.
std::vector<double> SampleStreamReads(Engine& engine, uint64_t written, int n) {
  std::vector<double> latencies;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    ReadStreamRequest r;
    r.stream = fmt::format("visit-{}", x % written);
    const auto begin = Clock::now();
    auto read = engine.ReadStream(r);
    latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
    if (!read.ok() || read->events.empty()) {
      fmt::print(stderr, "read {}: {}\n", r.stream, read.ok() ? "empty" : read.status().ToString());
      std::exit(1);
    }
  }
  return latencies;
}

// Grows one store to --events in steps of --step (append i to stream `visit-<i % streams>`):
// per step, the fill rate, random whole-stream read latencies, the filling process's RSS and
// the directory's size, then the three timed opens of the recovery case. Each killed writer
// adds 100,000 events in new streams of its own, counted in the next step's `events`.
int RunScale(const Options& o) {
  std::filesystem::remove_all(o.dir);
  const uint64_t per_append = EventsPerAppend(o.events, o.streams);
  uint64_t killed_extra = 0;
  for (uint64_t done = 0; done < o.events;) {
    const uint64_t next = std::min(o.events, done + o.step);
    double fill_s = 0;
    std::vector<double> reads;
    uint64_t rss = 0, anon = 0;
    {
      auto engine = Open(o);
      const auto t0 = Clock::now();
      FillRange(*engine, done, next, o.events, o.streams);
      fill_s = std::chrono::duration<double>(Clock::now() - t0).count();
      const uint64_t written = std::min(o.streams, (next + per_append - 1) / per_append);
      reads = SampleStreamReads(*engine, written, 20000);
      rss = RssBytes();
      anon = StatusBytes("RssAnon:");
    }
    fmt::print(
        "annals case=scale events={} streams={} fill_events_per_s={:.0f} read_p50_ms={:.4f} "
        "read_p99_ms={:.4f} rss_mib={:.0f} rss_anon_mib={:.0f} disk_mib={:.0f} durability={}\n",
        next + killed_extra, std::min(o.streams, (next + per_append - 1) / per_append),
        static_cast<double>(next - done) / fill_s, Percentile(reads, 0.5), Percentile(reads, 0.99),
        rss / 1048576.0, anon / 1048576.0, DirectoryBytes(o.dir) / 1048576.0,
        o.no_sync ? "unsafe-no-sync" : "fsync");
    TimedOpens(o, next + killed_extra);
    killed_extra += 100'000;
    done = next;
  }
  if (!o.keep) std::filesystem::remove_all(o.dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"annals engine benchmark"};
  Options o;
  app.require_subcommand(1);
  for (auto* sub :
       {app.add_subcommand("append", "appends from N writers"),
        app.add_subcommand("read-all", "reads $all in pages of 1000"),
        app.add_subcommand("read-stream", "--writers readers of random 10-event streams"),
        app.add_subcommand("recovery", "open time after a clean stop and a SIGKILL"),
        app.add_subcommand("open-once", "one timed open of --dir (used by recovery)"),
        app.add_subcommand("scale", "fill rate, reads, memory and recovery as a store grows")}) {
    sub->add_option("--dir", o.dir, "data directory (deleted first)");
    sub->add_option("--writers", o.writers, "concurrent writers (readers for read-stream)");
    sub->add_option("--batch", o.batch, "events per append");
    sub->add_option("--seconds", o.seconds, "duration");
    sub->add_option("--events", o.events, "events to load");
    sub->add_option("--streams", o.streams, "streams to load");
    sub->add_flag("--unsafe-no-sync", o.no_sync, "do not fdatasync (weaker durability)");
    sub->add_flag("--keep", o.keep, "keep the data directory");
    sub->add_option("--label", o.label, "open-once: the case's label");
    sub->add_option("--step", o.step, "scale: events added between measurements");
  }
  CLI11_PARSE(app, argc, argv);
  const std::string name = app.get_subcommands()[0]->get_name();
  if (name == "append") return RunAppend(o);
  if (name == "read-all") return RunReadAll(o);
  if (name == "read-stream") return RunReadStream(o);
  if (name == "open-once") return RunOpenOnce(o);
  if (name == "scale") return RunScale(o);
  return RunRecovery(o);
}
