// Delivery across two `annals serve` nodes on one PostgreSQL database: each cursor is driven by
// the node that holds its lease (docs/postgres.md, "Delivery leases"), a cursor created on one
// node is followed by the other, and when the driving node is SIGKILLed the other takes over
// from the stored checkpoint: every event is delivered at least once, none by both while both
// live. A node that does not drive a group tells its pull consumers which node does, and
// each node logs the leases it takes.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "../delivery/test_receiver.h"
#include "../http/test_support.h"
#include "annals/postgres_store.h"
#include "delivery/service.h"
#include "pg_test_server.h"

namespace annals {
namespace {

using delivery::testing::ReceivedRequest;
using delivery::testing::Reply;
using delivery::testing::TestReceiver;
using http::testing::Http;
using http::testing::ServerProcess;
using namespace std::chrono_literals;
using Json = nlohmann::json;

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// Two nodes on a fresh schema, sharing a secrets key as every node must.
class TwoNodes {
 public:
  TwoNodes()
      : uri_(pg::testing::FreshSchemaUri()),
        key_((std::filesystem::path(::testing::TempDir()) / "annals-pg-leases-test.key").string()) {
    std::filesystem::remove(key_);
    const std::vector<std::string> args = {"--store",      uri_, "--secrets-key-file", key_,
                                           "--io-threads", "1",  "--log-level",        "info"};
    // One at a time: the first creates the key file the second reads.
    a = std::make_unique<ServerProcess>(args);
    b = std::make_unique<ServerProcess>(args);
    auto opened = OpenPostgres({.conninfo = uri_});
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (opened.ok()) store = std::move(*opened);
  }
  ~TwoNodes() { std::filesystem::remove(key_); }

  // Appends one event with a known id to `stream`; returns the id.
  std::string Append(const std::string& stream) {
    AppendRequest request;
    request.stream = stream;
    const Uuid id = Uuid::Random();
    request.events.push_back(ProposedEvent{.id = id, .type = "Placed", .data = "{}"});
    EXPECT_TRUE(store->Append(request).ok());
    return id.ToString();
  }

  std::unique_ptr<ServerProcess> a;
  std::unique_ptr<ServerProcess> b;
  std::unique_ptr<EventStore> store;

