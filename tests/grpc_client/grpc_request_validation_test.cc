// Requests the official clients never send, against a real `annals serve`, with gRPC's own C++
// client: each gets a precise answer at once (no hang, no answer the client cannot match), and
// nothing is written. Among them, `Streams.Append` calls that end without the client's
// half-close (cancelled: with this client a bare RST_STREAM; or past their deadline): the server
// reads a client stream to its end before it appends, and a stream that ended because the call
// was aborted is not a complete request.
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "../http/test_support.h"
#include "annals/grpc_store.h"
#include "annals/types.h"
#include "persistent.grpc.pb.h"
#include "shared.pb.h"
#include "streams.grpc.pb.h"

namespace annals {
namespace {

namespace spb = ::event_store::client::streams;
namespace ppb = ::event_store::client::persistent_subscriptions;
using http::testing::ServerProcess;

class GrpcRequestValidationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess({"--store", "memory"}); }
  static void TearDownTestSuite() { delete server_; }

  void SetUp() override {
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    auto store =
        ConnectGrpc({.connection_string = "kurrentdb://" + server_->address() + "?tls=false"});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  static spb::BatchAppendReq Batch(const std::string& correlation) {
    spb::BatchAppendReq req;
    req.mutable_correlation_id()->set_string(correlation);
    return req;
  }
  static void AddOptions(spb::BatchAppendReq* req, const std::string& stream) {
    req->mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
    req->mutable_options()->mutable_any();
  }
  static void AddEvent(spb::BatchAppendReq* req) {
    auto* e = req->add_proposed_messages();
    e->mutable_id()->set_string(Uuid::Random().ToString());
    (*e->mutable_metadata())["type"] = "T";
    (*e->mutable_metadata())["content-type"] = "application/json";
    e->set_data("{}");
  }

  // Sends `requests` on one BatchAppend call and reads one answer per request.
  std::vector<spb::BatchAppendResp> BatchAppend(const std::vector<spb::BatchAppendReq>& requests) {
    auto stub = spb::Streams::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto call = stub->BatchAppend(&ctx);
    for (const auto& r : requests) EXPECT_TRUE(call->Write(r));
    EXPECT_TRUE(call->WritesDone());
    std::vector<spb::BatchAppendResp> answers;
    spb::BatchAppendResp resp;
    while (call->Read(&resp)) answers.push_back(resp);
    const grpc::Status status = call->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    return answers;
  }

  // Opens an Append call to `stream` and sends its options and `events` events, no half-close.
  std::unique_ptr<grpc::ClientWriter<spb::AppendReq>> StartAppend(grpc::ClientContext* ctx,
                                                                  spb::AppendResp* resp,
                                                                  const std::string& stream,
                                                                  int events) {
    auto writer = spb::Streams::NewStub(channel_)->Append(ctx, resp);
    spb::AppendReq options;
    options.mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
    options.mutable_options()->mutable_no_stream();
    EXPECT_TRUE(writer->Write(options));
    for (int i = 0; i < events; ++i) {
      spb::AppendReq event;
      auto* proposed = event.mutable_proposed_message();
      proposed->mutable_id()->set_string(Uuid::Random().ToString());
      (*proposed->mutable_metadata())["type"] = "Part";
      (*proposed->mutable_metadata())["content-type"] = "application/json";
      proposed->set_data("{\"part\":" + std::to_string(i) + "}");
      EXPECT_TRUE(writer->Write(event));
    }
    return writer;
  }

  // The stream's events as the server has them (0 when it does not exist).
  size_t EventsIn(const std::string& stream) {
    auto page = store_->ReadStream({.stream = stream, .max_count = 100});
    if (!page.ok()) {
      EXPECT_EQ(page.status().code(), StatusCode::kNotFound) << page.status().ToString();
      return 0;
    }
    return page->events.size();
  }

  static ServerProcess* server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<EventStore> store_;
};

ServerProcess* GrpcRequestValidationTest::server_ = nullptr;

TEST_F(GrpcRequestValidationTest, ACancelledAppendWritesNothing) {
  // The cancel races the server's read loop: many rounds, so a server that took the end of
  // the stream for a half-close would be caught.
  for (int round = 0; round < 40; ++round) {
    const std::string stream = "cancelled-" + std::to_string(round);
    grpc::ClientContext ctx;
    spb::AppendResp resp;
    auto writer = StartAppend(&ctx, &resp, stream, 3);
    // Let the server take the messages in and wait for more (or for the half-close).
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 4 * 5));
    ctx.TryCancel();
    const grpc::Status status = writer->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED) << status.error_message();
  }
  // Whatever the server would write, it has written once every call is answered.
  for (int round = 0; round < 40; ++round) {
    EXPECT_EQ(EventsIn("cancelled-" + std::to_string(round)), 0u) << "round " << round;
  }
}

