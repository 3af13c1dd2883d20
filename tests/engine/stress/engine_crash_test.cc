// The crash loop (rocksdb tools/db_crashtest.py): runs engine_crash_stress on a data directory,
// SIGKILLs it at a random moment, opens the directory in this process and checks it against
// the stress process's journal of acknowledged appends (crash_journal.h), then starts the next
// round on the same directory.
//
// After every kill:
// - the engine opens and Engine::Verify is ok;
// - `$all` pages forwards with strictly increasing positions up to Head();
// - every journaled append is present: same stream, revisions, position of its last event,
//   event ids, types and payload bytes (by hash);
// - no append is visible in part: the events of each append (the stress process tags them) are
//   all present at consecutive revisions of one stream, or none is — also for appends that were
//   in flight when the process died;
// - each stream's revisions are gap-free from 0; ReadStream and GetStreamInfo agree with $all;
// - re-appending journaled appends answers idempotent=true with the original result, and
//   reusing their ids differently is kIdempotencyConflict.
//
// ANNALS_SEED=<n> replays a run's choices (kill times, workload); the seed is printed on
// failure. The slow suite runs only with ANNALS_SLOW_TESTS=1 (CTest label `slow` sets it).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "annals/engine.h"
#include "tests/engine/stress/crash_journal.h"

#ifndef ANNALS_CRASH_STRESS_BIN
#error "ANNALS_CRASH_STRESS_BIN must name the engine_crash_stress executable"
#endif

namespace annals::stress {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t SeedFromEnv() {
  if (const char* s = std::getenv("ANNALS_SEED"); s != nullptr && *s != '\0') {
    return std::strtoull(s, nullptr, 10);
  }
  return static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) %
         1'000'000'007ull;
}

uint64_t Mix(uint64_t seed, uint64_t n) {
  uint64_t state = seed ^ (n * 0x9e3779b97f4a7c15ull);
  return SplitMix64(&state);
}

