// The database restarts under a running store and under `annals serve` (docs/postgres.md,
// "Database restarts"): nothing acknowledged is lost, requests during the outage fail fast with
// kUnavailable (HTTP 503), and once the database is back everything works again without
// restarting Annals: appends and reads, positions continuing gap-free, live notification
// (the LISTEN connection), SSE subscribers and delivery leases (webhooks, persistent groups).
//
// The node says so too: /health/ready answers 503 while the database is down, and the log
// has one line for the outage and one for the recovery, and one per delivery lease lost and
// taken again.
//
// Each test is run twice: a fast shutdown (the server ends every session with an error) and an
// immediate one (as in a crash: no shutdown checkpoint, recovery from the WAL at the start).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "../delivery/test_receiver.h"
#include "../http/test_support.h"
#include "annals/postgres_store.h"
#include "captured_log.h"
#include "pg_test_server.h"
#include "postgres/pg_connection.h"

namespace annals {
namespace {

using Clock = std::chrono::steady_clock;
using delivery::testing::ReceivedRequest;
using delivery::testing::TestReceiver;
using http::testing::Http;
using http::testing::HttpResponse;
using http::testing::ServerProcess;
using http::testing::SseClient;
using namespace std::chrono_literals;
using Json = nlohmann::json;
using pg::testing::CapturedLog;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout = 15s) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

AppendRequest OneEvent(const std::string& stream, Uuid id = Uuid::Random()) {
  AppendRequest request;
  request.stream = stream;
  request.events.push_back(ProposedEvent{.id = id, .type = "Placed", .data = "{}"});
  return request;
}

std::unique_ptr<EventStore> OpenOrFail(const PostgresOptions& options) {
  auto opened = OpenPostgres(options);
  EXPECT_TRUE(opened.ok()) << opened.status().ToString();
  return opened.ok() ? std::move(*opened) : nullptr;
}

// The whole log, checked dense: positions 1, 2, 3, ... in order.
std::vector<RecordedEvent> WholeLog(EventStore& store) {
  std::vector<RecordedEvent> log;
  Position from{1};
  for (;;) {
    Result<ReadAllResult> page = store.ReadAll({.from = from, .max_count = 500});
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) return log;
    for (RecordedEvent& e : page->events) {
      EXPECT_EQ(e.position.value, log.size() + 1) << "a gap or a reordering in the log";
      log.push_back(std::move(e));
    }
    if (page->end_of_log) return log;
    from = page->next;
  }
}

// Sessions of Annals stores (application_name 'annals') on the server.
int64_t AnnalsSessions(const std::string& conninfo) {
  auto admin = pg::Connection::Open({.conninfo = conninfo});
  EXPECT_TRUE(admin.ok()) << admin.status().ToString();
  if (!admin.ok()) return 0;
  auto count = (*admin)->Exec(
      "SELECT count(*)::bigint FROM pg_stat_activity "
      "WHERE application_name = 'annals' AND pid <> pg_backend_pid()");
  EXPECT_TRUE(count.ok()) << count.status().ToString();
  return count.ok() ? count->Int64(0, 0) : 0;
}

class PostgresRestartTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!pg::testing::CanStopServer()) GTEST_SKIP() << "needs the test binary's own server";
  }
  void TearDown() override {
    if (stopped_) pg::testing::StartServer();  // a failed test leaves the server up
  }
  bool immediate() const { return GetParam(); }
  void Stop() {
    pg::testing::StopServer(immediate());
    stopped_ = true;
  }
  // Starts the server; returns when it accepts connections.
  Clock::time_point Start() {
    pg::testing::StartServer();
    stopped_ = false;
    return Clock::now();
  }

 private:
  bool stopped_ = false;
};

