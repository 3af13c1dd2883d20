// survey-service: prepares one post-visit survey per visit, from PatientCheckedOut events
// delivered by a persistent consumer group (REST poll/ack). Delivery is at least once; the
// handled event ids live in the service's own database, in the transaction that writes the
// survey (annals::IdempotentConsumer), so a redelivered event makes no second survey.
//
//   survey-service --server URL --db surveys.db [--group surveys] [--consumer NAME] [--once]
#include <csignal>
#include <cstdio>
#include <thread>

#include "annals/consumer_group.h"
#include "annals/projection.h"
#include "annals/sqlite_statement.h"
#include "flags.h"
#include "read_model.h"
#include "visit_events.h"

namespace {

std::atomic<bool> g_stop{false};

int Fail(const annals::Status& s) {
  std::fprintf(stderr, "survey-service: %s\n", s.ToString().c_str());
  return 1;
}

// The group: checked-out events of every visit, from the start, redelivered 2 s after a
// consumer stops acknowledging (a crashed instance).
constexpr const char* kGroup =
    R"({"source":{"eventType":"PatientCheckedOut"},"from":"start",)"
    R"("settings":{"ackTimeoutMs":2000,"maxRetries":50,"retryBackoffMinMs":50}})";

annals::Status PrepareSurvey(sqlite3* db, const annals::RecordedEvent& e,
                             const hospital::PatientCheckedOut& out) {
  return annals::SqlStatement(db,
                              "INSERT INTO surveys (visit_id, survey_id, event_id, questions) "
                              "VALUES (?1, ?2, ?3, ?4)")
      .Bind(1, out.visitId)
      .Bind(2, annals::DeriveEventId("survey:" + out.visitId).ToString())
      .Bind(3, e.id.ToString())
      .Bind(4, R"(["How was your stay?","Would you recommend us?"])")
      .Done();
}

}  // namespace

int main(int argc, char** argv) {
  const hospital::Flags flags(argc, argv);
  const annals::RemoteOptions server{
      .url = flags.Get("--server", "http://127.0.0.1:2113", "ANNALS_URL")};
  auto db = hospital::OpenReadModel(flags.Get("--db", "surveys.db"), /*read_only=*/false);
  if (!db.ok()) return Fail(db.status());
  const hospital::SqliteCloser closer(*db, sqlite3_close);
  // visit_id is the primary key: a second survey for a visit would be an error, not a row.
  if (auto s = annals::SqlExec(*db,
                               "CREATE TABLE IF NOT EXISTS surveys (visit_id TEXT PRIMARY KEY, "
                               "survey_id TEXT NOT NULL, event_id TEXT NOT NULL, "
                               "questions TEXT NOT NULL)");
      !s.ok()) {
    return Fail(s);
  }
  annals::ConsumerGroupClient group(server, flags.Get("--group", "surveys"));
  if (auto s = group.Create(kGroup); !s.ok()) return Fail(s);
  annals::IdempotentConsumer consumer(*db, "survey-service");
  const std::string name = flags.Get("--consumer", "survey-1");
  const bool once = flags.Has("--once");

  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::printf("survey-service: consuming PatientCheckedOut as %s\n", name.c_str());
  std::fflush(stdout);
  uint64_t prepared = 0;
  while (!g_stop) {
    auto batch = group.Poll(name, 100, std::chrono::milliseconds(once ? 500 : 2000));
    if (!batch.ok()) {
      std::fprintf(stderr, "survey-service: poll: %s\n", batch.status().ToString().c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (batch->empty() && once) break;
    std::vector<std::string> acks;
    for (const annals::Delivery& d : *batch) {
      auto out = annals::DecodeAs<hospital::PatientCheckedOut>(d.event);
      if (!out) {
        (void)group.Nack({d.ack_id}, annals::NackAction::kPark, "not a PatientCheckedOut");
        continue;
      }
      auto handled = consumer.HandleOnce(
          d.event.id, [&](sqlite3* tx) { return PrepareSurvey(tx, d.event, *out); });
      if (!handled.ok()) {
        std::fprintf(stderr, "survey-service: %s\n", handled.status().ToString().c_str());
        (void)group.Nack({d.ack_id}, annals::NackAction::kRetry, handled.status().message());
        continue;
      }
      if (*handled) ++prepared;
      acks.push_back(d.ack_id);
    }
    if (auto s = group.Ack(acks); !s.ok()) {
      // Unacknowledged events come again after the ack timeout; the ledger absorbs them.
      std::fprintf(stderr, "survey-service: ack: %s\n", s.ToString().c_str());
    }
  }
  std::printf("survey-service: prepared %llu surveys\n", static_cast<unsigned long long>(prepared));
  return 0;
}
