// The gRPC store's two ways to talk to a server, against one real `annals serve`: with Annals'
// extensions (batched `$all` reads, catalog, trailers) and without them
// (`annalsExtensions=false`, exactly what it does against a KurrentDB server: Streams.Read
// with the filter narrowed and re-applied client-side). Every `$all` walk must give the same
// events both ways, and the fallbacks must behave as docs/sdk.md says.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../http/test_support.h"
#include "annals/grpc_store.h"
#include "annals_reads.pb.h"
#include "grpc_client/raw_server_stream.h"

namespace annals {
namespace {

using http::testing::ServerProcess;

AppendRequest Events(const std::string& stream, const std::string& type, int n,
                     size_t data_bytes = 10) {
  AppendRequest r;
  r.stream = stream;
  for (int i = 0; i < n; ++i) {
    ProposedEvent e;
    e.type = type;
    e.data = "\"" + std::string(data_bytes, static_cast<char>('a' + i % 26)) + "\"";
    r.events.push_back(std::move(e));
  }
  return r;
}

class GrpcReadPathsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"--store", "memory"});
    extended_ = Connect("").release();
    plain_ = Connect("&annalsExtensions=false").release();
    // Streams of three categories, two event types each, a stream's metadata (a `$$` event),
    // and three events of 600 KiB in a row, so a batch splits into messages by size.
    for (int s = 0; s < 12; ++s) {
      const std::string category = s % 3 == 0 ? "visit" : s % 3 == 1 ? "room" : "survey";
      const std::string stream = category + "-" + std::to_string(s);
      ASSERT_TRUE(extended_->Append(Events(stream, "Checked", 40)).ok());
      ASSERT_TRUE(extended_->Append(Events(stream, s % 2 ? "Tested" : "TestOrdered", 25)).ok());
    }
    ASSERT_TRUE(extended_->SetStreamMetadata("visit-0", ExpectedRevision::Any(), {}).ok());
    ASSERT_TRUE(extended_->Append(Events("visit-big", "Scanned", 3, 600 << 10)).ok());
    ASSERT_TRUE(extended_->Append(Events("visit-3", "Checked", 5)).ok());
  }
  static void TearDownTestSuite() {
    delete extended_;
    delete plain_;
    delete server_;
  }

  static std::unique_ptr<EventStore> Connect(const std::string& options) {
    auto store = ConnectGrpc(
        {.connection_string = "kurrentdb://" + server_->address() + "?tls=false" + options});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Every page of a walk of `$all` from `request.from` in its direction, as event ids.
  struct Walk {
    std::vector<std::string> ids;
    size_t pages = 0;
  };
  static Walk WalkAll(EventStore* store, ReadAllRequest request) {
    Walk walk;
    while (true) {
      auto page = store->ReadAll(request);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) return walk;
      ++walk.pages;
      EXPECT_LE(page->events.size(), request.max_count);
      for (const RecordedEvent& e : page->events) walk.ids.push_back(e.id.ToString());
      if (page->end_of_log) {
        EXPECT_LE(page->events.size(), request.max_count);
        return walk;
      }
      EXPECT_EQ(page->events.size(), request.max_count) << "a short page that is not the end";
      request.from = page->next;
      if (walk.pages > 10000) {
        ADD_FAILURE() << "the walk does not end";
        return walk;
      }
    }
  }

  static ServerProcess* server_;
  static EventStore* extended_;
  static EventStore* plain_;
};

ServerProcess* GrpcReadPathsTest::server_ = nullptr;
EventStore* GrpcReadPathsTest::extended_ = nullptr;
EventStore* GrpcReadPathsTest::plain_ = nullptr;

