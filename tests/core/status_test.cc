#include "annals/status.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace annals {
namespace {

TEST(StatusCodeNameTest, EveryCodeHasADistinctSnakeCaseName) {
  const std::pair<StatusCode, std::string_view> kExpected[] = {
      {StatusCode::kOk, "ok"},
      {StatusCode::kInvalidArgument, "invalid_argument"},
      {StatusCode::kTooLarge, "too_large"},
      {StatusCode::kNotFound, "not_found"},
      {StatusCode::kWrongExpectedRevision, "wrong_expected_revision"},
      {StatusCode::kIdempotencyConflict, "idempotency_conflict"},
      {StatusCode::kStreamDeleted, "stream_deleted"},
      {StatusCode::kUnauthenticated, "unauthenticated"},
      {StatusCode::kPermissionDenied, "permission_denied"},
      {StatusCode::kUnavailable, "unavailable"},
      {StatusCode::kCorruption, "corruption"},
      {StatusCode::kIoError, "io_error"},
      {StatusCode::kInternal, "internal"},
      {StatusCode::kUnimplemented, "unimplemented"},
  };
  std::set<std::string_view> names;
  for (auto [code, name] : kExpected) {
    EXPECT_EQ(StatusCodeName(code), name);
    names.insert(StatusCodeName(code));
  }
  EXPECT_EQ(names.size(), std::size(kExpected));
}

TEST(StatusCodeNameTest, OutOfRangeCodeIsUnknown) {
  EXPECT_EQ(StatusCodeName(static_cast<StatusCode>(200)), "unknown");
}

TEST(StatusTest, DefaultStatusIsOk) {
  Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kOk);
  EXPECT_EQ(status.ToString(), "ok");
  EXPECT_FALSE(status.conflict().has_value());
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, ToStringIsCodeNameThenMessage) {
  Status status(StatusCode::kNotFound, "stream 'a' not found");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.ToString(), "not_found: stream 'a' not found");
  EXPECT_EQ(Status(StatusCode::kInternal, "").ToString(), "internal");
}

TEST(StatusTest, WrongRevisionAgainstAnExistingStreamNamesBothRevisions) {
  Status status =
      Status::WrongRevision("order-1", {ExpectedRevision::Exact(Revision{3}), Revision{5}});
  EXPECT_EQ(status.code(), StatusCode::kWrongExpectedRevision);
  EXPECT_EQ(status.message(), "wrong expected revision for stream 'order-1': expected 3, actual 5");
  ASSERT_TRUE(status.conflict().has_value());
  EXPECT_EQ(status.conflict()->expected, ExpectedRevision::Exact(Revision{3}));
  EXPECT_EQ(status.conflict()->actual, Revision{5});
}

TEST(StatusTest, WrongRevisionAgainstAMissingStreamSaysActualNone) {
  Status status = Status::WrongRevision("order-1", {ExpectedRevision::StreamExists(), {}});
  EXPECT_EQ(status.message(),
            "wrong expected revision for stream 'order-1': expected stream_exists, actual none");
  ASSERT_TRUE(status.conflict().has_value());
  EXPECT_FALSE(status.conflict()->actual.has_value());
  EXPECT_EQ(status.ToString(),
            "wrong_expected_revision: wrong expected revision for stream 'order-1': expected "
            "stream_exists, actual none");
}

TEST(StatusTest, WrongRevisionWithNoStreamExpected) {
  Status status = Status::WrongRevision("s", {ExpectedRevision::NoStream(), Revision{0}});
  EXPECT_EQ(status.message(),
            "wrong expected revision for stream 's': expected no_stream, actual 0");
}

Status FailIfNegative(int x) {
  if (x < 0) return Status(StatusCode::kInvalidArgument, "negative");
  return Status::Ok();
}

Status Twice(int x) {
  ANNALS_RETURN_IF_ERROR(FailIfNegative(x));
  ANNALS_RETURN_IF_ERROR(FailIfNegative(x - 10));
  return Status::Ok();
}

TEST(StatusTest, ReturnIfErrorPropagatesTheFirstFailure) {
  EXPECT_TRUE(Twice(11).ok());
  EXPECT_EQ(Twice(5).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Twice(-1).message(), "negative");
}

TEST(ResultTest, HoldsAValueOrTheStatusExplainingItsAbsence) {
  Result<std::string> value(std::string("x"));
  ASSERT_TRUE(value.ok());
  EXPECT_TRUE(value.status().ok());
  EXPECT_EQ(*value, "x");
  EXPECT_EQ(value->size(), 1u);
  Result<std::string> error(Status(StatusCode::kNotFound, "gone"));
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(error.status().message(), "gone");
}

}  // namespace
}  // namespace annals
