// The delivery REST API on the real `annals serve` (a child process on a free port): groups,
// long polls, ack/nack, parked messages, webhooks, restarts.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "../http/test_support.h"
#include "test_receiver.h"

namespace annals::delivery {
namespace {

using annals::delivery::testing::Reply;
using annals::delivery::testing::TestReceiver;
using annals::http::testing::Http;
using annals::http::testing::HttpResponse;
using annals::http::testing::Json;
using annals::http::testing::ServerProcess;
using namespace std::chrono_literals;

void Append(ServerProcess& s, const std::string& stream, int n) {
  for (int i = 0; i < n; ++i) {
    auto r = Http("POST", s.Url("/streams/" + stream),
                  R"({"events":[{"type":"Happened","data":{"i":)" + std::to_string(i) + "}}]}");
    ASSERT_EQ(r.status, 201) << r.body;
  }
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

TEST(DeliveryRest, GroupLifecyclePollAckNackParkedReplay) {
  ServerProcess s;
  auto put = Http("PUT", s.Url("/subscriptions/g1"),
                  R"({"source":{"category":"visit"},"from":"start",
                      "settings":{"maxRetries":2,"retryBackoffMinMs":1,"retryBackoffMaxMs":5}})");
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(put.json()["name"], "g1");
  EXPECT_EQ(Http("PUT", s.Url("/subscriptions/g1"), R"({"source":{"category":"visit"}})").status,
            200);
  Append(s, "visit-1", 3);
  Append(s, "other-1", 1);
  auto poll = Http("POST", s.Url("/subscriptions/g1/poll?max=10&wait=2000"));
  ASSERT_EQ(poll.status, 200) << poll.body;
  auto events = poll.json()["events"];
  ASSERT_EQ(events.size(), 3u);
  std::vector<std::string> ids;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i]["stream"], "visit-1");
    EXPECT_EQ(events[i]["revision"], i);
    EXPECT_EQ(events[i]["deliveryCount"], 1);
    EXPECT_EQ(events[i]["ackId"], events[i]["id"]);
    EXPECT_EQ(events[i]["data"]["i"], i);
    ids.push_back(events[i]["ackId"]);
  }
  // Ack two, park the third.
  auto ack = Http("POST", s.Url("/subscriptions/g1/ack"), Json{{"ids", {ids[0], ids[1]}}}.dump());
  EXPECT_EQ(ack.status, 204) << ack.body;
  auto nack = Http("POST", s.Url("/subscriptions/g1/nack"),
                   Json{{"ids", {ids[2]}}, {"action", "park"}, {"reason", "poison"}}.dump());
  EXPECT_EQ(nack.status, 204) << nack.body;
  ASSERT_TRUE(WaitFor(
      [&] { return Http("GET", s.Url("/subscriptions/g1/parked")).json()["parked"].size() == 1; }));
  auto parked = Http("GET", s.Url("/subscriptions/g1/parked")).json()["parked"][0];
  EXPECT_EQ(parked["reason"], "poison");
  EXPECT_EQ(parked["revision"], 2);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/g1/poll?wait=100")).json()["events"].size(), 0u);
  auto replay = Http("POST", s.Url("/subscriptions/g1/parked/replay"));
  ASSERT_EQ(replay.status, 200) << replay.body;
  EXPECT_EQ(replay.json()["replaying"], 1);
  poll = Http("POST", s.Url("/subscriptions/g1/poll?wait=2000"));
  ASSERT_EQ(poll.json()["events"].size(), 1u);
  EXPECT_EQ(poll.json()["events"][0]["replayed"], true);
  Http("POST", s.Url("/subscriptions/g1/ack"),
       Json{{"ids", {poll.json()["events"][0]["ackId"]}}}.dump());
  // Listing shows lag, in flight, parked and consumers.
  ASSERT_TRUE(WaitFor([&] {
    auto g = Http("GET", s.Url("/subscriptions/g1")).json();
    return g["parked"] == 0 && g["replaying"] == false;
  }));
  auto list = Http("GET", s.Url("/subscriptions"));
  ASSERT_EQ(list.status, 200);
  auto g = list.json()["subscriptions"][0];
  EXPECT_EQ(g["name"], "g1");
  EXPECT_EQ(g["lagEvents"], 0);
  EXPECT_EQ(g["inFlight"], 0);
  EXPECT_EQ(g["consumers"][0]["name"], "default");
  EXPECT_EQ(Http("DELETE", s.Url("/subscriptions/g1")).status, 204);
  auto gone = Http("GET", s.Url("/subscriptions/g1"));
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.header("content-type"), "application/problem+json");
}

