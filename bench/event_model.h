// The event model shared with ../shared/bench/peers, so Annals and its peers do the same work:
// stream visit-<n>, 10 events per stream, types cycling through ten visit event types, a
// 203-byte JSON data object, a 52-byte JSON metadata object, a random UUID per event and an
// exact expected revision on every append.
#pragma once

namespace annals::bench {

inline constexpr const char* kEventData =
    "{\"patientId\":\"5f0c6e1a-8f3b-4c2e-9d7a-2b1e4f6a9c3d\",\"clinicId\":\"clinic-0042\","
    "\"checkedInAt\":\"2024-05-01T10:15:00Z\",\"reason\":\"routine follow-up\","
    "\"triage\":{\"level\":3,\"nurse\":\"n-117\"},\"insurance\":\"verified\"}";
inline constexpr const char* kEventMetadata =
    "{\"correlationId\":\"c-8d2f4a91\",\"userId\":\"u-42\",\"v\":1}";
inline constexpr const char* kEventTypes[] = {
    "PatientCheckedIn", "RoomAssigned", "PatientTested", "VitalsRecorded", "MedicationGiven",
    "LabOrdered",       "LabResulted",  "PatientMoved",  "DoctorVisited",  "PatientCheckedOut"};
inline constexpr int kEventsPerStream = 10;

}  // namespace annals::bench
