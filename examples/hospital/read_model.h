// The visits read model: SQLite tables the projection writes and visits-api reads.
//
//   visits(visit_id PK, patient_id, hospital_id, room, status, checked_in_at, checked_out_at)
//   visit_tests(visit_id, revision, test)   -- one row per PatientTested, PK (visit_id, revision)
//
// Every value comes from the events (times are the events' commit times), never from the
// projection's clock, so replaying the log rebuilds byte-identical records.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <string>

#include "annals/event_store.h"

namespace hospital {

// Opens (creating when missing, unless read_only) the database in WAL mode, so visits-api reads
// while the projection writes; waits up to 5 s on a lock.
annals::Result<sqlite3*> OpenReadModel(const std::string& path, bool read_only);
// Closes the database when it goes out of scope, on every return path.
using SqliteCloser = std::unique_ptr<sqlite3, int (*)(sqlite3*)>;
annals::Status CreateSchema(sqlite3* db);
// The projection's handler: applies one event of the `visit` category.
annals::Status ApplyVisitEvent(sqlite3* db, const annals::RecordedEvent& event);
annals::Status DropAllVisits(sqlite3* db);
annals::Status DropVisit(sqlite3* db, const std::string& visit_id);

// GET /visits/{id}: the visit as JSON, nullopt when the model has no such visit.
annals::Result<std::optional<std::string>> VisitJson(sqlite3* db, const std::string& visit_id);
// GET /patients/{id}/visits: {"patientId": .., "visits": [visit, ...]} ordered by visit id.
annals::Result<std::string> PatientVisitsJson(sqlite3* db, const std::string& patient_id);

// "2026-11-27T07:32:00.123456Z".
std::string FormatTime(annals::Timestamp t);

}  // namespace hospital
