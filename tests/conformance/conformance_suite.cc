// The fixture and the helpers of the conformance suite; the TEST_P cases are in the
// *_conformance.cc files next to this one.
#include "conformance/conformance_suite.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "conformance/conformance_helpers.h"
#include "core/stream_metadata_codec.h"

namespace annals::conformance {

void PrintTo(const BackendFactory& factory, std::ostream* os) { *os << factory.name; }

std::string BackendName(const ::testing::TestParamInfo<BackendFactory>& info) {
  return info.param.name;
}

void ConformanceTest::SetUp() {
  std::string pattern = (std::filesystem::path(::testing::TempDir()) /
                         ("annals-conformance-" + GetParam().name + "-XXXXXX"))
                            .string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp " << pattern;
  dir_ = pattern;
  store_ = GetParam().open(dir_);
  ASSERT_NE(store_, nullptr) << "backend " << GetParam().name << " failed to open " << dir_;
}

void ConformanceTest::TearDown() {
  store_.reset();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

void ConformanceTest::Reopen() {
  ASSERT_TRUE(GetParam().reopenable) << "Reopen() on a backend that is not reopenable";
  store_.reset();
  store_ = GetParam().open(dir_);
  ASSERT_NE(store_, nullptr) << "backend " << GetParam().name << " failed to reopen " << dir_;
}

// ---- Helpers. ----

std::string DataOf(int n) { return "{\"n\":" + std::to_string(n) + "}"; }

ProposedEvent Ev(std::string type, int n, std::optional<Uuid> id) {
  ProposedEvent event;
  event.id = id;
  event.type = std::move(type);
  event.data = DataOf(n);
  return event;
}

std::vector<ProposedEvent> Evs(int count, std::string type, int first_n) {
  std::vector<ProposedEvent> events;
  for (int i = 0; i < count; ++i) events.push_back(Ev(type, first_n + i));
  return events;
}

std::vector<ProposedEvent> WithIds(std::vector<ProposedEvent> events) {
  for (ProposedEvent& event : events) event.id = Uuid::Random();
  return events;
}

AppendRequest Req(std::string stream, std::vector<ProposedEvent> events,
                  ExpectedRevision expected) {
  AppendRequest request;
  request.stream = std::move(stream);
  request.expected = expected;
  request.events = std::move(events);
  return request;
}

std::vector<RecordedEvent> ReadAllPaged(EventStore& store, Direction direction, uint64_t max_count,
                                        const EventFilter& filter, uint64_t max_scan,
                                        std::optional<Position> from) {
  ReadAllRequest request;
  request.direction = direction;
  request.from =
      from.value_or(direction == Direction::kForwards ? Position::Start() : Position::End());
  request.max_count = max_count;
  request.max_scan = max_scan;
  request.filter = filter;
  std::vector<RecordedEvent> events;
  for (int calls = 0; calls < 1'000'000; ++calls) {
    Result<ReadAllResult> result = store.ReadAll(request);
    if (!result.ok()) {
      ADD_FAILURE() << "ReadAll: " << result.status().ToString();
      return events;
    }
    if (result->events.size() > max_count) {
      ADD_FAILURE() << "ReadAll returned " << result->events.size() << " events, max_count "
                    << max_count;
    }
    for (RecordedEvent& event : result->events) events.push_back(std::move(event));
    if (result->end_of_log) return events;
    const bool progressed = direction == Direction::kForwards ? result->next > request.from
                                                              : result->next < request.from;
    if (!progressed) {
      ADD_FAILURE() << "ReadAll next " << result->next.value << " does not move on from "
                    << request.from.value << " and end_of_log is false";
      return events;
    }
    request.from = result->next;
  }
  ADD_FAILURE() << "ReadAll never reached end_of_log";
  return events;
}

std::vector<RecordedEvent> ReadStreamPaged(EventStore& store, const std::string& stream,
                                           Direction direction, uint64_t max_count) {
  ReadStreamRequest request;
  request.stream = stream;
  request.direction = direction;
  request.max_count = max_count;
  std::vector<RecordedEvent> events;
  for (int calls = 0; calls < 1'000'000; ++calls) {
    Result<ReadStreamResult> result = store.ReadStream(request);
    if (!result.ok()) {
      ADD_FAILURE() << "ReadStream " << stream << ": " << result.status().ToString();
      return events;
    }
    if (result->events.size() > max_count) {
      ADD_FAILURE() << "ReadStream returned " << result->events.size() << " events, max_count "
                    << max_count;
    }
    for (RecordedEvent& event : result->events) events.push_back(std::move(event));
    if (!result->next) return events;
    if (request.from && *result->next == *request.from) {
      ADD_FAILURE() << "ReadStream next does not move on from " << request.from->value;
      return events;
    }
    request.from = result->next;
  }
  ADD_FAILURE() << "ReadStream never ended";
  return events;
}

std::string Describe(const RecordedEvent& e) {
  return "{id " + e.id.ToString() + ", stream " + e.stream + ", type " + e.type + ", revision " +
         std::to_string(e.revision.value) + ", position " + std::to_string(e.position.value) +
         ", created " + std::to_string(e.created.ticks) + ", content_type " + e.content_type +
         ", data " + e.data + ", metadata " + e.metadata + "}";
}

std::vector<std::string> Describe(const std::vector<RecordedEvent>& events) {
  std::vector<std::string> out;
  for (const RecordedEvent& e : events) out.push_back(Describe(e));
  return out;
}

std::vector<uint64_t> Revisions(const std::vector<RecordedEvent>& events) {
  std::vector<uint64_t> out;
  for (const RecordedEvent& e : events) out.push_back(e.revision.value);
  return out;
}

std::vector<std::string> Types(const std::vector<RecordedEvent>& events) {
  std::vector<std::string> out;
  for (const RecordedEvent& e : events) out.push_back(e.type);
  return out;
}

std::vector<std::string> Datas(const std::vector<RecordedEvent>& events) {
  std::vector<std::string> out;
  for (const RecordedEvent& e : events) out.push_back(e.data);
  return out;
}

std::vector<std::string> Streams(const std::vector<RecordedEvent>& events) {
  std::vector<std::string> out;
  for (const RecordedEvent& e : events) out.push_back(e.stream);
  return out;
}

std::vector<std::string> Names(const std::vector<StreamInfo>& streams) {
  std::vector<std::string> out;
  for (const StreamInfo& s : streams) out.push_back(s.name);
  return out;
}

StreamMetadata DecodeMetadata(const RecordedEvent& event) {
  Result<StreamMetadata> metadata = ParseStreamMetadataJson(event.data);
  if (!metadata.ok()) {
    ADD_FAILURE() << "metadata event does not decode: " << metadata.status().ToString() << " in "
                  << Describe(event);
    return {};
  }
  return std::move(metadata).value();
}

StreamMetadata Canonical(const StreamMetadata& metadata) {
  Result<StreamMetadata> decoded = ParseStreamMetadataJson(StreamMetadataToJson(metadata));
  if (!decoded.ok()) {
    ADD_FAILURE() << "metadata does not round-trip: " << decoded.status().ToString();
    return metadata;
  }
  return std::move(decoded).value();
}

}  // namespace annals::conformance
