// visits-projection: builds the visits read model (SQLite) from the `visit` category, with its
// checkpoint in the same database and transaction (annals::ProjectionRunner).
//
//   visits-projection --server URL --db visits.db            # catch up, then follow live
//   visits-projection ... --once                             # catch up and exit
//   visits-projection ... --rebuild                          # drop the model, replay the log
//   visits-projection ... --rebuild-visit ID                 # drop one visit, replay its stream
#include <csignal>
#include <cstdio>

#include "annals/aggregate.h"
#include "annals/projection.h"
#include "annals/remote_store.h"
#include "flags.h"
#include "read_model.h"
#include "visit_events.h"

namespace {

std::atomic<bool> g_stop{false};

int Fail(const annals::Status& s) {
  std::fprintf(stderr, "visits-projection: %s\n", s.ToString().c_str());
  return 1;
}

// Rebuilding one visit replays only its stream, in one transaction; the checkpoint is not
// touched, because the rest of the model is already past those events.
annals::Status RebuildVisit(annals::EventStore& store, sqlite3* db, const std::string& visit) {
  ANNALS_RETURN_IF_ERROR(annals::SqlExec(db, "BEGIN IMMEDIATE"));
  annals::Status status = hospital::DropVisit(db, visit);
  if (status.ok()) {
    auto loaded = annals::LoadStream(store, hospital::VisitStream(visit),
                                     [&](const annals::RecordedEvent& e) {
                                       if (status.ok()) status = hospital::ApplyVisitEvent(db, e);
                                     });
    if (!loaded.ok()) status = loaded.status();
  }
  if (status.ok()) status = annals::SqlExec(db, "COMMIT");
  if (!status.ok()) (void)annals::SqlExec(db, "ROLLBACK");
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  const hospital::Flags flags(argc, argv);
  auto store =
      annals::ConnectRemote({.url = flags.Get("--server", "http://127.0.0.1:2113", "ANNALS_URL")});
  if (!store.ok()) return Fail(store.status());
  auto db = hospital::OpenReadModel(flags.Get("--db", "visits.db"), /*read_only=*/false);
  if (!db.ok()) return Fail(db.status());
  const hospital::SqliteCloser closer(*db, sqlite3_close);
  if (auto s = hospital::CreateSchema(*db); !s.ok()) return Fail(s);

  annals::ProjectionRunner runner(**store, *db, {.name = "visits", .filter = {.category = "visit"}},
                                  hospital::ApplyVisitEvent);
  if (flags.Has("--rebuild-visit")) {
    const std::string visit = flags.Get("--rebuild-visit", "");
    if (auto s = RebuildVisit(**store, *db, visit); !s.ok()) return Fail(s);
    std::printf("visits-projection: rebuilt visit %s\n", visit.c_str());
    return 0;
  }
  if (flags.Has("--rebuild")) {
    if (auto s = runner.Reset(hospital::DropAllVisits); !s.ok()) return Fail(s);
    std::printf("visits-projection: read model dropped; replaying the log\n");
  }
  if (flags.Has("--once") || flags.Has("--rebuild")) {
    auto applied = runner.CatchUp();
    if (!applied.ok()) return Fail(applied.status());
    std::printf("visits-projection: applied %llu events\n",
                static_cast<unsigned long long>(*applied));
    if (flags.Has("--once")) return 0;
  }
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::printf("visits-projection: following the visit category\n");
  std::fflush(stdout);
  if (auto s = runner.Run(g_stop); !s.ok()) return Fail(s);
  return 0;
}
