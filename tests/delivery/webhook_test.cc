// Webhooks against real HTTP receivers that misbehave on purpose: 500s, timeouts, dropped
// connections, refused connections (receiver stopped), slow answers, Retry-After, 410; Annals
// restarted (and SIGKILLed, in a child process running the engine). Signatures are checked with
// the openssl command-line tool, an implementation independent of the one under test.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "core/base64.h"
#include "delivery/webhook.h"
#include "delivery/webhook_format.h"
#include "delivery_test_util.h"
#include "test_receiver.h"

namespace annals::delivery {
namespace {

using namespace testing;

// HMAC-SHA256 by `openssl dgst`, base64 by `openssl base64`.
std::string OpenSslSignature(const std::string& key, const std::string& id, const std::string& ts,
                             const std::string& body) {
  const std::string path = TempDir("sig") + "/content";
  {
    std::ofstream f(path, std::ios::binary);
    f << id << '.' << ts << '.' << body;
  }
  std::string hex;
  char buf[3];
  for (unsigned char c : key) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    hex += buf;
  }
  const std::string cmd = "openssl dgst -sha256 -mac HMAC -macopt hexkey:" + hex + " -binary " +
                          path + " | openssl base64 -A";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char line[256];
  while (p && std::fgets(line, sizeof line, p)) out += line;
  if (p) ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
  return "v1," + out;
}

struct Seen {
  std::string stream;
  uint64_t revision;
};

// The events carried by accepted requests, in arrival order.
std::vector<Seen> EventsOf(const std::vector<ReceivedRequest>& requests) {
  std::vector<Seen> out;
  for (const auto& r : requests) {
    if (r.Header("content-type") == "application/cloudevents-batch+json") {
      for (const auto& e : Json::parse(r.body)) {
        out.push_back(
            {e["subject"].get<std::string>(), std::stoull(e["annalsrevision"].get<std::string>())});
      }
    } else {
      out.push_back({r.Header("annals-stream"), std::stoull(r.Header("annals-revision"))});
    }
  }
  return out;
}

// Every revision 0..n-1 of each stream arrived, and a stream never skipped ahead: each arrival
// is at most one past the highest revision seen before it (duplicates may repeat earlier ones).
void ExpectCompleteAndOrdered(const std::vector<Seen>& seen,
                              const std::map<std::string, uint64_t>& counts) {
  std::map<std::string, int64_t> high;
  std::map<std::string, std::set<uint64_t>> got;
  for (const Seen& s : seen) {
    auto it = high.find(s.stream);
    const int64_t h = it == high.end() ? -1 : it->second;
    EXPECT_LE(static_cast<int64_t>(s.revision), h + 1) << s.stream << " skipped ahead";
    high[s.stream] = std::max(h, static_cast<int64_t>(s.revision));
    got[s.stream].insert(s.revision);
  }
  for (const auto& [stream, n] : counts) {
    EXPECT_EQ(got[stream].size(), n) << stream;
  }
}

class WebhookTest : public ::testing::Test {
 protected:
  WebhookTest() : store_(false) {
    receiver_.Start();
    Start();
  }
  ~WebhookTest() override {
    hooks_.reset();
    svc_.reset();
    receiver_.Stop();
  }
  void Start() {
    auto s = DeliveryService::Open(store_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    svc_ = std::move(*s);
    auto w = WebhookManager::Start(svc_.get(), box_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    hooks_ = std::move(*w);
  }
  void Restart() {
    hooks_.reset();
    svc_.reset();
    store_.Reopen();
    Start();
  }
  WebhookConfig Config(const std::string& name) {
    WebhookConfig c;
    c.name = name;
    c.url = receiver_.Url();
    c.filter.filter.category = "visit";
    c.secret = "whsec_" + Base64Encode("0123456789abcdef0123456789abcdef");
    c.backoff_min = std::chrono::milliseconds(10);
    c.backoff_max = std::chrono::milliseconds(50);
    c.timeout = std::chrono::milliseconds(2000);
    return c;
  }

  // The last config event written for `name`: what any reader of `$all` can see.
  std::string StoredConfig(const std::string& name) {
    ReadStreamRequest req;
    req.stream = std::string(kConfigStream);
    auto r = store_.get()->ReadStream(req);
    std::string last;
    if (!r.ok()) return last;
    for (const auto& e : r->events) {
      if (e.data.find("\"" + name + "\"") != std::string::npos) last = e.data;
    }
    return last;
  }

  std::shared_ptr<const SecretBox> box_;  // null: secrets stored in plain text
  TestStore store_;
  TestReceiver receiver_;
  std::unique_ptr<DeliveryService> svc_;
  std::unique_ptr<WebhookManager> hooks_;
};

TEST_F(WebhookTest, BinaryModeSendsSignedCloudEvents) {
  AppendN(store_.get(), "visit-1", 3, "PatientCheckedIn");
  AppendN(store_.get(), "visit-2", 2, "RoomAssigned");
  AppendN(store_.get(), "other-1", 2);
  WebhookConfig c = Config("w1");
  c.headers = {{"X-Tenant", "t1"}};
  ASSERT_TRUE(hooks_->Put(c).ok());
  ASSERT_TRUE(WaitFor([&] { return receiver_.AcceptedCount() >= 5; }));
  auto got = receiver_.Accepted();
  ASSERT_EQ(got.size(), 5u);
  ExpectCompleteAndOrdered(EventsOf(got), {{"visit-1", 3}, {"visit-2", 2}});
  const std::string key = "0123456789abcdef0123456789abcdef";
  for (const auto& r : got) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.Header("ce-specversion"), "1.0");
    EXPECT_EQ(r.Header("ce-id"), r.Header("webhook-id"));
    EXPECT_EQ(r.Header("ce-subject"), r.Header("annals-stream"));
    EXPECT_EQ(r.Header("ce-source"), "annals");
    EXPECT_FALSE(r.Header("ce-time").empty());
    EXPECT_FALSE(r.Header("annals-position").empty());
    EXPECT_EQ(r.Header("annals-delivery-attempt"), "1");
    EXPECT_EQ(r.Header("x-tenant"), "t1");
    EXPECT_EQ(r.Header("content-type"), "application/json");
    EXPECT_EQ(r.body.substr(0, 5), "{\"i\":");
    EXPECT_EQ(r.Header("webhook-signature"),
              OpenSslSignature(key, r.Header("webhook-id"), r.Header("webhook-timestamp"), r.body));
  }
  // A forgery does not verify.
  EXPECT_NE(got[0].Header("webhook-signature"),
            OpenSslSignature(key, got[0].Header("webhook-id"), got[0].Header("webhook-timestamp"),
                             got[0].body + " "));
  auto st = hooks_->Get("w1");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->delivered_events, 5u);
  EXPECT_EQ(st->last_status, 200u);
}

