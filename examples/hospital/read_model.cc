#include "read_model.h"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <variant>

#include "annals/projection.h"
#include "annals/sqlite_statement.h"
#include "visit_events.h"

namespace hospital {
namespace {

using annals::Status;
using annals::StatusCode;
using Json = nlohmann::ordered_json;

using Stmt = annals::SqlStatement;

Json TextOrNull(Stmt& q, int col) { return q.IsNull(col) ? Json(nullptr) : Json(q.Text(col)); }

annals::Result<Json> LoadVisit(sqlite3* db, Stmt& row) {
  Json v;
  const std::string id = row.Text(0);
  v["visitId"] = id;
  v["patientId"] = row.Text(1);
  v["hospitalId"] = row.Text(2);
  v["room"] = TextOrNull(row, 3);
  v["status"] = row.Text(4);
  v["checkedInAt"] = row.Text(5);
  v["checkedOutAt"] = TextOrNull(row, 6);
  Json tests = Json::array();
  Stmt q(db, "SELECT test FROM visit_tests WHERE visit_id = ?1 ORDER BY revision");
  q.Bind(1, id);
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) tests.push_back(q.Text(0));
  if (rc != SQLITE_DONE) return q.Error();
  v["tests"] = std::move(tests);
  return v;
}

constexpr const char* kVisitColumns =
    "SELECT visit_id, patient_id, hospital_id, room, status, checked_in_at, checked_out_at "
    "FROM visits ";

}  // namespace

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 100) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

std::string FormatTime(annals::Timestamp t) {
  const int64_t micros = t.UnixMicros();
  const time_t seconds = static_cast<time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(micros % 1000000));
  return buf;
}

annals::Result<sqlite3*> OpenReadModel(const std::string& path, bool read_only) {
  sqlite3* db = nullptr;
  const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    Status s(StatusCode::kIoError, "cannot open " + path + ": " + sqlite3_errmsg(db));
    sqlite3_close(db);
    return s;
  }
  sqlite3_busy_timeout(db, 5000);
  if (!read_only) {
    // WAL: readers (visits-api) never block the writer and see only committed transactions.
    Status s = annals::SqlExec(db, "PRAGMA journal_mode=WAL");
    if (s.ok()) s = annals::SqlExec(db, "PRAGMA synchronous=NORMAL");
    if (!s.ok()) {
      sqlite3_close(db);
      return s;
    }
  }
  return db;
}

Status CreateSchema(sqlite3* db) {
  return annals::SqlExec(db,
                         "CREATE TABLE IF NOT EXISTS visits (visit_id TEXT PRIMARY KEY, "
                         "patient_id TEXT NOT NULL, hospital_id TEXT NOT NULL, room TEXT, "
                         "status TEXT NOT NULL, checked_in_at TEXT NOT NULL, checked_out_at TEXT);"
                         "CREATE INDEX IF NOT EXISTS visits_by_patient ON visits (patient_id);"
                         "CREATE TABLE IF NOT EXISTS visit_tests (visit_id TEXT NOT NULL, "
                         "revision INTEGER NOT NULL, test TEXT NOT NULL, "
                         "PRIMARY KEY (visit_id, revision));");
}

Status ApplyVisitEvent(sqlite3* db, const annals::RecordedEvent& e) {
  auto event =
      annals::DecodeAny<PatientCheckedIn, RoomAssigned, PatientTested, PatientCheckedOut>(e);
  if (!event) return Status::Ok();  // another type, or a newer shape this reader ignores
  if (auto* in = std::get_if<PatientCheckedIn>(&*event)) {
    return Stmt(db,
                "INSERT INTO visits (visit_id, patient_id, hospital_id, status, checked_in_at) "
                "VALUES (?1, ?2, ?3, 'checked-in', ?4)")
        .Bind(1, in->visitId)
        .Bind(2, in->patientId)
        .Bind(3, in->hospitalId)
        .Bind(4, FormatTime(e.created))
        .Done();
  }
  if (auto* room = std::get_if<RoomAssigned>(&*event)) {
    return Stmt(db, "UPDATE visits SET room = ?2 WHERE visit_id = ?1")
        .Bind(1, room->visitId)
        .Bind(2, room->room)
        .Done();
  }
  if (auto* test = std::get_if<PatientTested>(&*event)) {
    return Stmt(db, "INSERT INTO visit_tests (visit_id, revision, test) VALUES (?1, ?2, ?3)")
        .Bind(1, test->visitId)
        .Bind(2, static_cast<int64_t>(e.revision.value))
        .Bind(3, test->test)
        .Done();
  }
  const auto& out = std::get<PatientCheckedOut>(*event);
  return Stmt(db,
              "UPDATE visits SET status = 'checked-out', checked_out_at = ?2 WHERE visit_id = ?1")
      .Bind(1, out.visitId)
      .Bind(2, out.checkedOutAt.empty() ? FormatTime(e.created) : out.checkedOutAt)
      .Done();
}

Status DropAllVisits(sqlite3* db) {
  return annals::SqlExec(db, "DELETE FROM visit_tests; DELETE FROM visits;");
}

Status DropVisit(sqlite3* db, const std::string& visit_id) {
  ANNALS_RETURN_IF_ERROR(
      Stmt(db, "DELETE FROM visit_tests WHERE visit_id = ?1").Bind(1, visit_id).Done());
  return Stmt(db, "DELETE FROM visits WHERE visit_id = ?1").Bind(1, visit_id).Done();
}

annals::Result<std::optional<std::string>> VisitJson(sqlite3* db, const std::string& visit_id) {
  // Both tables in one read transaction: the projection commits an event's rows together.
  ANNALS_RETURN_IF_ERROR(annals::SqlExec(db, "BEGIN"));
  Stmt row(db, std::string(kVisitColumns) + "WHERE visit_id = ?1");
  row.Bind(1, visit_id);
  annals::Result<std::optional<std::string>> out = std::optional<std::string>();
  const int rc = row.Step();
  if (rc == SQLITE_ROW) {
    annals::Result<Json> v = LoadVisit(db, row);
    out = v.ok() ? annals::Result<std::optional<std::string>>(v->dump())
                 : annals::Result<std::optional<std::string>>(v.status());
  } else if (rc != SQLITE_DONE) {
    out = row.Error();
  }
  (void)annals::SqlExec(db, "COMMIT");
  return out;
}

annals::Result<std::string> PatientVisitsJson(sqlite3* db, const std::string& patient_id) {
  ANNALS_RETURN_IF_ERROR(annals::SqlExec(db, "BEGIN"));
  Stmt rows(db, std::string(kVisitColumns) + "WHERE patient_id = ?1 ORDER BY visit_id");
  rows.Bind(1, patient_id);
  Json visits = Json::array();
  Status status;
  int rc;
  while ((rc = rows.Step()) == SQLITE_ROW) {
    annals::Result<Json> v = LoadVisit(db, rows);
    if (!v.ok()) {
      status = v.status();
      break;
    }
    visits.push_back(std::move(*v));
  }
  if (status.ok() && rc != SQLITE_DONE && rc != SQLITE_ROW) status = rows.Error();
  (void)annals::SqlExec(db, "COMMIT");
  if (!status.ok()) return status;
  Json out;
  out["patientId"] = patient_id;
  out["visits"] = std::move(visits);
  return out.dump();
}

}  // namespace hospital