 private:
  const std::string uri_;
  const std::string key_;
};

size_t Occurrences(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

Json GetJson(const ServerProcess& node, const std::string& path) {
  http::testing::HttpResponse r = Http("GET", node.Url(path));
  return r.status == 200 ? r.json() : Json();
}

TEST(PostgresDeliveryLeasesTest, OneNodeDrivesAWebhookAndTheOtherTakesOverWhenItIsKilled) {
  TestReceiver receiver;
  // Slow enough that the kill below lands with events still to deliver.
  receiver.SetBehaviour([](const ReceivedRequest&) {
    Reply reply;
    reply.delay = 80ms;
    return reply;
  });
  receiver.Start();
  TwoNodes nodes;
  ASSERT_NE(nodes.store, nullptr);
  // The events first, so that delivery (from the start) outlasts the kill below.
  constexpr int kStreams = 30;
  constexpr int kPerStream = 10;
  std::set<std::string> appended;
  for (int i = 0; i < kPerStream; ++i) {
    for (int s = 0; s < kStreams; ++s) appended.insert(nodes.Append("order-" + std::to_string(s)));
  }
  // Paused until the other node knows it, so that the kill below lands mid-delivery.
  const Json hook = {{"url", receiver.Url()},
                     {"filter", {{"category", "order"}}},
                     {"from", "start"},
                     {"paused", true}};
  auto put = Http("PUT", nodes.a->Url("/webhooks/orders"), hook.dump());
  ASSERT_EQ(put.status, 201) << put.body;
  // The other node follows the config stream: it knows the webhook, and does not drive it.
  ASSERT_TRUE(WaitFor([&] { return GetJson(*nodes.b, "/webhooks/orders").is_object(); }));
  EXPECT_EQ(GetJson(*nodes.a, "/webhooks/orders")["drivenHere"], true);
  EXPECT_EQ(GetJson(*nodes.b, "/webhooks/orders")["drivenHere"], false);
  ASSERT_EQ(Http("POST", nodes.a->Url("/webhooks/orders/resume")).status, 204);
  ASSERT_TRUE(WaitFor([&] { return receiver.AcceptedCount() >= 30; }));
  // While both live, one node delivers: the other sent nothing, and no event came twice.
  EXPECT_EQ(GetJson(*nodes.b, "/webhooks/orders")["requests"], 0);
  std::vector<ReceivedRequest> before = receiver.Accepted();
  std::set<std::string> ids_before;
  for (const ReceivedRequest& r : before) {
    EXPECT_TRUE(ids_before.insert(r.Header("ce-id")).second)
        << "delivered twice: " << r.Header("ce-id");
  }
  EXPECT_EQ(nodes.a->Terminate(SIGKILL), 128 + SIGKILL);
  const size_t at_kill = receiver.AcceptedCount();
  ASSERT_LT(at_kill, appended.size()) << "the kill came after the last delivery";

  // The survivor takes the lease over and resumes from the last checkpoint: nothing is lost.
  std::set<std::string> received;
  ASSERT_TRUE(WaitFor(
      [&] {
        received.clear();
        for (const ReceivedRequest& r : receiver.Accepted()) received.insert(r.Header("ce-id"));
        return std::includes(received.begin(), received.end(), appended.begin(), appended.end());
      },
      20s))
      << received.size() << " of " << appended.size()
      << " events delivered; node b: " << nodes.b->Stderr();
  EXPECT_TRUE(WaitFor([&] { return GetJson(*nodes.b, "/webhooks/orders")["drivenHere"] == true; }));
  std::printf("delivered %zu events in %zu requests (%zu before the kill)\n", appended.size(),
              receiver.AcceptedCount(), at_kill);
  EXPECT_EQ(nodes.b->Terminate(SIGTERM), 0) << nodes.b->Stderr();
}

TEST(PostgresDeliveryLeasesTest, PullConsumersAreSentToTheNodeThatDrivesTheGroup) {
  TwoNodes nodes;
  ASSERT_NE(nodes.store, nullptr);
  auto put = Http("PUT", nodes.a->Url("/subscriptions/g1"),
                  R"({"source":{"category":"order"},"from":"start"})");
  ASSERT_EQ(put.status, 201) << put.body;
  ASSERT_TRUE(WaitFor([&] { return GetJson(*nodes.b, "/subscriptions/g1").is_object(); }));
  EXPECT_EQ(GetJson(*nodes.b, "/subscriptions/g1")["drivenHere"], false);
  std::set<std::string> appended;
  for (int i = 0; i < 5; ++i) appended.insert(nodes.Append("order-1"));

  // The node that does not drive the group refuses its consumers, and names the node that
  // does (its sessions' application_name: with port 0, its address and process id).
  auto refused = Http("POST", nodes.b->Url("/subscriptions/g1/poll?max=10"));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.header("content-type"), "application/problem+json");
  const std::string driver =
      "driven by node annals 127.0.0.1 pid " + std::to_string(nodes.a->pid()) + ",";
  EXPECT_NE(refused.body.find(driver), std::string::npos) << refused.body;
  size_t handed_out = 0;
  ASSERT_TRUE(WaitFor([&] {
    auto polled = Http("POST", nodes.a->Url("/subscriptions/g1/poll?max=10&wait=1000"));
    EXPECT_EQ(polled.status, 200) << polled.body;
    handed_out += polled.status == 200 ? polled.json()["events"].size() : 0;
    return handed_out == 5;
  }));

  // Its node dies before the acks: the other node takes the group over and hands the events
  // out again (at least once).
  EXPECT_EQ(nodes.a->Terminate(SIGKILL), 128 + SIGKILL);
  http::testing::HttpResponse again;
  ASSERT_TRUE(WaitFor([&] {
    again = Http("POST", nodes.b->Url("/subscriptions/g1/poll?max=10&wait=1000"));
    return again.status == 200 && again.json()["events"].size() == 5;
  })) << again.status
      << " " << again.body;
  std::set<std::string> redelivered;
  std::vector<std::string> ids;
  const Json body = again.json();
  for (const Json& e : body["events"]) {
    redelivered.insert(e["id"].get<std::string>());
    ids.push_back(e["ackId"]);
  }
  EXPECT_EQ(redelivered, appended);
  EXPECT_EQ(Http("POST", nodes.b->Url("/subscriptions/g1/ack"), Json{{"ids", ids}}.dump()).status,
            204);
  // Each node logged the lease it took: A at the creation, B at the takeover.
  EXPECT_NE(nodes.a->Stderr().find("took the lease of Group/g1"), std::string::npos);
  const std::string log_b = nodes.b->Stderr();
  EXPECT_EQ(Occurrences(log_b, "took the lease of Group/g1"), 1u) << log_b;
}

// In process: a node whose lease session the server ends stops driving the group at its next
// check (what it handed out is forgotten, so its acks no longer count), and takes the group
// again once it has reconnected and the lease is free.
TEST(PostgresDeliveryLeasesTest, ANodeThatLosesItsLeaseSessionStopsAndTakesTheCursorAgain) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto open_node =
      [&](std::unique_ptr<EventStore>* store) -> std::unique_ptr<delivery::DeliveryService> {
    auto opened = OpenPostgres({.conninfo = conninfo});
    auto leases = OpenPostgresLeases({.conninfo = conninfo});
    EXPECT_TRUE(opened.ok() && leases.ok());
    if (!opened.ok() || !leases.ok()) return nullptr;
    *store = std::move(*opened);
    auto svc = delivery::DeliveryService::Open(store->get(), std::move(*leases));
    EXPECT_TRUE(svc.ok()) << svc.status().ToString();
    return svc.ok() ? std::move(*svc) : nullptr;
  };
  std::unique_ptr<EventStore> store_a, store_b;
  auto a = open_node(&store_a);
  auto b = open_node(&store_b);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  delivery::GroupDefinition def;
  def.name = "g";
  def.source.filter.category = "order";
  ASSERT_TRUE(a->Put(delivery::Kind::kGroup, def).ok());
  ASSERT_TRUE(WaitFor([&] { return b->Find(delivery::Kind::kGroup, "g").ok(); }));
  auto group_a = *a->Find(delivery::Kind::kGroup, "g");
  auto group_b = *b->Find(delivery::Kind::kGroup, "g");
  EXPECT_TRUE(group_a->Driven());
  EXPECT_EQ(group_b->CheckDriven().code(), StatusCode::kUnavailable);
  for (int i = 0; i < 3; ++i) {
    AppendRequest request{.stream = "order-1"};
    request.events.push_back(ProposedEvent{.type = "Placed", .data = "{}"});
    auto res = store_a->Append(request);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
  }
  std::vector<std::string> first;
  ASSERT_TRUE(WaitFor([&] {
    for (auto& d : delivery::PollBlocking(*group_a, "c", 10, 500ms)) first.push_back(d.ack_id);
    return first.size() == 3;
  }));