TEST_F(GrpcReadPathsTest, BothPathsWalkAllAlikeWithEveryFilterAndPageSize) {
  std::vector<std::pair<std::string, EventFilter>> filters = {
      {"none", {}},
      {"category", {.category = "room"}},
      {"stream prefixes", {.stream_prefixes = {"visit-1", "survey-"}}},
      {"event types", {.event_types = {"Tested", "Scanned"}}},
      {"type prefix", {.type_prefixes = {"Test"}}},
      {"type regex", {.type_regex = "^Te.*d$"}},
      {"stream regex", {.stream_regex = "-1\\d?$"}},
      {"no system events", {.exclude_system_events = true}},
      {"category and type", {.category = "visit", .event_types = {"Checked"}}},
  };
  const uint64_t total = 12 * 65 + 1 + 3 + 5;
  for (const auto& [name, filter] : filters) {
    for (Direction direction : {Direction::kForwards, Direction::kBackwards}) {
      for (uint64_t page : {1ull, 7ull, 100ull, 10000ull}) {
        // Pages of one event: only for the selective filters (hundreds of calls otherwise).
        if (page == 1 && name != "event types" && name != "category and type") continue;
        SCOPED_TRACE(name + (direction == Direction::kForwards ? " forwards" : " backwards") +
                     ", pages of " + std::to_string(page));
        ReadAllRequest r;
        r.direction = direction;
        r.from = direction == Direction::kForwards ? Position::Start() : Position::End();
        r.max_count = page;
        r.filter = filter;
        const Walk batched = WalkAll(extended_, r);
        const Walk streamed = WalkAll(plain_, r);
        EXPECT_EQ(batched.ids, streamed.ids);
        if (filter.Empty()) {
          EXPECT_EQ(batched.ids.size(), total);
        } else {
          EXPECT_GT(batched.ids.size(), 0u);
          EXPECT_LT(batched.ids.size(), total);
        }
      }
    }
  }
}

TEST_F(GrpcReadPathsTest, ABatchedReadContinuesExactlyWhereAPageStopped) {
  // Forwards from the middle of the log: `next` of one page is the first event of the next.
  ReadAllRequest r{.max_count = 101};
  auto first = extended_->ReadAll(r);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_FALSE(first->end_of_log);
  r.from = first->next;
  r.max_count = 5;
  auto second = extended_->ReadAll(r);
  ASSERT_TRUE(second.ok());
  ReadAllRequest whole{.max_count = 106};
  auto both = extended_->ReadAll(whole);
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->events.size(), 106u);
  EXPECT_EQ(second->events.front().id, both->events[101].id);
  EXPECT_EQ(second->events.back().id, both->events[105].id);
  // At the end of the log, forwards, `next` is the head: a later event is read from it.
  ReadAllRequest tail{.from = Position::Start(), .max_count = 10000};
  auto all = extended_->ReadAll(tail);
  ASSERT_TRUE(all.ok());
  ASSERT_TRUE(all->end_of_log);
  EXPECT_EQ(all->next, extended_->Head());
}

// On the engine, which stops a store read at the server's byte budget (4 MiB), a batched read
// of large events takes several store reads and still answers one page with all of them.
TEST(GrpcBatchedReadTest, LargeEventsFillOnePageOverSeveralStoreReads) {
  const std::string dir = ::testing::TempDir() + "/grpc-batched-large";
  std::filesystem::remove_all(dir);
  ServerProcess server({"--store", "engine", "--data-dir", dir});
  auto store = ConnectGrpc({.connection_string = "kurrentdb://" + server.address() + "?tls=false"});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Append(Events("scan-1", "Scanned", 12, 600 << 10)).ok());
  auto page = (*store)->ReadAll({.max_count = 1000});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->events.size(), 12u);
  EXPECT_TRUE(page->end_of_log);
  for (size_t i = 0; i < page->events.size(); ++i) {
    EXPECT_EQ(page->events[i].revision, Revision{i});
    EXPECT_EQ(page->events[i].data.size(), (600u << 10) + 2);
  }
  std::filesystem::remove_all(dir);
}

