// The delivery REST API on the real `annals serve` (a child process on a free port): groups,
// long polls, ack/nack, parked messages, webhooks, restarts.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "../http/test_support.h"
#include "core/base64.h"
#include "delivery/webhook_format.h"
#include "test_receiver.h"

namespace annals::delivery {
namespace {

using annals::delivery::testing::Reply;
using annals::delivery::testing::TestReceiver;
using annals::http::testing::Http;
using annals::http::testing::HttpResponse;
using annals::http::testing::Json;
using annals::http::testing::ServerProcess;
using annals::http::testing::SseClient;
using annals::http::testing::SseEvent;
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

// Polls `group` until `n` events came (a poll answers with what is ready, which may be less
// than the group will read).
std::vector<Json> PollN(ServerProcess& s, const std::string& group, size_t n) {
  std::vector<Json> got;
  for (int i = 0; i < 50 && got.size() < n; ++i) {
    auto poll = Http("POST", s.Url("/subscriptions/" + group +
                                   "/poll?wait=2000&max=" + std::to_string(n - got.size())))
                    .json();
    for (const auto& e : poll["events"]) got.push_back(e);
  }
  return got;
}

std::vector<std::string> AckIds(const std::vector<Json>& events) {
  std::vector<std::string> ids;
  for (const auto& e : events) ids.push_back(e["ackId"]);
  return ids;
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
  auto events = PollN(s, "g1", 3);
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
  auto poll = Http("POST", s.Url("/subscriptions/g1/poll?wait=2000"));
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

// Bodies the audit found accepted: a negative or huge retryAfterMs (the event then waited a
// day), a reason or action of another type (the connection ended without an answer), members
// the route does not know, a `paused` that is not a boolean (the group delivered at once).
TEST(DeliveryRest, MalformedAckNackResetAndGroupBodiesAreRefused) {
  // On the engine, whose positions are record offsets: a position inside a record exists.
  const auto dir = std::filesystem::temp_directory_path() /
                   ("annals-delivery-strict-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServerProcess s(
      {"--store", "engine", "--data-dir", dir.string(), "--durability", "unsafe-no-sync"});
  ASSERT_EQ(
      Http("PUT", s.Url("/subscriptions/strict"), R"({"source":{"stream":"visit-8"}})").status,
      201);
  Append(s, "visit-8", 1);
  const auto got = PollN(s, "strict", 1);
  ASSERT_EQ(got.size(), 1u);
  const std::string id = AckIds(got)[0];
  for (const std::string& body :
       {R"({"ids":[")" + id + R"("],"retryAfterMs":-1})",
        R"({"ids":[")" + id + R"("],"retryAfterMs":86400001})",
        R"({"ids":[")" + id + R"("],"retryAfterMs":1.5})",
        R"({"ids":[")" + id + R"("],"reason":7})", R"({"ids":[")" + id + R"("],"action":1})",
        R"({"ids":[")" + id + R"("],"bogus":1})"}) {
    const auto r = Http("POST", s.Url("/subscriptions/strict/nack"), body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
    EXPECT_NE(r.body.find("problem"), std::string::npos) << r.body;
  }
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/strict/ack"), R"({"ids":[],"x":1})").status, 400);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/strict/poll?consumer=a%0Ab")).status, 400);
  EXPECT_EQ(
      Http("POST", s.Url("/subscriptions/strict/poll?consumer=" + std::string(201, 'c'))).status,
      400);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/strict/reset"), R"({"from":"end","x":1})").status,
            400);
  // The event is still the group's to deliver: nothing above was applied.
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/strict/ack"), R"({"ids":[")" + id + R"("]})").status,
            204);
  for (const char* paused : {R"("true")", "1", "null"}) {
    const auto r = Http("PUT", s.Url("/subscriptions/p"),
                        std::string(R"({"source":{"stream":"visit-8"},"paused":)") + paused + "}");
    EXPECT_EQ(r.status, 400) << paused << " -> " << r.body;
  }
  EXPECT_EQ(Http("GET", s.Url("/subscriptions/p")).status, 404);
  // A group's state streams are `<stream>::<group>`: a ':' in the name could share them.
  EXPECT_EQ(Http("PUT", s.Url("/subscriptions/b::c"), R"({"source":{"stream":"a"}})").status, 400);
  EXPECT_EQ(Http("PUT", s.Url("/subscriptions/c:"), R"({"source":{}})").status, 400);
  // Positions the log has not reached: the cursor would go back to the head.
  const auto head = Http("GET", s.Url("/info")).json()["head"].get<uint64_t>();
  EXPECT_EQ(Http("PUT", s.Url("/subscriptions/later"),
                 R"({"source":{},"from":)" + std::to_string(head + 100000) + "}")
                .status,
            400);
  ASSERT_EQ(Http("PUT", s.Url("/subscriptions/everything"), R"({"source":{}})").status, 201);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/everything/reset"),
                 R"({"from":)" + std::to_string(head + 100000) + "}")
                .status,
            400);
  // Not the start of an event: a reset used to pass it silently (and skip that event).
  const uint64_t first = got[0]["position"].get<uint64_t>();
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/everything/reset"),
                 R"({"from":)" + std::to_string(first + 1) + "}")
                .status,
            400);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/everything/reset"),
                 R"({"from":)" + std::to_string(first) + "}")
                .status,
            204);
  std::filesystem::remove_all(dir);
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
  // The receiver counts a batch when it answers; the webhook, when the answer reaches it.
  Json st;
  ASSERT_TRUE(WaitFor([&] {
    st = Http("GET", s.Url("/webhooks/w1")).json();
    return st["deliveredEvents"] == 3;
  })) << st.dump();
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
    const std::vector<std::string> ids = AckIds(PollN(s, "keep", 2));
    ASSERT_EQ(ids.size(), 2u);
    Http("POST", s.Url("/subscriptions/keep/ack"), Json{{"ids", ids}}.dump());
    EXPECT_EQ(s.Terminate(SIGTERM), 0);
  }
  ServerProcess s(args);
  auto poll = Http("POST", s.Url("/subscriptions/keep/poll?wait=2000")).json();
  ASSERT_EQ(poll["events"].size(), 1u);
  EXPECT_EQ(poll["events"][0]["revision"], 2);
  std::filesystem::remove_all(dir);
}

