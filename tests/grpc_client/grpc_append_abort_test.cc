// A `Streams.Append` call that ends without the client's half-close (cancelled, or past its
// deadline) writes nothing: the server reads a client stream to its end before it appends, and
// a stream that ended because the call was aborted is not a complete request. Against a real
// `annals serve`, with gRPC's own C++ client, whose cancellation is a bare RST_STREAM.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "../http/test_support.h"
#include "annals/grpc_store.h"
#include "annals/types.h"
#include "streams.grpc.pb.h"

namespace annals {
namespace {

namespace spb = ::event_store::client::streams;
using http::testing::ServerProcess;

class GrpcAppendAbortTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess({"--store", "memory"}); }
  static void TearDownTestSuite() { delete server_; }

  void SetUp() override {
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    stub_ = spb::Streams::NewStub(channel_);
    auto store =
        ConnectGrpc({.connection_string = "kurrentdb://" + server_->address() + "?tls=false"});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  // Opens an Append call to `stream` and sends its options and `events` events, no half-close.
  std::unique_ptr<grpc::ClientWriter<spb::AppendReq>> StartAppend(grpc::ClientContext* ctx,
                                                                  spb::AppendResp* resp,
                                                                  const std::string& stream,
                                                                  int events) {
    auto writer = stub_->Append(ctx, resp);
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
  std::unique_ptr<spb::Streams::Stub> stub_;
  std::unique_ptr<EventStore> store_;
};

ServerProcess* GrpcAppendAbortTest::server_ = nullptr;

TEST_F(GrpcAppendAbortTest, ACancelledAppendWritesNothing) {
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

TEST_F(GrpcAppendAbortTest, AnAppendPastItsDeadlineWritesNothing) {
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

TEST_F(GrpcAppendAbortTest, AHalfClosedAppendIsWrittenWhole) {
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

}  // namespace
}  // namespace annals