TEST(DeliveryRest, LongPollWakesOnCommitAndErrorsAreProblems) {
  ServerProcess s;
  ASSERT_EQ(Http("PUT", s.Url("/subscriptions/live"), R"({"source":{"stream":"visit-7"}})").status,
            201);
  HttpResponse poll;
  std::thread t([&] { poll = Http("POST", s.Url("/subscriptions/live/poll?wait=10000")); });
  std::this_thread::sleep_for(100ms);
  const auto t0 = std::chrono::steady_clock::now();
  Append(s, "visit-7", 1);
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  ASSERT_EQ(poll.json()["events"].size(), 1u);
  EXPECT_EQ(Http("PUT", s.Url("/subscriptions/bad"), R"({"source":{"bogus":1}})").status, 400);
  EXPECT_EQ(Http("PUT", s.Url("/subscriptions/bad"), R"({"source":{},"from":"later"})").status,
            400);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/none/poll")).status, 404);
  EXPECT_EQ(Http("GET", s.Url("/subscriptions/live/poll")).status, 405);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/live/poll?max=0")).status, 400);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/live/poll?bogus=1")).status, 400);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/live/ack"), R"({"ids":["x"]})").status, 400);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/live/nack"), R"({"ids":[],"action":"x"})").status,
            400);
}

TEST(DeliveryRest, WebhookOverHttpWithPauseResumeAndStatus) {
  TestReceiver receiver;
  receiver.Start();
  ServerProcess s;
  const Json hook = {{"url", receiver.Url()},
                     {"filter", {{"category", "visit"}, {"types", {"Happened"}}}},
                     {"secret", "s3cret"},
                     {"maxAttempts", 5},
                     {"backoff", {{"minMs", 10}, {"maxMs", 100}}}};
  auto put = Http("PUT", s.Url("/webhooks/w1"), hook.dump());
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(put.json().count("secret"), 0u);
  EXPECT_EQ(put.json()["secretSet"], true);
  Append(s, "visit-1", 2);
  ASSERT_TRUE(WaitFor([&] { return receiver.AcceptedCount() == 2; }));
  EXPECT_EQ(Http("POST", s.Url("/webhooks/w1/pause")).status, 204);
  Append(s, "visit-1", 1);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(receiver.AcceptedCount(), 2u);
  EXPECT_EQ(Http("POST", s.Url("/webhooks/w1/resume")).status, 204);
  ASSERT_TRUE(WaitFor([&] { return receiver.AcceptedCount() == 3; }));
  auto st = Http("GET", s.Url("/webhooks/w1")).json();
  EXPECT_EQ(st["deliveredEvents"], 3);
  EXPECT_EQ(st["lastStatus"], 200);
  EXPECT_EQ(st["parked"], 0);
  EXPECT_EQ(Http("GET", s.Url("/webhooks")).json()["webhooks"].size(), 1u);
  EXPECT_EQ(Http("GET", s.Url("/webhooks/w1/parked")).json()["parked"].size(), 0u);
  // Replay from the start.
  EXPECT_EQ(Http("POST", s.Url("/webhooks/w1/reset"), R"({"from":"start"})").status, 204);
  ASSERT_TRUE(WaitFor([&] { return receiver.AcceptedCount() == 6; }));
  EXPECT_EQ(Http("DELETE", s.Url("/webhooks/w1")).status, 204);
  EXPECT_EQ(Http("GET", s.Url("/webhooks/w1")).status, 404);
  EXPECT_EQ(Http("PUT", s.Url("/webhooks/w2"), R"({"url":"ftp://x"})").status, 400);
}

TEST(DeliveryRest, GroupSurvivesARestartOfTheServer) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("annals-delivery-rest-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const std::vector<std::string> args = {"--store",    "engine",       "--data-dir",
                                         dir.string(), "--durability", "unsafe-no-sync"};
  {
    ServerProcess s(args);
    ASSERT_EQ(
        Http("PUT", s.Url("/subscriptions/keep"), R"({"source":{"category":"visit"}})").status,
        201);
    Append(s, "visit-1", 3);
    auto poll = Http("POST", s.Url("/subscriptions/keep/poll?max=2&wait=2000")).json();
    ASSERT_EQ(poll["events"].size(), 2u);
    Http("POST", s.Url("/subscriptions/keep/ack"),
         Json{{"ids", {poll["events"][0]["ackId"], poll["events"][1]["ackId"]}}}.dump());
    EXPECT_EQ(s.Terminate(SIGTERM), 0);
  }
  ServerProcess s(args);
  auto poll = Http("POST", s.Url("/subscriptions/keep/poll?wait=2000")).json();
  ASSERT_EQ(poll["events"].size(), 1u);
  EXPECT_EQ(poll["events"][0]["revision"], 2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace annals::delivery
