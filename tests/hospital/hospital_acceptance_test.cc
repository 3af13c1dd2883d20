// The acceptance story of issue 5, on real processes: `annals serve` (the engine, fsync'ed),
// visits-api, visits-projection and survey-service, all started by the test.
//
// 1,000 concurrent check-ins (half checked out in the check-in, half by the smaller check-out
// command); the projection and the survey service are SIGKILLed mid-stream and restarted;
// every visit reads back through GET; exactly one survey per checked-out visit; one visit and
// then the whole read model are deleted and rebuilt from the log with byte-identical records
// (SHA-256 of each GET body); two racing check-ins of one visit: one 201, one 409, nothing lost.
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "../http/test_support.h"
#include "child_process.h"

namespace hospital::testing {
namespace {

using annals::http::testing::Http;
using annals::http::testing::HttpResponse;
using annals::http::testing::Json;
using annals::http::testing::ServerProcess;
using namespace std::chrono_literals;

constexpr int kVisits = 1000;
constexpr int kClients = 16;

std::string Sha256(const std::string& text) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string VisitId(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "v%04d", i);
  return buf;
}

int64_t Count(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  int64_t n = -1;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      n = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return n;
}

void Exec(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return cond();
}

Json CheckInBody(int i, bool checked_out) {
  Json body{{"visitId", VisitId(i)},
            {"patientId", "p" + std::to_string(i % 100)},
            {"hospitalId", "h" + std::to_string(i % 3)},
            {"room", std::to_string(100 + i % 40)},
            {"tests", {"blood-" + std::to_string(i), "x-ray"}},
            {"commandId", "check-in-" + std::to_string(i)}};
  if (checked_out) body["checkedOutAt"] = "2026-11-27T12:00:00Z";
  return body;
}

class Acceptance : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hospital-acceptance-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{
        "--store", "engine", "--data-dir", dir_ + "/data", "--log-level", "warn"});
    read_model_ = dir_ + "/visits.db";
    surveys_ = dir_ + "/surveys.db";
    StartProjection();
    StartSurveys();
    api_ = std::make_unique<ChildProcess>(
        "visits-api",
        std::vector<std::string>{"--server", server_->Url(""), "--read-model", read_model_,
                                 "--listen", "127.0.0.1:0"},
        /*wait_for_url=*/true);
  }
  void TearDown() override {
    api_.reset();
    projection_.reset();
    surveys_service_.reset();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  void StartProjection() {
    projection_ = std::make_unique<ChildProcess>(
        "visits-projection",
        std::vector<std::string>{"--server", server_->Url(""), "--db", read_model_});
  }
  void StartSurveys() {
    surveys_service_ = std::make_unique<ChildProcess>(
        "survey-service", std::vector<std::string>{"--server", server_->Url(""), "--db", surveys_});
  }
  std::string Api(const std::string& path) const { return api_->url() + path; }

  std::string dir_, read_model_, surveys_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<ChildProcess> projection_, surveys_service_, api_;
};