TEST(DeliveryRest, WebhookStatusShowsFailuresAndParkedMessagesReplayInOrder) {
  TestReceiver receiver;
  std::atomic<bool> reject{true};
  receiver.SetBehaviour([&](const testing::ReceivedRequest& r) {
    Reply reply;
    if (reject && r.Header("annals-stream") == "visit-bad") reply.status = 503;
    return reply;
  });
  receiver.Start();
  ServerProcess s;
  const Json hook = {{"url", receiver.Url()},
                     {"filter", {{"category", "visit"}}},
                     {"maxAttempts", 3},
                     {"backoff", {{"minMs", 150}, {"maxMs", 300}}}};
  ASSERT_EQ(Http("PUT", s.Url("/webhooks/w"), hook.dump()).status, 201);
  Append(s, "visit-bad", 2);
  Append(s, "visit-ok", 1);
  auto status = [&] { return Http("GET", s.Url("/webhooks/w")).json(); };
  // Retrying: the attempts of the failing event, the last status and error are shown.
  ASSERT_TRUE(WaitFor([&] { return status()["attempts"] >= 2; })) << status().dump();
  auto st = status();  // lastStatus is of the last response, maybe visit-ok's 200
  EXPECT_EQ(st["lastError"], "HTTP 503") << st.dump();
  EXPECT_GE(st["lagEvents"], 2);
  // After maxAttempts: parked, with the stream's later event parked behind it; the other stream
  // flowed meanwhile.
  ASSERT_TRUE(WaitFor([&] { return status()["parked"] == 2; })) << status().dump();
  st = status();
  EXPECT_GE(st["failedRequests"], 3);
  EXPECT_EQ(st["attempts"], 0);
  EXPECT_EQ(st["inFlight"], 0);
  auto accepted_of = [&](const std::string& stream) {
    std::vector<std::string> revisions;
    for (const auto& r : receiver.Accepted()) {
      if (r.Header("annals-stream") == stream) revisions.push_back(r.Header("annals-revision"));
    }
    return revisions;
  };
  EXPECT_EQ(accepted_of("visit-ok").size(), 1u);
  auto parked = Http("GET", s.Url("/webhooks/w/parked")).json()["parked"];
  ASSERT_EQ(parked.size(), 2u);
  EXPECT_EQ(parked[0]["stream"], "visit-bad");
  EXPECT_EQ(parked[0]["revision"], 0);
  EXPECT_EQ(parked[0]["attempts"], 3);
  EXPECT_NE(parked[0]["reason"].get<std::string>().find("503"), std::string::npos);
  EXPECT_EQ(parked[1]["revision"], 1);
  // The receiver recovers; a replay delivers the held stream in order.
  reject = false;
  auto replay = Http("POST", s.Url("/webhooks/w/parked/replay"));
  ASSERT_EQ(replay.status, 200) << replay.body;
  EXPECT_EQ(replay.json()["replaying"], 2);
  ASSERT_TRUE(WaitFor([&] { return accepted_of("visit-bad").size() == 2; }));
  EXPECT_EQ(accepted_of("visit-bad"), (std::vector<std::string>{"0", "1"}));
  ASSERT_TRUE(WaitFor([&] { return status()["parked"] == 0; })) << status().dump();
}

