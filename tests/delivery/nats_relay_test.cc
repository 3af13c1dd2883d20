// The NATS JetStream relay against a real `nats-server -js` (Debian's nats-server) started by
// the test on a free loopback port; the server is killed and restarted mid-stream, Annals is
// restarted; a JetStream pull consumer checks subjects, headers, order and completeness.
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cstdio>
#include <thread>

#include "../http/test_support.h"
#include "delivery/nats_relay.h"
#include "delivery_test_util.h"

namespace annals::delivery {
namespace {

using namespace testing;

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool Connectable(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

class NatsServer {
 public:
  NatsServer() : port_(FreePort()), dir_(TempDir("nats")) { Start(); }
  ~NatsServer() {
    Kill();
    std::filesystem::remove_all(dir_);
  }
  void Start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string port = std::to_string(port_);
      const std::string log = dir_ + "/nats-server.log";
      if (!std::freopen(log.c_str(), "a", stdout) || !std::freopen(log.c_str(), "a", stderr)) {
        ::_exit(126);
      }
      ::execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", port.c_str(), "-sd",
               dir_.c_str(), nullptr);
      ::_exit(127);
    }
    ASSERT_TRUE(WaitFor([&] { return Connectable(port_); })) << "nats-server did not start";
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string Url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

 private:
  uint16_t port_;
  std::string dir_;
  pid_t pid_ = -1;
};

struct Got {
  std::string subject;
  std::string stream;
  uint64_t revision;
  std::string id;
};

// Drains the JetStream stream through a durable pull consumer.
class Checker {
 public:
  explicit Checker(const std::string& url) {
    EXPECT_EQ(natsConnection_ConnectTo(&nc_, url.c_str()), NATS_OK);
    EXPECT_EQ(natsConnection_JetStream(&js_, nc_, nullptr), NATS_OK);
    jsErrCode jerr;
    EXPECT_EQ(js_PullSubscribe(&sub_, js_, "annals.>", "checker", nullptr, nullptr, &jerr),
              NATS_OK);
  }
  ~Checker() {
    if (sub_) natsSubscription_Destroy(sub_);
    if (js_) jsCtx_Destroy(js_);
    if (nc_) natsConnection_Destroy(nc_);
  }
  void Fetch(std::vector<Got>* out) {
    natsMsgList list{};
    jsErrCode jerr;
    if (natsSubscription_Fetch(&list, sub_, 200, 300, &jerr) != NATS_OK) return;
    for (int i = 0; i < list.Count; ++i) {
      natsMsg* m = list.Msgs[i];
      const char* stream = "";
      const char* rev = "0";
      const char* id = "";
      natsMsgHeader_Get(m, "Annals-Stream", &stream);
      natsMsgHeader_Get(m, "Annals-Revision", &rev);
      natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
      out->push_back({natsMsg_GetSubject(m), stream, std::stoull(rev), id});
      natsMsg_Ack(m, nullptr);
    }
    natsMsgList_Destroy(&list);
  }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  natsSubscription* sub_ = nullptr;
};

TEST(NatsRelay, SubjectsAreSanitised) {
  EXPECT_EQ(RelaySubject("annals", "visit-42"), "annals.visit.visit-42");
  EXPECT_EQ(RelaySubject("annals", "a.b c>*"), "annals.a_b_c__.a_b_c__");
}

TEST(NatsRelay, PublishesInOrderAcrossServerAndAnnalsRestarts) {
  NatsServer nats;
  TestStore store(true);
  auto svc = DeliveryService::Open(store.get());
  ASSERT_TRUE(svc.ok());
  auto relays = RelayManager::Start(svc->get());
  ASSERT_TRUE(relays.ok());
  RelayConfig c;
  c.name = "bus";
  c.url = nats.Url();
  c.filter.filter.category = "visit";
  c.create_stream = "ANNALS";
  c.backoff_min = std::chrono::milliseconds(20);
  c.backoff_max = std::chrono::milliseconds(200);
  c.timeout = std::chrono::milliseconds(500);
  ASSERT_TRUE((*relays)->Put(c).ok());
  std::map<std::string, uint64_t> counts;
  auto append = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const std::string s = "visit-" + std::to_string(i % 4);
      AppendN(store.get(), s, 1);
      ++counts[s];
    }
  };
  AppendN(store.get(), "other-1", 3);  // not relayed
  append(40);
  ASSERT_TRUE(WaitFor([&] { return (*relays)->Get("bus")->published >= 40; }));
  // NATS goes down (SIGKILL) while events keep coming, then comes back.
  nats.Kill();
  append(20);
  ASSERT_TRUE(WaitFor([&] { return (*relays)->Get("bus")->failed > 0; }));
  nats.Start();
  append(20);
  // Annals restarts.
  relays->reset();
  svc->reset();
  store.Reopen();
  svc = DeliveryService::Open(store.get());
  ASSERT_TRUE(svc.ok());
  relays = RelayManager::Start(svc->get());
  ASSERT_TRUE(relays.ok());
  append(20);
  Checker checker(nats.Url());
  std::vector<Got> got;
  std::set<std::pair<std::string, uint64_t>> distinct;
  ASSERT_TRUE(WaitFor(
      [&] {
        checker.Fetch(&got);
        distinct.clear();
        for (auto& g : got) distinct.insert({g.stream, g.revision});
        return distinct.size() == 100;
      },
      std::chrono::seconds(60)));
  std::map<std::string, int64_t> high;
  for (const Got& g : got) {
    EXPECT_EQ(g.subject, "annals.visit." + g.stream);
    EXPECT_EQ(g.id.size(), 36u);
    const int64_t h = high.count(g.stream) ? high[g.stream] : -1;
    EXPECT_LE(static_cast<int64_t>(g.revision), h + 1) << g.stream << " skipped ahead";
    high[g.stream] = std::max(h, static_cast<int64_t>(g.revision));
  }
  for (auto& [s, n] : counts) EXPECT_EQ(high[s] + 1, static_cast<int64_t>(n)) << s;
  auto st = (*relays)->Get("bus");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->connected);
  EXPECT_EQ(st->cursor.parked, 0u);
}

