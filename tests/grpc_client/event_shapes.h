// Recorded events of every shape the gRPC wire code must carry: empty and large payloads,
// revision and position 0 and near 2^64, multi-byte lengths, a nil id and one whose halves are
// -1 (ten-byte varints), an empty type, a negative `created`.
#pragma once

#include <string>
#include <vector>

#include "annals/types.h"

namespace annals::grpcwire::testing {

inline RecordedEvent Event(uint64_t position, uint64_t revision, std::string data,
                           std::string metadata) {
  RecordedEvent e;
  e.position = Position{position};
  e.revision = Revision{revision};
  e.stream = "visit-" + std::to_string(position);
  e.id = Uuid::Random();
  e.type = "PatientCheckedIn";
  e.content_type = "application/json";
  e.data = std::move(data);
  e.metadata = std::move(metadata);
  e.created = Timestamp{638'000'000'000'000'000};
  return e;
}

// `large`: also payloads of 70,000 bytes and 3 MiB.
inline std::vector<RecordedEvent> EventShapes(bool large) {
  std::vector<RecordedEvent> events = {
      Event(1, 0, "{\"patient\":\"p-1\"}", "{\"by\":\"nurse\"}"),
      Event(0, 0, "", ""),
      Event(127, 128, std::string(127, 'a'), std::string(128, 'b')),
  };
  if (large) {
    events.push_back(Event(1ull << 40, 1ull << 35, std::string(70'000, 'c'), "{\"k\":1}"));
    events.push_back(Event(UINT64_MAX - 1, UINT64_MAX - 1, std::string(3 << 20, 'd'), ""));
  }
  RecordedEvent odd = Event(5, 6, "x", "y");
  odd.stream = std::string(300, 's');
  odd.type = "";
  odd.content_type = "application/octet-stream";
  odd.created = Timestamp{-1};
  odd.id = Uuid{};  // nil: both halves 0, left out of the structured form
  events.push_back(odd);
  RecordedEvent high = Event(9, 9, "z", "");
  high.id.bytes.fill(0xff);  // halves of -1: ten-byte varints
  events.push_back(high);
  return events;
}

}  // namespace annals::grpcwire::testing