TEST_F(WebhookTest, SecretsAreSealedAndPlainSecretsOfOlderVersionsStillWork) {
  const std::string key = "0123456789abcdef0123456789abcdef";
  auto signed_with_key = [&](const ReceivedRequest& r) {
    return r.Header("webhook-signature") ==
           OpenSslSignature(key, r.Header("webhook-id"), r.Header("webhook-timestamp"), r.body);
  };
  // Written by a manager without a key, as before sealing existed: the secret in plain text.
  ASSERT_TRUE(hooks_->Put(Config("old")).ok());
  EXPECT_NE(StoredConfig("old").find(Base64Encode(key)), std::string::npos);
  // Restarted with a key: the plain secret still signs.
  box_ = std::make_shared<SecretBox>(SecretBox::Ephemeral());
  Restart();
  AppendN(store_.get(), "visit-1", 1);
  ASSERT_TRUE(WaitFor([&] { return receiver_.AcceptedCount() == 1; }));
  EXPECT_TRUE(signed_with_key(receiver_.Accepted()[0]));
  // The next write seals it; a new webhook is sealed from the start.
  ASSERT_TRUE(hooks_->Pause("old").ok());
  ASSERT_TRUE(hooks_->Resume("old").ok());
  ASSERT_TRUE(hooks_->Put(Config("new")).ok());
  ASSERT_TRUE(WaitFor([&] { return receiver_.AcceptedCount() == 2; }));  // visit-1 to "new"
  for (const std::string name : {"old", "new"}) {
    const std::string stored = StoredConfig(name);
    EXPECT_EQ(stored.find(Base64Encode(key)), std::string::npos) << stored;
    EXPECT_EQ(stored.find(key), std::string::npos) << stored;
    EXPECT_NE(stored.find("\"sealedSecret\":\"v1:"), std::string::npos) << stored;
  }
  // Restarted with the same key: sealed secrets open and sign. (A restart may deliver an event
  // again whose ack had not reached a checkpoint: counts are lower bounds.)
  auto to_stream = [&](const std::string& stream) {
    size_t n = 0;
    for (const auto& r : receiver_.Accepted()) n += r.Header("annals-stream") == stream;
    return n;
  };
  Restart();
  AppendN(store_.get(), "visit-2", 1);
  ASSERT_TRUE(WaitFor([&] { return to_stream("visit-2") >= 2; }));  // to "old" and "new"
  for (const auto& r : receiver_.Accepted()) EXPECT_TRUE(signed_with_key(r));
  // With another key the secrets cannot be opened: the webhooks hold, nothing goes unsigned.
  box_ = std::make_shared<SecretBox>(SecretBox::Ephemeral());
  Restart();
  auto st = hooks_->Get("new");
  ASSERT_TRUE(st.ok());
  EXPECT_NE(st->config.disabled_reason.find("cannot be unsealed"), std::string::npos);
  EXPECT_FALSE(hooks_->Resume("new").ok());
  AppendN(store_.get(), "visit-3", 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(to_stream("visit-3"), 0u);
  // PUT again with the secret: enabled, sealed under the new key.
  ASSERT_TRUE(hooks_->Put(Config("new")).ok());
  ASSERT_TRUE(WaitFor([&] { return to_stream("visit-3") == 1; }));
  for (const auto& r : receiver_.Accepted()) EXPECT_TRUE(signed_with_key(r));
}

TEST(SecretBoxTest, KeyFileIsCreatedPrivateAndReopens) {
  const std::string dir = TempDir("secret-box");
  const std::string path = dir + "/delivery-secrets.key";
  auto created = SecretBox::FromKeyFile(path);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(std::filesystem::file_size(path), SecretBox::kKeyBytes);
  const std::string sealed = created->Seal("whsec_abc");
  EXPECT_NE(sealed, created->Seal("whsec_abc")) << "a fresh nonce per seal";
  auto reopened = SecretBox::FromKeyFile(path);
  ASSERT_TRUE(reopened.ok());
  auto plain = reopened->Open(sealed);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, "whsec_abc");
  // Tampered, truncated, foreign: refused.
  std::string tampered = sealed;
  char& c = tampered[SecretBox::kPrefix.size() + 40];  // a whole base64 digit of the MAC
  c = c == 'A' ? 'B' : 'A';
  EXPECT_FALSE(reopened->Open(tampered).ok());
  EXPECT_FALSE(reopened->Open("v1:AAAA").ok());
  EXPECT_FALSE(reopened->Open("whsec_abc").ok());
  EXPECT_FALSE(SecretBox::Ephemeral().Open(sealed).ok());
  // A key others can read, or a file that is not a key, is refused.
  std::filesystem::permissions(path, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  EXPECT_EQ(SecretBox::FromKeyFile(path).status().code(), StatusCode::kInvalidArgument);
  std::filesystem::permissions(path, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::remove);
  std::filesystem::resize_file(path, 10);
  EXPECT_EQ(SecretBox::FromKeyFile(path).status().code(), StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

TEST_F(WebhookTest, BatchModeSendsStructuredBatches) {
  for (int s = 0; s < 4; ++s) AppendN(store_.get(), "visit-" + std::to_string(s), 50);
  WebhookConfig c = Config("batch");
  c.batch_size = 40;
  ASSERT_TRUE(hooks_->Put(c).ok());
  ASSERT_TRUE(WaitFor([&] { return EventsOf(receiver_.Accepted()).size() >= 200; }));
  auto got = receiver_.Accepted();
  for (const auto& r : got) {
    EXPECT_EQ(r.Header("content-type"), "application/cloudevents-batch+json");
    auto j = Json::parse(r.body);
    ASSERT_TRUE(j.is_array());
    EXPECT_LE(j.size(), 40u);
    EXPECT_EQ(j[0]["specversion"], "1.0");
    EXPECT_EQ(j[0]["data"]["i"].is_number(), true);
    EXPECT_EQ(r.Header("webhook-signature"),
              OpenSslSignature("0123456789abcdef0123456789abcdef", r.Header("webhook-id"),
                               r.Header("webhook-timestamp"), r.body));
  }
  EXPECT_LT(got.size(), 20u);
  ExpectCompleteAndOrdered(EventsOf(got),
                           {{"visit-0", 50}, {"visit-1", 50}, {"visit-2", 50}, {"visit-3", 50}});
}

TEST_F(WebhookTest, FailuresAreRetriedUntilDeliveredInOrder) {
  for (int s = 0; s < 3; ++s) AppendN(store_.get(), "visit-" + std::to_string(s), 6);
  // Each event fails twice, in turn: a 500, a too-slow answer (timeout), a dropped connection,
  // a 503; then it is accepted.
  std::mutex mu;
  std::map<std::string, int> attempts;
  receiver_.SetBehaviour([&](const ReceivedRequest& r) {
    std::lock_guard lock(mu);
    const int n = ++attempts[r.Header("ce-id")];
    Reply reply;
    if (n > 2) return reply;
    switch ((attempts.size() + n) % 4) {
      case 0:
        reply.status = 500;
        break;
      case 1:
        reply.delay = std::chrono::milliseconds(700);  // over the 300 ms timeout
        break;
      case 2:
        reply.drop = true;
        break;
      default:
        reply.status = 503;
    }
    return reply;
  });
  WebhookConfig c = Config("flaky");
  c.timeout = std::chrono::milliseconds(300);
  ASSERT_TRUE(hooks_->Put(c).ok());
  // A slow answer is a 200 the client gave up on: the event is sent again (a duplicate).
  auto distinct = [&] {
    std::set<std::pair<std::string, uint64_t>> d;
    for (auto& e : EventsOf(receiver_.Accepted())) d.insert({e.stream, e.revision});
    return d.size();
  };
  ASSERT_TRUE(WaitFor([&] { return distinct() == 18; }, std::chrono::seconds(30)));
  ExpectCompleteAndOrdered(EventsOf(receiver_.Accepted()),
                           {{"visit-0", 6}, {"visit-1", 6}, {"visit-2", 6}});
  std::map<std::string, int> max_attempt;
  for (const auto& r : receiver_.All()) {
    int& m = max_attempt[r.Header("ce-id")];
    m = std::max(m, std::stoi(r.Header("annals-delivery-attempt")));
  }
  ASSERT_EQ(max_attempt.size(), 18u);
  for (const auto& [id, n] : max_attempt) EXPECT_GE(n, 2) << id;
  auto st = hooks_->Get("flaky");
  EXPECT_GE(st->failed_requests, 18u);
  EXPECT_EQ(st->cursor.parked, 0u);
}

TEST_F(WebhookTest, RetryAfterIsHonoured) {
  AppendN(store_.get(), "visit-1", 1);
  std::atomic<int> calls{0};
  receiver_.SetBehaviour([&](const ReceivedRequest&) {
    Reply r;
    if (calls++ == 0) {
      r.status = 429;
      r.headers = {{"Retry-After", "1"}};
    }
    return r;
  });
  ASSERT_TRUE(hooks_->Put(Config("ra")).ok());
  ASSERT_TRUE(WaitFor([&] { return receiver_.AcceptedCount() == 1; }));
  auto all = receiver_.All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_GE(all[1].at - all[0].at, std::chrono::milliseconds(950));
}

TEST_F(WebhookTest, GoneDisablesUntilResumed) {
  AppendN(store_.get(), "visit-1", 2);
  std::atomic<bool> gone{true};
  receiver_.SetBehaviour([&](const ReceivedRequest&) {
    Reply r;
    if (gone) r.status = 410;
    return r;
  });
  ASSERT_TRUE(hooks_->Put(Config("gone")).ok());
  ASSERT_TRUE(WaitFor([&] { return !hooks_->Get("gone")->config.disabled_reason.empty(); }));
  EXPECT_TRUE(hooks_->Get("gone")->cursor.definition.paused);
  const size_t calls = receiver_.All().size();
  // Disabled survives a restart, and nothing is sent.
  Restart();
  EXPECT_FALSE(hooks_->Get("gone")->config.disabled_reason.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(receiver_.All().size(), calls);
  gone = false;
  ASSERT_TRUE(hooks_->Resume("gone").ok());
  ASSERT_TRUE(WaitFor([&] { return receiver_.AcceptedCount() == 2; }));
  ExpectCompleteAndOrdered(EventsOf(receiver_.Accepted()), {{"visit-1", 2}});
}

TEST_F(WebhookTest, MaxAttemptsParksTheStreamWhileOthersFlow) {
  AppendN(store_.get(), "visit-bad", 3);
  AppendN(store_.get(), "visit-good", 3);
  std::atomic<bool> broken{true};
  receiver_.SetBehaviour([&](const ReceivedRequest& r) {
    Reply reply;
    if (broken && r.Header("annals-stream") == "visit-bad") reply.status = 500;
    return reply;
  });
  WebhookConfig c = Config("park");
  c.max_attempts = 3;
  ASSERT_TRUE(hooks_->Put(c).ok());
  ASSERT_TRUE(WaitFor([&] { return hooks_->Get("park")->cursor.parked == 3; }));
  AppendN(store_.get(), "visit-good", 1);
  AppendN(store_.get(), "visit-bad", 1);  // waits behind the parked events
  ASSERT_TRUE(WaitFor([&] { return receiver_.AcceptedCount() == 4; }));
  ASSERT_TRUE(WaitFor([&] { return hooks_->Get("park")->cursor.parked == 4; }));
  auto parked = (*hooks_->Cursor("park"))->ListParked(0, 10);
  ASSERT_EQ(parked->entries.size(), 4u);
  EXPECT_NE(parked->entries[0].reason.find("HTTP 500"), std::string::npos);
  EXPECT_EQ(parked->entries[0].attempts, 3u);
  broken = false;
  ASSERT_TRUE((*hooks_->Cursor("park"))->ReplayParked().ok());
  ASSERT_TRUE(WaitFor([&] { return receiver_.AcceptedCount() == 8; }));
  ExpectCompleteAndOrdered(EventsOf(receiver_.Accepted()), {{"visit-good", 4}, {"visit-bad", 4}});
  ASSERT_TRUE(WaitFor([&] { return hooks_->Get("park")->cursor.parked == 0; }));
}

TEST_F(WebhookTest, ReceiverRestartAndAnnalsRestartLoseNothing) {
  WebhookConfig c = Config("restarts");
  c.concurrency = 4;
  ASSERT_TRUE(hooks_->Put(c).ok());
  std::map<std::string, uint64_t> counts;
  auto append = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const std::string s = "visit-" + std::to_string(i % 5);
      AppendN(store_.get(), s, 1);
      ++counts[s];
    }
  };
  append(20);
  ASSERT_TRUE(WaitFor([&] { return receiver_.AcceptedCount() >= 5; }));
  const uint16_t port = receiver_.port();
  receiver_.Stop();  // connections refused from now on
  append(20);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Restart();  // Annals restarts while the receiver is down
  append(10);
  receiver_.Start(port);
  append(10);
  ASSERT_TRUE(WaitFor(
      [&] {
        std::set<std::pair<std::string, uint64_t>> distinct;
        for (auto& s : EventsOf(receiver_.Accepted())) distinct.insert({s.stream, s.revision});
        return distinct.size() == 60;
      },
      std::chrono::seconds(30)));
  ExpectCompleteAndOrdered(EventsOf(receiver_.Accepted()), counts);
}

TEST_F(WebhookTest, InvalidConfigsAreRefused) {
  WebhookConfig c = Config("bad");
  c.url = "ftp://x";
  EXPECT_EQ(hooks_->Put(c).status().code(), StatusCode::kInvalidArgument);
  for (const char* url : {"http://", "http://127.0.0.1:99999/x", "https://[::1/x"}) {
    c = Config("bad");
    c.url = url;
    EXPECT_EQ(hooks_->Put(c).status().code(), StatusCode::kInvalidArgument) << url;
  }
  c = Config("bad");
  c.max_attempts = 0;
  EXPECT_EQ(hooks_->Put(c).status().code(), StatusCode::kInvalidArgument);
  c = Config("bad");
  c.headers = {{"Bad Header", "x"}};
  EXPECT_EQ(hooks_->Put(c).status().code(), StatusCode::kInvalidArgument);
  // Headers Annals sets (framing, its signature, CloudEvents), in any case, or twice.
  for (const char* name : {"Content-Length", "host", "Transfer-Encoding", "webhook-signature",
                           "Webhook-Id", "ce-type", "Content-Type"}) {
    c = Config("bad");
    c.headers = {{name, "0"}};
    EXPECT_EQ(hooks_->Put(c).status().code(), StatusCode::kInvalidArgument) << name;
  }
  c = Config("bad");
  c.headers = {{"X-A", "1"}, {"x-a", "2"}};
  EXPECT_EQ(hooks_->Put(c).status().code(), StatusCode::kInvalidArgument);
  // ceSource goes out as a header: a CRLF in it injected header lines.
  c = Config("bad");
  c.ce_source = "src\r\nX-Injected: yes";
  EXPECT_EQ(hooks_->Put(c).status().code(), StatusCode::kInvalidArgument);
  // A whsec_ secret must carry a key: empty, requests were signed with an empty HMAC key.
  for (const char* secret : {"whsec_", "whsec_!!!not-base64"}) {
    c = Config("bad");
    c.secret = secret;
    EXPECT_EQ(hooks_->Put(c).status().code(), StatusCode::kInvalidArgument) << secret;
  }
  c = Config("fine");
  c.headers = {{"X-Tenant", "a"}, {"Authorization", "Bearer t"}};
  EXPECT_TRUE(hooks_->Put(c).ok());
  EXPECT_TRUE(hooks_->Delete("fine").ok());
  EXPECT_EQ(hooks_->Get("bad").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(hooks_->Delete("bad").code(), StatusCode::kNotFound);
}

TEST(WebhookFormat, RetryAfterSecondsAndDates) {
  EXPECT_EQ(ParseRetryAfter("3", 0), std::chrono::milliseconds(3000));
  EXPECT_EQ(ParseRetryAfter(" 0 \r\n", 0), std::chrono::milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 5),
            std::chrono::milliseconds(5000));
  EXPECT_FALSE(ParseRetryAfter("", 0));
  EXPECT_FALSE(ParseRetryAfter("soon", 0));
}

TEST(WebhookFormat, SignatureMatchesTheStandardWebhooksExample) {
  // The example of the Standard Webhooks specification's reference libraries.
  EXPECT_EQ(StandardWebhookSignature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                     "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                                     R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

// --- Annals SIGKILLed mid-delivery -------------------------------------------------------------
// The child (this binary, re-executed) runs the engine, the delivery service, the webhook
// manager and a writer; the parent runs the receiver, kills the child at random moments, and
// finally drains the webhook itself.

constexpr char kChildDir[] = "ANNALS_WEBHOOK_CHILD_DIR";
constexpr char kChildUrl[] = "ANNALS_WEBHOOK_CHILD_URL";

TEST(WebhookChild, Run) {
  const char* dir = std::getenv(kChildDir);
  if (!dir) GTEST_SKIP() << "only as the child of WebhookCrash";
  auto store = OpenTestEngine(dir);
  if (!store) ::_exit(3);
  auto svc = DeliveryService::Open(store.get());
  if (!svc.ok()) ::_exit(4);
  auto hooks = WebhookManager::Start(svc->get());
  if (!hooks.ok()) ::_exit(5);
  WebhookConfig c;
  c.name = "crash";
  c.url = std::getenv(kChildUrl);
  c.filter.filter.category = "visit";
  c.backoff_min = std::chrono::milliseconds(5);
  c.backoff_max = std::chrono::milliseconds(20);
  c.concurrency = 4;
  c.max_attempts = 1000;
  if (!(*hooks)->Put(c).ok()) ::_exit(6);
  std::mt19937 rng(static_cast<uint32_t>(::getpid()));
  for (int i = 0; i < 400; ++i) {
    AppendN(store.get(), "visit-" + std::to_string(rng() % 6), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 3));
  }
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // until killed
}

TEST(WebhookCrash, SigkillMidDeliveryLosesNothing) {
  TestReceiver receiver;
  receiver.Start();
  std::mt19937 rng(42);
  receiver.SetBehaviour([&](const ReceivedRequest&) {
    Reply r;
    if (rng() % 10 == 0) r.status = 503;  // the receiver misbehaves too
    return r;
  });
  const std::string dir = TempDir("webhook-crash");
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  for (int run = 0; run < 4; ++run) {
    const size_t before = receiver.AcceptedCount();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::setenv(kChildDir, dir.c_str(), 1);
      ::setenv(kChildUrl, receiver.Url().c_str(), 1);
      ::execl(self.c_str(), self.c_str(), "--gtest_filter=WebhookChild.Run", nullptr);
      ::_exit(127);
    }
    WaitFor([&] { return receiver.AcceptedCount() >= before + 20 + rng() % 100; },
            std::chrono::seconds(20));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  }
  auto store = OpenTestEngine(dir);
  ASSERT_TRUE(store);
  std::map<std::string, uint64_t> counts;
  ReadAllRequest r;
  r.filter.category = "visit";
  r.max_count = 100000;
  auto all = store->ReadAll(r);
  ASSERT_TRUE(all.ok());
  for (auto& e : all->events) counts[e.stream] = e.revision.value + 1;
  const size_t total = all->events.size();
  {
    auto svc = DeliveryService::Open(store.get());
    ASSERT_TRUE(svc.ok());
    auto hooks = WebhookManager::Start(svc->get());
    ASSERT_TRUE(hooks.ok());
    ASSERT_TRUE(WaitFor(
        [&] {
          std::set<std::pair<std::string, uint64_t>> distinct;
          for (auto& s : EventsOf(receiver.Accepted())) distinct.insert({s.stream, s.revision});
          return distinct.size() == total;
        },
        std::chrono::seconds(60)));
  }
  auto seen = EventsOf(receiver.Accepted());
  ExpectCompleteAndOrdered(seen, counts);
  std::printf("%zu events committed, %zu deliveries accepted\n", total, seen.size());
  store.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace annals::delivery
