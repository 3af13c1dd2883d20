#include "core/filter_regex.h"

#include <gtest/gtest.h>

#include <string>

#include "core/event_filter_matcher.h"

namespace annals {
namespace {

TEST(FilterRegexTest, SearchesAnywhereUnlessAnchored) {
  auto re = FilterRegex::Compile("Checked(In|Out)", "filter.typeRegex");
  ASSERT_TRUE(re.ok()) << re.status().ToString();
  EXPECT_TRUE(re->Finds("PatientCheckedIn"));
  EXPECT_TRUE(re->Finds("CheckedOut"));
  EXPECT_FALSE(re->Finds("Checked"));
  auto anchored = FilterRegex::Compile("^visit-[0-9]+$", "filter.streamRegex");
  ASSERT_TRUE(anchored.ok());
  EXPECT_TRUE(anchored->Finds("visit-42"));
  EXPECT_FALSE(anchored->Finds("old-visit-42"));
  EXPECT_FALSE(anchored->Finds("visit-42b"));
}

TEST(FilterRegexTest, APatternThatBacktracksExponentiallyElsewhereRunsInLinearTime) {
  // `(a|a)*` before a `c` that never comes: a backtracking engine tries 2^n ways over n `a`s
  // (n = 64 would not end for centuries); RE2 reads the subject once.
  auto re = FilterRegex::Compile("^q(a|a)*c", "filter.streamRegex");
  ASSERT_TRUE(re.ok());
  EXPECT_FALSE(re->Finds("q" + std::string(64, 'a')));
  EXPECT_FALSE(re->Finds("q" + std::string(100000, 'a')));
  EXPECT_TRUE(re->Finds("q" + std::string(64, 'a') + "c"));
}

TEST(FilterRegexTest, WhatRe2RefusesIsInvalidArgumentNamingTheField) {
  for (const char* pattern : {"(", "a{2,1}", "(?=look)ahead", "(a)\\1"}) {
    auto re = FilterRegex::Compile(pattern, "filter.typeRegex");
    ASSERT_FALSE(re.ok()) << pattern;
    EXPECT_EQ(re.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(re.status().message().rfind("filter.typeRegex: ", 0), 0u) << re.status().message();
  }
}

TEST(FilterRegexTest, TheMatcherAppliesBothRegexesWithTheOtherConditions) {
  EventFilter filter;
  filter.stream_regex = "^visit-";
  filter.type_regex = "^Patient";
  filter.exclude_system_events = true;
  auto m = EventFilterMatcher::Compile(filter);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->Matches("visit-1", "PatientCheckedIn"));
  EXPECT_FALSE(m->Matches("visit-1", "RoomAssigned"));
  EXPECT_FALSE(m->Matches("room-1", "PatientCheckedIn"));
  filter.type_regex = "(?!x)";
  EXPECT_EQ(EventFilterMatcher::Compile(filter).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace annals
