#include "core/json_syntax.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <string>

#include "annals/limits.h"

namespace annals {
namespace {

TEST(JsonSyntaxTest, AcceptsEveryKindOfDocumentIncludingScalars) {
  for (std::string_view json : {
           "{}",
           "[]",
           "0",
           "-0",
           "1.5e-3",
           "-12.0E+2",
           "\"\"",
           "\"text\"",
           "true",
           "false",
           "null",
           " \t\r\n{ \"a\" : [ 1 , { \"b\" : null } ] } \n",
           R"({"a":{"b":{"c":[[],[{}]]}}})",
           R"("escapes \" \\ \/ \b \f \n \r \t \u00e9")",
           "\"raw UTF-8: \xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\"",
           "\"\\u0000\"",
           "\"del \x7f is fine\"",
           R"({"a":1,"a":2})",
       }) {
    EXPECT_EQ(JsonSyntaxError(json), "") << json;
    EXPECT_EQ(JsonGrammarError(json), "") << json;
    EXPECT_TRUE(IsValidJson(json)) << json;
  }
}

// simdjson refuses these; the grammar allows them, and the grammar decides.
TEST(JsonSyntaxTest, AcceptsValidJsonThatSimdjsonRefuses) {
  for (std::string_view json : {
           "123456789012345678901234567890",   // beyond 64 bits
           "-123456789012345678901234567890",  //
           "1e400",                            // beyond double range
           "[1.7976931348623157e309]",         //
           R"({"big":18446744073709551616})",  // 2^64
           R"("\ud800")",                      // lone surrogate escape
           R"({"\udc00":"x"})",                //
       }) {
    EXPECT_EQ(JsonSyntaxError(json), "") << json;
    EXPECT_TRUE(IsValidJson(json)) << json;
  }
}

TEST(JsonSyntaxTest, RefusesMalformedDocumentsWithReasonAndOffset) {
  const std::pair<std::string_view, std::string_view> kCases[] = {
      {"", "unexpected end of input, expected a value at byte 0"},
      {"   ", "unexpected end of input, expected a value at byte 3"},
      {"{} x", "unexpected text after the JSON value at byte 3"},
      {"{}{}", "unexpected text after the JSON value at byte 2"},
      {"1 2", "unexpected text after the JSON value at byte 2"},
      {"[1,]", "unexpected character, expected a value at byte 3"},
      {"[1 2]", "expected ',' or ']' at byte 3"},
      {R"({"a" 1})", "expected ':' after an object key at byte 5"},
      {R"({"a":1 "b":2})", "expected ',' or '}' at byte 7"},
      {"{a:1}", "expected a string key at byte 1"},
      {"[", "unexpected end of input, expected a value at byte 1"},
      {"[1", "unexpected end of input inside an object or array at byte 2"},
      {"01", "unexpected text after the JSON value at byte 1"},
      {"1.", "invalid number: expected a digit after '.' at byte 2"},
      {"1e", "invalid number: expected an exponent digit at byte 2"},
      {"-", "invalid number: expected a digit at byte 1"},
      {"+1", "unexpected character, expected a value at byte 0"},
      {".5", "unexpected character, expected a value at byte 0"},
      {"tru", "invalid literal at byte 0"},
      {"nul", "invalid literal at byte 0"},
      {"True", "unexpected character, expected a value at byte 0"},
      {"NaN", "unexpected character, expected a value at byte 0"},
      {"\"abc", "unterminated string at byte 4"},
      {"\"a\\", "unterminated string at byte 3"},
      {"\"\\x\"", "invalid escape in a string at byte 2"},
      {"\"\\u12\"", "invalid \\u escape in a string at byte 5"},
      {"\"tab\there\"", "unescaped control character in a string at byte 4"},
      {"'single'", "unexpected character, expected a value at byte 0"},
      {"\"\xc3\x28\"", "not valid UTF-8"},
      {"[1] // comment", "unexpected text after the JSON value at byte 4"},
  };
  for (auto [json, reason] : kCases) {
    EXPECT_EQ(JsonSyntaxError(json), reason) << json;
    EXPECT_FALSE(IsValidJson(json)) << json;
  }
}

std::string Nested(size_t depth, std::string_view innermost) {
  return std::string(depth, '[') + std::string(innermost) + std::string(depth, ']');
}

TEST(JsonSyntaxTest, NestingUpToTheDepthLimitIsAcceptedAndDeeperRefused) {
  EXPECT_EQ(JsonSyntaxError(Nested(kMaxJsonDepth, "")), "");
  EXPECT_EQ(JsonSyntaxError(Nested(kMaxJsonDepth + 1, "")),
            "nesting deeper than 1024 levels at byte 1024");
  // The same limit on the grammar path (a huge number sends the text there).
  EXPECT_EQ(JsonSyntaxError(Nested(kMaxJsonDepth - 1, "1e999")), "");
  EXPECT_EQ(JsonSyntaxError(Nested(kMaxJsonDepth + 1, "1e999")),
            "nesting deeper than 1024 levels at byte 1024");
  // Far too deep for a recursive parser's stack: refused, not crashed.
  EXPECT_FALSE(IsValidJson(std::string(1 << 20, '[')));
}

TEST(JsonSyntaxTest, LargeDocumentsUseAParserOfTheirOwn) {
  std::string big = "[";
  while (big.size() < (3u << 20)) big += R"({"k":"value","n":12345},)";
  big += "1]";
  EXPECT_TRUE(IsValidJson(big));
  big.back() = ',';
  EXPECT_FALSE(IsValidJson(big));
  EXPECT_TRUE(IsValidJson("[1]"));  // the per-thread parser still works afterwards
}

// Mutates valid documents at random and holds simdjson and the grammar to the same verdict,
// except where simdjson is known to be stricter than RFC 8259 (numbers, \u escapes).
TEST(JsonSyntaxTest, GrammarAgreesWithSimdjsonOnRandomlyMutatedDocuments) {
  const std::string kSeeds[] = {
      R"({"a":[1,2.5,-3e4,true,false,null],"b":{"c":"d\"e\\f\u00e9"},"g":[]})",
      R"([{"x":0},{"y":-0.0},"\ud83d\ude00",1E+2,[[["deep"]]]])",
      R"("just a string")",
      "12345",
  };
  constexpr std::string_view kAlphabet = "{}[],:\"\\ 0123456789.eE+-tfnulrsa\x01\xc3\xa9";
  std::mt19937 rng(12345);
  simdjson::dom::parser parser;
  int both_valid = 0, both_invalid = 0, grammar_only = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = kSeeds[rng() % std::size(kSeeds)];
    int mutations = 1 + rng() % 3;
    for (int m = 0; m < mutations && !text.empty(); ++m) {
      size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text.erase(at, 1);
          break;
        case 1:
          text.insert(at, 1, kAlphabet[rng() % kAlphabet.size()]);
          break;
        default:
          text[at] = kAlphabet[rng() % kAlphabet.size()];
      }
    }
    auto simdjson_error = parser.parse(text).error();
    bool grammar_ok = JsonGrammarError(text).empty();
    if (simdjson_error == simdjson::SUCCESS) {
      EXPECT_TRUE(grammar_ok) << "simdjson accepts, grammar refuses: " << text;
      ++both_valid;
    } else if (grammar_ok) {
      EXPECT_TRUE(simdjson_error == simdjson::NUMBER_ERROR ||
                  simdjson_error == simdjson::STRING_ERROR)
          << simdjson::error_message(simdjson_error) << ": " << text;
      ++grammar_only;
    } else {
      ++both_invalid;
    }
    EXPECT_EQ(IsValidJson(text), grammar_ok) << text;
  }
  // The mutations must exercise both verdicts to mean anything.
  EXPECT_GT(both_valid, 1000);
  EXPECT_GT(both_invalid, 1000);
  RecordProperty("grammar_only", grammar_only);
}

}  // namespace
}  // namespace annals
