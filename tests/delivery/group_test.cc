// Persistent consumer groups over the in-memory model and the embedded engine: sources, start
// points, ack/nack, retries, parking and replay, strategies, checkpoints across restarts.
#include <atomic>
#include <set>
#include <thread>

#include "delivery_test_util.h"

namespace annals::delivery {
namespace {

using namespace testing;

class GroupTest : public ::testing::TestWithParam<bool> {
 protected:
  GroupTest() : store_(GetParam()) { Start(); }
  ~GroupTest() override { svc_.reset(); }

  void Start() {
    auto s = DeliveryService::Open(store_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    svc_ = std::move(*s);
  }
  // Annals restarts: the service closes (final checkpoints), the store reopens.
  void Restart() {
    svc_.reset();
    store_.Reopen();
    Start();
  }

  std::shared_ptr<Group> Create(GroupDefinition def) {
    auto r = svc_->Put(Kind::kGroup, def);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    auto g = svc_->Find(Kind::kGroup, def.name);
    EXPECT_TRUE(g.ok());
    return g.ok() ? *g : nullptr;
  }
  std::shared_ptr<Group> Get(const std::string& name) {
    auto g = svc_->Find(Kind::kGroup, name);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : nullptr;
  }
  static GroupDefinition Category(const std::string& name, const std::string& category) {
    GroupDefinition d;
    d.name = name;
    d.source.filter.category = category;
    d.settings.ack_timeout = 5s;
    d.settings.retry_backoff_min = 1ms;
    d.settings.retry_backoff_max = 5ms;
    return d;
  }

  TestStore store_;
  std::unique_ptr<DeliveryService> svc_;
};

TEST_P(GroupTest, CategoryGroupDeliversEveryEventInOrderWithAckIds) {
  AppendN(store_.get(), "visit-1", 3);
  AppendN(store_.get(), "other-1", 2);
  AppendN(store_.get(), "visit-2", 2);
  auto g = Create(Category("g1", "visit"));
  auto got = Collect(*g, "c1", 5);
  ASSERT_EQ(got.size(), 5u);
  std::vector<std::string> keys;
  for (const auto& d : got) {
    keys.push_back(Key(d));
    EXPECT_EQ(d.delivery_count, 1u);
    EXPECT_EQ(d.ack_id, d.event->id.ToString());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"visit-1@0", "visit-1@1", "visit-1@2", "visit-2@0",
                                            "visit-2@1"}));
  EXPECT_TRUE(PollBlocking(*g, "c1", 10, 50ms).empty());
}

TEST_P(GroupTest, StreamEventTypeAndFilteredAllSources) {
  AppendN(store_.get(), "visit-1", 2, "A");
  AppendN(store_.get(), "visit-1", 2, "B");
  AppendN(store_.get(), "visit-2", 1, "B");
  GroupDefinition s = Category("by-stream", "");
  s.source = Source{};
  s.source.stream = "visit-1";
  auto gs = Create(s);
  EXPECT_EQ(Collect(*gs, "c", 4).size(), 4u);

  GroupDefinition st = s;
  st.name = "by-stream-type";
  st.source.filter.event_types = {"B"};
  auto gst = Create(st);
  auto got = Collect(*gst, "c", 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event->revision, Revision{2});

  GroupDefinition t = Category("by-type", "");
  t.source = Source{};
  t.source.filter.event_types = {"B"};
  auto gt = Create(t);
  EXPECT_EQ(Collect(*gt, "c", 3).size(), 3u);

  GroupDefinition f = Category("filtered", "");
  f.source = Source{};
  f.source.filter.stream_prefixes = {"visit-2"};
  f.source.filter.exclude_system_events = true;
  auto gf = Create(f);
  got = Collect(*gf, "c", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Key(got[0]), "visit-2@0");
  EXPECT_TRUE(PollBlocking(*gst, "c", 10, 20ms).empty());
}

TEST_P(GroupTest, LongPollWakesOnCommit) {
  auto g = Create(Category("live", "visit"));
  std::atomic<bool> started{false};
  std::thread writer([&] {
    while (!started) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);
    AppendN(store_.get(), "visit-9", 1);
  });
  started = true;
  const auto t0 = std::chrono::steady_clock::now();
  auto got = PollBlocking(*g, "c", 10, 5s);
  const auto took = std::chrono::steady_clock::now() - t0;
  writer.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_LT(took, 2s);
}