TEST_F(GrpcRequestValidationTest, AnAppendPastItsDeadlineWritesNothing) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  spb::AppendResp resp;
  auto writer = StartAppend(&ctx, &resp, "late", 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(EventsIn("late"), 0u);
}

TEST_F(GrpcRequestValidationTest, AHalfClosedAppendIsWrittenWhole) {
  grpc::ClientContext ctx;
  spb::AppendResp resp;
  auto writer = StartAppend(&ctx, &resp, "whole", 3);
  ASSERT_TRUE(writer->WritesDone());
  const grpc::Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(resp.has_success());
  EXPECT_EQ(resp.success().current_revision(), 2u);
  EXPECT_EQ(EventsIn("whole"), 3u);
}

TEST_F(GrpcRequestValidationTest, BatchAppendErrorsNameTheirCorrelationId) {
  const std::string no_options = Uuid::Random().ToString();
  const std::string twice = Uuid::Random().ToString();
  std::vector<spb::BatchAppendReq> requests;
  // Events and is_final with no options ever sent for this id.
  requests.push_back(Batch(no_options));
  AddEvent(&requests.back());
  requests.back().set_is_final(true);
  // Options, then options again for the same id.
  requests.push_back(Batch(twice));
  AddOptions(&requests.back(), "batch-twice-a");
  AddEvent(&requests.back());
  requests.push_back(Batch(twice));
  AddOptions(&requests.back(), "batch-twice-b");
  AddEvent(&requests.back());
  requests.back().set_is_final(true);
  const auto answers = BatchAppend(requests);
  ASSERT_EQ(answers.size(), 2u);
  for (const auto& a : answers) {
    ASSERT_TRUE(a.has_error()) << a.DebugString();
    EXPECT_EQ(a.error().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
    EXPECT_TRUE(a.correlation_id().string() == no_options || a.correlation_id().string() == twice)
        << a.DebugString();
  }
  EXPECT_NE(answers[0].correlation_id().string(), answers[1].correlation_id().string());
  EXPECT_EQ(EventsIn("batch-twice-a"), 0u);
  EXPECT_EQ(EventsIn("batch-twice-b"), 0u);
}

TEST_F(GrpcRequestValidationTest, ABatchAppendPastItsDeadlineIsATimeoutAndWritesNothing) {
  using google::protobuf::util::TimeUtil;
  const auto now = std::chrono::system_clock::now();
  auto at = [](std::chrono::system_clock::time_point t) {
    return TimeUtil::NanosecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
  };
  std::vector<spb::BatchAppendReq> requests;
  // Passed (the Node clients' absolute form), passed (a negative duration), and ahead.
  requests.push_back(Batch("00000000-0000-0000-0000-000000000001"));
  AddOptions(&requests.back(), "deadline-passed");
  *requests.back().mutable_options()->mutable_deadline_21_10_0() =
      at(now - std::chrono::seconds(1));
  requests.push_back(Batch("00000000-0000-0000-0000-000000000002"));
  AddOptions(&requests.back(), "deadline-negative");
  *requests.back().mutable_options()->mutable_deadline() = TimeUtil::MillisecondsToDuration(-5);
  requests.push_back(Batch("00000000-0000-0000-0000-000000000003"));
  AddOptions(&requests.back(), "deadline-ahead");
  *requests.back().mutable_options()->mutable_deadline_21_10_0() =
      at(now + std::chrono::seconds(30));
  // A client's "never": the last second of year 9999 (it must not wrap into the past).
  requests.push_back(Batch("00000000-0000-0000-0000-000000000013"));
  AddOptions(&requests.back(), "deadline-never");
  requests.back().mutable_options()->mutable_deadline_21_10_0()->set_seconds(253402300799);
  for (auto& r : requests) {
    AddEvent(&r);
    r.set_is_final(true);
  }
  const auto answers = BatchAppend(requests);
  ASSERT_EQ(answers.size(), 4u);
  for (const auto& a : answers) {
    const std::string id = a.correlation_id().string();
    if (id.back() == '3') {
      EXPECT_TRUE(a.has_success()) << a.DebugString();
      continue;
    }
    ASSERT_TRUE(a.has_error()) << a.DebugString();
    EXPECT_EQ(a.error().code(), static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED));
    EXPECT_TRUE(a.error().details().Is<event_store::client::Timeout>()) << a.DebugString();
  }
  EXPECT_EQ(EventsIn("deadline-passed"), 0u);
  EXPECT_EQ(EventsIn("deadline-negative"), 0u);
  EXPECT_EQ(EventsIn("deadline-ahead"), 1u);
  EXPECT_EQ(EventsIn("deadline-never"), 1u);
}

