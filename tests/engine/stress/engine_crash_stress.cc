// The crash loop's stress process (rocksdb tools/db_stress, driven by db_crashtest.py): opens
// an engine on a data directory and appends random batches from several threads until it is
// killed, journaling every acknowledged append (crash_journal.h). engine_crash_test.cc runs it,
// SIGKILLs it at a random moment and checks the directory against the journal.
//
//   engine_crash_stress --data-dir D --journal J --seed S [--round R] [--threads T]
//                       [--max-seconds X]
//
// It prints "ready" on stdout once the engine is open. Exit status: 0 after --max-seconds,
// 1 for bad arguments or a failed open, 2 when the engine answered something it must not (the
// reason is on stderr).
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "annals/engine.h"
#include "tests/engine/stress/crash_journal.h"

namespace annals::stress {
namespace {

struct Args {
  std::string data_dir;
  std::string journal;
  uint64_t seed = 1;
  int round = 0;
  int threads = 4;
  int max_seconds = 120;
};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "engine_crash_stress: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(2);
}

class Workload {
 public:
  Workload(const Args& args, Engine* engine, int journal_fd)
      : args_(args), engine_(engine), journal_fd_(journal_fd) {}

  // Learns each stream's last revision, so most expected revisions are right.
  void LoadRevisions() {
    for (int s = 0; s < kStreams; ++s) {
      auto info = engine_->GetStreamInfo(StreamName(s));
      if (info.ok()) {
        last_[s].store(info->last_revision ? static_cast<int64_t>(info->last_revision->value) : -1);
      } else if (info.status().code() == StatusCode::kNotFound) {
        last_[s].store(-1);
      } else {
        Fail("GetStreamInfo: " + info.status().ToString());
      }
    }
  }

  void Run(int thread) {
    std::mt19937_64 rng(args_.seed * 1000003 + thread);
    std::deque<JournalAppend> recent;  // this thread's acknowledged appends, for retries
    while (true) {
      if (!recent.empty() && rng() % 20 == 0) {
        Retry(recent[rng() % recent.size()], rng);
        continue;
      }
      JournalAppend acked;
      if (AppendOnce(rng, &acked)) {
        recent.push_back(std::move(acked));
        if (recent.size() > 64) recent.pop_front();
      }
    }
  }

 private:
  static Uuid RandomId(std::mt19937_64& rng) {
    Uuid id;
    uint64_t a = rng(), b = rng();
    std::memcpy(id.bytes.data(), &a, 8);
    std::memcpy(id.bytes.data() + 8, &b, 8);
    id.bytes[6] = (id.bytes[6] & 0x0f) | 0x40;
    id.bytes[8] = (id.bytes[8] & 0x3f) | 0x80;
    return id;
  }

  static uint32_t RandomSize(std::mt19937_64& rng) {
    const uint64_t roll = rng() % 100;
    if (roll < 60) return 1 + rng() % 200;
    if (roll < 90) return 200 + rng() % 1848;
    return 2048 + rng() % 4096;
  }

  static int RandomCount(std::mt19937_64& rng) {
    const uint64_t roll = rng() % 100;
    if (roll < 50) return 1 + rng() % 3;
    if (roll < 85) return 4 + rng() % 7;
    return 11 + rng() % 10;
  }

  ExpectedRevision RandomExpected(std::mt19937_64& rng, int stream) {
    const int64_t last = last_[stream].load();
    const uint64_t roll = rng() % 100;
    if (roll < 70) {
      return last < 0 ? ExpectedRevision::NoStream()
                      : ExpectedRevision::Exact(Revision{static_cast<uint64_t>(last)});
    }
    if (roll < 78) return ExpectedRevision::Any();
    if (roll < 84) return ExpectedRevision::NoStream();
    if (roll < 90) return ExpectedRevision::StreamExists();
    static const int64_t kDeltas[] = {-2, -1, 1, 5};
    const int64_t wrong = std::max<int64_t>(0, last + kDeltas[rng() % 4]);
    return ExpectedRevision::Exact(Revision{static_cast<uint64_t>(wrong)});
  }

  void Learn(int stream, uint64_t revision) {
    int64_t seen = last_[stream].load();
    const int64_t r = static_cast<int64_t>(revision);
    while (seen < r && !last_[stream].compare_exchange_weak(seen, r)) {
    }
  }