TEST_P(GroupTest, StartAtEndPositionAndTime) {
  AppendN(store_.get(), "visit-1", 3);
  GroupDefinition end = Category("from-end", "visit");
  end.start.kind = StartAt::Kind::kEnd;
  auto ge = Create(end);
  std::this_thread::sleep_for(5ms);
  const Timestamp between = Timestamp::Now();
  std::this_thread::sleep_for(5ms);
  auto later = AppendN(store_.get(), "visit-1", 2);
  auto got = Collect(*ge, "c", 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event->revision, Revision{3});

  GroupDefinition pos = Category("from-pos", "visit");
  pos.start.kind = StartAt::Kind::kPosition;
  pos.start.value = later[1].position.value;
  got = Collect(*Create(pos), "c", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event->revision, Revision{4});

  GroupDefinition time = Category("from-time", "visit");
  time.start.kind = StartAt::Kind::kTime;
  time.start.time = between;
  got = Collect(*Create(time), "c", 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event->revision, Revision{3});

  GroupDefinition stime = time;
  stime.name = "stream-from-time";
  stime.source = Source{};
  stime.source.stream = "visit-1";
  got = Collect(*Create(stime), "c", 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event->revision, Revision{3});

  // "end" is resolved at creation: a restart does not skip what came after.
  auto g2 = Create([&] {
    GroupDefinition d = Category("end-restart", "visit");
    d.start.kind = StartAt::Kind::kEnd;
    return d;
  }());
  AppendN(store_.get(), "visit-1", 1);
  Restart();
  got = Collect(*Get("end-restart"), "c", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event->revision, Revision{5});
}

TEST_P(GroupTest, NackRetryRedeliversWithHigherCount) {
  AppendN(store_.get(), "visit-1", 1);
  auto g = Create(Category("retry", "visit"));
  auto first = Collect(*g, "c", 1, /*ack=*/false);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(g->Nack({first[0].ack_id}, NackAction::kRetry, "try again").ok());
  auto second = Collect(*g, "c", 1, false);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].delivery_count, 2u);
  EXPECT_EQ(second[0].ack_id, first[0].ack_id);
  // Retry-After is a lower bound on the delay.
  ASSERT_TRUE(g->Nack({second[0].ack_id}, NackAction::kRetry, "", 300ms).ok());
  EXPECT_TRUE(PollBlocking(*g, "c", 1, 100ms).empty());
  auto third = Collect(*g, "c", 1);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].delivery_count, 3u);
  EXPECT_EQ(g->Info().retried, 2u);
}

TEST_P(GroupTest, AckTimeoutRedelivers) {
  AppendN(store_.get(), "visit-1", 1);
  GroupDefinition d = Category("timeout", "visit");
  d.settings.ack_timeout = 100ms;
  auto g = Create(d);
  ASSERT_EQ(Collect(*g, "c", 1, false).size(), 1u);
  auto again = Collect(*g, "c", 1, false, 3s);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].delivery_count, 2u);
}