TEST(NatsRelay, RelaysAreManagedOverRest) {
  namespace ht = annals::http::testing;
  NatsServer nats;
  ht::ServerProcess s;
  auto append = [&](const std::string& stream) {
    auto r = ht::Http("POST", s.Url("/streams/" + stream),
                      R"({"events":[{"type":"Happened","data":{}}]})");
    ASSERT_EQ(r.status, 201) << r.body;
  };
  auto status = [&] { return ht::Http("GET", s.Url("/relays/bus")).json(); };
  const ht::Json def = {{"url", nats.Url()},        {"filter", {{"category", "visit"}}},
                        {"createStream", "ANNALS"}, {"backoffMinMs", 20},
                        {"backoffMaxMs", 200},      {"timeoutMs", 500}};
  auto put = ht::Http("PUT", s.Url("/relays/bus"), def.dump());
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(put.header("location"), "/relays/bus");
  EXPECT_EQ(put.json()["name"], "bus");
  EXPECT_EQ(put.json()["subjectPrefix"], "annals");
  append("other-1");  // not relayed
  for (int i = 0; i < 10; ++i) append("visit-" + std::to_string(i % 2));
  ASSERT_TRUE(WaitFor([&] { return status()["published"] == 10; })) << status().dump();
  auto st = status();
  EXPECT_EQ(st["connected"], true);
  EXPECT_EQ(st["parked"], 0);
  EXPECT_EQ(st["inFlight"], 0);
  EXPECT_EQ(ht::Http("GET", s.Url("/relays")).json()["relays"].size(), 1u);
  // Paused by a PUT: nothing is published until it is resumed.
  ht::Json paused = def;
  paused["paused"] = true;
  ASSERT_EQ(ht::Http("PUT", s.Url("/relays/bus"), paused.dump()).status, 200);
  append("visit-0");
  append("visit-1");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(status()["published"], 10);
  EXPECT_GE(status()["lagEvents"], 2);
  ASSERT_EQ(ht::Http("PUT", s.Url("/relays/bus"), def.dump()).status, 200);
  ASSERT_TRUE(WaitFor([&] { return status()["published"] == 12; })) << status().dump();
  // Replay from the start: JetStream drops the republished events by their Nats-Msg-Id.
  EXPECT_EQ(ht::Http("POST", s.Url("/relays/bus/reset"), R"({"from":"start"})").status, 204);
  ASSERT_TRUE(WaitFor([&] { return status()["published"] == 24; })) << status().dump();
  Checker checker(nats.Url());
  std::vector<Got> got;
  ASSERT_TRUE(WaitFor([&] {
    checker.Fetch(&got);
    return got.size() >= 12;
  }));
  checker.Fetch(&got);
  EXPECT_EQ(got.size(), 12u);
  for (const Got& g : got) EXPECT_EQ(g.subject, "annals.visit." + g.stream);
  EXPECT_EQ(ht::Http("GET", s.Url("/relays/bus/parked")).json()["parked"].size(), 0u);
  // Credentials in the URL are not shown back; errors are problems.
  auto cred =
      ht::Http("PUT", s.Url("/relays/cred"), R"({"url":"nats://user:s3cret-pw@127.0.0.1:1"})");
  ASSERT_EQ(cred.status, 201) << cred.body;
  EXPECT_EQ(cred.json()["url"], "nats://***@127.0.0.1:1");
  // Nothing listens on port 1: the relay's error names the URL, never its password.
  ASSERT_TRUE(WaitFor(
      [&] { return ht::Http("GET", s.Url("/relays/cred")).json()["lastError"].is_string(); }));
  const std::string shown = ht::Http("GET", s.Url("/relays/cred")).body;
  EXPECT_EQ(shown.find("s3cret-pw"), std::string::npos) << shown;
  EXPECT_NE(shown.find("nats://***@127.0.0.1:1"), std::string::npos) << shown;
  // Values a relay cannot run with are refused, not moved into range.
  for (const char* bad :
       {R"({"url":"nats://h:4222","batchSize":0})", R"({"url":"nats://h:4222","maxAttempts":0})",
        R"({"url":"nats://h:4222","timeoutMs":0})", R"({"url":"nats://h:4222","paused":"x"})",
        R"({"url":"nats://h:4222","backoffMinMs":100,"backoffMaxMs":1})",
        R"({"url":"nats://h:4222","createStream":"A.B"})"}) {
    EXPECT_EQ(ht::Http("PUT", s.Url("/relays/x"), bad).status, 400) << bad;
  }
  EXPECT_EQ(ht::Http("PUT", s.Url("/relays/x"), R"({"url":"http://x"})").status, 400);
  EXPECT_EQ(ht::Http("PUT", s.Url("/relays/x"), R"({"bogus":1})").status, 400);
  EXPECT_EQ(ht::Http("GET", s.Url("/relays/none")).status, 404);
  EXPECT_EQ(ht::Http("POST", s.Url("/relays/bus")).status, 405);
  EXPECT_EQ(ht::Http("DELETE", s.Url("/relays/cred")).status, 204);
  EXPECT_EQ(ht::Http("DELETE", s.Url("/relays/bus")).status, 204);
  EXPECT_EQ(ht::Http("GET", s.Url("/relays/bus")).status, 404);
}

}  // namespace
}  // namespace annals::delivery
