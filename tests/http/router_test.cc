// The HTTP API's request handling without sockets: Router over the in-memory store, the
// problem mapping, the SSE cursor and framing, the encodings.
#include "api/http/router.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "api/http/encoding.h"
#include "api/http/problem.h"
#include "api/http/sse.h"
#include "core/rfc3339.h"
#include "memory/memory_store.h"

namespace annals::http {
namespace {

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : store_(NewMemoryStore()), router_(store_.get(), nullptr, &metrics_, nullptr, {}) {}

  // Runs a request to completion, appends included (synchronously).
  Response Run(std::string method, std::string target, std::string body = {},
               std::string content_type = "application/json") {
    Request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    req.content_type = std::move(content_type);
    return Finish(router_.Dispatch(req));
  }
  Response Finish(Routed routed) {
    if (auto* r = std::get_if<Response>(&routed.action)) return *r;
    if (auto* a = std::get_if<AppendCall>(&routed.action)) {
      return router_.FinishAppend(*a, store_->Append(a->request));
    }
    if (auto* b = std::get_if<BlockingCall>(&routed.action)) return b->run();
    ADD_FAILURE() << "unexpected SSE";
    return {};
  }
  static std::string Type(const Response& r) {
    simdjson::dom::parser p;
    auto doc = p.parse(r.body);
    std::string_view t;
    if (doc["type"].get(t)) return "";
    return std::string(t);
  }