TEST_P(GroupTest, MaxRetriesParksAndReplayRedelivers) {
  AppendN(store_.get(), "visit-1", 2);
  GroupDefinition d = Category("park", "visit");
  d.settings.max_retries = 2;
  auto g = Create(d);
  // visit-1@0 fails three times (1 + 2 retries) and is parked; visit-1@1 flows.
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto got = Collect(*g, "c", attempt == 1 ? 2 : 1, false);
    ASSERT_FALSE(got.empty());
    for (auto& x : got) {
      if (x.event->revision == Revision{0}) {
        EXPECT_EQ(x.delivery_count, static_cast<uint32_t>(attempt));
        ASSERT_TRUE(g->Nack({x.ack_id}, NackAction::kRetry, "boom").ok());
      } else {
        ASSERT_TRUE(g->Ack({x.ack_id}).ok());
      }
    }
  }
  ASSERT_TRUE(WaitFor([&] { return g->Info().parked == 1; }));
  auto page = g->ListParked(0, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(page->entries[0].stream, "visit-1");
  EXPECT_EQ(page->entries[0].revision, Revision{0});
  EXPECT_EQ(page->entries[0].attempts, 3u);
  EXPECT_NE(page->entries[0].reason.find("max retries"), std::string::npos);

  // Parked state survives a restart; the checkpoint passed the parked event.
  Restart();
  g = Get("park");
  EXPECT_EQ(g->Info().parked, 1u);
  EXPECT_TRUE(PollBlocking(*g, "c", 10, 100ms).empty());
  auto replay = g->ReplayParked();
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->replaying, 1u);
  auto got = Collect(*g, "c", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].replayed);
  EXPECT_EQ(got[0].delivery_count, 1u);
  ASSERT_TRUE(WaitFor([&] {
    auto i = g->Info();
    return i.parked == 0 && !i.replaying;
  }));
  Restart();
  EXPECT_EQ(Get("park")->Info().parked, 0u);
  EXPECT_TRUE(PollBlocking(*Get("park"), "c", 10, 100ms).empty());
}

TEST_P(GroupTest, NackParkSkipAndTruncate) {
  AppendN(store_.get(), "visit-1", 3);
  auto g = Create(Category("nack", "visit"));
  auto got = Collect(*g, "c", 3, false);
  ASSERT_EQ(got.size(), 3u);
  ASSERT_TRUE(g->Nack({got[0].ack_id}, NackAction::kPark, "poison").ok());
  ASSERT_TRUE(g->Nack({got[1].ack_id}, NackAction::kSkip, "").ok());
  ASSERT_TRUE(g->Nack({got[2].ack_id}, NackAction::kPark, "").ok());
  ASSERT_TRUE(WaitFor([&] { return g->Info().parked == 2; }));
  EXPECT_TRUE(PollBlocking(*g, "c", 10, 50ms).empty());
  EXPECT_EQ(g->ListParked(0, 10)->entries[0].reason, "poison");
  ASSERT_TRUE(g->TruncateParked().ok());
  EXPECT_EQ(g->Info().parked, 0u);
  Restart();
  EXPECT_EQ(Get("nack")->Info().parked, 0u);
  EXPECT_FALSE(Get("nack")->Ack({"not-a-uuid"}).ok());
}

TEST_P(GroupTest, CheckpointNeverPassesAnUnackedEvent) {
  AppendN(store_.get(), "visit-1", 5);
  GroupDefinition d = Category("cp", "visit");
  d.settings.checkpoint_after = 1ms;
  d.settings.checkpoint_max_count = 1;
  auto g = Create(d);
  auto got = Collect(*g, "c", 5, false);
  ASSERT_EQ(got.size(), 5u);
  // Ack everything but revision 1.
  ASSERT_TRUE(g->Ack({got[0].ack_id, got[2].ack_id, got[3].ack_id, got[4].ack_id}).ok());
  ASSERT_TRUE(WaitFor([&] { return g->Info().checkpoint == got[1].event->position.value; }));
  Restart();
  // Redelivered from revision 1: the unacked event and the ones after it (at least once).
  auto again = Collect(*Get("cp"), "c", 4);
  ASSERT_EQ(again.size(), 4u);
  EXPECT_EQ(again[0].event->revision, Revision{1});
  EXPECT_EQ(again[3].event->revision, Revision{4});
  Restart();
  EXPECT_TRUE(PollBlocking(*Get("cp"), "c", 10, 100ms).empty());
}

