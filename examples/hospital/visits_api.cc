// visits-api: the hospital's command and query HTTP service (docs/tutorial-hospital.md).
//
//   visits-api --server http://127.0.0.1:2113 --read-model visits.db --listen 127.0.0.1:8080
//
// Commands append events to `visit-{visitId}` through the SDK; queries answer from the read
// model that visits-projection maintains.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "annals/aggregate.h"
#include "annals/remote_store.h"
#include "flags.h"
#include "http_service.h"
#include "read_model.h"
#include "visit_events.h"

namespace hospital {
namespace {

using annals::ProposedEvent;
using annals::RecordedEvent;
using annals::Result;
using annals::Status;
using annals::StatusCode;
using Json = nlohmann::json;

HttpAnswer Error(int status, const std::string& detail) {
  return {status, Json{{"status", status}, {"error", detail}}.dump()};
}

HttpAnswer FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return Error(400, s.message());
    case StatusCode::kNotFound:
      return Error(404, s.message());
    case StatusCode::kWrongExpectedRevision:
    case StatusCode::kIdempotencyConflict:
      return Error(409, s.message());
    case StatusCode::kUnavailable:
      return Error(503, s.message());
    default:
      return Error(500, s.ToString());
  }
}

// What the smaller commands need to know of a visit.
struct VisitState {
  bool exists = false;
  bool checked_out = false;
  std::set<std::string> event_ids;  // to recognise a repeated command
};

void Fold(VisitState& v, const RecordedEvent& e) {
  if (e.type == annals::EventCodec<PatientCheckedIn>::kType) v.exists = true;
  if (e.type == annals::EventCodec<PatientCheckedOut>::kType) v.checked_out = true;
  v.event_ids.insert(e.id.ToString());
}

class VisitsApi {
 public:
  VisitsApi(annals::EventStore& store, std::string read_model)
      : store_(store), read_model_(std::move(read_model)) {}

  HttpAnswer Handle(const HttpRequest& req) {
    const std::string path = req.target.substr(0, req.target.find('?'));
    std::vector<std::string> parts;
    for (size_t at = 1; at <= path.size();) {
      const size_t slash = std::min(path.find('/', at), path.size());
      parts.push_back(path.substr(at, slash - at));
      at = slash + 1;
    }
    try {
      if (req.method == "POST" && path == "/visits/check-in") return CheckIn(req);
      if (req.method == "GET" && path == "/health") return {200, "{}"};
      if (parts.size() == 2 && parts[0] == "visits" && req.method == "GET") return Visit(parts[1]);
      if (parts.size() == 3 && parts[0] == "patients" && parts[2] == "visits" &&
          req.method == "GET") {
        return Patient(parts[1]);
      }
      if (parts.size() == 3 && parts[0] == "visits" && req.method == "POST") {
        return Step(parts[1], parts[2], req);
      }
    } catch (const Json::exception& e) {
      return Error(400, std::string("bad JSON: ") + e.what());
    }
    return Error(404, "no route " + req.method + " " + path);
  }

 private:
  static std::string CommandId(const HttpRequest& req, const Json& body) {
    if (body.contains("commandId")) return body.at("commandId").get<std::string>();
    if (!req.idempotency_key.empty()) return req.idempotency_key;
    return annals::Uuid::Random().ToString();  // no retry protection without one
  }

