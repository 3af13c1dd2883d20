#include "core/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "annals/limits.h"

namespace annals {
namespace {

TEST(JsonWriterTest, WritesNestedContainersWithCommasBetweenMembers) {
  JsonWriter w;
  w.BeginObject();
  w.Key("a");
  w.Uint(1);
  w.Key("b");
  w.BeginArray();
  w.String("x");
  w.BeginObject();
  w.EndObject();
  w.BeginArray();
  w.EndArray();
  w.Null();
  w.EndArray();
  w.Key("c");
  w.BeginObject();
  w.Key("d");
  w.Bool(true);
  w.Key("e");
  w.Bool(false);
  w.EndObject();
  w.EndObject();
  EXPECT_EQ(w.Take(), R"({"a":1,"b":["x",{},[],null],"c":{"d":true,"e":false}})");
}

TEST(JsonWriterTest, TopLevelScalarHasNoDecoration) {
  JsonWriter w;
  w.String("only");
  EXPECT_EQ(w.str(), R"("only")");
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndEveryControlCharacter) {
  JsonWriter w;
  w.String("say \"hi\" \\ o/");
  EXPECT_EQ(w.Take(), R"("say \"hi\" \\ o/")");
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls.push_back(static_cast<char>(c));
  w.String(controls);
  std::string expected = "\"";
  for (int c = 0; c < 0x20; ++c) {
    char buf[8];
    snprintf(buf, sizeof buf, "\\u%04x", c);
    expected += buf;
  }
  expected += "\"";
  EXPECT_EQ(w.Take(), expected);
}

TEST(JsonWriterTest, PassesUtf8AndDeleteThroughUnchanged) {
  JsonWriter w;
  w.String("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\x7f/");
  EXPECT_EQ(w.Take(), "\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\x7f/\"");
}

TEST(JsonWriterTest, KeysAreEscapedLikeStrings) {
  JsonWriter w;
  w.BeginObject();
  w.Key("a\"b\n");
  w.Int(-1);
  w.EndObject();
  EXPECT_EQ(w.Take(), R"({"a\"b\u000a":-1})");
}

TEST(JsonWriterTest, IntegersCoverTheirWholeRange) {
  JsonWriter w;
  w.BeginArray();
  w.Uint(0);
  w.Uint(std::numeric_limits<uint64_t>::max());
  w.Int(std::numeric_limits<int64_t>::min());
  w.Int(std::numeric_limits<int64_t>::max());
  w.EndArray();
  EXPECT_EQ(w.Take(), "[0,18446744073709551615,-9223372036854775808,9223372036854775807]");
}

TEST(JsonWriterTest, DoublesUseShortestRoundTripFormAndNonFiniteBecomesNull) {
  JsonWriter w;
  w.BeginArray();
  w.Double(0.1);
  w.Double(1.5e300);
  w.Double(-2.0);
  w.Double(std::nan(""));
  w.Double(std::numeric_limits<double>::infinity());
  w.Double(-std::numeric_limits<double>::infinity());
  w.EndArray();
  std::string out = w.Take();
  EXPECT_EQ(out, "[0.1,1.5e+300,-2,null,null,null]");
  EXPECT_TRUE(IsValidJson(out));
}

TEST(JsonWriterTest, RawValuesAreCopiedAsIs) {
  JsonWriter w;
  w.BeginObject();
  w.Key("data");
  w.Raw(R"({"x": [1, 2]})");
  w.Key("n");
  w.Raw("3");
  w.EndObject();
  EXPECT_EQ(w.Take(), R"({"data":{"x": [1, 2]},"n":3})");
}

TEST(JsonWriterTest, RawMembersAreSplicedWithCommasAsNeeded) {
  JsonWriter first;
  first.BeginObject();
  first.RawMembers(R"("a":1,"b":2)");
  first.Key("c");
  first.Uint(3);
  first.EndObject();
  EXPECT_EQ(first.Take(), R"({"a":1,"b":2,"c":3})");

  JsonWriter after;
  after.BeginObject();
  after.Key("c");
  after.Uint(3);
  after.RawMembers("");
  after.RawMembers(R"("a":1)");
  after.EndObject();
  EXPECT_EQ(after.Take(), R"({"c":3,"a":1})");
}

TEST(JsonWriterTest, TakeEmptiesTheWriterForReuse) {
  JsonWriter w;
  w.BeginArray();
  w.Uint(1);
  w.EndArray();
  EXPECT_EQ(w.Take(), "[1]");
  EXPECT_EQ(w.str(), "");
  w.BeginArray();
  w.Uint(2);
  w.EndArray();
  EXPECT_EQ(w.Take(), "[2]");
}

TEST(JsonWriterTest, AppendQuotedAppendsToAnExistingString) {
  std::string out = "prefix:";
  JsonWriter::AppendQuoted(&out, "a\\b");
  EXPECT_EQ(out, R"(prefix:"a\\b")");
}

// Any valid UTF-8 string written then parsed by simdjson comes back byte for byte.
TEST(JsonWriterTest, RandomStringsRoundTripThroughSimdjson) {
  std::mt19937 rng(7);
  const std::string_view kPieces[] = {"a",
                                      "\"",
                                      "\\",
                                      "\n",
                                      "\x01",
                                      "\x1f",
                                      "\x7f",
                                      "/",
                                      "\xc3\xa9",
                                      "\xe2\x82\xac",
                                      "\xf0\x9f\x98\x80",
                                      " "};
  simdjson::dom::parser parser;
  for (int round = 0; round < 2000; ++round) {
    std::string value;
    int pieces = rng() % 40;
    for (int i = 0; i < pieces; ++i) value += kPieces[rng() % std::size(kPieces)];
    JsonWriter w;
    w.BeginObject();
    w.Key(value);
    w.String(value);
    w.EndObject();
    std::string json = w.Take();
    simdjson::dom::object object;
    ASSERT_EQ(parser.parse(json).get(object), simdjson::SUCCESS) << json;
    for (auto [key, element] : object) {
      EXPECT_EQ(key, value);
      EXPECT_EQ(element.get_string().value(), value);
    }
  }
}

}  // namespace
}  // namespace annals