TEST_P(GroupTest, CompetingConsumersShareTheWorkExactlyOnceWhenAllAck) {
  for (int s = 0; s < 8; ++s) AppendN(store_.get(), "visit-" + std::to_string(s), 50);
  GroupDefinition d = Category("rr", "visit");
  d.settings.max_in_flight = 8;  // two batches: a consumer holding its batch leaves work over
  auto g = Create(d);
  std::mutex mu;
  std::map<std::string, int> seen;
  std::map<std::string, int> per_consumer;
  std::vector<std::thread> consumers;
  std::atomic<int> total{0};
  for (int c = 0; c < 4; ++c) {
    consumers.emplace_back([&, c] {
      const std::string name = "c" + std::to_string(c);
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      while (total < 400 && std::chrono::steady_clock::now() < deadline) {
        auto batch = PollBlocking(*g, name, 4, 100ms);
        if (!batch.empty()) std::this_thread::sleep_for(1ms);  // "processing"
        std::vector<std::string> ids;
        {
          std::lock_guard lock(mu);
          for (auto& x : batch) {
            ++seen[Key(x)];
            ++per_consumer[name];
            ids.push_back(x.ack_id);
          }
        }
        total += static_cast<int>(batch.size());
        if (!ids.empty()) {
          EXPECT_TRUE(g->Ack(ids).ok());
        }
      }
    });
  }
  for (auto& t : consumers) t.join();
  EXPECT_EQ(seen.size(), 400u);
  for (auto& [k, n] : seen) EXPECT_EQ(n, 1) << k;
  EXPECT_GE(per_consumer.size(), 2u);  // the work was shared
}

TEST_P(GroupTest, PinnedByStreamKeepsEachStreamInOrderThroughRetries) {
  for (int s = 0; s < 4; ++s) AppendN(store_.get(), "visit-" + std::to_string(s), 20);
  GroupDefinition d = Category("pinned", "visit");
  d.settings.strategy = Strategy::kPinnedByStream;
  auto g = Create(d);
  std::map<std::string, uint64_t> next;  // stream -> next expected revision
  std::mt19937 rng(7);
  size_t acked = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (acked < 80 && std::chrono::steady_clock::now() < deadline) {
    const std::string consumer = "c" + std::to_string(rng() % 2);
    auto batch = PollBlocking(*g, consumer, 5, 100ms);
    std::set<std::string> failed;  // streams nacked in this batch: their later events too
    for (auto& x : batch) {
      const std::string& stream = x.event->stream;
      if (failed.count(stream) || rng() % 3 == 0) {
        failed.insert(stream);
        ASSERT_TRUE(g->Nack({x.ack_id}, NackAction::kRetry, "").ok());
        continue;
      }
      EXPECT_EQ(x.event->revision.value, next[stream]) << Key(x);
      ASSERT_TRUE(g->Ack({x.ack_id}).ok());
      next[stream] = x.event->revision.value + 1;
      ++acked;
    }
  }
  EXPECT_EQ(acked, 80u);
}

TEST_P(GroupTest, DispatchToSingleServesOnlyTheFirstConsumer) {
  AppendN(store_.get(), "visit-1", 10);
  GroupDefinition d = Category("single", "visit");
  d.settings.strategy = Strategy::kDispatchToSingle;
  d.settings.consumer_timeout = 300ms;
  auto g = Create(d);
  auto a = PollBlocking(*g, "first", 2, 1s);
  EXPECT_EQ(a.size(), 2u);
  EXPECT_TRUE(PollBlocking(*g, "second", 2, 50ms).empty());
  // The first consumer goes away: the second takes over.
  std::this_thread::sleep_for(350ms);
  auto b = PollBlocking(*g, "second", 2, 1s);
  EXPECT_EQ(b.size(), 2u);
}

