#include "core/expected_revision_check.h"

#include <gtest/gtest.h>

namespace annals {
namespace {

// One row per case of docs/event-store-semantics.md, "Append" rule 5.
struct Case {
  ExpectedRevision expected;
  std::optional<Revision> last;
  bool soft_deleted;
  bool ok;
};

TEST(CheckExpectedRevisionTest, FollowsTheSemanticsTable) {
  const ExpectedRevision kAny = ExpectedRevision::Any();
  const ExpectedRevision kNoStream = ExpectedRevision::NoStream();
  const ExpectedRevision kExists = ExpectedRevision::StreamExists();
  const Case kCases[] = {
      {kAny, std::nullopt, false, true},
      {kAny, Revision{4}, false, true},
      {kAny, Revision{4}, true, true},
      {kNoStream, std::nullopt, false, true},
      {kNoStream, Revision{4}, false, false},
      {kNoStream, Revision{4}, true, true},
      {kExists, std::nullopt, false, false},
      {kExists, Revision{0}, false, true},
      {kExists, Revision{4}, true, false},
      {ExpectedRevision::Exact(Revision{4}), Revision{4}, false, true},
      {ExpectedRevision::Exact(Revision{4}), Revision{4}, true, true},
      {ExpectedRevision::Exact(Revision{3}), Revision{4}, false, false},
      {ExpectedRevision::Exact(Revision{0}), std::nullopt, false, false},
  };
  for (const Case& c : kCases) {
    Status status = CheckExpectedRevision("s", c.expected, c.last, c.soft_deleted);
    EXPECT_EQ(status.ok(), c.ok) << c.expected.ToString() << " vs "
                                 << (c.last ? std::to_string(c.last->value) : "none")
                                 << (c.soft_deleted ? " (soft-deleted)" : "");
  }
}

TEST(CheckExpectedRevisionTest, FailureCarriesTheConflict) {
  Status status =
      CheckExpectedRevision("order-1", ExpectedRevision::Exact(Revision{3}), Revision{5}, false);
  EXPECT_EQ(status.code(), StatusCode::kWrongExpectedRevision);
  EXPECT_EQ(status.message(), "wrong expected revision for stream 'order-1': expected 3, actual 5");
  ASSERT_TRUE(status.conflict().has_value());
  EXPECT_EQ(status.conflict()->expected, ExpectedRevision::Exact(Revision{3}));
  EXPECT_EQ(status.conflict()->actual, Revision{5});
}

}  // namespace
}  // namespace annals
