// Helpers shared by the delivery tests: stores that can be "restarted" (the memory model keeps
// its object, the engine closes and reopens its directory), appends, and poll loops with
// bounded waits.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "annals/engine.h"
#include "delivery/service.h"
#include "memory/memory_store.h"

namespace annals::delivery::testing {

using namespace std::chrono_literals;

inline std::string TempDir(const std::string& tag) {
  static int counter = 0;
  const auto base = std::filesystem::temp_directory_path() /
                    ("annals-delivery-" + tag + "-" + std::to_string(::getpid()) + "-" +
                     std::to_string(++counter));
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base);
  return base.string();
}

// The engine the delivery tests use: small segments and limits, no fsync (a process crash keeps
// the page cache, which is what the SIGKILL tests need). Null (and a message) on failure.
inline std::unique_ptr<Engine> OpenTestEngine(const std::string& dir) {
  EngineOptions o;
  o.data_dir = dir + "/data";
  o.durability = Durability::kUnsafeNoSync;
  o.segment_bytes = 8 << 20;
  o.index_cache_bytes = 8 << 20;
  o.limits.max_event_bytes = 1 << 20;
  o.limits.max_append_bytes = 4 << 20;
  auto e = OpenEngine(o);
  if (!e.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), e.status().ToString().c_str());
    return nullptr;
  }
  return std::move(*e);
}

// A store that survives a "restart" of Annals: the memory model stays, the engine reopens.
class TestStore {
 public:
  explicit TestStore(bool engine) : engine_(engine) {
    if (engine_) {
      dir_ = TempDir("engine");
      Reopen();
    } else {
      store_ = NewMemoryStore();
    }
  }
  ~TestStore() {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  EventStore* get() const { return store_.get(); }
  void Reopen() {
    if (!engine_) return;
    store_.reset();
    store_ = OpenTestEngine(dir_);
    ASSERT_TRUE(store_ != nullptr);
  }
  bool engine() const { return engine_; }

 private:
  bool engine_;
  std::string dir_;
  std::unique_ptr<EventStore> store_;
};

inline std::vector<AppendResult> AppendN(EventStore* store, const std::string& stream, int n,
                                         const std::string& type = "Happened") {
  std::vector<AppendResult> out;
  for (int i = 0; i < n; ++i) {
    AppendRequest r;
    r.stream = stream;
    ProposedEvent e;
    e.type = type;
    e.data = "{\"i\":" + std::to_string(i) + "}";
    r.events.push_back(std::move(e));
    auto res = store->Append(r);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    if (res.ok()) out.push_back(*res);
  }
  return out;
}

// Polls (and acks, when `ack`) until `count` events came or `timeout` passed.
inline std::vector<Delivery> Collect(Group& g, const std::string& consumer, size_t count,
                                     bool ack = true, std::chrono::milliseconds timeout = 10s) {
  std::vector<Delivery> got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got.size() < count && std::chrono::steady_clock::now() < deadline) {
    auto batch = PollBlocking(g, consumer, static_cast<uint32_t>(count - got.size()), 200ms);
    std::vector<std::string> ids;
    for (auto& d : batch) {
      ids.push_back(d.ack_id);
      got.push_back(std::move(d));
    }
    if (ack && !ids.empty()) {
      EXPECT_TRUE(g.Ack(ids).ok());
    }
  }
  return got;
}

// Waits (bounded) until `cond` holds.
inline bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

inline std::string Key(const Delivery& d) {
  return d.event->stream + "@" + std::to_string(d.event->revision.value);
}

}  // namespace annals::delivery::testing
