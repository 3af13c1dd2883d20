#include "core/rfc3339.h"

#include <gtest/gtest.h>

namespace annals {
namespace {

TEST(Rfc3339, FormatsUtcWithSixFractionalDigits) {
  EXPECT_EQ(FormatRfc3339(Timestamp{0}), "1970-01-01T00:00:00.000000Z");
  // 2026-11-27T07:32:00.1234567Z in 100 ns ticks: the seventh digit is dropped, not rounded.
  EXPECT_EQ(FormatRfc3339(Timestamp{17957647201234567}), "2026-11-27T07:32:00.123456Z");
  EXPECT_EQ(FormatRfc3339(Timestamp{951782400LL * 10'000'000}), "2000-02-29T00:00:00.000000Z");
}

TEST(Rfc3339, TimesBefore1970RoundDown) {
  EXPECT_EQ(FormatRfc3339(Timestamp{-1}), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatRfc3339(Timestamp{-10'000'000}), "1969-12-31T23:59:59.000000Z");
}

TEST(Rfc3339, YearsOutsideFourDigitsAreClamped) {
  const int64_t year_10000 = 253402300800LL * 10'000'000;
  EXPECT_EQ(FormatRfc3339(Timestamp{year_10000}), "9999-12-31T23:59:59.999999Z");
}

TEST(Rfc3339, AppendsToWhatIsThere) {
  std::string s = "at ";
  AppendRfc3339(Timestamp{0}, &s);
  EXPECT_EQ(s, "at 1970-01-01T00:00:00.000000Z");
}

TEST(Rfc3339, ParsesWhatItFormats) {
  for (int64_t ticks : {int64_t{0}, int64_t{17957647201234560}, int64_t{-10}}) {
    auto t = ParseRfc3339(FormatRfc3339(Timestamp{ticks}));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->ticks, ticks);
  }
}

TEST(Rfc3339, ParsesOffsetsFractionsAndLowerCase) {
  EXPECT_EQ(ParseRfc3339("2026-11-27T08:32:00+01:00")->ticks,
            ParseRfc3339("2026-11-27T07:32:00Z")->ticks);
  EXPECT_EQ(ParseRfc3339("2026-11-27T05:02:00-02:30")->ticks,
            ParseRfc3339("2026-11-27t07:32:00z")->ticks);
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00.1234567Z")->ticks, 1234567);
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00.123456789Z")->ticks, 1234567);
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00.5Z")->ticks, 5'000'000);
}

TEST(Rfc3339, RefusesWhatIsNotATime) {
  for (const char* bad :
       {"", "2026-11-27", "2026-11-27 07:32:00Z", "2026-11-27T07:32:00", "2026-11-27T07:32:00.Z",
        "2026-13-27T07:32:00Z", "2026-02-30T07:32:00Z", "2026-11-27T24:00:00Z",
        "2026-11-27T07:60:00Z", "2026-11-27T07:32:00+1:00", "2026-11-27T07:32:00+01:60",
        "2026-11-27T07:32:00Zjunk", "2O26-11-27T07:32:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << bad;
  }
}

}  // namespace
}  // namespace annals