TEST(DeliveryRest, WebhooksAndGroupsResetToAPositionOrATime) {
  TestReceiver receiver;
  receiver.Start();
  ServerProcess s;
  Append(s, "visit-1", 2);
  std::this_thread::sleep_for(50ms);
  Append(s, "visit-1", 2);
  auto events = Http("GET", s.Url("/streams/visit-1")).json()["events"];
  ASSERT_EQ(events.size(), 4u);
  const std::string time2 = events[2]["created"];
  const uint64_t position1 = events[1]["position"];
  auto revisions = [&] {
    std::vector<std::string> out;
    for (const auto& r : receiver.Accepted()) out.push_back(r.Header("annals-revision"));
    return out;
  };
  using Revs = std::vector<std::string>;
  ASSERT_EQ(Http("PUT", s.Url("/webhooks/w"),
                 Json{{"url", receiver.Url()}, {"filter", {{"category", "visit"}}}}.dump())
                .status,
            201);
  ASSERT_TRUE(WaitFor([&] { return receiver.AcceptedCount() == 4; }));
  // To a time: the first event created at or after it.
  EXPECT_EQ(
      Http("POST", s.Url("/webhooks/w/reset"), Json{{"from", {{"time", time2}}}}.dump()).status,
      204);
  ASSERT_TRUE(WaitFor([&] { return receiver.AcceptedCount() == 6; }));
  // To a position (inclusive).
  EXPECT_EQ(Http("POST", s.Url("/webhooks/w/reset"), Json{{"from", position1}}.dump()).status, 204);
  ASSERT_TRUE(WaitFor([&] { return receiver.AcceptedCount() == 9; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(revisions(), (Revs{"0", "1", "2", "3", "2", "3", "1", "2", "3"}));
  EXPECT_EQ(Http("GET", s.Url("/webhooks/w")).json()["lagEvents"], 0);
  EXPECT_EQ(Http("POST", s.Url("/webhooks/w/reset"), R"({"from":"later"})").status, 400);

  // A group: consume everything, then replay from a time; the lag shows it in events and
  // seconds until it is consumed again.
  ASSERT_EQ(Http("PUT", s.Url("/subscriptions/g"), R"({"source":{"category":"visit"}})").status,
            201);
  auto poll = PollN(s, "g", 4);
  ASSERT_EQ(poll.size(), 4u);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/g/ack"), Json{{"ids", AckIds(poll)}}.dump()).status,
            204);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/g/reset"), Json{{"from", {{"time", time2}}}}.dump())
                .status,
            204);
  ASSERT_TRUE(WaitFor([&] {
    auto g = Http("GET", s.Url("/subscriptions/g")).json();
    return g["lagEvents"] == 2 && g["lagSeconds"] > 0;
  })) << Http("GET", s.Url("/subscriptions")).body;
  auto listed = Http("GET", s.Url("/subscriptions")).json()["subscriptions"][0];
  EXPECT_EQ(listed["lagEvents"], 2);
  EXPECT_GT(listed["lagSeconds"], 0);
  poll = PollN(s, "g", 2);
  ASSERT_EQ(poll.size(), 2u);
  EXPECT_EQ(poll[0]["revision"], 2);
  EXPECT_EQ(poll[1]["revision"], 3);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/g/ack"),
                 Json{{"ids", {poll[0]["ackId"], poll[1]["ackId"]}}}.dump())
                .status,
            204);
  ASSERT_TRUE(WaitFor([&] {
    auto g = Http("GET", s.Url("/subscriptions/g")).json();
    // Resolved: the durable checkpoint passed the last event.
    return g["lagEvents"] == 0 && g["lagSeconds"] == 0 && g["checkpoint"] > events[3]["position"];
  })) << Http("GET", s.Url("/subscriptions/g")).body;
}