// In process: a writer hammering the store through the restart, and a second store (another
// node) that learns of commits by LISTEN/NOTIFY only.
TEST_P(PostgresRestartTest, TheStoreLosesNothingFailsFastAndRecovers) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto writer = OpenOrFail({.conninfo = conninfo, .pool_size = 4});
  // A poll interval far beyond the test: only its listener's notifications (or the head read
  // when the listener reconnects) can wake it.
  auto node = OpenOrFail({.conninfo = conninfo, .pool_size = 4, .head_poll_interval = 60s});
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(node, nullptr);
  // A third node, idle through the outage: its pooled connections all die with the server
  // unnoticed, and its first requests afterwards must not be handed them.
  const int64_t sessions_before = AnnalsSessions(conninfo);
  auto quiet = OpenOrFail({.conninfo = conninfo, .pool_size = 4});
  ASSERT_NE(quiet, nullptr);
  {
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t) {
      readers.emplace_back([&] {
        for (int i = 0; i < 50; ++i) EXPECT_TRUE(quiet->ReadAll({.max_count = 10}).ok());
      });
    }
    for (std::thread& t : readers) t.join();
  }
  // Its listener and at least two pooled connections.
  ASSERT_GE(AnnalsSessions(conninfo) - sessions_before, 3);

  // Acknowledged appends, and several pooled connections in both stores (concurrent readers),
  // which all die with the server.
  std::map<Uuid, Position> acknowledged;
  for (int i = 0; i < 20; ++i) {
    const Uuid id = Uuid::Random();
    Result<AppendResult> done = writer->Append(OneEvent("order-" + std::to_string(i % 4), id));
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    acknowledged[id] = done->position;
  }
  {
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t) {
      readers.emplace_back([&] {
        for (int i = 0; i < 20; ++i) {
          EXPECT_TRUE(writer->ReadAll({.max_count = 50}).ok());
          EXPECT_TRUE(node->ReadStream({.stream = "order-1"}).ok());
        }
      });
    }
    for (std::thread& t : readers) t.join();
  }

  // Appends in flight while the server goes down and comes back. Each either succeeds (it
  // must then be in the log) or fails with kUnavailable, fast; a failed one may or may not be
  // stored, and is retried with the same event id afterwards.
  std::atomic<bool> stop_writing{false};
  std::mutex mu;
  std::vector<AppendRequest> failed;
  std::map<std::string, int> failure_messages;
  Clock::duration slowest_failure{};
  std::thread appender([&] {
    for (int i = 0; !stop_writing; ++i) {
      const Uuid id = Uuid::Random();
      AppendRequest request = OneEvent("order-" + std::to_string(i % 4), id);
      const auto start = Clock::now();
      Result<AppendResult> done = writer->Append(request);
      std::lock_guard lock(mu);
      if (done.ok()) {
        acknowledged[id] = done->position;
        continue;
      }
      EXPECT_EQ(done.status().code(), StatusCode::kUnavailable) << done.status().ToString();
      failed.push_back(std::move(request));
      slowest_failure = std::max(slowest_failure, Clock::now() - start);
      ++failure_messages[done.status().message().substr(0, 60)];
      std::this_thread::sleep_for(20ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  const Position head_before = writer->Head();
  Stop();

  // The outage: requests fail at once with kUnavailable; Head() answers the last head known.
  std::this_thread::sleep_for(300ms);
  const auto outage_start = Clock::now();
  Result<ReadAllResult> read = writer->ReadAll({});
  EXPECT_EQ(read.status().code(), StatusCode::kUnavailable) << read.status().ToString();
  Result<ReadStreamResult> stream = node->ReadStream({.stream = "order-1"});
  EXPECT_EQ(stream.status().code(), StatusCode::kUnavailable) << stream.status().ToString();
  EXPECT_NE(stream.status().message().find("postgres"), std::string::npos)
      << stream.status().ToString();
  EXPECT_GE(node->Head(), Position{1});
  EXPECT_LT(Clock::now() - outage_start, 2s) << "requests hang while the database is down";
  // The other node's watch, set during the outage, fires once the writer appends after it.
  const Position node_head = node->Head();
  std::promise<Position> watched;
  std::future<Position> fired = watched.get_future();
  node->WatchHead(node_head, [&](Position p) { watched.set_value(p); });
  std::this_thread::sleep_for(1s);

  const Clock::time_point back = Start();
  // The first request after the database is back succeeds: no dead pooled connection is used.
  const Uuid first_id = Uuid::Random();
  Result<AppendResult> first = writer->Append(OneEvent("after-1", first_id));
  const double first_append_s = Seconds(Clock::now() - back);
  EXPECT_TRUE(first.ok()) << first.status().ToString();
  Result<ReadStreamResult> first_read = node->ReadStream({.stream = "order-1"});
  EXPECT_TRUE(first_read.ok()) << first_read.status().ToString();
  Result<ReadAllResult> quiet_read = quiet->ReadAll({});
  EXPECT_TRUE(quiet_read.ok()) << quiet_read.status().ToString();
  const Uuid quiet_id = Uuid::Random();
  Result<AppendResult> quiet_append = quiet->Append(OneEvent("quiet-1", quiet_id));
  EXPECT_TRUE(quiet_append.ok()) << quiet_append.status().ToString();
  // The appender's appends succeed again within a few seconds.
  size_t acknowledged_at_back = 0;
  {
    std::lock_guard lock(mu);
    acknowledged_at_back = acknowledged.size();
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard lock(mu);
        return acknowledged.size() >= acknowledged_at_back + 5;
      },
      5s));
  const double appender_back_s = Seconds(Clock::now() - back);
  stop_writing = true;
  appender.join();
  EXPECT_LT(slowest_failure, 2s) << "an append hung while the database was down";
  if (first.ok()) acknowledged[first_id] = first->position;
  if (quiet_append.ok()) acknowledged[quiet_id] = quiet_append->position;

  // The other node's listener is back: its watch fires (the poll interval is a minute) ...
  ASSERT_EQ(fired.wait_for(5s), std::future_status::ready) << "the listener did not reconnect";
  const double listener_back_s = Seconds(Clock::now() - back);
  EXPECT_GT(fired.get(), node_head);
  // ... and it is listening again: a later commit reaches it by NOTIFY.
  const Position later_head = node->Head();
  std::promise<Position> watched_again;
  std::future<Position> fired_again = watched_again.get_future();
  node->WatchHead(later_head, [&](Position p) { watched_again.set_value(p); });
  ASSERT_TRUE(writer->Append(OneEvent("after-2")).ok());
  EXPECT_EQ(fired_again.wait_for(3s), std::future_status::ready) << "no NOTIFY after the restart";

  // Failed appends retried as they were, event ids included: whether or not the failed
  // attempt had been stored, the retry succeeds and the event is stored once.
  for (const AppendRequest& request : failed) {
    Result<AppendResult> retried = writer->Append(request);
    ASSERT_TRUE(retried.ok()) << retried.status().ToString();
    acknowledged[*request.events[0].id] = retried->position;
  }

  // Nothing acknowledged is lost, and the log is dense and in order across the restart.
  std::vector<RecordedEvent> log = WholeLog(*node);
  std::map<Uuid, Position> in_log;
  for (const RecordedEvent& e : log) {
    EXPECT_TRUE(in_log.emplace(e.id, e.position).second) << "stored twice: " << e.id.ToString();
  }
  for (const auto& [id, position] : acknowledged) {
    auto it = in_log.find(id);
    ASSERT_NE(it, in_log.end()) << "acknowledged and lost: " << id.ToString();
    EXPECT_EQ(it->second, position);
  }
  EXPECT_GT(log.size(), head_before.value - 1);

  std::printf(
      "%s restart: %zu appends failed during it (slowest failure %.3f s); first append after "
      "the database was back %s in %.3f s; appender succeeding again %.3f s, other node's "
      "watch fired %.3f s after it was back\n",
      immediate() ? "immediate" : "fast", failed.size(), Seconds(slowest_failure),
      first.ok() ? "succeeded" : "FAILED", first_append_s, appender_back_s, listener_back_s);
  for (const auto& [message, count] : failure_messages) {
    std::printf("  %d x %s...\n", count, message.c_str());
  }
}

size_t Occurrences(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

Json GetJson(const ServerProcess& node, const std::string& path) {
  HttpResponse r = Http("GET", node.Url(path));
  return r.status == 200 ? r.json() : Json();
}

// Appends one event with `id` over HTTP; the response.
HttpResponse HttpAppend(const ServerProcess& node, const std::string& stream, const Uuid& id) {
  const Json body = {{"events", {{{"id", id.ToString()}, {"type", "Placed"}, {"data", Json()}}}}};
  return Http("POST", node.Url("/streams/" + stream), body.dump());
}

// `annals serve` through a restart: HTTP appends and reads, an SSE subscriber on $all, a
// webhook and a persistent group, whose leases (advisory locks) die with the server's sessions.
TEST_P(PostgresRestartTest, ServeAnswers503AndResumesEverythingAfterTheRestart) {
  TestReceiver receiver;
  receiver.Start();
  const std::string uri = pg::testing::FreshSchemaUri();
  const std::string key =
      (std::filesystem::path(::testing::TempDir()) / "annals-pg-restart-test.key").string();
  std::filesystem::remove(key);
  ServerProcess server(
      {"--store", uri, "--secrets-key-file", key, "--io-threads", "1", "--log-level", "info"});
  const Json hook = {{"url", receiver.Url()}, {"filter", {{"category", "order"}}}};
  ASSERT_EQ(Http("PUT", server.Url("/webhooks/orders"), hook.dump()).status, 201);
  ASSERT_EQ(Http("PUT", server.Url("/subscriptions/g1"),
                 R"({"source":{"category":"order"},"from":"start"})")
                .status,
            201);
  SseClient sse(server.address(), "/all?category=order");
  ASSERT_EQ(sse.status(), 200);
  std::set<std::string> sse_ids;  // event ids the subscriber received
  auto read_sse = [&](size_t want, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (sse_ids.size() < want && Clock::now() < deadline) {
      std::optional<http::testing::SseEvent> e = sse.Next(500ms);
      if (!e) {
        if (sse.closed()) return;
        continue;
      }
      EXPECT_NE(e->event, "error") << e->data;
      if (e->event.empty()) sse_ids.insert(Json::parse(e->data)["id"].get<std::string>());
    }
  };
  std::set<std::string> group_ids;  // event ids the group handed out (and were acked)
  HttpResponse polled;              // the last poll's answer
  auto poll_group = [&](size_t want) {
    return WaitFor([&] {
      polled = Http("POST", server.Url("/subscriptions/g1/poll?max=50&wait=500"));
      if (polled.status != 200) return false;
      std::vector<std::string> acks;
      const Json body = polled.json();
      for (const Json& e : body["events"]) {
        group_ids.insert(e["id"].get<std::string>());
        acks.push_back(e["ackId"]);
      }
      if (!acks.empty())
        Http("POST", server.Url("/subscriptions/g1/ack"), Json{{"ids", acks}}.dump());
      return group_ids.size() >= want;
    });
  };
  auto webhook_ids = [&] {
    std::set<std::string> ids;
    for (const ReceivedRequest& r : receiver.Accepted()) ids.insert(r.Header("ce-id"));
    return ids;
  };

  std::set<std::string> appended;
  std::map<std::string, uint64_t> positions;
  // Ten acknowledged appends over three streams, remembered with their positions.
  auto append_ten = [&] {
    for (int i = 0; i < 10; ++i) {
      const Uuid id = Uuid::Random();
      HttpResponse r = HttpAppend(server, "order-" + std::to_string(i % 3), id);
      ASSERT_EQ(r.status, 201) << r.body;
      appended.insert(id.ToString());
      positions[id.ToString()] = r.json()["position"].get<uint64_t>();
    }
  };
  append_ten();
  if (HasFatalFailure()) return;
  read_sse(10, 10s);
  EXPECT_EQ(sse_ids, appended);
  ASSERT_TRUE(poll_group(10)) << polled.status << " " << polled.body;
  ASSERT_TRUE(WaitFor([&] { return webhook_ids().size() >= 10; }));
  EXPECT_EQ(GetJson(server, "/webhooks/orders")["drivenHere"], true);
  EXPECT_EQ(GetJson(server, "/subscriptions/g1")["drivenHere"], true);
  EXPECT_EQ(Http("GET", server.Url("/health/ready")).status, 200);

  Stop();
  std::this_thread::sleep_for(300ms);
  // The outage: 503 problem+json at once, for writes and reads; the server stays up.
  const Uuid during = Uuid::Random();
  auto start = Clock::now();
  HttpResponse refused = HttpAppend(server, "order-1", during);
  const double refused_s = Seconds(Clock::now() - start);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.header("content-type"), "application/problem+json");
  EXPECT_EQ(refused.header("retry-after"), "1");
  if (refused.header("content-type") == "application/problem+json") {
    EXPECT_EQ(refused.json()["type"], "/problems/unavailable");
    EXPECT_NE(refused.json()["detail"].get<std::string>().find("postgres"), std::string::npos)
        << refused.body;
  }
  EXPECT_LT(refused_s, 2.0);
  start = Clock::now();
  EXPECT_EQ(Http("GET", server.Url("/all")).status, 503);
  EXPECT_EQ(Http("GET", server.Url("/streams/order-1")).status, 503);
  EXPECT_LT(Clock::now() - start, 2s);
  // The lease session died with the server: the node stops driving both cursors (their locks
  // are gone, another node could take them) until it has them again.
  EXPECT_TRUE(WaitFor(
      [&] {
        return GetJson(server, "/webhooks/orders")["drivenHere"] == false &&
               GetJson(server, "/subscriptions/g1")["drivenHere"] == false;
      },
      5s))
      << GetJson(server, "/webhooks/orders").dump();
  // Not ready (a load balancer sends the traffic elsewhere), but alive. The readiness check is
  // remembered for a second.
  HttpResponse ready;
  EXPECT_TRUE(WaitFor(
      [&] {
        ready = Http("GET", server.Url("/health/ready"));
        return ready.status == 503;
      },
      3s))
      << ready.status << " " << ready.body;
  EXPECT_EQ(ready.header("content-type"), "application/problem+json");
  EXPECT_NE(ready.body.find("the database is unavailable"), std::string::npos) << ready.body;
  EXPECT_EQ(Http("GET", server.Url("/health/live")).status, 204);
  EXPECT_TRUE(server.Running());

  const Clock::time_point back = Start();
  // Writes succeed again: the append refused during the outage, retried with its id, first.
  HttpResponse retried;
  int attempts = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        ++attempts;
        retried = HttpAppend(server, "order-1", during);
        return retried.status == 201;
      },
      10s))
      << retried.status << " " << retried.body;
  const double writes_back_s = Seconds(Clock::now() - back);
  appended.insert(during.ToString());
  positions[during.ToString()] = retried.json()["position"].get<uint64_t>();
  EXPECT_EQ(attempts, 1) << "the first append after the database came back failed";
  append_ten();
  if (HasFatalFailure()) return;

  // The SSE subscriber, connected through the restart, receives the new events.
  read_sse(appended.size(), 10s);
  EXPECT_EQ(sse_ids, appended) << "the live subscription missed events after the restart";
  EXPECT_FALSE(sse.closed());
  const double sse_back_s = Seconds(Clock::now() - back);
  // The leases are taken again: the webhook and the group are driven here and deliver the
  // new events (at least once: some from before may come again).
  ASSERT_TRUE(WaitFor([&] {
    const std::set<std::string> got = webhook_ids();
    return std::includes(got.begin(), got.end(), appended.begin(), appended.end());
  })) << "webhook: "
      << webhook_ids().size() << " of " << appended.size() << "; " << server.Stderr();
  const double webhook_back_s = Seconds(Clock::now() - back);
  ASSERT_TRUE(poll_group(appended.size())) << group_ids.size() << " of " << appended.size() << "; "
                                           << polled.status << " " << polled.body;
  EXPECT_EQ(group_ids, appended);
  EXPECT_EQ(GetJson(server, "/webhooks/orders")["drivenHere"], true);
  EXPECT_EQ(GetJson(server, "/subscriptions/g1")["drivenHere"], true);
  EXPECT_TRUE(WaitFor([&] { return Http("GET", server.Url("/health/ready")).status == 200; }, 3s));

  // One log line each for the outage and the recovery, however many requests failed; each
  // lease lost once and taken twice (at creation, after the restart).
  const std::string log = server.Stderr();
  EXPECT_EQ(Occurrences(log, "postgres: the database is unavailable"), 1u) << log;
  EXPECT_EQ(Occurrences(log, "postgres: the database is available again"), 1u) << log;
  // The server's last word to the idle listener and lease sessions is logged, not printed by
  // libpq to stderr on its own: every line is the logger's.
  // (FATAL at a fast shutdown, WARNING at an immediate one.)
  EXPECT_TRUE(log.find("the server said: FATAL:  terminating connection") != std::string::npos ||
              log.find("the server said: WARNING:  terminating connection") != std::string::npos)
      << log;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.rfind("[", 0), 0u) << "a line outside the log: " << line;
  }
  for (const std::string cursor : {"Webhook/orders", "Group/g1"}) {
    EXPECT_EQ(Occurrences(log, "lost the lease of " + cursor), 1u) << log;
    EXPECT_EQ(Occurrences(log, "took the lease of " + cursor), 2u) << log;
  }

  // The log over HTTP: every acknowledged event where its answer said, positions dense.
  uint64_t expected_position = 1;
  std::map<std::string, uint64_t> stored;
  std::string from = "start";
  for (;;) {
    HttpResponse page = Http("GET", server.Url("/all?limit=500&from=" + from));
    ASSERT_EQ(page.status, 200) << page.body;
    const Json body = page.json();
    for (const Json& e : body["events"]) {
      EXPECT_EQ(e["position"].get<uint64_t>(), expected_position++);
      stored[e["id"].get<std::string>()] = e["position"].get<uint64_t>();
    }
    if (body["endOfLog"] == true) break;
    from = std::to_string(body["nextPosition"].get<uint64_t>());
  }
  for (const auto& [id, position] : positions) EXPECT_EQ(stored[id], position) << id;

  std::printf(
      "%s restart under annals serve: 503 in %.3f s during the outage (%s); after the database "
      "was back: writes in %.3f s (%d attempt(s)), SSE had every event at %.3f s, webhook at "
      "%.3f s\n",
      immediate() ? "immediate" : "fast", refused_s, refused.body.c_str(), writes_back_s, attempts,
      sse_back_s, webhook_back_s);
  EXPECT_EQ(server.Terminate(SIGTERM), 0) << server.Stderr();
  std::filesystem::remove(key);
}