// Streams.Read, Reads.ReadAll and PersistentSubscriptions.Read are raw methods on the server
// (they parse their own requests): bytes that are not a request are refused as such, not taken
// as an empty request.
TEST_F(GrpcReadPathsTest, ARequestThatDoesNotParseIsInvalid) {
  grpc::GenericStub stub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  for (const char* method :
       {"/event_store.client.streams.Streams/Read", "/annals.client.v1.Reads/ReadAll",
        "/event_store.client.persistent_subscriptions.PersistentSubscriptions/Read"}) {
    SCOPED_TRACE(method);
    grpc::ClientContext ctx;
    grpc::Slice garbage(std::string("\xff\xff\xff\xff"));  // an unfinished field tag
    grpcclient::RawServerStream call(&stub, &ctx, method, grpc::ByteBuffer(&garbage, 1));
    grpc::ByteBuffer answer;
    EXPECT_FALSE(call.Read(&answer));
    const grpc::Status status = call.Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  }
}

// The SDK abandons a batched read whose message does not decode: the call is cancelled and
// finished when it goes, the connection and the server carry on.
TEST_F(GrpcReadPathsTest, ARawReadLeftAfterItsFirstMessageIsCancelled) {
  grpc::GenericStub stub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  for (int round = 0; round < 3; ++round) {
    ::annals::client::v1::ReadAllReq req;
    req.set_max_count(10000);  // more than one message: the 600 KiB events split it
    grpc::ClientContext ctx;
    grpcclient::RawServerStream call(&stub, &ctx, "/annals.client.v1.Reads/ReadAll", req);
    grpc::ByteBuffer first;
    ASSERT_TRUE(call.Read(&first));
    EXPECT_GT(first.Length(), 0u);
  }
  auto all = extended_->ReadAll({.max_count = 10000});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_TRUE(all->end_of_log);
  EXPECT_GE(all->events.size(), 789u);  // the suite's events (other tests may add some)
}

TEST_F(GrpcReadPathsTest, BadFiltersAreRefusedOnBothPaths) {
  for (EventStore* store : {extended_, plain_}) {
    auto read = store->ReadAll({.filter = {.type_regex = "(unclosed"}});
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument) << read.status().ToString();
  }
}

TEST_F(GrpcReadPathsTest, WithoutExtensionsTheFallbacksBehaveAsDocumented) {
  // No catalog in KurrentDB's protocol.
  EXPECT_EQ(plain_->GetStreamInfo("visit-0").status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(plain_->ListStreams({}).status().code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(extended_->GetStreamInfo("visit-0").ok());
  // The head: the catalog's exact value, or one past the last event's position.
  auto last = plain_->ReadAll(
      {.from = Position::End(), .direction = Direction::kBackwards, .max_count = 1});
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->events.size(), 1u);
  EXPECT_EQ(plain_->Head().value, last->events[0].position.value + 1);
  EXPECT_GT(extended_->Head().value, last->events[0].position.value);
  // A stream's last revision, found by a backwards read of one event instead of a trailer.
  auto plain_read = plain_->ReadStream({.stream = "visit-3", .max_count = 2});
  auto extended_read = extended_->ReadStream({.stream = "visit-3", .max_count = 2});
  ASSERT_TRUE(plain_read.ok() && extended_read.ok());
  EXPECT_EQ(plain_read->last_revision, Revision{69});
  EXPECT_EQ(extended_read->last_revision, Revision{69});
  EXPECT_EQ(plain_read->next, extended_read->next);
  // An idempotent re-append succeeds both ways; only Annals' trailer says it wrote nothing.
  AppendRequest once = Events("visit-idem", "Checked", 1);
  once.events[0].id = Uuid::Random();
  auto first = plain_->Append(once);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again_plain = plain_->Append(once);
  auto again_extended = extended_->Append(once);
  ASSERT_TRUE(again_plain.ok() && again_extended.ok());
  EXPECT_FALSE(again_plain->idempotent);
  EXPECT_TRUE(again_extended->idempotent);
  EXPECT_EQ(again_plain->last_revision, Revision{0});
  // Waiting for the head works through the `$all` subscription.
  const Position head = plain_->Head();
  ASSERT_TRUE(extended_->Append(Events("visit-wait", "Checked", 1)).ok());
  EXPECT_GT(plain_->WaitForHead(Position{head.value - 1}, std::chrono::seconds(5)).value,
            head.value - 1);
}

}  // namespace
}  // namespace annals
