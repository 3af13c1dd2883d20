#include "annals/types.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>
#include <vector>

namespace annals {
namespace {

TEST(TimestampTest, NowIsSystemClockInHundredNanosecondTicks) {
  auto before = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  Timestamp now = Timestamp::Now();
  auto after = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  EXPECT_GE(now.UnixMicros(), before);
  EXPECT_LE(now.UnixMicros(), after);
  EXPECT_EQ(now.ticks / 10, now.UnixMicros());
}

constexpr std::string_view kSampleUuid = "123e4567-e89b-42d3-a456-426614174000";

TEST(UuidTest, ToStringIsLowerCaseCanonicalForm) {
  Uuid uuid;
  for (int i = 0; i < 16; ++i) uuid.bytes[i] = static_cast<uint8_t>(0xa0 + i);
  EXPECT_EQ(uuid.ToString(), "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
}

TEST(UuidTest, NilUuidIsNilAndPrintsAsZeros) {
  Uuid nil;
  EXPECT_TRUE(nil.IsNil());
  EXPECT_EQ(nil.ToString(), "00000000-0000-0000-0000-000000000000");
  Uuid one;
  one.bytes[15] = 1;
  EXPECT_FALSE(one.IsNil());
}

TEST(UuidTest, ParseAcceptsCanonicalFormInEitherCase) {
  auto lower = Uuid::Parse(kSampleUuid);
  ASSERT_TRUE(lower.has_value());
  EXPECT_EQ(lower->ToString(), kSampleUuid);
  EXPECT_EQ(lower->bytes[0], 0x12);
  EXPECT_EQ(lower->bytes[15], 0x00);
  EXPECT_EQ(Uuid::Parse("123E4567-E89B-42D3-A456-426614174000"), lower);
  EXPECT_EQ(Uuid::Parse("123e4567-E89B-42d3-A456-426614174000"), lower);
}

TEST(UuidTest, ParseRefusesAnythingButThe36CharacterForm) {
  for (std::string_view bad : {
           "",
           "123e4567-e89b-42d3-a456-42661417400",            // 35 chars
           "123e4567-e89b-42d3-a456-4266141740000",          // 37 chars
           "123e4567e89b42d3a456426614174000",               // no dashes
           "123e4567e89b-42d3-a456-426614174000-",           // dash moved to the end
           "123e456-7e89b-42d3-a456-426614174000",           // dash one place early
           "123e4567-e89b-42d3-a456-42661417400g",           // not hex
           "123e4567-e89b-42d3-a456-4266141740 0",           // space
           "{23e4567-e89b-42d3-a456-426614174000",           // brace
           "+23e4567-e89b-42d3-a456-426614174000",           // sign
           " 123e4567-e89b-42d3-a456-42661417400",           // leading space
           "urn:uuid:123e4567-e89b-42d3-a456-426614174000",  // URN prefix
       }) {
    EXPECT_FALSE(Uuid::Parse(bad).has_value()) << bad;
  }
}

TEST(UuidTest, RandomIsVersion4WithRfc4122Variant) {
  for (int i = 0; i < 1000; ++i) {
    Uuid uuid = Uuid::Random();
    EXPECT_FALSE(uuid.IsNil());
    EXPECT_EQ(uuid.bytes[6] >> 4, 4);
    EXPECT_EQ(uuid.bytes[8] >> 6, 2);
    std::string text = uuid.ToString();
    EXPECT_EQ(text[14], '4');
    EXPECT_EQ(Uuid::Parse(text), uuid);
  }
}

TEST(UuidTest, RandomDoesNotRepeatWithinOrAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<Uuid>> generated(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&generated, t] {
      for (int i = 0; i < kPerThread; ++i) generated[t].push_back(Uuid::Random());
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<Uuid> all;
  for (const auto& ids : generated) all.insert(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), size_t{kThreads * kPerThread});
}

TEST(UuidTest, ForkedChildDoesNotRepeatTheParentsSequence) {
  (void)Uuid::Random();  // seed this thread's generator before forking
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Uuid child = Uuid::Random();
    ssize_t written = write(fds[1], child.bytes.data(), child.bytes.size());
    _exit(written == 16 ? 0 : 1);
  }
  Uuid parent = Uuid::Random();
  Uuid child;
  ASSERT_EQ(read(fds[0], child.bytes.data(), child.bytes.size()), 16);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_NE(parent, child);
}

TEST(ExpectedRevisionTest, ToStringNamesEachKind) {
  EXPECT_EQ(ExpectedRevision::Any().ToString(), "any");
  EXPECT_EQ(ExpectedRevision::NoStream().ToString(), "no_stream");
  EXPECT_EQ(ExpectedRevision::StreamExists().ToString(), "stream_exists");
  EXPECT_EQ(ExpectedRevision::Exact(Revision{0}).ToString(), "0");
  EXPECT_EQ(ExpectedRevision::Exact(Revision{18446744073709551615ull}).ToString(),
            "18446744073709551615");
}

TEST(ExpectedRevisionTest, ParseReadsWhatToStringWrites) {
  for (ExpectedRevision expected :
       {ExpectedRevision::Any(), ExpectedRevision::NoStream(), ExpectedRevision::StreamExists(),
        ExpectedRevision::Exact(Revision{0}), ExpectedRevision::Exact(Revision{42}),
        ExpectedRevision::Exact(Revision{18446744073709551615ull})}) {
    EXPECT_EQ(ExpectedRevision::Parse(expected.ToString()), expected) << expected.ToString();
  }
}

TEST(ExpectedRevisionTest, ParseAcceptsLeadingZerosInADecimalRevision) {
  EXPECT_EQ(ExpectedRevision::Parse("007"), ExpectedRevision::Exact(Revision{7}));
}

TEST(ExpectedRevisionTest, ParseRefusesSignsWhitespaceOverflowAndOtherWords) {
  for (std::string_view bad : {"", "-1", "+1", " 1", "1 ", "1\n", "0x10", "1e3", "1.0", "1a",
                               "18446744073709551616", "99999999999999999999999", "Any", "ANY",
                               "no-stream", "nostream", "exists", "stream_exists "}) {
    EXPECT_FALSE(ExpectedRevision::Parse(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(StreamNamesTest, CategoryIsTheTextBeforeTheFirstDash) {
  EXPECT_EQ(CategoryOf("order-42"), "order");
  EXPECT_EQ(CategoryOf("order-42-line-3"), "order");
  EXPECT_EQ(CategoryOf("order"), "order");
  EXPECT_EQ(CategoryOf("order-"), "order");
  EXPECT_EQ(CategoryOf("-42"), "");
  EXPECT_EQ(CategoryOf(""), "");
}

TEST(StreamNamesTest, MetadataStreamIsTheNamePrefixedWithDoubleDollar) {
  EXPECT_EQ(MetadataStreamOf("order-42"), "$$order-42");
  EXPECT_EQ(MetadataStreamOf("$ce-order"), "$$$ce-order");
  EXPECT_TRUE(IsSystemName(MetadataStreamOf("x")));
  EXPECT_FALSE(IsSystemName("x"));
  EXPECT_FALSE(IsSystemName(""));
}

}  // namespace
}  // namespace annals