  // The server ends node A's lease session, and a third party takes the lock at once.
  ASSERT_EQ(pg::testing::TerminateLeaseHolder(conninfo, "Group/g"), 1);
  auto third = OpenPostgresLeases({.conninfo = conninfo});
  ASSERT_TRUE(third.ok());
  ASSERT_TRUE(WaitFor([&] { return (*third)->TryAcquire("Group/g"); }, 5s));
  // A notices within its check interval and stops: nobody drives the group now.
  ASSERT_TRUE(WaitFor([&] { return !group_a->Driven(); }, 3s));
  EXPECT_FALSE(group_b->Driven());
  EXPECT_EQ(group_a->CheckDriven().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(group_a->Ack(first).ok());  // ignored: A forgot what it handed out

  // Only A competes when the lock is free again: it reconnected, takes the group, reloads it
  // from the store and hands the unacknowledged events out again.
  b.reset();
  (*third)->Release("Group/g");
  ASSERT_TRUE(WaitFor([&] { return group_a->Driven(); }, 5s));
  std::vector<std::string> again;
  ASSERT_TRUE(WaitFor([&] {
    for (auto& d : delivery::PollBlocking(*group_a, "c", 10, 500ms)) again.push_back(d.ack_id);
    return again.size() >= 3;
  }));
  EXPECT_EQ(std::set<std::string>(again.begin(), again.end()),
            std::set<std::string>(first.begin(), first.end()));
}

}  // namespace
}  // namespace annals