TEST_P(GroupTest, ParkKeepsOrderHoldsTheStreamWhileOthersFlow) {
  AppendN(store_.get(), "visit-1", 3);
  AppendN(store_.get(), "visit-2", 3);
  GroupDefinition d = Category("ordered", "visit");
  d.settings.strategy = Strategy::kPinnedByStream;
  d.settings.park_keeps_order = true;
  auto g = Create(d);
  // One at a time: visit-1@0, then (visit-1 being out) visit-2@0.
  std::vector<Delivery> got = PollBlocking(*g, "c", 1, 1s);
  for (auto& x : PollBlocking(*g, "c", 1, 1s)) got.push_back(x);
  ASSERT_EQ(got.size(), 2u);
  for (auto& x : got) {
    if (x.event->stream == "visit-1") {
      ASSERT_TRUE(g->Nack({x.ack_id}, NackAction::kPark, "receiver rejects").ok());
    } else {
      ASSERT_TRUE(g->Ack({x.ack_id}).ok());
    }
  }
  AppendN(store_.get(), "visit-1", 1);  // arrives while the stream is held
  auto rest = Collect(*g, "c", 2);
  ASSERT_EQ(rest.size(), 2u);
  for (auto& x : rest) EXPECT_EQ(x.event->stream, "visit-2");
  EXPECT_TRUE(PollBlocking(*g, "c", 10, 100ms).empty());
  ASSERT_TRUE(WaitFor([&] { return g->Info().parked == 4; }));
  // Replay hands the held stream out again, in order.
  Restart();
  g = Get("ordered");
  ASSERT_TRUE(g->ReplayParked().ok());
  std::vector<uint64_t> revs;
  for (int i = 0; i < 4; ++i) {
    auto one = Collect(*g, "c", 1);
    ASSERT_EQ(one.size(), 1u);
    revs.push_back(one[0].event->revision.value);
  }
  EXPECT_EQ(revs, (std::vector<uint64_t>{0, 1, 2, 3}));
  ASSERT_TRUE(WaitFor([&] { return g->Info().parked == 0 && !g->Info().replaying; }));
  AppendN(store_.get(), "visit-1", 1);  // the stream flows again
  auto after = Collect(*g, "c", 1);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].event->revision, Revision{4});
}

TEST_P(GroupTest, RegistrySurvivesRestartAndRecreateForgetsOldState) {
  AppendN(store_.get(), "visit-1", 4);
  GroupDefinition d = Category("reg", "visit");
  d.settings.max_retries = 3;
  auto g = Create(d);
  ASSERT_EQ(Collect(*g, "c", 4).size(), 4u);
  Restart();
  auto def = svc_->Get(Kind::kGroup, "reg");
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->definition.settings.max_retries, 3u);
  EXPECT_TRUE(PollBlocking(*Get("reg"), "c", 10, 50ms).empty());
  // Update settings; a source change is refused.
  d.settings.max_retries = 9;
  auto up = svc_->Put(Kind::kGroup, d);
  ASSERT_TRUE(up.ok());
  EXPECT_FALSE(up->created);
  GroupDefinition other = d;
  other.source.filter.category = "other";
  EXPECT_EQ(svc_->Put(Kind::kGroup, other).status().code(), StatusCode::kInvalidArgument);
  // Delete and recreate: starts again from its start, ignoring the old checkpoint.
  ASSERT_TRUE(svc_->Delete(Kind::kGroup, "reg").ok());
  EXPECT_EQ(svc_->Find(Kind::kGroup, "reg").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(svc_->Delete(Kind::kGroup, "reg").code(), StatusCode::kNotFound);
  Restart();
  EXPECT_EQ(svc_->Find(Kind::kGroup, "reg").status().code(), StatusCode::kNotFound);
  g = Create(Category("reg", "visit"));
  EXPECT_EQ(Collect(*g, "c", 4).size(), 4u);
  Restart();
  EXPECT_EQ(svc_->Get(Kind::kGroup, "reg")->definition.settings.max_retries, 10u);
  EXPECT_EQ(svc_->List(Kind::kGroup).size(), 1u);
}

