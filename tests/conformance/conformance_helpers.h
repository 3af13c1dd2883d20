// Helpers shared by the conformance suite's test files (not part of the backend-facing API).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "annals/event_store.h"
#include "annals/status.h"
#include "annals/types.h"

// gtest printers for failure messages (found by argument-dependent lookup).
namespace annals {
inline void PrintTo(const Position& p, std::ostream* os) { *os << "Position{" << p.value << "}"; }
inline void PrintTo(const Revision& r, std::ostream* os) { *os << "Revision{" << r.value << "}"; }
inline void PrintTo(const Timestamp& t, std::ostream* os) { *os << "Timestamp{" << t.ticks << "}"; }
inline void PrintTo(const AppendResult& r, std::ostream* os) {
  *os << "AppendResult{first " << r.first_revision.value << ", last " << r.last_revision.value
      << ", position " << r.position.value << (r.idempotent ? ", idempotent}" : "}");
}
inline void PrintTo(StreamState s, std::ostream* os) {
  *os << (s == StreamState::kActive        ? "kActive"
          : s == StreamState::kSoftDeleted ? "kSoftDeleted"
                                           : "kTombstoned");
}
}  // namespace annals

namespace annals::conformance {

// ---- Status assertions. ----

inline const Status& StatusOf(const Status& status) { return status; }
template <typename T>
const Status& StatusOf(const Result<T>& result) {
  return result.status();
}

template <typename T>
::testing::AssertionResult IsOk(const T& result) {
  const Status& status = StatusOf(result);
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected ok, got " << status.ToString();
}

template <typename T>
::testing::AssertionResult HasCode(const T& result, StatusCode code) {
  const Status& status = StatusOf(result);
  if (status.code() == code) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "expected " << StatusCodeName(code) << ", got " << status.ToString();
}

// kWrongExpectedRevision carrying exactly {expected, actual}.
template <typename T>
::testing::AssertionResult IsConflict(const T& result, ExpectedRevision expected,
                                      std::optional<Revision> actual) {
  const Status& status = StatusOf(result);
  if (status.code() != StatusCode::kWrongExpectedRevision) {
    return ::testing::AssertionFailure()
           << "expected wrong_expected_revision, got " << status.ToString();
  }
  if (!status.conflict()) {
    return ::testing::AssertionFailure() << "no conflict details in " << status.ToString();
  }
  const RevisionConflict& conflict = *status.conflict();
  auto actual_text = [](std::optional<Revision> r) {
    return r ? std::to_string(r->value) : std::string("none");
  };
  if (!(conflict.expected == expected) || conflict.actual != actual) {
    return ::testing::AssertionFailure()
           << "conflict {expected " << conflict.expected.ToString() << ", actual "
           << actual_text(conflict.actual) << "}, want {expected " << expected.ToString()
           << ", actual " << actual_text(actual) << "}";
  }
  return ::testing::AssertionSuccess();
}

#define ANNALS_CAT_INNER_(a, b) a##b
#define ANNALS_CAT_(a, b) ANNALS_CAT_INNER_(a, b)
#define ASSERT_OK(expr) ASSERT_TRUE(::annals::conformance::IsOk(expr))
#define EXPECT_OK(expr) EXPECT_TRUE(::annals::conformance::IsOk(expr))
#define EXPECT_CODE(expr, code) \
  EXPECT_TRUE(::annals::conformance::HasCode((expr), ::annals::StatusCode::code))
#define ASSERT_CODE(expr, code) \
  ASSERT_TRUE(::annals::conformance::HasCode((expr), ::annals::StatusCode::code))
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(ANNALS_CAT_(annals_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  ASSERT_TRUE(::annals::conformance::IsOk(tmp));   \
  lhs = std::move(tmp).value()

// ---- Building requests. ----

// A JSON event of `type` whose data `{"n":n}` identifies it.
ProposedEvent Ev(std::string type, int n, std::optional<Uuid> id = std::nullopt);
// `count` events of `type` numbered first_n, first_n + 1, ...
std::vector<ProposedEvent> Evs(int count, std::string type = "Happened", int first_n = 0);
// The same events, each with a fresh random id.
std::vector<ProposedEvent> WithIds(std::vector<ProposedEvent> events);
AppendRequest Req(std::string stream, std::vector<ProposedEvent> events,
                  ExpectedRevision expected = ExpectedRevision::Any());

// ---- Reading everything. ----

// Reads `$all` in `direction` from `from` (default: the start, or the end backwards) by
// following `next` until end_of_log, checking that `next` always moves the right way.
std::vector<RecordedEvent> ReadAllPaged(EventStore& store, Direction direction,
                                        uint64_t max_count = 1000, const EventFilter& filter = {},
                                        uint64_t max_scan = 100000,
                                        std::optional<Position> from = std::nullopt);
inline std::vector<RecordedEvent> ReadAllEvents(EventStore& store) {
  return ReadAllPaged(store, Direction::kForwards);
}
// Reads a stream in `direction` by following `next` (max_count per call); fails the test on an
// error status.
std::vector<RecordedEvent> ReadStreamPaged(EventStore& store, const std::string& stream,
                                           Direction direction, uint64_t max_count = 1000);

// ---- Describing what was read. ----

// Every field of an event, for whole-value comparisons with readable diffs.
std::string Describe(const RecordedEvent& event);
std::vector<std::string> Describe(const std::vector<RecordedEvent>& events);
std::vector<uint64_t> Revisions(const std::vector<RecordedEvent>& events);
std::vector<std::string> Types(const std::vector<RecordedEvent>& events);
std::vector<std::string> Datas(const std::vector<RecordedEvent>& events);
std::vector<std::string> Streams(const std::vector<RecordedEvent>& events);
std::vector<std::string> Names(const std::vector<StreamInfo>& streams);
// The data `Ev(_, n)` writes.
std::string DataOf(int n);
// The metadata a `$metadata` event's data decodes to; fails the test when it does not decode.
StreamMetadata DecodeMetadata(const RecordedEvent& event);
// `metadata` after a trip through the JSON codec (custom and ACL JSON may be normalised).
StreamMetadata Canonical(const StreamMetadata& metadata);

}  // namespace annals::conformance
