// The event model shared with ../shared/bench/peers, so Annals and its peers do the same work:
// stream visit-<n>, 10 events per stream, types cycling through ten visit event types, a
// 203-byte JSON data object, a 52-byte JSON metadata object, a random UUID per event and an
// exact expected revision on every append.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "annals/event_store.h"

namespace annals::bench {

inline constexpr const char* kEventData =
    "{\"patientId\":\"5f0c6e1a-8f3b-4c2e-9d7a-2b1e4f6a9c3d\",\"clinicId\":\"clinic-0042\","
    "\"checkedInAt\":\"2024-05-01T10:15:00Z\",\"reason\":\"routine follow-up\","
    "\"triage\":{\"level\":3,\"nurse\":\"n-117\"},\"insurance\":\"verified\"}";
inline constexpr const char* kEventMetadata =
    "{\"correlationId\":\"c-8d2f4a91\",\"userId\":\"u-42\",\"v\":1}";
inline constexpr const char* kEventTypes[] = {
    "PatientCheckedIn", "RoomAssigned", "PatientTested", "VitalsRecorded", "MedicationGiven",
    "LabOrdered",       "LabResulted",  "PatientMoved",  "DoctorVisited",  "PatientCheckedOut"};
inline constexpr int kEventsPerStream = 10;

// `count` events of the model for `stream`, starting at `first_revision`, expecting exactly
// the revision before it (no_stream for the first).
inline AppendRequest MakeAppend(const std::string& stream, uint64_t first_revision, int count) {
  AppendRequest r;
  r.stream = stream;
  r.expected = first_revision == 0 ? ExpectedRevision::NoStream()
                                   : ExpectedRevision::Exact(Revision{first_revision - 1});
  for (int i = 0; i < count; ++i) {
    ProposedEvent e;
    e.id = Uuid::Random();
    e.type = kEventTypes[(first_revision + static_cast<uint64_t>(i)) % kEventsPerStream];
    e.data = kEventData;
    e.metadata = kEventMetadata;
    r.events.push_back(std::move(e));
  }
  return r;
}

// The p-quantile (0..1) of `v`, which it partially reorders.
inline double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

struct AppendRun {
  uint64_t events = 0;
  std::vector<double> latencies_ms;  // one per append
  double seconds = 0;
  uint64_t conflicts_detected = 0;  // writers whose final stale append was refused
};

// `writers` threads append the model's events (stream visit-<w>-<n>, `batch` events per
// append) for `seconds`; then each checks that a stale expected revision is refused, as the
// peers do. Exits the process on a failed append.
inline AppendRun RunAppendWriters(EventStore& store, int writers, int batch, double seconds) {
  using Clock = std::chrono::steady_clock;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> events{0}, conflicts_detected{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(writers));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      auto& lat = latencies[static_cast<size_t>(w)];
      const std::string prefix = "visit-" + std::to_string(w) + "-";
      uint64_t stream_no = 0, revision = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const int count =
            std::min<int>(batch, kEventsPerStream - static_cast<int>(revision % kEventsPerStream));
        AppendRequest r = MakeAppend(prefix + std::to_string(stream_no), revision,
                                     batch > kEventsPerStream ? batch : count);
        const auto t0 = Clock::now();
        auto result = store.Append(r);
        lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!result.ok()) {
          std::fprintf(stderr, "append failed: %s\n", result.status().ToString().c_str());
          std::exit(1);
        }
        events.fetch_add(r.events.size(), std::memory_order_relaxed);
        revision += r.events.size();
        if (revision >= kEventsPerStream || batch > kEventsPerStream) {
          ++stream_no;
          revision = 0;
        }
      }
      // A stale expected revision must be refused (the peers check the same).
      AppendRequest stale = MakeAppend(prefix + "0", 1, 1);
      if (store.Append(stale).status().code() == StatusCode::kWrongExpectedRevision) {
        conflicts_detected.fetch_add(1);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  AppendRun run;
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  run.events = events.load();
  run.conflicts_detected = conflicts_detected.load();
  for (auto& l : latencies) run.latencies_ms.insert(run.latencies_ms.end(), l.begin(), l.end());
  return run;
}

}  // namespace annals::bench