  Metrics metrics_;
  std::unique_ptr<EventStore> store_;
  Router router_;
};

TEST_F(RouterTest, AppendAndRead) {
  auto r = Run("POST", "/streams/a-1", R"({"events":[{"type":"T","data":{"x":1}}]})");
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  auto read = Run("GET", "/streams/a-1");
  EXPECT_EQ(read.status, 200u);
  EXPECT_NE(read.body.find(R"("data":{"x":1})"), std::string::npos) << read.body;
  EXPECT_NE(read.body.find(R"("nextRevision":null)"), std::string::npos) << read.body;
}

TEST_F(RouterTest, PercentEncodedStreamNamesAreDecodedOnce) {
  EXPECT_EQ(Run("POST", "/streams/a%2Fb%20c", R"({"events":[{"type":"T","data":1}]})").status,
            201u);
  auto read = Run("GET", "/streams/a%2Fb%20c");
  EXPECT_NE(read.body.find(R"("stream":"a/b c")"), std::string::npos) << read.body;
  EXPECT_EQ(Run("GET", "/streams/a/b%20c").status, 404u);
}

TEST_F(RouterTest, EveryStatusCodeMapsToItsHttpStatusAndType) {
  const std::pair<StatusCode, unsigned> cases[] = {
      {StatusCode::kInvalidArgument, 400},
      {StatusCode::kTooLarge, 413},
      {StatusCode::kNotFound, 404},
      {StatusCode::kWrongExpectedRevision, 409},
      {StatusCode::kIdempotencyConflict, 409},
      {StatusCode::kStreamDeleted, 410},
      {StatusCode::kUnauthenticated, 401},
      {StatusCode::kPermissionDenied, 403},
      {StatusCode::kUnavailable, 503},
      {StatusCode::kCorruption, 500},
      {StatusCode::kIoError, 500},
      {StatusCode::kInternal, 500},
  };
  std::set<std::string> types;
  for (auto [code, status] : cases) {
    Response r = ProblemResponse(ProblemFromStatus(Status(code, "why"), "/x"));
    EXPECT_EQ(r.status, status) << StatusCodeName(code);
    EXPECT_EQ(r.content_type, "application/problem+json");
    types.insert(Type(r));
  }
  EXPECT_EQ(types.size(), std::size(cases));  // one stable type per code
  for (const ProblemInfo& info : AllProblems()) {
    EXPECT_EQ(&InfoOf(info.kind), &info);
  }
}

TEST_F(RouterTest, WrongRevisionProblemCarriesBothRevisions) {
  Status s = Status::WrongRevision("s", {ExpectedRevision::NoStream(), Revision{4}});
  const std::string j = ProblemJson(ProblemFromStatus(s, "/streams/s"));
  EXPECT_NE(j.find(R"("expectedRevision":"no_stream","actualRevision":4)"), std::string::npos) << j;
}

TEST_F(RouterTest, ProblemsEchoingInvalidUtf8StayValidJson) {
  auto r = Run("POST", "/streams/x", "{}", "text/\xff\xfe");
  EXPECT_EQ(r.status, 415u);
  simdjson::dom::parser p;
  EXPECT_FALSE(p.parse(r.body).error()) << r.body;
}

TEST_F(RouterTest, SseRequestsBecomeSseCalls) {
  Request req;
  req.method = "GET";
  req.target = "/streams/s?from=3";
  req.accept = "text/html, text/event-stream;q=0.9";
  Routed routed = router_.Dispatch(req);
  auto* call = std::get_if<SseCall>(&routed.action);
  ASSERT_NE(call, nullptr);
  EXPECT_EQ(call->spec.stream, "s");
  EXPECT_EQ(call->spec.from, 3u);
  req.has_last_event_id = true;
  req.last_event_id = "7";
  routed = router_.Dispatch(req);
  call = std::get_if<SseCall>(&routed.action);
  ASSERT_NE(call, nullptr);
  EXPECT_EQ(call->spec.from, 8u);  // after the last one received
  req.target = "/all?category=c&type=A";
  routed = router_.Dispatch(req);
  call = std::get_if<SseCall>(&routed.action);
  ASSERT_NE(call, nullptr);
  EXPECT_TRUE(call->spec.all);
  EXPECT_EQ(call->spec.from, 7u);
  EXPECT_TRUE(call->spec.after_from);
  EXPECT_EQ(call->spec.filter.category, "c");
}

TEST_F(RouterTest, ReadinessFollowsStopping) {
  EXPECT_EQ(Run("GET", "/health/ready").status, 200u);
  router_.SetStopping();
  auto r = Run("GET", "/health/ready");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(Type(r), "/problems/unavailable");
  EXPECT_EQ(Run("GET", "/health/live").status, 204u);
}

TEST_F(RouterTest, MetricsCountAppends) {
  ASSERT_EQ(Run("POST", "/streams/m", R"({"events":[{"type":"T","data":"abc"}]})").status, 201u);
  metrics_.CountRequest(Route::kStream, Method::kPost, 201);
  auto r = Run("GET", "/metrics");
  EXPECT_NE(r.body.find("annals_appended_events_total 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("annals_appended_bytes_total 5\n"), std::string::npos) << r.body;
  EXPECT_NE(
      r.body.find(
          R"(annals_http_requests_total{route="/streams/{stream}",method="POST",status="201"} 1)"),
      std::string::npos);
}

TEST(SseCursorTest, StreamCursorFramesCatchesUpAndResumes) {
  auto store = NewMemoryStore();
  AppendRequest a;
  a.stream = "s";
  for (int i = 0; i < 5; ++i) a.events.push_back({.type = "T", .data = std::to_string(i)});
  ASSERT_TRUE(store->Append(a).ok());
  SseSpec spec;
  spec.stream = "s";
  SseCursor cursor(store.get(), spec, 2);
  std::string out;
  auto b1 = cursor.ReadBatch(&out);
  ASSERT_TRUE(b1.ok());
  EXPECT_EQ(b1->events, 2u);
  EXPECT_FALSE(b1->caught_up);
  EXPECT_EQ(out.rfind("id: 0\ndata: {", 0), 0u) << out;
  auto b2 = cursor.ReadBatch(&out);
  auto b3 = cursor.ReadBatch(&out);
  EXPECT_EQ(b2->events + b3->events, 3u);
  EXPECT_TRUE(b3->caught_up);
  auto b4 = cursor.ReadBatch(&out);
  EXPECT_EQ(b4->events, 0u);
  EXPECT_TRUE(b4->caught_up);
  EXPECT_EQ(cursor.WatchPosition(), store->Head());
}

TEST(SseCursorTest, AllCursorSkipsTheLastEventIdItself) {
  auto store = NewMemoryStore();
  for (const char* s : {"a", "b", "c"}) {
    AppendRequest a;
    a.stream = s;
    a.events.push_back({.type = "T", .data = "1"});
    ASSERT_TRUE(store->Append(a).ok());
  }
  ReadAllRequest all;
  auto events = store->ReadAll(all);
  ASSERT_EQ(events->events.size(), 3u);
  SseSpec spec;
  spec.all = true;
  spec.from = events->events[1].position.value;
  spec.after_from = true;
  SseCursor cursor(store.get(), spec, 100);
  std::string out;
  auto b = cursor.ReadBatch(&out);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->events, 1u);
  EXPECT_NE(out.find("\"stream\":\"c\""), std::string::npos);
  EXPECT_TRUE(b->caught_up);
}

TEST(SseCursorTest, TombstonedStreamFails) {
  auto store = NewMemoryStore();
  ASSERT_TRUE(store->DeleteStream("t", ExpectedRevision::Any(), DeleteMode::kTombstone).ok());
  SseSpec spec;
  spec.stream = "t";
  SseCursor cursor(store.get(), spec, 10);
  std::string out;
  auto b = cursor.ReadBatch(&out);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kStreamDeleted);
}

TEST(SseFrameTest, DataIsSplitOnEveryLineBreak) {
  std::string out;
  AppendSseFrame(&out, "ev", "9", "a\nb\r\nc\rd");
  EXPECT_EQ(out, "event: ev\nid: 9\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  out.clear();
  AppendSseFrame(&out, {}, {}, "");
  EXPECT_EQ(out, "data: \n\n");
}

TEST(EncodingTest, Rfc3339) {
  EXPECT_EQ(FormatRfc3339(Timestamp{0}), "1970-01-01T00:00:00.000000Z");
  // 2024-02-29T12:34:56.789012Z
  EXPECT_EQ(FormatRfc3339(Timestamp{17092100967890120}), "2024-02-29T12:34:56.789012Z");
  EXPECT_EQ(FormatRfc3339(Timestamp{-10}), "1969-12-31T23:59:59.999999Z");
}

TEST(EncodingTest, Base64RoundTrip) {
  for (const std::string& s :
       std::vector<std::string>{"", "f", "fo", "foo", "foob", std::string("\0\xff\x01", 3)}) {
    auto d = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(*Base64Decode("Zm9vYg"), "foob");
  EXPECT_FALSE(Base64Decode("Zm9v!g=="));
  EXPECT_FALSE(Base64Decode("Zm9vYg==x"));
}

TEST(EncodingTest, QueryAndPercent) {
  auto q = ParseQuery("a=1&b=x+y&c=%2F%41&&d&a=2");
  ASSERT_TRUE(q);
  ASSERT_EQ(q->size(), 5u);
  EXPECT_EQ((*q)[1].second, "x y");
  EXPECT_EQ((*q)[2].second, "/A");
  EXPECT_EQ((*q)[3].first, "d");
  EXPECT_FALSE(ParseQuery("a=%4"));
  EXPECT_FALSE(ParseQuery("a=%zz"));
  EXPECT_EQ(*PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentEncodeSegment("a/b c~"), "a%2Fb%20c~");
  EXPECT_EQ(ParseU64("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(ParseU64("18446744073709551616"));
  EXPECT_FALSE(ParseU64("+1"));
  EXPECT_FALSE(ParseU64(""));
  EXPECT_EQ(MediaTypeOf(" Application/JSON ; charset=utf-8"), "application/json");
  EXPECT_EQ(ToValidUtf8("a\xffz\xc3\xa9"), "a\xEF\xBF\xBDz\xc3\xa9");
}

}  // namespace
}  // namespace annals::http