TEST(DeliveryRest, WebhookSecretsAreSealedInTheStoreAndNeverShown) {
  const std::string secret = "whsec_" + Base64Encode("a-secret-nobody-may-read-32bytes");
  TestReceiver receiver;
  receiver.Start();
  const auto dir = std::filesystem::temp_directory_path() /
                   ("annals-delivery-secret-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const std::vector<std::string> args = {"--store",    "engine",       "--data-dir",
                                         dir.string(), "--durability", "unsafe-no-sync"};
  auto verified = [&](const testing::ReceivedRequest& r) {
    return r.Header("webhook-signature") ==
           StandardWebhookSignature(secret, r.Header("webhook-id"),
                                    std::stoll(r.Header("webhook-timestamp")), r.body);
  };
  {
    ServerProcess s(args);
    auto put =
        Http("PUT", s.Url("/webhooks/w"),
             Json{{"url", receiver.Url()}, {"filter", {{"category", "visit"}}}, {"secret", secret}}
                 .dump());
    ASSERT_EQ(put.status, 201) << put.body;
    Append(s, "visit-1", 1);
    ASSERT_TRUE(WaitFor([&] { return receiver.AcceptedCount() == 1; }));
    EXPECT_TRUE(verified(receiver.Accepted()[0]));
    // Nowhere to be read: not in the config stream, not in $all, not in the webhook's view.
    const std::string key_part = secret.substr(6, 20);
    auto config = Http("GET", s.Url("/streams/%24annals-delivery-config"));
    ASSERT_EQ(config.status, 200);
    EXPECT_EQ(config.body.find(key_part), std::string::npos) << config.body;
    EXPECT_NE(config.body.find("sealedSecret"), std::string::npos);
    auto all = Http("GET", s.Url("/all?limit=1000"));
    EXPECT_EQ(all.body.find(key_part), std::string::npos);
    for (const auto& view :
         {Http("GET", s.Url("/webhooks/w")), Http("GET", s.Url("/webhooks")), put}) {
      EXPECT_EQ(view.body.find(key_part), std::string::npos) << view.body;
      EXPECT_EQ(view.body.find("ealedSecret"), std::string::npos) << view.body;
    }
    EXPECT_EQ(Http("GET", s.Url("/webhooks/w")).json()["secretSet"], true);
    // The key file: in the data directory, private.
    const auto key = dir / "delivery-secrets.key";
    ASSERT_TRUE(std::filesystem::exists(key));
    EXPECT_EQ(std::filesystem::status(key).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    EXPECT_EQ(s.Terminate(SIGTERM), 0);
  }
  {
    ServerProcess s(args);  // the sealed secret opens after a restart
    Append(s, "visit-1", 1);
    ASSERT_TRUE(WaitFor([&] { return receiver.AcceptedCount() >= 2; }));
    for (const auto& r : receiver.Accepted()) EXPECT_TRUE(verified(r));
  }
  std::filesystem::remove_all(dir);
}

TEST(DeliveryRest, MetricsShowEngineHistogramsAndDeliveryLag) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("annals-delivery-metrics-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto s_owner = std::make_unique<ServerProcess>(
      std::vector<std::string>{"--store", "engine", "--data-dir", dir.string()});  // fsync
  ServerProcess& s = *s_owner;
  ASSERT_EQ(
      Http("PUT", s.Url("/subscriptions/lagging"), R"({"source":{"category":"visit"}})").status,
      201);
  Append(s, "visit-1", 3);
  std::string text;
  ASSERT_TRUE(WaitFor([&] {
    text = Http("GET", s.Url("/metrics")).body;
    return text.find(R"(annals_delivery_lag_events{kind="subscription",name="lagging"} 3)") !=
           std::string::npos;
  })) << text;
  for (const char* line : {"# TYPE annals_engine_fsync_duration_seconds histogram",
                           "annals_engine_fsync_duration_seconds_bucket{le=\"+Inf\"}",
                           "annals_engine_fsync_duration_seconds_sum",
                           "# TYPE annals_engine_group_commit_requests histogram",
                           "annals_engine_group_commit_requests_bucket{le=\"1\"}",
                           "annals_engine_group_commit_requests_count",
                           R"(annals_delivery_lag_seconds{kind="subscription",name="lagging"})",
                           R"(annals_delivery_in_flight{kind="subscription",name="lagging"} 0)",
                           R"(annals_delivery_parked{kind="subscription",name="lagging"} 0)"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  // The 3 events' ids (and the configuration's) are in memory until the index flushes.
  const std::string ids_gauge = "\nannals_engine_unflushed_event_ids ";  // not its HELP line
  const size_t ids_at = text.find(ids_gauge);
  ASSERT_NE(ids_at, std::string::npos);
  EXPECT_GE(std::stoull(text.substr(ids_at + ids_gauge.size())), 3u);
  // At least one sync per acknowledged append (4 config and event appends so far).
  const std::string count = "annals_engine_fsync_duration_seconds_count ";
  const size_t at = text.find(count);
  ASSERT_NE(at, std::string::npos);
  EXPECT_GE(std::stoull(text.substr(at + count.size())), 4u);
  // Consumed and acked: the lag drops to 0.
  const std::vector<std::string> ids = AckIds(PollN(s, "lagging", 3));
  ASSERT_EQ(ids.size(), 3u);
  Http("POST", s.Url("/subscriptions/lagging/ack"), Json{{"ids", ids}}.dump());
  ASSERT_TRUE(WaitFor([&] {
    text = Http("GET", s.Url("/metrics")).body;
    return text.find(R"(annals_delivery_lag_events{kind="subscription",name="lagging"} 0)") !=
           std::string::npos;
  })) << text;
  s_owner.reset();  // the server goes before its data directory
  std::filesystem::remove_all(dir);
}

// The next event frame of a group's SSE stream, parsed; checks that `id:` is the ack id.
std::optional<Json> NextDelivery(SseClient& c, std::chrono::milliseconds timeout = 5s) {
  auto ev = c.Next(timeout);
  if (!ev) return std::nullopt;
  EXPECT_EQ(ev->event, "") << ev->data;
  Json j = Json::parse(ev->data);
  EXPECT_EQ(j["ackId"], ev->id);
  return j;
}

void Ack(ServerProcess& s, const std::string& group, const std::string& id) {
  EXPECT_EQ(
      Http("POST", s.Url("/subscriptions/" + group + "/ack"), Json{{"ids", {id}}}.dump()).status,
      204);
}

TEST(DeliveryRestSse, CompetingSseConsumersShareTheGroupAndAck) {
  ServerProcess s;
  ASSERT_EQ(Http("PUT", s.Url("/subscriptions/g"),
                 R"({"source":{"category":"visit"},"settings":{"maxInFlight":2}})")
                .status,
            201);
  for (int i = 0; i < 5; ++i) Append(s, "visit-" + std::to_string(i), 2);
  SseClient a(s.address(), "/subscriptions/g/events?max=1&consumer=a");
  SseClient b(s.address(), "/subscriptions/g/events?max=1&consumer=b");
  ASSERT_EQ(a.status(), 200) << a.head();
  ASSERT_EQ(b.status(), 200) << b.head();
  EXPECT_NE(a.head().find("text/event-stream"), std::string::npos);
  std::set<std::string> seen;
  std::map<std::string, int> per_consumer;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (seen.size() < 10 && std::chrono::steady_clock::now() < deadline) {
    for (auto [name, client] : {std::pair{"a", &a}, std::pair{"b", &b}}) {
      auto d = NextDelivery(*client, 100ms);
      if (!d) continue;
      EXPECT_EQ((*d)["deliveryCount"], 1);
      EXPECT_EQ((*d)["type"], "Happened");
      EXPECT_TRUE(seen.insert((*d)["ackId"].get<std::string>()).second) << "delivered twice";
      ++per_consumer[name];
      Ack(s, "g", (*d)["ackId"]);
    }
  }
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_GT(per_consumer["a"], 0);
  EXPECT_GT(per_consumer["b"], 0);
  ASSERT_TRUE(WaitFor([&] {
    auto g = Http("GET", s.Url("/subscriptions/g")).json();
    return g["acked"] == 10 && g["inFlight"] == 0 && g["lagEvents"] == 0;
  }));
  // Each connection is a consumer of the group.
  auto consumers = Http("GET", s.Url("/subscriptions/g")).json()["consumers"];
  ASSERT_EQ(consumers.size(), 2u);
  EXPECT_EQ(consumers[0]["name"], "a");
  EXPECT_EQ(consumers[1]["name"], "b");
}

TEST(DeliveryRestSse, AnUnackedEventIsRedeliveredAfterTheAckTimeout) {
  ServerProcess s({"--sse-heartbeat-ms", "200"});
  ASSERT_EQ(Http("PUT", s.Url("/subscriptions/t"),
                 R"({"source":{"stream":"visit-1"},"settings":{"ackTimeoutMs":300}})")
                .status,
            201);
  SseClient c(s.address(), "/subscriptions/t/events");
  ASSERT_EQ(c.status(), 200);
  Append(s, "visit-1", 1);
  auto first = NextDelivery(c);
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)["deliveryCount"], 1);
  EXPECT_EQ((*first)["revision"], 0);
  auto again = NextDelivery(c);  // not acked: handed out again after 300 ms
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)["ackId"], (*first)["ackId"]);
  EXPECT_EQ((*again)["deliveryCount"], 2);
  Ack(s, "t", (*again)["ackId"]);
  EXPECT_FALSE(NextDelivery(c, 1s)) << "acked, yet delivered again";
  EXPECT_GT(c.heartbeats(), 0);  // idle: heartbeat comments
}