  // One fresh append; true (and `acked` filled) when the engine acknowledged it.
  bool AppendOnce(std::mt19937_64& rng, JournalAppend* acked) {
    const int stream = static_cast<int>(rng() % kStreams);
    const int n = RandomCount(rng);
    JournalAppend a;
    a.round = args_.round;
    a.stream = StreamName(stream);
    for (int k = 0; k < n; ++k) {
      a.events.push_back(
          JournalEvent{RandomId(rng), static_cast<int>(rng() % kEventTypes), RandomSize(rng), 0});
    }
    const ExpectedRevision expected = RandomExpected(rng, stream);
    AppendRequest request = a.Request(expected);
    for (int k = 0; k < n; ++k) {
      const ProposedEvent& e = request.events[k];
      a.events[k].hash = PayloadHash(e.content_type, e.data, e.metadata);
    }
    auto result = engine_->Append(request);
    if (!result.ok()) {
      const Status& s = result.status();
      if (s.code() != StatusCode::kWrongExpectedRevision) Fail("Append: " + s.ToString());
      if (!s.conflict() || !(s.conflict()->expected == expected)) {
        Fail("a wrong-revision answer without the right conflict: " + s.ToString());
      }
      const auto& actual = s.conflict()->actual;
      const bool consistent =
          (expected.kind() == ExpectedRevision::Kind::kNoStream && actual.has_value()) ||
          (expected.kind() == ExpectedRevision::Kind::kStreamExists && !actual.has_value()) ||
          (expected.kind() == ExpectedRevision::Kind::kExact && actual != expected.revision());
      if (!consistent) Fail("a wrong-revision answer that contradicts itself: " + s.ToString());
      if (actual) Learn(stream, actual->value);
      return false;
    }
    if (result->idempotent || result->last_revision.value - result->first_revision.value + 1 !=
                                  static_cast<uint64_t>(n)) {
      Fail("fresh ids answered as " + std::string(result->idempotent ? "idempotent" : "") +
           " revisions " + std::to_string(result->first_revision.value) + ".." +
           std::to_string(result->last_revision.value) + " for " + std::to_string(n) + " events");
    }
    if (expected.kind() == ExpectedRevision::Kind::kExact &&
        result->first_revision.value != expected.revision().value + 1) {
      Fail("an exact-revision append landed at revision " +
           std::to_string(result->first_revision.value) + " after expecting " +
           expected.ToString());
    }
    a.first = result->first_revision.value;
    a.last = result->last_revision.value;
    a.position = result->position.value;
    Learn(stream, a.last);
    Journal(a);
    *acked = std::move(a);
    return true;
  }

  // Re-sends an acknowledged append: the engine must answer its original result.
  void Retry(const JournalAppend& a, std::mt19937_64& rng) {
    const ExpectedRevision expected =
        rng() % 2 ? ExpectedRevision::Any() : ExpectedRevision::NoStream();
    auto result = engine_->Append(a.Request(expected));
    if (!result.ok() || !result->idempotent || result->first_revision.value != a.first ||
        result->last_revision.value != a.last || result->position.value != a.position) {
      Fail("a retry of the append at " + std::to_string(a.position) + " of " + a.stream +
           " (revisions " + std::to_string(a.first) + ".." + std::to_string(a.last) +
           ") was answered " +
           (result.ok() ? "idempotent=" + std::to_string(result->idempotent) + " revisions " +
                              std::to_string(result->first_revision.value) + ".." +
                              std::to_string(result->last_revision.value) + " position " +
                              std::to_string(result->position.value)
                        : result.status().ToString()));
    }
  }

  void Journal(const JournalAppend& a) {
    const std::string line = EncodeJournalLine(a);
    {
      std::lock_guard lock(journal_mu_);
      const char* p = line.data();
      size_t left = line.size();
      while (left > 0) {
        const ssize_t w = ::write(journal_fd_, p, left);
        if (w < 0) Fail(std::string("journal write: ") + std::strerror(errno));
        p += w;
        left -= static_cast<size_t>(w);
      }
    }
    // Only now is the acknowledgement recorded.
    if (::fdatasync(journal_fd_) != 0) Fail(std::string("journal sync: ") + std::strerror(errno));
  }

  const Args& args_;
  Engine* engine_;
  int journal_fd_;
  std::mutex journal_mu_;
  std::array<std::atomic<int64_t>, kStreams> last_{};
};

bool ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--data-dir") {
      args->data_dir = value;
    } else if (flag == "--journal") {
      args->journal = value;
    } else if (flag == "--seed") {
      args->seed = std::strtoull(value, nullptr, 10);
    } else if (flag == "--round") {
      args->round = std::atoi(value);
    } else if (flag == "--threads") {
      args->threads = std::atoi(value);
    } else if (flag == "--max-seconds") {
      args->max_seconds = std::atoi(value);
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && !args->data_dir.empty() && !args->journal.empty() && args->threads > 0;
}

}  // namespace
}  // namespace annals::stress

int main(int argc, char** argv) {
  using namespace annals;
  using namespace annals::stress;
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: engine_crash_stress --data-dir D --journal J --seed S [--round R] "
                 "[--threads T] [--max-seconds X]\n");
    return 1;
  }
  auto opened = OpenEngine(CrashEngineOptions(args.data_dir));
  if (!opened.ok()) {
    std::fprintf(stderr, "engine_crash_stress: open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<Engine> engine = std::move(opened).value();
  const int journal_fd = ::open(args.journal.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (journal_fd < 0) {
    std::fprintf(stderr, "engine_crash_stress: %s: %s\n", args.journal.c_str(),
                 std::strerror(errno));
    return 1;
  }
  Workload workload(args, engine.get(), journal_fd);
  workload.LoadRevisions();
  std::printf("ready\n");
  std::fflush(stdout);
  for (int t = 0; t < args.threads; ++t) {
    std::thread([&workload, t] { workload.Run(t); }).detach();
  }
  std::this_thread::sleep_for(std::chrono::seconds(args.max_seconds));
  // Not killed in time (the driver is gone?): stop without a clean close, like a crash.
  std::_Exit(0);
}
