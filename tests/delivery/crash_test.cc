// Crash loop: a child process runs the engine, a writer and two consumers of a pinned group;
// the parent SIGKILLs it mid-stream, again and again, then drains the group itself and checks
// the guarantee against everything the store holds: every committed event delivered at least
// once, each stream in order within a run, and no gap across a restart (a run resumes at or
// before the event after the last one acknowledged). The seed is printed; set
// ANNALS_CRASH_SEED to reproduce, ANNALS_CRASH_KILLS for a longer loop.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "delivery_test_util.h"

namespace annals::delivery {
namespace {

using namespace testing;

constexpr int kStreams = 10;
constexpr char kGroup[] = "crash";

GroupDefinition Definition() {
  GroupDefinition d;
  d.name = kGroup;
  d.source.filter.category = "order";
  d.settings.strategy = Strategy::kPinnedByStream;
  d.settings.checkpoint_after = std::chrono::milliseconds(5);
  d.settings.checkpoint_max_count = 20;
  d.settings.ack_timeout = std::chrono::milliseconds(2000);
  d.settings.retry_backoff_min = std::chrono::milliseconds(1);
  d.settings.retry_backoff_max = std::chrono::milliseconds(5);
  d.settings.max_retries = 1000;
  return d;
}

// One consumer: logs "run stream revision" for each event it acknowledges, then acks. A random
// event is nacked (retry) now and then, and with it the rest of its stream in the batch.
// `pause` slows the consumer so that a backlog builds up in the group's read-ahead window.
void Consume(Group& g, int fd, int run, const std::string& name, uint32_t seed,
             const std::function<bool()>& more, std::chrono::microseconds pause = {}) {
  std::mt19937 rng(seed);
  while (more()) {
    auto batch = PollBlocking(g, name, 10, std::chrono::milliseconds(100));
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
    std::set<std::string> failed;
    std::vector<std::string> acks;
    std::string lines;
    for (auto& d : batch) {
      const std::string& s = d.event->stream;
      if (failed.count(s) || rng() % 25 == 0) {
        failed.insert(s);
        (void)g.Nack({d.ack_id}, NackAction::kRetry, "flaky");
        continue;
      }
      lines += std::to_string(run) + " " + s + " " + std::to_string(d.event->revision.value) + "\n";
      acks.push_back(d.ack_id);
    }
    if (!lines.empty() && ::write(fd, lines.data(), lines.size()) != ssize_t(lines.size())) {
      std::abort();
    }
    if (!acks.empty()) (void)g.Ack(acks);
  }
}

[[noreturn]] void Child(const std::string& dir, int run, uint32_t seed) {
  auto store = OpenTestEngine(dir);
  if (!store) ::_exit(3);
  auto svc = DeliveryService::Open(store.get());
  if (!svc.ok()) ::_exit(4);
  if (!(*svc)->Put(Kind::kGroup, Definition()).ok()) ::_exit(5);
  auto g = *(*svc)->Find(Kind::kGroup, kGroup);
  const int fd = ::open((dir + "/delivered.log").c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  std::thread writer([&] {
    std::mt19937 rng(seed);
    for (int i = 0; i < 3000; ++i) {
      AppendRequest r;
      r.stream = "order-" + std::to_string(rng() % kStreams);
      const int n = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < n; ++k) {
        ProposedEvent e;
        e.type = "Placed";
        e.data = "{}";
        r.events.push_back(e);
      }
      (void)store->Append(r);
      if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  const auto pause = std::chrono::microseconds(2000);
  std::thread c1([&] {
    Consume(
        *g, fd, run, "c1", seed + 1, [] { return true; }, pause);
  });
  Consume(
      *g, fd, run, "c2", seed + 2, [] { return true; }, pause);
  ::_exit(0);  // not reached: the parent kills us
}

off_t SizeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

TEST(DeliveryCrash, SigkillMidStreamLosesNothingAndKeepsStreamOrder) {
  const char* env_seed = std::getenv("ANNALS_CRASH_SEED");
  const uint32_t seed = env_seed ? static_cast<uint32_t>(std::atoi(env_seed))
                                 : static_cast<uint32_t>(std::random_device{}());
  const char* env_kills = std::getenv("ANNALS_CRASH_KILLS");
  const int kills = env_kills ? std::atoi(env_kills) : 6;
  std::printf("seed %u, %d kills\n", seed, kills);
  std::mt19937 rng(seed);
  const std::string dir = TempDir("crash");
  const std::string log = dir + "/delivered.log";
  for (int run = 0; run < kills; ++run) {
    const off_t before = SizeOf(log);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) Child(dir, run, seed + 100 * run);
    // Kill once this run has delivered something (bounded wait), after a random moment.
    const off_t want = before + 200 + static_cast<off_t>(rng() % 4000);
    WaitFor([&] { return SizeOf(log) >= want; }, std::chrono::seconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 30));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
  }
  // The last run, in this process: drain everything the store holds.
  auto store = OpenTestEngine(dir);
  ASSERT_TRUE(store);
  std::map<std::string, uint64_t> committed;  // stream -> event count
  {
    ReadAllRequest r;
    r.filter.category = "order";
    for (;;) {
      auto res = store->ReadAll(r);
      ASSERT_TRUE(res.ok());
      for (auto& e : res->events) committed[e.stream] = e.revision.value + 1;
      if (res->end_of_log) break;
      r.from = res->next;
    }
  }
  uint64_t total = 0;
  for (auto& [s, n] : committed) total += n;
  ASSERT_GT(total, 0u);
  {
    auto svc = DeliveryService::Open(store.get());
    ASSERT_TRUE(svc.ok());
    auto g = *(*svc)->Find(Kind::kGroup, kGroup);
    const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    std::atomic<int> quiet{0};
    Consume(*g, fd, kills, "final", seed, [&] {
      // Stop after the group stayed empty for a while with nothing left to read.
      auto info = g->Info();
      if (info.lag_events == 0 && info.in_flight == 0)
        ++quiet;
      else
        quiet = 0;
      return quiet < 5;
    });
    ::close(fd);
  }
  // Verify.
  std::ifstream in(log);
  std::map<std::pair<int, std::string>, std::vector<uint64_t>> runs;
  std::map<std::string, std::set<uint64_t>> delivered;
  uint64_t lines = 0;
  int run;
  std::string stream;
  uint64_t rev;
  while (in >> run >> stream >> rev) {
    runs[{run, stream}].push_back(rev);
    delivered[stream].insert(rev);
    ++lines;
  }
  std::map<std::string, uint64_t> last_acked;  // stream -> next revision after last run
  for (int r = 0; r <= kills; ++r) {
    for (int s = 0; s < kStreams; ++s) {
      const std::string name = "order-" + std::to_string(s);
      auto it = runs.find({r, name});
      if (it == runs.end()) continue;
      const auto& revs = it->second;
      // No gap across the restart: this run resumed at or before where the last one stopped.
      const uint64_t resume = last_acked.count(name) ? last_acked[name] : 0;
      EXPECT_LE(revs.front(), resume) << name << " run " << r;
      for (size_t i = 1; i < revs.size(); ++i) {
        EXPECT_EQ(revs[i], revs[i - 1] + 1) << name << " run " << r << " out of order";
      }
      last_acked[name] = std::max(resume, revs.back() + 1);
    }
  }
  uint64_t missing = 0;
  for (auto& [s, n] : committed) {
    for (uint64_t r = 0; r < n; ++r) missing += delivered[s].count(r) ? 0 : 1;
  }
  EXPECT_EQ(missing, 0u);
  std::printf("committed %llu events, %llu deliveries acked (%lld duplicates) over %d runs\n",
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(lines),
              static_cast<long long>(lines) - static_cast<long long>(total), kills + 1);
  store.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace annals::delivery