TEST_P(GroupTest, ResetReplaysFromAPosition) {
  auto appended = AppendN(store_.get(), "visit-1", 4);
  auto g = Create(Category("reset", "visit"));
  ASSERT_EQ(Collect(*g, "c", 4).size(), 4u);
  StartAt at;
  at.kind = StartAt::Kind::kPosition;
  at.value = appended[2].position.value;
  ASSERT_TRUE(svc_->Reset(Kind::kGroup, "reset", at).ok());
  auto again = Collect(*g, "c", 2);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].event->revision, Revision{2});
}

TEST_P(GroupTest, InfoReportsLagInFlightAndConsumers) {
  AppendN(store_.get(), "visit-1", 30);
  GroupDefinition d = Category("info", "visit");
  d.settings.buffer_size = 10;
  d.settings.read_batch = 10;
  auto g = Create(d);
  auto got = Collect(*g, "c1", 4, false);
  ASSERT_EQ(got.size(), 4u);
  GroupInfo info = g->Info();
  EXPECT_EQ(info.in_flight, 4u);
  EXPECT_EQ(info.lag_events, 30u);
  EXPECT_TRUE(info.lag_exact);
  EXPECT_GE(info.lag_seconds, 0.0);
  ASSERT_EQ(info.consumers.size(), 1u);
  EXPECT_EQ(info.consumers[0].name, "c1");
  EXPECT_EQ(info.consumers[0].in_flight, 4u);
}

// An `$all`-based cursor passed its own last checkpoint event, which moved its checkpoint, so
// it wrote another one every interval, idle, for ever; two unfiltered cursors delivered each
// other's checkpoints. Now they neither write nor deliver delivery's own state.
TEST_P(GroupTest, IdleCursorsWriteNothingAndNeverDeliverDeliveryState) {
  GroupDefinition filtered = Category("idle-filtered", "nobody");
  filtered.settings.checkpoint_after = 1ms;
  GroupDefinition all = Category("idle-all", "");
  all.source = Source{};
  all.settings.checkpoint_after = 1ms;
  Create(filtered);
  auto everything = Create(all);
  AppendN(store_.get(), "visit-1", 1);
  auto got = Collect(*everything, "c", 1, false);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(everything->Ack({got[0].ack_id}).ok());
  // The ack's checkpoint is written; after it, nothing more.
  ASSERT_TRUE(
      WaitFor([&] { return everything->Info().checkpoint > got[0].event->position.value; }));
  std::this_thread::sleep_for(100ms);
  const Position settled = store_.get()->Head();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(store_.get()->Head(), settled) << "idle cursors kept writing";
  for (const Delivery& d : PollBlocking(*everything, "c", 100, 200ms)) {
    ADD_FAILURE() << "delivered " << d.event->stream << " " << d.event->type;
  }
}

TEST_P(GroupTest, InvalidDefinitionsAreRefused) {
  GroupDefinition d = Category("", "visit");
  EXPECT_EQ(svc_->Put(Kind::kGroup, d).status().code(), StatusCode::kInvalidArgument);
  d.name = "a/b";
  EXPECT_EQ(svc_->Put(Kind::kGroup, d).status().code(), StatusCode::kInvalidArgument);
  d.name = "regex";
  d.source = Source{};
  d.source.filter.type_regex = "([";
  EXPECT_EQ(svc_->Put(Kind::kGroup, d).status().code(), StatusCode::kInvalidArgument);
  d.source = Source{};
  d.source.stream = "$system";
  EXPECT_EQ(svc_->Put(Kind::kGroup, d).status().code(), StatusCode::kInvalidArgument);
  d.source = Source{};
  d.name = "b::c";  // would share the state streams of group "c" of a stream "a::b"
  EXPECT_EQ(svc_->Put(Kind::kGroup, d).status().code(), StatusCode::kInvalidArgument);
  d.name = "later";
  d.start = StartAt{StartAt::Kind::kPosition, store_.get()->Head().value + 1000};
  EXPECT_EQ(svc_->Put(Kind::kGroup, d).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(svc_->List(Kind::kGroup).empty());
}

INSTANTIATE_TEST_SUITE_P(Stores, GroupTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Engine" : "Memory"; });

}  // namespace
}  // namespace annals::delivery
