// Integration tests of `annals serve` under abuse: malformed HTTP, limits, timeouts, slow SSE
// consumers, connection limits, signals, configuration layering.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "test_support.h"

namespace annals::http::testing {
namespace {

std::string StatusLine(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

std::string Req(const std::string& method, const std::string& target, const std::string& body,
                const std::string& extra = {}) {
  return method + " " + target + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

class MalformedHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"--max-header-bytes", "2048", "--max-body-bytes", "4096",
                                 "--read-timeout-ms", "500", "--idle-timeout-ms", "800"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void TearDown() override {
    // Whatever was thrown at it, the server still serves.
    EXPECT_EQ(Http("GET", server_->Url("/health/live")).status, 204);
    EXPECT_TRUE(server_->Running());
  }
  static std::string Exchange(const std::string& bytes, std::chrono::milliseconds timeout = 3s) {
    RawConn c(server_->address());
    c.Send(bytes);
    return c.Read(timeout);
  }
  static ServerProcess* server_;
};
ServerProcess* MalformedHttpTest::server_ = nullptr;

TEST_F(MalformedHttpTest, GarbageRequestLineIs400AndClosed) {
  const std::string r = Exchange("HELLO THERE\r\n\r\n");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 400 Bad Request") << r;
  EXPECT_NE(r.find("/problems/malformed-request"), std::string::npos);
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
}

TEST_F(MalformedHttpTest, BinaryNoiseNeverCrashes) {
  std::string noise;
  uint32_t x = 12345;
  for (int i = 0; i < 3000; ++i) {
    x = x * 1103515245 + 12345;
    noise.push_back(static_cast<char>(x >> 16));
  }
  Exchange(noise, 1s);
  Exchange("GET / HTTP/1.1\r\n" + noise, 1s);
  Exchange("POST /streams/x HTTP/1.1\r\nContent-Length: 10\r\n\r\n" + noise, 1s);
}

TEST_F(MalformedHttpTest, OversizedHeaderIs431) {
  const std::string r =
      Exchange("GET /info HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 431 Request Header Fields Too Large") << r;
  EXPECT_NE(r.find("/problems/header-too-large"), std::string::npos);
}

TEST_F(MalformedHttpTest, OversizedBodyIs413) {
  const std::string body(5000, ' ');
  const std::string r = Exchange(Req("POST", "/streams/big", body));
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 413 Payload Too Large") << r;
  EXPECT_NE(r.find("/problems/too-large"), std::string::npos);
  // Chunked bodies are held to the same limit.
  std::string chunked =
      "POST /streams/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 6; ++i) chunked += "3e8\r\n" + std::string(1000, ' ') + "\r\n";
  chunked += "0\r\n\r\n";
  const std::string r2 = Exchange(chunked);
  EXPECT_EQ(StatusLine(r2), "HTTP/1.1 413 Payload Too Large") << r2;
}

TEST_F(MalformedHttpTest, BadChunkingIs400) {
  const std::string r = Exchange(
      "POST /streams/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 400 Bad Request") << r;
  const std::string r2 = Exchange(
      "POST /streams/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
  EXPECT_EQ(StatusLine(r2), "HTTP/1.1 400 Bad Request") << r2;
}

TEST_F(MalformedHttpTest, ValidChunkedAppendWorks) {
  const std::string body = R"({"events":[{"type":"A","data":{}}]})";
  char size[16];
  std::snprintf(size, sizeof(size), "%zx", body.size());
  const std::string r = Exchange(
      "POST /streams/chunky HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 201 Created") << r;
}

TEST_F(MalformedHttpTest, TruncatedRequestThenHangUp) {
  {
    RawConn c(server_->address());
    c.Send("POST /streams/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ev");
  }
  {
    RawConn c(server_->address());
    c.Send("GET /info HTTP/1.1\r\nHo");
  }
}

TEST_F(MalformedHttpTest, SlowRequestIsCutAtTheReadTimeout) {
  RawConn c(server_->address());
  c.Send("POST /streams/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{");
  const auto start = std::chrono::steady_clock::now();
  const std::string r = c.Read(5s);
  EXPECT_TRUE(c.eof());
  EXPECT_TRUE(r.empty()) << r;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(MalformedHttpTest, IdleKeepAliveConnectionIsClosed) {
  RawConn c(server_->address());
  c.Send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string first = c.Read(2s, "\r\n\r\n");
  EXPECT_EQ(StatusLine(first), "HTTP/1.1 204 No Content");
  // Pipelined and keep-alive requests on the same connection.
  c.Send(
      "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\nGET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string two = c.Read(2s);
  EXPECT_EQ(two.find("204"), 9u);
  EXPECT_NE(two.find("204", 20), std::string::npos);
  // Then nothing: the idle timeout (800 ms) closes it.
  const auto start = std::chrono::steady_clock::now();
  c.Read(5s);
  EXPECT_TRUE(c.eof());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

TEST_F(MalformedHttpTest, ExpectContinueIsHonoured) {
  RawConn c(server_->address());
  const std::string body = R"({"events":[{"type":"A","data":{}}]})";
  c.Send(
      "POST /streams/cont HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  const std::string interim = c.Read(2s, "\r\n\r\n");
  EXPECT_EQ(StatusLine(interim), "HTTP/1.1 100 Continue") << interim;
  c.Send(body);
  const std::string r = c.Read(2s, "}");
  EXPECT_NE(r.find("201 Created"), std::string::npos) << r;
}

TEST(SseSlowConsumerTest, ASubscriberThatDoesNotReadIsCutOffAndTheServerStaysBounded) {
  ServerProcess server({"--sse-max-buffer-bytes", "65536", "--write-timeout-ms", "20000"});
  const std::string s = Unique("flood");
  SseClient c(server.address(), "/streams/" + s, {}, /*rcvbuf=*/4096);
  ASSERT_EQ(c.status(), 200);
  // About 6 MB of events while the client reads nothing: far beyond socket buffers + 64 KiB.
  const std::string payload(2000, 'x');
  for (int i = 0; i < 30; ++i) {
    nlohmann::json events = nlohmann::json::array();
    for (int k = 0; k < 100; ++k) {
      events.push_back({{"type", "Big"}, {"data", {{"p", payload}, {"k", k}}}});
    }
    ASSERT_EQ(
        Http("POST", server.Url("/streams/" + s), nlohmann::json{{"events", events}}.dump()).status,
        201);
  }
  // Now read everything: some events, then the error event, then the end of the stream.
  int events = 0;
  std::optional<SseEvent> error;
  uint64_t last_rev = 0;
  bool ordered = true;
  while (true) {
    auto e = c.Next(10s);
    if (!e) break;
    if (e->event == "error") {
      error = e;
      continue;
    }
    if (!e->event.empty()) continue;
    const uint64_t rev = std::stoull(e->id);
    if (events == 0) {
      EXPECT_EQ(rev, 0u) << "the first event";
    }
    if (events > 0 && rev != last_rev + 1) ordered = false;
    last_rev = rev;
    ++events;
  }
  EXPECT_TRUE(c.closed());
  ASSERT_TRUE(error) << "received " << events << " events and no error";
  EXPECT_NE(error->data.find("/problems/slow-consumer"), std::string::npos) << error->data;
  EXPECT_LT(events, 3000);
  EXPECT_TRUE(ordered);
  auto metrics = Http("GET", server.Url("/metrics"));
  EXPECT_NE(metrics.body.find("annals_sse_slow_consumers_total 1"), std::string::npos);
  // The client resumes where it stopped and gets the rest.
  // (A commit larger than the buffer cuts the client before any event: then from the start.)
  std::vector<std::string> resume;
  if (events > 0) resume.push_back("Last-Event-ID: " + std::to_string(last_rev));
  SseClient again(server.address(), "/streams/" + s, resume);
  int rest = 0;
  uint64_t expect = events > 0 ? last_rev + 1 : 0;
  bool caught_up = false;
  while (auto e = again.Next(10s)) {
    if (e->event == "caught-up") {
      caught_up = true;
      break;
    }
    if (!e->event.empty()) continue;
    EXPECT_EQ(std::stoull(e->id), expect) << "resumed events are consecutive";
    expect = std::stoull(e->id) + 1;
    ++rest;
  }
  EXPECT_TRUE(caught_up);
  EXPECT_EQ(expect, 3000u) << "the resumed subscription reached the last event";
  EXPECT_EQ(events + rest, 3000) << "first: " << events << " up to " << last_rev
                                 << ", resumed: " << rest;
}

TEST(SseSlowConsumerTest, AFastSubscriberGetsABurstLargerThanItsBuffer) {
  ServerProcess server({"--sse-max-buffer-bytes", "262144"});
  const std::string s = Unique("burst");
  SseClient c(server.address(), "/streams/" + s);
  ASSERT_EQ(c.status(), 200);
  auto marker = c.Next(5s);
  ASSERT_TRUE(marker);
  std::atomic<int> got{0};
  std::thread reader([&] {
    while (auto e = c.Next(5s)) {
      if (e->event == "error") break;
      if (e->event.empty() && ++got == 1000) break;
    }
  });
  const std::string payload(200, 'y');
  for (int i = 0; i < 10; ++i) {
    nlohmann::json events = nlohmann::json::array();
    for (int k = 0; k < 100; ++k) events.push_back({{"type", "E"}, {"data", {{"p", payload}}}});
    ASSERT_EQ(
        Http("POST", server.Url("/streams/" + s), nlohmann::json{{"events", events}}.dump()).status,
        201);
  }
  reader.join();
  EXPECT_EQ(got.load(), 1000);
}

TEST(ConnectionLimitTest, ConnectionsOverTheLimitGet503) {
  ServerProcess server({"--max-connections", "2"});
  RawConn a(server.address());
  RawConn b(server.address());
  a.Send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");
  b.Send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(a.Read(2s, "\r\n\r\n").find("204"), std::string::npos);
  EXPECT_NE(b.Read(2s, "\r\n\r\n").find("204"), std::string::npos);
  RawConn c(server.address());
  const std::string r = c.Read(3s);
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 503 Service Unavailable") << r;
  EXPECT_NE(r.find("/problems/unavailable"), std::string::npos);
  a.Close();
  b.Close();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(Http("GET", server.Url("/health/live")).status, 204);
}

TEST(GracefulStopTest, SigtermWithIdleAndSseConnectionsExitsZero) {
  ServerProcess server;
  RawConn idle(server.address());
  idle.Send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");
  idle.Read(2s, "\r\n\r\n");
  SseClient sse(server.address(), "/all");
  ASSERT_EQ(sse.status(), 200);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server.Terminate(SIGTERM), 0) << server.Stderr();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  idle.Read(2s);
  EXPECT_TRUE(idle.eof());
}

TEST(GracefulStopTest, SigintExitsZero) {
  ServerProcess server;
  EXPECT_EQ(server.Terminate(SIGINT), 0) << server.Stderr();
}

// SIGTERM in the middle of a burst of appends: every acknowledged event is there after a
// restart on the same data directory (the embedded engine).
TEST(GracefulStopTest, SigtermDuringAppendBurstLosesNoAcknowledgedEvent) {
  const auto dir = std::filesystem::temp_directory_path() / Unique("annals-http-sigterm");
  std::filesystem::remove_all(dir);
  std::vector<std::string> engine_args = {"--store", "engine", "--data-dir", dir.string()};
  std::mutex mu;
  std::vector<std::pair<std::string, uint64_t>> acked;  // stream, count
  {
    ServerProcess server(engine_args);
    std::atomic<bool> go{true};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        const std::string s = "burst-" + std::to_string(w);
        uint64_t n = 0;
        while (go.load()) {
          auto r = Http("POST", server.Url("/streams/" + s),
                        nlohmann::json{{"expectedRevision", n == 0 ? nlohmann::json("no_stream")
                                                                   : nlohmann::json(n - 1)},
                                       {"events", {{{"type", "E"}, {"data", {{"n", n}}}}}}}
                            .dump());
          if (r.status != 201) break;
          ++n;
        }
        std::lock_guard lock(mu);
        acked.emplace_back(s, n);
      });
    }
    std::this_thread::sleep_for(700ms);
    EXPECT_EQ(server.Terminate(SIGTERM), 0) << server.Stderr();
    go = false;
    for (auto& t : writers) t.join();
  }
  ServerProcess again(engine_args);
  uint64_t total = 0;
  for (const auto& [s, n] : acked) {
    total += n;
    if (n == 0) continue;
    auto r = Http("GET", again.Url("/streams/" + s + "?direction=backwards&limit=1"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_GE(r.json()["lastRevision"].get<uint64_t>(), n - 1) << s;
  }
  EXPECT_GT(total, 0u);
  EXPECT_EQ(again.Terminate(SIGTERM), 0);
  std::filesystem::remove_all(dir);
}

// A read of large events is bounded by bytes, not only by `limit` (the embedded engine):
// five events of 6 MiB read as a page of three (18 MiB: the first past 16 MiB) and a page of
// two, continued by `nextRevision` / `nextPosition`, each event once.
TEST(LargeEventPagesTest, PagesOfLargeEventsStopAtTheByteBudget) {
  const auto dir = std::filesystem::temp_directory_path() / Unique("annals-http-large-pages");
  std::filesystem::remove_all(dir);
  ServerProcess server({"--store", "engine", "--data-dir", dir.string()});
  const std::string large(6 << 20, 'a');
  for (int i = 0; i < 5; ++i) {
    auto r = Http("POST", server.Url("/streams/scan-1"),
                  nlohmann::json{{"events", {{{"type", "Scanned"}, {"data", large}}}}}.dump());
    ASSERT_EQ(r.status, 201) << r.body.substr(0, 300);
  }
  auto first = Http("GET", server.Url("/streams/scan-1?limit=100"));
  ASSERT_EQ(first.status, 200) << first.body.substr(0, 300);
  EXPECT_EQ(first.json()["events"].size(), 3u);
  ASSERT_EQ(first.json()["nextRevision"], 3);
  auto second = Http("GET", server.Url("/streams/scan-1?limit=100&from=3"));
  ASSERT_EQ(second.status, 200) << second.body.substr(0, 300);
  EXPECT_EQ(second.json()["events"].size(), 2u);
  EXPECT_TRUE(second.json()["nextRevision"].is_null());

  auto all = Http("GET", server.Url("/all?limit=100"));
  ASSERT_EQ(all.status, 200) << all.body.substr(0, 300);
  EXPECT_EQ(all.json()["events"].size(), 3u);
  EXPECT_FALSE(all.json()["endOfLog"].get<bool>());
  const uint64_t next = all.json()["nextPosition"].get<uint64_t>();
  auto rest = Http("GET", server.Url("/all?limit=100&from=" + std::to_string(next)));
  ASSERT_EQ(rest.status, 200) << rest.body.substr(0, 300);
  EXPECT_EQ(rest.json()["events"].size(), 2u);
  EXPECT_TRUE(rest.json()["endOfLog"].get<bool>());
  EXPECT_EQ(server.Terminate(SIGTERM), 0);
  std::filesystem::remove_all(dir);
}

TEST(TlsTest, ServesHttpsWithACertificateAndRefusesPlainHttp) {
  const auto dir = std::filesystem::temp_directory_path() / Unique("annals-tls");
  std::filesystem::create_directories(dir);
  const std::string key = (dir / "key.pem").string();
  const std::string cert = (dir / "cert.pem").string();
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " +
                          cert + " -days 1 -subj /CN=localhost >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ServerProcess server({"--tls-cert", cert, "--tls-key", key});
  ASSERT_EQ(server.Url("").rfind("https://", 0), 0u) << server.Url("");
  auto info = Http("GET", server.Url("/info"));
  ASSERT_EQ(info.status, 200);
  const auto features = info.json()["features"];
  EXPECT_NE(std::find(features.begin(), features.end(), "tls"), features.end());
  auto appended =
      Http("POST", server.Url("/streams/tls-1"), R"({"events":[{"type":"A","data":1}]})");
  EXPECT_EQ(appended.status, 201);
  // Plain HTTP on the TLS port gets nowhere, and the server carries on.
  RawConn plain(server.address());
  plain.Send("GET /info HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(plain.Read(3s).find("HTTP/1.1 200"), std::string::npos);
  EXPECT_EQ(Http("GET", server.Url("/health/live")).status, 204);
  // A missing key file is refused at start, as invalid input (docs/cli.md's exit codes).
  std::string out;
  EXPECT_EQ(RunAnnals({"serve", "--store", "memory", "--tls-cert", cert, "--tls-key",
                       (dir / "nope.pem").string()},
                      &out),
            2)
      << out;
  EXPECT_NE(out.find("nope.pem"), std::string::npos) << out;
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, FlagsOverrideEnvironmentOverrideFile) {
  const auto path = std::filesystem::temp_directory_path() / (Unique("annals-config") + ".toml");
  {
    std::ofstream f(path);
    f << "store = \"memory\"\n[http]\nlisten = \"127.0.0.1:7001\"\nmax_connections = 5\n"
         "idle_timeout_ms = 1234\n[sse]\nheartbeat_ms = 99\n";
  }
  std::string out;
  ASSERT_EQ(
      RunAnnals({"serve", "--config", path.string(), "--print-config", "--max-connections", "7"},
                &out, {"ANNALS_IDLE_TIMEOUT_MS=4321", "ANNALS_MAX_CONNECTIONS=6"}),
      0)
      << out;
  EXPECT_NE(out.find("http.listen = \"127.0.0.1:7001\""), std::string::npos) << out;
  EXPECT_NE(out.find("http.max_connections = \"7\""), std::string::npos) << out;
  EXPECT_NE(out.find("http.idle_timeout_ms = \"4321\""), std::string::npos) << out;
  EXPECT_NE(out.find("sse.heartbeat_ms = \"99\""), std::string::npos) << out;
  EXPECT_NE(out.find("store = \"memory\""), std::string::npos) << out;
  {
    std::ofstream f(path);
    f << "[http]\nlisen = \"x\"\n";
  }
  out.clear();
  EXPECT_EQ(RunAnnals({"serve", "--config", path.string()}, &out), 2);
  EXPECT_NE(out.find("unknown key 'http.lisen'"), std::string::npos) << out;
  std::filesystem::remove(path);
}

TEST(ConfigTest, ListeningBeyondLoopbackNeedsAuthOrInsecure) {
  std::string out;
  EXPECT_EQ(RunAnnals({"serve", "--store", "memory", "--http", "0.0.0.0:0"}, &out), 2);
  EXPECT_NE(out.find("--insecure"), std::string::npos) << out;
  ServerProcess server({"--http", "0.0.0.0:0", "--insecure"});
  EXPECT_FALSE(server.address().empty());
}

TEST(ConfigTest, BadValuesAreRefused) {
  std::string out;
  EXPECT_EQ(RunAnnals({"serve", "--store", "memory", "--max-connections", "many"}, &out), 2);
  out.clear();
  EXPECT_EQ(RunAnnals({"serve", "--store", "floppy"}, &out), 2);
  out.clear();
  // Not loopback, no users: refused as a configuration error before any bind is tried.
  EXPECT_EQ(RunAnnals({"serve", "--store", "memory", "--http", "nowhere"}, &out), 2);
  for (const char* advertise : {"host", "host:0", "host:65536", ":2113", "[::1]2113", "a:b:1"}) {
    out.clear();
    EXPECT_EQ(RunAnnals({"serve", "--store", "memory", "--advertise", advertise}, &out), 2)
        << advertise;
    EXPECT_NE(out.find("grpc.advertise must be host:port"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace annals::http::testing
