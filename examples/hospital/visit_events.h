// The hospital's events (docs/tutorial-hospital.md), as structs with their JSON codecs. Every
// event of a visit is appended to the stream `visit-{visitId}`.
#pragma once

#include <optional>
#include <string>

#include "annals/json_codec.h"

namespace hospital {

struct PatientCheckedIn {
  std::string patientId;
  std::string hospitalId;
  std::string visitId;
};
struct RoomAssigned {
  std::string room;
  std::string visitId;
};
struct PatientTested {
  std::string test;
  std::string visitId;
};
struct PatientCheckedOut {
  std::string visitId;
  std::string checkedOutAt;  // RFC 3339, as the client sent it; empty: the commit time
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PatientCheckedIn, patientId, hospitalId, visitId)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RoomAssigned, room, visitId)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PatientTested, test, visitId)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PatientCheckedOut, visitId, checkedOutAt)

inline std::string VisitStream(const std::string& visit_id) { return "visit-" + visit_id; }

// Visit and patient ids: 1..100 characters of [A-Za-z0-9_.-] (they go into URLs and stream
// names unescaped). A '-' in a visit id is fine: the category is the text before the first '-'.
bool ValidId(const std::string& id);

}  // namespace hospital

ANNALS_JSON_EVENT(hospital::PatientCheckedIn, "PatientCheckedIn");
ANNALS_JSON_EVENT(hospital::RoomAssigned, "RoomAssigned");
ANNALS_JSON_EVENT(hospital::PatientTested, "PatientTested");
ANNALS_JSON_EVENT(hospital::PatientCheckedOut, "PatientCheckedOut");