TEST_F(GrpcRequestValidationTest, APersistentReadThatDoesNotStartWithOptionsIsInvalid) {
  auto stub = ppb::PersistentSubscriptions::NewStub(channel_);
  for (int variant = 0; variant < 2; ++variant) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto call = stub->Read(&ctx);
    ppb::ReadReq first;
    if (variant == 0) first.mutable_ack();  // an ack of nothing; variant 1: an empty message
    ASSERT_TRUE(call->Write(first));
    ppb::ReadResp resp;
    EXPECT_FALSE(call->Read(&resp));
    const grpc::Status status = call->Finish();
    // Answered at once, not when the deadline ends a call left waiting.
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  }
}

TEST_F(GrpcRequestValidationTest, AReadInAnUnknownDirectionIsInvalid) {
  auto stub = spb::Streams::NewStub(channel_);
  spb::ReadReq req;
  auto* o = req.mutable_options();
  o->mutable_stream()->mutable_stream_identifier()->set_stream_name("visit-1");
  o->mutable_stream()->mutable_start();
  o->set_count(10);
  o->mutable_no_filter();
  o->mutable_uuid_option()->mutable_string();
  o->set_read_direction(static_cast<spb::ReadReq::Options::ReadDirection>(5));  // not 0 or 1
  grpc::ClientContext ctx;
  auto call = stub->Read(&ctx, req);
  spb::ReadResp resp;
  while (call->Read(&resp)) {
  }
  EXPECT_EQ(call->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// Options whose oneof is left unset were read as the most permissive choice (`any`, the start,
// no filter); KurrentDB refuses them, and every official client sets them explicitly.
TEST_F(GrpcRequestValidationTest, AnUnsetExpectedRevisionIsInvalidAndWritesNothing) {
  auto stub = spb::Streams::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    spb::AppendResp resp;
    auto writer = stub->Append(&ctx, &resp);
    spb::AppendReq options;
    options.mutable_options()->mutable_stream_identifier()->set_stream_name("unset-append");
    ASSERT_TRUE(writer->Write(options));
    spb::AppendReq event;
    auto* proposed = event.mutable_proposed_message();
    proposed->mutable_id()->set_string(Uuid::Random().ToString());
    (*proposed->mutable_metadata())["type"] = "T";
    (*proposed->mutable_metadata())["content-type"] = "application/json";
    proposed->set_data("{}");
    writer->Write(event);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(EventsIn("unset-append"), 0u);

  auto batch = Batch(Uuid::Random().ToString());
  batch.mutable_options()->mutable_stream_identifier()->set_stream_name("unset-batch");
  AddEvent(&batch);
  batch.set_is_final(true);
  const auto answers = BatchAppend({batch});
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_TRUE(answers[0].has_error()) << answers[0].DebugString();
  EXPECT_EQ(answers[0].error().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(EventsIn("unset-batch"), 0u);

  AppendRequest one{.stream = "unset-delete"};
  one.events.push_back(ProposedEvent{std::nullopt, "T", "application/json", "{}", ""});
  ASSERT_TRUE(store_->Append(one).ok());
  spb::DeleteReq del;
  del.mutable_options()->mutable_stream_identifier()->set_stream_name("unset-delete");
  spb::DeleteResp deleted;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub->Delete(&ctx, del, &deleted).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(EventsIn("unset-delete"), 1u);
}

TEST_F(GrpcRequestValidationTest, AReadWithoutAStartOrWithAnEmptyFilterIsInvalid) {
  auto stub = spb::Streams::NewStub(channel_);
  auto status_of = [&](const spb::ReadReq& req) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto call = stub->Read(&ctx, req);
    spb::ReadResp resp;
    while (call->Read(&resp)) {
    }
    return call->Finish();
  };
  auto base = [] {
    spb::ReadReq req;
    auto* o = req.mutable_options();
    o->set_count(10);
    o->mutable_uuid_option()->mutable_string();
    o->set_read_direction(spb::ReadReq::Options::Forwards);
    return req;
  };
  spb::ReadReq stream = base();
  stream.mutable_options()->mutable_no_filter();
  stream.mutable_options()->mutable_stream()->mutable_stream_identifier()->set_stream_name("s-1");
  EXPECT_EQ(status_of(stream).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  stream.mutable_options()->mutable_stream()->mutable_start();
  EXPECT_TRUE(status_of(stream).ok());

  spb::ReadReq all = base();
  all.mutable_options()->mutable_no_filter();
  all.mutable_options()->mutable_all();
  EXPECT_EQ(status_of(all).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  all.mutable_options()->mutable_all()->mutable_start();
  EXPECT_TRUE(status_of(all).ok());

  auto* filter = all.mutable_options()->mutable_filter();
  filter->mutable_event_type();  // neither a regex nor a prefix
  filter->set_max(32);
  filter->set_checkpointintervalmultiplier(1);
  const grpc::Status empty = status_of(all);
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(empty.error_message().find("regex or at least one prefix"), std::string::npos)
      << empty.error_message();
  filter->mutable_event_type()->add_prefix("Patient");
  EXPECT_TRUE(status_of(all).ok());
}

TEST_F(GrpcRequestValidationTest, PersistentSubscriptionSettingsNoGroupCanRunWithAreInvalid) {
  auto stub = ppb::PersistentSubscriptions::NewStub(channel_);
  auto create = [&](const std::string& group, auto&& set) {
    ppb::CreateReq req;
    auto* o = req.mutable_options();
    o->mutable_stream()->mutable_stream_identifier()->set_stream_name("visit-1");
    o->mutable_stream()->mutable_start();
    o->set_group_name(group);
    o->mutable_settings()->set_consumer_strategy("RoundRobin");
    o->mutable_settings()->set_message_timeout_ms(1000);
    set(o->mutable_settings());
    grpc::ClientContext ctx;
    ppb::CreateResp resp;
    return stub->Create(&ctx, req, &resp);
  };
  EXPECT_TRUE(create("fine", [](ppb::Settings*) {}).ok());
  const grpc::Status negative_retries =
      create("g1", [](ppb::Settings* s) { s->set_max_retry_count(-5); });
  EXPECT_EQ(negative_retries.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(create("g2", [](ppb::Settings* s) { s->set_message_timeout_ms(-1); }).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(create("g3", [](ppb::Settings* s) { s->set_consumer_strategy("Bogus"); }).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(create("g4", [](ppb::Settings* s) { s->set_max_subscriber_count(-1); }).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Read options that were accepted silently: a second options message (ignored), a negative
// buffer, no uuid_option (events would come in a form the client did not ask for).
TEST_F(GrpcRequestValidationTest, PersistentReadOptionsTheServerCannotHonourAreInvalid) {
  auto stub = ppb::PersistentSubscriptions::NewStub(channel_);
  {
    ppb::CreateReq req;
    auto* o = req.mutable_options();
    o->mutable_stream()->mutable_stream_identifier()->set_stream_name("visit-2");
    o->mutable_stream()->mutable_start();
    o->set_group_name("reader-checks");
    o->mutable_settings()->set_consumer_strategy("RoundRobin");
    o->mutable_settings()->set_message_timeout_ms(1000);
    o->mutable_settings()->set_max_subscriber_count(10);
    grpc::ClientContext ctx;
    ppb::CreateResp resp;
    ASSERT_TRUE(stub->Create(&ctx, req, &resp).ok());
  }
  auto options = [] {
    ppb::ReadReq req;
    auto* o = req.mutable_options();
    o->mutable_stream_identifier()->set_stream_name("visit-2");
    o->set_group_name("reader-checks");
    o->set_buffer_size(10);
    o->mutable_uuid_option()->mutable_string();
    return req;
  };
  // Sends `messages`, half-closes, and returns how the call ended and whether it confirmed.
  auto run = [&](const std::vector<ppb::ReadReq>& messages, bool* confirmed) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto call = stub->Read(&ctx);
    for (const auto& m : messages) call->Write(m);
    call->WritesDone();
    ppb::ReadResp resp;
    *confirmed = false;
    while (call->Read(&resp)) *confirmed |= resp.has_subscription_confirmation();
    return call->Finish();
  };
  bool confirmed = false;
  ppb::ReadReq no_uuid = options();
  no_uuid.mutable_options()->clear_uuid_option();
  EXPECT_EQ(run({no_uuid}, &confirmed).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(confirmed);
  ppb::ReadReq negative = options();
  negative.mutable_options()->set_buffer_size(-1);
  EXPECT_EQ(run({negative}, &confirmed).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(confirmed);
  ppb::ReadReq other_group = options();
  other_group.mutable_options()->set_group_name("another");
  const grpc::Status twice = run({options(), other_group}, &confirmed);
  EXPECT_EQ(twice.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << twice.error_message();
  EXPECT_TRUE(confirmed);  // the first options were honoured
}

}  // namespace
}  // namespace annals