TEST(DeliveryRestSse, MaxSubscribersRefusesAFeedBeyondItUntilOneCloses) {
  ServerProcess s({"--sse-heartbeat-ms", "100"});
  ASSERT_EQ(Http("PUT", s.Url("/subscriptions/m"),
                 R"({"source":{"category":"visit"},"settings":{"maxSubscribers":1}})")
                .status,
            201);
  EXPECT_EQ(Http("GET", s.Url("/subscriptions/m")).json()["settings"]["maxSubscribers"], 1);
  Append(s, "visit-1", 1);
  {
    SseClient first(s.address(), "/subscriptions/m/events");
    ASSERT_EQ(first.status(), 200) << first.head();
    ASSERT_TRUE(NextDelivery(first));
    SseClient over(s.address(), "/subscriptions/m/events");
    EXPECT_EQ(over.status(), 503) << over.head();
    EXPECT_NE(over.head().find("application/problem+json"), std::string::npos) << over.head();
    // Polling consumers hold no connection: not counted.
    EXPECT_EQ(Http("POST", s.Url("/subscriptions/m/poll?max=1&wait=0")).status, 200);
  }
  // The slot frees once the server sees the connection close (at its next heartbeat).
  ASSERT_TRUE(WaitFor([&] {
    SseClient next(s.address(), "/subscriptions/m/events");
    return next.status() == 200;
  }));
}