std::string MakeTempDir() {
  char pattern[] = "/tmp/annals-crash-XXXXXX";
  const char* dir = ::mkdtemp(pattern);
  return dir == nullptr ? std::string() : std::string(dir);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The stress process of one round.
class StressChild {
 public:
  bool Start(const std::string& data_dir, const std::string& journal, uint64_t seed, int round,
             const std::string& stderr_path) {
    std::vector<std::string> args = {ANNALS_CRASH_STRESS_BIN,
                                     "--data-dir",
                                     data_dir,
                                     "--journal",
                                     journal,
                                     "--seed",
                                     std::to_string(seed),
                                     "--round",
                                     std::to_string(round),
                                     "--threads",
                                     "4"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return false;
    const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (err < 0) return false;
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err, STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err);
    stdout_fd_ = out[0];
    return pid_ > 0;
  }

  // Waits for the "ready" line; false on timeout or if the child closed its stdout.
  bool WaitReady(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string got;
    while (got.find('\n') == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{stdout_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[64];
      const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
      if (n <= 0) return false;
      got.append(buf, static_cast<size_t>(n));
    }
    return got.rfind("ready", 0) == 0;
  }

  // SIGKILLs the child; returns its wait status.
  int Kill() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(stdout_fd_);
    pid_ = -1;
    return status;
  }

  ~StressChild() {
    if (pid_ > 0) Kill();
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
};

struct LoopConfig {
  int rounds = 12;
  int rounds_per_dir = 1000;  // a fresh directory every this many rounds bounds the checks' cost
  // Kill delays after "ready", in ms: most rounds short, some long enough to roll segments.
  int short_max_ms = 400;
  int long_min_ms = 1500, long_max_ms = 3000;
  int long_percent = 15;
  int early_percent = 10;  // killed 0..40 ms after spawn: during open and recovery
  int retries_per_round = 150;
};

struct LoopTotals {
  int kills = 0;
  int early_kills = 0;
  uint64_t journaled_appends = 0;
  uint64_t events_checked = 0;
  uint64_t max_segments = 0;
  uint64_t truncated_bytes = 0;
  uint64_t recovered_records = 0;
  uint64_t idempotent_retries = 0;
  int rounds_with_roll = 0;  // the segment count grew during the round (a kill may hit a roll)
  uint64_t segments_before = UINT64_MAX;  // unknown (a new directory)
  double check_seconds = 0;
};

// An event as `$all` showed it.
struct Seen {
  std::string stream;
  std::string type;
  uint64_t revision = 0;
  uint64_t position = 0;
  uint64_t hash = 0;
  EventTag tag;
};

std::string Describe(const JournalAppend& a) {
  return "journaled append of round " + std::to_string(a.round) + " to " + a.stream +
         " (revisions " + std::to_string(a.first) + ".." + std::to_string(a.last) + ", position " +
         std::to_string(a.position) + ", first id " + a.events[0].id.ToString() + ")";
}

// Checks a data directory after a kill. Fails the test (non-fatally) on each disagreement.
void CheckDirectory(const std::string& data_dir, const std::vector<JournalAppend>& journal,
                    int round, int retries, std::mt19937_64& rng, LoopTotals* totals) {
  auto opened = OpenEngine(CrashEngineOptions(data_dir));
  ASSERT_TRUE(opened.ok()) << "reopen after the kill: " << opened.status().ToString();
  std::unique_ptr<Engine> engine = std::move(opened).value();
  const EngineStats stats = engine->Stats();
  totals->max_segments = std::max(totals->max_segments, stats.segments);
  if (totals->segments_before != UINT64_MAX && stats.segments > totals->segments_before) {
    ++totals->rounds_with_roll;
  }
  totals->segments_before = stats.segments;
  totals->truncated_bytes += stats.truncated_bytes;
  totals->recovered_records += stats.recovered_records;

  std::string report;
  Status verified = engine->Verify(&report);
  ASSERT_TRUE(verified.ok()) << verified.ToString() << "\n" << report;

  // The whole log, forwards, in pages of random sizes.
  const Position head = engine->Head();
  std::map<Uuid, Seen> by_id;
  std::map<std::string, std::vector<const Seen*>> by_stream;  // in $all order
  std::map<Uuid, std::vector<const Seen*>> by_tag;
  Position from = Position::Start();
  std::optional<uint64_t> previous;
  for (int page = 0;; ++page) {
    ReadAllRequest r;
    r.from = from;
    r.max_count = 50 + rng() % 2000;
    auto all = engine->ReadAll(r);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_LE(all->events.size(), r.max_count);
    for (const RecordedEvent& e : all->events) {
      ASSERT_GE(e.position.value, from.value);
      ASSERT_LT(e.position.value, head.value);
      if (previous) {
        ASSERT_GT(e.position.value, *previous) << "$all positions must increase";
      }
      previous = e.position.value;
      ASSERT_FALSE(IsSystemName(e.stream)) << "the workload writes no system events";
      auto tag = ParseEventTag(e.metadata);
      ASSERT_TRUE(tag.has_value()) << "event " << e.id.ToString() << " at " << e.position.value
                                   << " has foreign metadata '" << e.metadata << "'";
      auto [it, inserted] =
          by_id.emplace(e.id, Seen{e.stream, e.type, e.revision.value, e.position.value,
                                   PayloadHash(e.content_type, e.data, e.metadata), *tag});
      ASSERT_TRUE(inserted) << "event id " << e.id.ToString() << " appears twice in $all";
      by_stream[e.stream].push_back(&it->second);
      by_tag[tag->tag].push_back(&it->second);
    }
    if (!all->events.empty()) {
      ASSERT_GT(all->next.value, all->events.back().position.value);
    }
    if (all->end_of_log) {
      ASSERT_EQ(all->next.value, head.value) << "a forward read ends at the head";
      break;
    }
    ASSERT_GT(all->next.value, from.value) << "a forward read must make progress";
    from = all->next;
  }
  totals->events_checked += by_id.size();

  // Each stream: revisions 0.. in $all order; ReadStream and GetStreamInfo agree.
  for (const auto& [name, events] : by_stream) {
    for (size_t r = 0; r < events.size(); ++r) {
      ASSERT_EQ(events[r]->revision, r) << "stream " << name << " is not gap-free from 0";
    }
    auto info = engine->GetStreamInfo(name);
    ASSERT_TRUE(info.ok()) << name << ": " << info.status().ToString();
    ASSERT_TRUE(info->last_revision.has_value());
    EXPECT_EQ(info->last_revision->value, events.size() - 1) << name;
    EXPECT_EQ(info->event_count, events.size()) << name;
    EXPECT_EQ(info->last_position.value, events.back()->position) << name;
    EXPECT_EQ(info->state, StreamState::kActive) << name;
    std::optional<Revision> next = Revision{0};
    size_t read = 0;
    while (next) {
      ReadStreamRequest rs;
      rs.stream = name;
      rs.from = next;
      rs.max_count = 1 + rng() % 300;
      auto page = engine->ReadStream(rs);
      ASSERT_TRUE(page.ok()) << name << ": " << page.status().ToString();
      ASSERT_EQ(page->last_revision.value, events.size() - 1) << name;
      for (const RecordedEvent& e : page->events) {
        ASSERT_LT(read, events.size()) << name << ": ReadStream returns more than $all";
        const Seen& s = *events[read];
        ASSERT_EQ(e.revision.value, read) << name;
        ASSERT_EQ(e.position.value, s.position) << name << "@" << read;
        ASSERT_EQ(PayloadHash(e.content_type, e.data, e.metadata), s.hash) << name << "@" << read;
        ++read;
      }
      next = page->next;
    }
    ASSERT_EQ(read, events.size()) << name << ": ReadStream returns fewer events than $all";
  }
  for (int s = 0; s < kStreams; ++s) {
    if (by_stream.count(StreamName(s))) continue;
    auto info = engine->GetStreamInfo(StreamName(s));
    EXPECT_EQ(info.status().code(), StatusCode::kNotFound) << StreamName(s);
  }

  // All or nothing: each append (acknowledged or not) is visible whole or not at all.
  for (const auto& [tag, events] : by_tag) {
    const int n = events[0]->tag.n;
    ASSERT_EQ(events.size(), static_cast<size_t>(n))
        << "append " << tag.ToString() << " of " << events[0]->stream
        << " is visible in part: " << events.size() << " of its " << n << " events";
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(events[i]->tag.i, i) << "append " << tag.ToString() << " out of order";
      ASSERT_EQ(events[i]->stream, events[0]->stream) << "append " << tag.ToString();
      ASSERT_EQ(events[i]->revision, events[0]->revision + i) << "append " << tag.ToString();
    }
  }

  // Every journaled (acknowledged) append is there, byte for byte.
  for (const JournalAppend& a : journal) {
    ASSERT_EQ(a.last - a.first + 1, a.events.size()) << Describe(a);
    for (size_t k = 0; k < a.events.size(); ++k) {
      auto it = by_id.find(a.events[k].id);
      ASSERT_TRUE(it != by_id.end())
          << "event " << k << " of the " << Describe(a) << " is lost after the kill";
      const Seen& s = it->second;
      ASSERT_EQ(s.stream, a.stream) << Describe(a);
      ASSERT_EQ(s.revision, a.first + k) << Describe(a);
      ASSERT_EQ(s.type, EventTypeName(a.events[k].type)) << Describe(a);
      ASSERT_EQ(s.hash, a.events[k].hash) << "payload of event " << k << " of the " << Describe(a);
      if (k + 1 == a.events.size()) {
        ASSERT_EQ(s.position, a.position) << Describe(a);
      }
    }
  }
  totals->journaled_appends = journal.size();

  // Idempotency survives the restart: the last round's appends and a sample of older ones.
  std::vector<const JournalAppend*> retry;
  for (const JournalAppend& a : journal) {
    if (a.round == round) retry.push_back(&a);
  }
  for (int i = 0; i < retries && !journal.empty(); ++i) {
    retry.push_back(&journal[rng() % journal.size()]);
  }
  static const ExpectedRevision kAnyExpected[] = {
      ExpectedRevision::Any(), ExpectedRevision::NoStream(), ExpectedRevision::StreamExists(),
      ExpectedRevision::Exact(Revision{0})};
  for (const JournalAppend* a : retry) {
    auto again = engine->Append(a->Request(kAnyExpected[rng() % 4]));
    ASSERT_TRUE(again.ok()) << "retry of the " << Describe(*a) << ": " << again.status().ToString();
    EXPECT_TRUE(again->idempotent) << "retry of the " << Describe(*a);
    EXPECT_EQ(again->first_revision.value, a->first) << "retry of the " << Describe(*a);
    EXPECT_EQ(again->last_revision.value, a->last) << "retry of the " << Describe(*a);
    EXPECT_EQ(again->position.value, a->position) << "retry of the " << Describe(*a);
    ++totals->idempotent_retries;
  }
  if (!journal.empty()) {
    const JournalAppend& a = journal[rng() % journal.size()];
    // Part old, part new.
    AppendRequest mixed = a.Request();
    mixed.events.push_back(MakeEvent(Uuid::Random(), 0, 10, Uuid::Random(), 0, 1));
    auto m = engine->Append(mixed);
    EXPECT_EQ(m.status().code(), StatusCode::kIdempotencyConflict) << Describe(a);
    // The same ids in another stream.
    AppendRequest elsewhere = a.Request();
    elsewhere.stream = a.stream == StreamName(0) ? StreamName(1) : StreamName(0);
    auto o = engine->Append(elsewhere);
    EXPECT_EQ(o.status().code(), StatusCode::kIdempotencyConflict) << Describe(a);
  }
  engine->Close();
  EXPECT_EQ(engine->Head().value, head.value) << "the checks must not have written anything";
}

void RunCrashLoop(const LoopConfig& config) {
  spdlog::set_level(spdlog::level::err);  // recovery reports every torn tail at warn level
  const uint64_t seed = SeedFromEnv();
  std::printf("crash loop: ANNALS_SEED=%llu, %d rounds\n", static_cast<unsigned long long>(seed),
              config.rounds);
  SCOPED_TRACE("reproduce with ANNALS_SEED=" + std::to_string(seed));
  const std::string root = MakeTempDir();
  ASSERT_FALSE(root.empty()) << "mkdtemp: " << std::strerror(errno);
  const auto started = Clock::now();
  LoopTotals totals;
  std::string data_dir, journal_path;
  for (int round = 0; round < config.rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + " in " + root);
    if (round % config.rounds_per_dir == 0) {
      const std::string epoch = root + "/dir-" + std::to_string(round / config.rounds_per_dir);
      if (!data_dir.empty()) {
        std::filesystem::remove_all(std::filesystem::path(data_dir).parent_path());
      }
      totals.segments_before = UINT64_MAX;
      std::filesystem::create_directories(epoch);
      data_dir = epoch + "/data";
      journal_path = epoch + "/journal";
    }
    std::mt19937_64 rng(Mix(seed, round));
    const std::string stderr_path = root + "/stress.stderr";
    int status = 0;
    bool early = false;
    {
      StressChild child;
      ASSERT_TRUE(
          child.Start(data_dir, journal_path, Mix(seed, round + 1'000'000), round, stderr_path))
          << std::strerror(errno);
      const uint64_t roll = rng() % 100;
      if (roll < static_cast<uint64_t>(config.early_percent)) {
        early = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
      } else {
        ASSERT_TRUE(child.WaitReady(std::chrono::seconds(60)))
            << "the stress process did not start: " << ReadFile(stderr_path);
        const bool long_round =
            roll < static_cast<uint64_t>(config.early_percent + config.long_percent);
        const int delay =
            long_round ? config.long_min_ms +
                             static_cast<int>(rng() % (config.long_max_ms - config.long_min_ms + 1))
                       : 5 + static_cast<int>(rng() % config.short_max_ms);
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      }
      status = child.Kill();
    }
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the stress process stopped by itself (wait status " << status
        << "): " << ReadFile(stderr_path);
    ++totals.kills;
    if (early) ++totals.early_kills;

    // The journal's torn tail (a line cut by the kill) goes, so the next round appends after
    // whole lines.
    uint64_t valid = 0;
    const std::vector<JournalAppend> journal = ReadJournal(journal_path, &valid);
    if (std::filesystem::exists(journal_path)) {
      std::filesystem::resize_file(journal_path, valid);
    }
    const auto check_began = Clock::now();
    CheckDirectory(data_dir, journal, round, config.retries_per_round, rng, &totals);
    totals.check_seconds += std::chrono::duration<double>(Clock::now() - check_began).count();
    if (::testing::Test::HasFailure()) {
      std::printf("crash loop FAILED: ANNALS_SEED=%llu round %d, directory kept: %s\n",
                  static_cast<unsigned long long>(seed), round, root.c_str());
      return;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "crash loop: %d kills (%d during open/recovery, %d in rounds that rolled a segment) in "
      "%.1f s (%.1f s checking); %llu acknowledged appends journaled in the last directory, %llu "
      "events checked over all rounds, %llu idempotent retries, up to %llu segments, %llu torn "
      "bytes cut, %llu records replayed\n",
      totals.kills, totals.early_kills, totals.rounds_with_roll, seconds, totals.check_seconds,
      static_cast<unsigned long long>(totals.journaled_appends),
      static_cast<unsigned long long>(totals.events_checked),
      static_cast<unsigned long long>(totals.idempotent_retries),
      static_cast<unsigned long long>(totals.max_segments),
      static_cast<unsigned long long>(totals.truncated_bytes),
      static_cast<unsigned long long>(totals.recovered_records));
  EXPECT_GE(totals.max_segments, 2u) << "no round ran long enough to roll a segment";
  std::filesystem::remove_all(root);
}

TEST(EngineCrashTest, SigkillLoopKeepsEveryAcknowledgedAppend) {
  LoopConfig config;
  config.rounds = 12;
  RunCrashLoop(config);
}

TEST(EngineCrashSlowTest, TwoHundredKills) {
  if (std::getenv("ANNALS_SLOW_TESTS") == nullptr) {
    GTEST_SKIP() << "slow: runs with ANNALS_SLOW_TESTS=1 (ctest -L slow)";
  }
  LoopConfig config;
  config.rounds = 210;
  // Engine::Verify reads every record (~40 us an event): a fresh directory every 10 rounds
  // keeps each round's checks under a second.
  config.rounds_per_dir = 10;
  config.short_max_ms = 300;
  config.long_percent = 8;
  config.retries_per_round = 50;
  RunCrashLoop(config);
}

}  // namespace
}  // namespace annals::stress