// An outage that no request meets is logged all the same: the store's listener, which
// reconnects within a second, finds the database gone and says so once, and says once when it
// is back. (Before, such an outage logged nothing at all.)
TEST_P(PostgresRestartTest, AnOutageNoRequestMeetsIsLoggedOnceByTheListener) {
  auto store = OpenOrFail({.conninfo = pg::testing::FreshSchemaConninfo(), .pool_size = 2});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Append(OneEvent("idle-1")).ok());
  CapturedLog log;
  const std::string lost = "postgres: the database is unavailable";
  const std::string back = "postgres: the database is available again";
  Stop();
  EXPECT_TRUE(WaitFor([&] { return log.Count(lost) > 0; }, 5s)) << log.Text();
  std::this_thread::sleep_for(2500ms);  // more failed reconnections: still one line
  EXPECT_EQ(log.Count(lost), 1u) << log.Text();
  EXPECT_EQ(log.Count(back), 0u) << log.Text();
  Start();
  EXPECT_TRUE(WaitFor([&] { return log.Count(back) > 0; }, 5s)) << log.Text();
  EXPECT_TRUE(store->Append(OneEvent("idle-2")).ok());
  EXPECT_EQ(log.Count(lost), 1u) << log.Text();
  EXPECT_EQ(log.Count(back), 1u) << log.Text();
}

INSTANTIATE_TEST_SUITE_P(Shutdown, PostgresRestartTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Immediate" : "Fast";
                         });

}  // namespace
}  // namespace annals