TEST(DeliveryRestSse, ADisconnectedConsumersEventsGoToTheNextConsumerAtOnce) {
  ServerProcess s({"--sse-heartbeat-ms", "100"});
  // A long ack timeout: only the disconnect can bring the event back this soon.
  ASSERT_EQ(Http("PUT", s.Url("/subscriptions/d"),
                 R"({"source":{"category":"visit"},"settings":{"ackTimeoutMs":60000}})")
                .status,
            201);
  Append(s, "visit-1", 2);
  std::string held;
  {
    SseClient c(s.address(), "/subscriptions/d/events?max=1");
    auto first = NextDelivery(c);
    ASSERT_TRUE(first);
    Ack(s, "d", (*first)["ackId"]);
    auto second = NextDelivery(c);
    ASSERT_TRUE(second);
    held = (*second)["ackId"];
    EXPECT_EQ((*second)["revision"], 1);
  }  // closed without acking the second event
  const auto t0 = std::chrono::steady_clock::now();
  SseClient again(s.address(), "/subscriptions/d/events");
  auto d = NextDelivery(again, 10s);
  ASSERT_TRUE(d);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ((*d)["ackId"], held);
  EXPECT_EQ((*d)["deliveryCount"], 2);
  Ack(s, "d", held);
  // Errors: no such group, wrong method, bad query; deleting the group ends the stream.
  EXPECT_EQ(Http("GET", s.Url("/subscriptions/none/events")).status, 404);
  EXPECT_EQ(Http("POST", s.Url("/subscriptions/d/events")).status, 405);
  EXPECT_EQ(Http("GET", s.Url("/subscriptions/d/events?max=0")).status, 400);
  EXPECT_EQ(Http("DELETE", s.Url("/subscriptions/d")).status, 204);
  std::optional<SseEvent> end;
  while (auto ev = again.Next(2s)) end = ev;
  ASSERT_TRUE(end);
  EXPECT_EQ(end->event, "error");
  EXPECT_TRUE(again.closed());
}

}  // namespace
}  // namespace annals::delivery