  // The whole visit in one atomic append that must create the stream.
  HttpAnswer CheckIn(const HttpRequest& req) {
    const Json body = Json::parse(req.body);
    const std::string visit = body.at("visitId").get<std::string>();
    const std::string patient = body.at("patientId").get<std::string>();
    const std::string hospital = body.at("hospitalId").get<std::string>();
    if (!ValidId(visit) || !ValidId(patient) || !ValidId(hospital)) {
      return Error(400, "visitId, patientId and hospitalId: 1..100 of [A-Za-z0-9_.-]");
    }
    const std::string command = CommandId(req, body);
    std::vector<ProposedEvent> events;
    auto add = [&](const auto& event) {
      events.push_back(annals::ToProposed(
          event, annals::DeriveEventId(command, static_cast<uint32_t>(events.size()))));
    };
    add(PatientCheckedIn{patient, hospital, visit});
    if (body.contains("room") && !body["room"].is_null()) {
      add(RoomAssigned{body["room"].get<std::string>(), visit});
    }
    for (const Json& test : body.value("tests", Json::array())) {
      add(PatientTested{test.get<std::string>(), visit});
    }
    if (body.contains("checkedOutAt") && !body["checkedOutAt"].is_null()) {
      add(PatientCheckedOut{visit, body["checkedOutAt"].get<std::string>()});
    }
    Result<annals::AppendResult> r =
        store_.Append({.stream = VisitStream(visit),
                       .expected = annals::ExpectedRevision::NoStream(),
                       .events = std::move(events)});
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kWrongExpectedRevision) {
        return Error(409, "visit " + visit + " already exists (another check-in)");
      }
      return FromStatus(r.status());
    }
    return {r->idempotent ? 200 : 201, Json{{"visitId", visit},
                                            {"stream", VisitStream(visit)},
                                            {"firstRevision", r->first_revision.value},
                                            {"lastRevision", r->last_revision.value},
                                            {"position", r->position.value},
                                            {"repeated", r->idempotent}}
                                           .dump()};
  }

  // room, tests, check-out: load, decide, append with the loaded revision (aggregate helper).
  HttpAnswer Step(const std::string& visit, const std::string& step, const HttpRequest& req) {
    const Json body = req.body.empty() ? Json::object() : Json::parse(req.body);
    if (!ValidId(visit)) return Error(400, "bad visit id");
    const annals::Uuid id = annals::DeriveEventId(CommandId(req, body));
    ProposedEvent event;
    if (step == "room") {
      event = annals::ToProposed(RoomAssigned{body.at("room").get<std::string>(), visit}, id);
    } else if (step == "tests") {
      event = annals::ToProposed(PatientTested{body.at("test").get<std::string>(), visit}, id);
    } else if (step == "check-out") {
      event = annals::ToProposed(PatientCheckedOut{visit, body.value("checkedOutAt", "")}, id);
    } else {
      return Error(404, "no such command: " + step);
    }
    auto outcome = annals::Execute<VisitState>(
        store_, VisitStream(visit), Fold,
        [&](const VisitState& v,
            std::optional<annals::Revision>) -> Result<std::vector<ProposedEvent>> {
          if (v.event_ids.count(id.ToString()) > 0) return std::vector<ProposedEvent>{};
          if (!v.exists) return Status(StatusCode::kNotFound, "no visit " + visit);
          if (v.checked_out) {
            return Status(StatusCode::kWrongExpectedRevision, "visit " + visit + " is checked out");
          }
          return std::vector<ProposedEvent>{event};
        });
    if (!outcome.ok()) return FromStatus(outcome.status());
    Json out{{"visitId", visit}, {"repeated", !outcome->append.has_value()}};
    if (outcome->append) out["revision"] = outcome->append->last_revision.value;
    out["attempts"] = outcome->attempts;
    return {outcome->append ? 201 : 200, out.dump()};
  }

  HttpAnswer Visit(const std::string& visit) {
    sqlite3* db = ReadModel();
    if (db == nullptr) return Error(503, "read model not available yet");
    auto json = VisitJson(db, visit);
    if (!json.ok()) return FromStatus(json.status());
    if (!*json) return Error(404, "no visit " + visit + " in the read model");
    return {200, **json};
  }

  HttpAnswer Patient(const std::string& patient) {
    sqlite3* db = ReadModel();
    if (db == nullptr) return Error(503, "read model not available yet");
    auto json = PatientVisitsJson(db, patient);
    if (!json.ok()) return FromStatus(json.status());
    return {200, *json};
  }

  // One read-only connection per thread: a connection's transactions must not interleave.
  sqlite3* ReadModel() {
    struct Conn {
      sqlite3* db = nullptr;
      ~Conn() { sqlite3_close(db); }
    };
    thread_local Conn conn;
    if (conn.db == nullptr) {
      auto db = OpenReadModel(read_model_, /*read_only=*/true);
      if (db.ok()) conn.db = *db;
    }
    return conn.db;
  }

  annals::EventStore& store_;
  const std::string read_model_;
};

}  // namespace
}  // namespace hospital

int main(int argc, char** argv) {
  const hospital::Flags flags(argc, argv);
  auto store =
      annals::ConnectRemote({.url = flags.Get("--server", "http://127.0.0.1:2113", "ANNALS_URL")});
  if (!store.ok()) {
    std::fprintf(stderr, "visits-api: %s\n", store.status().ToString().c_str());
    return 1;
  }
  hospital::VisitsApi api(**store, flags.Get("--read-model", "visits.db"));
  std::atomic<bool> stop{false};
  return hospital::ServeHttp(
      "visits-api", flags.Get("--listen", "127.0.0.1:8080"),
      [&](const hospital::HttpRequest& req) { return api.Handle(req); }, stop);
}