TEST_F(Acceptance, HospitalStoryEndToEnd) {
  const auto started = std::chrono::steady_clock::now();
  // ---- 1,000 concurrent check-ins; the consumers are killed and restarted mid-stream. ----
  std::atomic<int> next{0}, created{0}, failures{0};
  std::atomic<bool> killed{false};
  auto client = [&] {
    for (int i = next++; i < kVisits; i = next++) {
      const bool checked_out_now = i % 2 == 0;
      HttpResponse r =
          Http("POST", Api("/visits/check-in"), CheckInBody(i, checked_out_now).dump());
      if (r.status != 201) {
        ADD_FAILURE() << VisitId(i) << ": " << r.status << " " << r.body;
        ++failures;
        continue;
      }
      if (!checked_out_now) {
        // The smaller command, through the aggregate helper.
        Json out{{"commandId", "check-out-" + std::to_string(i)}};
        HttpResponse c = Http("POST", Api("/visits/" + VisitId(i) + "/check-out"), out.dump());
        if (c.status != 201) {
          ADD_FAILURE() << VisitId(i) << " check-out: " << c.body;
          ++failures;
        }
      }
      const int done = ++created;
      if (done == kVisits * 3 / 10 && !killed.exchange(true)) {
        EXPECT_EQ(projection_->Stop(SIGKILL), 128 + SIGKILL);
        EXPECT_EQ(surveys_service_->Stop(SIGKILL), 128 + SIGKILL);
      }
      if (done == kVisits * 6 / 10) {
        // Restarted while the other clients go on checking in.
        StartProjection();
        StartSurveys();
      }
    }
  };
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) clients.emplace_back(client);
  for (auto& t : clients) t.join();
  ASSERT_EQ(failures.load(), 0);
  ASSERT_EQ(created.load(), kVisits);
  const double checkin_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("[ measure  ] %d check-ins (+%d check-out commands) with %d clients: %.2f s\n",
              kVisits, kVisits / 2, kClients, checkin_seconds);

  // Repeats: the same command id is idempotent, another one for the same visit is a 409.
  HttpResponse again = Http("POST", Api("/visits/check-in"), CheckInBody(3, false).dump());
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json()["repeated"], true);
  Json other = CheckInBody(3, false);
  other["commandId"] = "another-command";
  EXPECT_EQ(Http("POST", Api("/visits/check-in"), other.dump()).status, 409);
  HttpResponse out_again = Http("POST", Api("/visits/" + VisitId(1) + "/check-out"),
                                Json{{"commandId", "check-out-1"}}.dump());
  EXPECT_EQ(out_again.status, 200) << out_again.body;
  EXPECT_EQ(Http("POST", Api("/visits/" + VisitId(1) + "/check-out"),
                 Json{{"commandId", "check-out-twice"}}.dump())
                .status,
            409);

  // ---- Read everything back from the read model. ----
  std::map<std::string, std::string> hashes;
  ASSERT_TRUE(WaitFor(
      [&] { return Http("GET", Api("/visits/" + VisitId(kVisits - 1))).status == 200; }, 60s));
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count(read_model_, "SELECT count(*) FROM visits WHERE status='checked-out'") ==
               kVisits;
      },
      60s));
  for (int i = 0; i < kVisits; ++i) {
    HttpResponse r = Http("GET", Api("/visits/" + VisitId(i)));
    ASSERT_EQ(r.status, 200) << VisitId(i) << " " << r.body;
    const Json v = r.json();
    EXPECT_EQ(v["patientId"], "p" + std::to_string(i % 100));
    EXPECT_EQ(v["room"], std::to_string(100 + i % 40));
    EXPECT_EQ(v["tests"], Json({"blood-" + std::to_string(i), "x-ray"}));
    EXPECT_EQ(v["status"], "checked-out");
    hashes[VisitId(i)] = Sha256(r.body);
  }
  HttpResponse patient = Http("GET", Api("/patients/p7/visits"));
  ASSERT_EQ(patient.status, 200);
  EXPECT_EQ(patient.json()["visits"].size(), static_cast<size_t>(kVisits / 100));
  EXPECT_EQ(Count(read_model_, "SELECT count(*) FROM visit_tests"), 2 * kVisits);

  // ---- Exactly one survey per visit, despite the kill and the redeliveries. ----
  ASSERT_TRUE(
      WaitFor([&] { return Count(surveys_, "SELECT count(*) FROM surveys") == kVisits; }, 60s))
      << Count(surveys_, "SELECT count(*) FROM surveys") << "\n"
      << surveys_service_->Output();
  std::this_thread::sleep_for(2500ms);  // past the ack timeout: late redeliveries arrive now
  EXPECT_EQ(Count(surveys_, "SELECT count(*) FROM surveys"), kVisits);
  EXPECT_EQ(Count(surveys_, "SELECT count(DISTINCT visit_id) FROM surveys"), kVisits);
  EXPECT_EQ(Count(surveys_, "SELECT count(*) FROM annals_handled"), kVisits);
  const Json group = Http("GET", server_->Url("/subscriptions/surveys")).json();
  std::printf("[ measure  ] survey group: delivered %s, acked %s, retried %s\n",
              group.value("delivered", Json()).dump().c_str(),
              group.value("acked", Json()).dump().c_str(),
              group.value("retried", Json()).dump().c_str());

  // ---- Delete one visit from the read model, replay its stream. ----
  Exec(read_model_,
       "DELETE FROM visit_tests WHERE visit_id='v0007'; DELETE FROM visits WHERE visit_id='v0007'");
  EXPECT_EQ(Http("GET", Api("/visits/v0007")).status, 404);
  std::string output;
  ASSERT_EQ(
      RunProgram("visits-projection",
                 {"--server", server_->Url(""), "--db", read_model_, "--rebuild-visit", "v0007"},
                 &output),
      0)
      << output;
  EXPECT_EQ(Sha256(Http("GET", Api("/visits/v0007")).body), hashes["v0007"]);

  // ---- Delete the whole read model, replay the log. ----
  EXPECT_EQ(projection_->Stop(SIGTERM), 0) << projection_->Output();
  Exec(read_model_, "DELETE FROM visit_tests; DELETE FROM visits;");
  EXPECT_EQ(Http("GET", Api("/visits/v0001")).status, 404);
  ASSERT_EQ(RunProgram("visits-projection",
                       {"--server", server_->Url(""), "--db", read_model_, "--rebuild", "--once"},
                       &output),
            0)
      << output;
  int identical = 0;
  for (const auto& [visit, hash] : hashes) {
    identical += Sha256(Http("GET", Api("/visits/" + visit)).body) == hash;
  }
  EXPECT_EQ(identical, kVisits);

  // ---- Two writers racing on one visit: one wins, the other gets a 409, nothing lost. ----
  std::atomic<int> go{0};
  HttpResponse results[2];
  std::thread racers[2];
  for (int w = 0; w < 2; ++w) {
    racers[w] = std::thread([&, w] {
      Json body = CheckInBody(5000, false);
      body["commandId"] = "racer-" + std::to_string(w);
      body["room"] = "room-of-writer-" + std::to_string(w);
      ++go;
      while (go < 2) {
      }
      results[w] = Http("POST", Api("/visits/check-in"), body.dump());
    });
  }
  for (auto& t : racers) t.join();
  const int winner = results[0].status == 201 ? 0 : 1;
  EXPECT_EQ(results[winner].status, 201) << results[winner].body;
  EXPECT_EQ(results[1 - winner].status, 409) << results[1 - winner].body;
  HttpResponse stream = Http("GET", server_->Url("/streams/visit-v5000"));
  ASSERT_EQ(stream.status, 200);
  ASSERT_EQ(stream.json()["events"].size(), 4u);  // the winner's four events, whole
  EXPECT_EQ(stream.json()["events"][1]["data"]["room"], "room-of-writer-" + std::to_string(winner));
  // Racing smaller commands on one visit both land: the aggregate helper reloads and retries.
  std::thread testers[4];
  std::atomic<int> ok_tests{0};
  for (int w = 0; w < 4; ++w) {
    testers[w] = std::thread([&, w] {
      HttpResponse r =
          Http("POST", Api("/visits/v5000/tests"),
               Json{{"test", "t" + std::to_string(w)}, {"commandId", "test-" + std::to_string(w)}}
                   .dump());
      ok_tests += r.status == 201;
    });
  }
  for (auto& t : testers) t.join();
  EXPECT_EQ(ok_tests.load(), 4);
  EXPECT_EQ(Http("GET", server_->Url("/streams/visit-v5000")).json()["events"].size(), 8u);

  std::printf("[ measure  ] whole story: %.2f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

}  // namespace
}  // namespace hospital::testing
