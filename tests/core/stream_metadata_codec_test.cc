#include "core/stream_metadata_codec.h"

#include <gtest/gtest.h>

#include <string>

#include "annals/limits.h"

namespace annals {
namespace {

StreamMetadata ParseOk(std::string_view json) {
  Result<StreamMetadata> parsed = ParseStreamMetadataJson(json);
  EXPECT_TRUE(parsed.ok()) << json << ": " << parsed.status().ToString();
  return parsed.ok() ? *parsed : StreamMetadata{};
}

void ExpectInvalid(std::string_view json, std::string_view message) {
  Result<StreamMetadata> parsed = ParseStreamMetadataJson(json);
  ASSERT_FALSE(parsed.ok()) << json;
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << json;
  EXPECT_EQ(parsed.status().message(), message) << json;
}

TEST(StreamMetadataCodecTest, EmptyObjectIsEmptyMetadata) {
  EXPECT_EQ(ParseOk("{}"), StreamMetadata{});
  EXPECT_EQ(ParseOk(" { } "), StreamMetadata{});
}

TEST(StreamMetadataCodecTest, ParsesEveryKnownKey) {
  StreamMetadata m = ParseOk(
      R"({"$maxAge":3600,"$maxCount":100,"$tb":7,"$cacheControl":60,"$acl":{"$r":"$all","$w":["a","b"]}})");
  EXPECT_EQ(m.max_age_seconds, 3600u);
  EXPECT_EQ(m.max_count, 100u);
  EXPECT_EQ(m.truncate_before, Revision{7});
  EXPECT_EQ(m.cache_control_seconds, 60u);
  EXPECT_EQ(m.acl_json, R"({"$r":"$all","$w":["a","b"]})");
  EXPECT_EQ(m.custom_json, "");
}

TEST(StreamMetadataCodecTest, KurrentDbSoftDeleteMarkerAndFullRangeAreRead) {
  StreamMetadata m = ParseOk(R"({"$tb":9223372036854775807,"$maxCount":18446744073709551615})");
  EXPECT_EQ(m.truncate_before, Revision{kSoftDeletedTruncateBefore});
  EXPECT_EQ(m.max_count, 18446744073709551615ull);
}

TEST(StreamMetadataCodecTest, NullKnownValuesCountAsAbsent) {
  EXPECT_EQ(
      ParseOk(R"({"$maxAge":null,"$maxCount":null,"$tb":null,"$cacheControl":null,"$acl":null})"),
      StreamMetadata{});
}

TEST(StreamMetadataCodecTest, CustomKeysKeepTheirOrderAndTheirValuesText) {
  StreamMetadata m = ParseOk(
      "{\"zeta\": 1.50 , \"$maxCount\": 5, \"alpha\": {\"nested\": [1, {\"x\": null}]},\n"
      "  \"big\": 123456789012345678901234567890, \"s\": \"a\\\"b\\u00e9\", \"arr\" : [ ] ,"
      " \"$custom\": true}");
  EXPECT_EQ(m.max_count, 5u);
  EXPECT_EQ(m.custom_json,
            "{\"zeta\":1.50,\"alpha\":{\"nested\": [1, {\"x\": null}]},"
            "\"big\":123456789012345678901234567890,\"s\":\"a\\\"b\\u00e9\",\"arr\":[ ],"
            "\"$custom\":true}");
  EXPECT_TRUE(IsValidJson(m.custom_json));
}

TEST(StreamMetadataCodecTest, AclTextIsKeptAsWritten) {
  StreamMetadata m = ParseOk("{\"$acl\" : { \"$r\" : [ \"ops\" ] } \n}");
  EXPECT_EQ(m.acl_json, R"({ "$r" : [ "ops" ] })");
}

TEST(StreamMetadataCodecTest, EscapedKnownKeyNamesAreRecognised) {
  StreamMetadata m = ParseOk(R"({"$max\u0041ge":10})");
  EXPECT_EQ(m.max_age_seconds, 10u);
}

TEST(StreamMetadataCodecTest, TextThatIsNotJsonIsInvalid) {
  ExpectInvalid("",
                "stream metadata: not valid JSON: unexpected end of input, expected a value "
                "at byte 0");
  ExpectInvalid(R"({"$maxAge":1,})",
                "stream metadata: not valid JSON: expected a string key at byte 13");
}

TEST(StreamMetadataCodecTest, JsonThatIsNotAnObjectIsInvalid) {
  for (std::string_view json : {"[]", "[{\"$maxAge\":1}]", "42", "\"text\"", "null", "true"}) {
    ExpectInvalid(json, "stream metadata: must be a JSON object");
  }
}

TEST(StreamMetadataCodecTest, NumericKeysMustBeUnsigned64BitIntegers) {
  for (std::string_view key : {"$maxAge", "$maxCount", "$tb", "$cacheControl"}) {
    std::string message =
        "stream metadata: " + std::string(key) + ": must be an unsigned 64-bit integer";
    for (std::string_view value :
         {"\"10\"", "-1", "1.5", "1e3", "18446744073709551616", "true", "{}", "[1]"}) {
      ExpectInvalid("{\"" + std::string(key) + "\":" + std::string(value) + "}", message);
    }
  }
}

TEST(StreamMetadataCodecTest, AclMustBeAnObject) {
  for (std::string_view value : {"\"$all\"", "[\"$all\"]", "1", "true"}) {
    ExpectInvalid("{\"$acl\":" + std::string(value) + "}",
                  "stream metadata: $acl: must be a JSON object");
  }
}

TEST(StreamMetadataCodecTest, KnownKeyTwiceIsInvalid) {
  ExpectInvalid(R"({"$maxAge":1,"$maxAge":2})", "stream metadata: $maxAge: duplicate key");
  ExpectInvalid(R"({"$acl":{},"x":1,"$acl":null})", "stream metadata: $acl: duplicate key");
}

TEST(StreamMetadataCodecTest, ToJsonWritesSetKnownKeysThenCustomKeys) {
  StreamMetadata m;
  m.max_age_seconds = 3600;
  m.max_count = 100;
  m.truncate_before = Revision{7};
  m.cache_control_seconds = 60;
  m.acl_json = R"({"$r":"$all"})";
  m.custom_json = R"({"owner":"billing","tags":["a"]})";
  EXPECT_EQ(StreamMetadataToJson(m),
            R"({"$maxCount":100,"$maxAge":3600,"$tb":7,"$cacheControl":60,)"
            R"("$acl":{"$r":"$all"},"owner":"billing","tags":["a"]})");
}

TEST(StreamMetadataCodecTest, ToJsonOfEmptyMetadataIsAnEmptyObject) {
  EXPECT_EQ(StreamMetadataToJson(StreamMetadata{}), "{}");
  StreamMetadata only_custom;
  only_custom.custom_json = " { \"k\" : 1 } ";
  EXPECT_EQ(StreamMetadataToJson(only_custom), R"({"k" : 1})");
  StreamMetadata empty_custom;
  empty_custom.custom_json = "{ }";
  EXPECT_EQ(StreamMetadataToJson(empty_custom), "{}");
}

TEST(StreamMetadataCodecTest, CanonicalMetadataRoundTrips) {
  StreamMetadata all;
  all.max_age_seconds = 0;
  all.max_count = 18446744073709551615ull;
  all.truncate_before = Revision{kSoftDeletedTruncateBefore};
  all.cache_control_seconds = 1;
  all.acl_json = R"({"$r":["a","b"],"$w":"$admins"})";
  all.custom_json = R"({"owner":"billing","n":1.5e3,"nested":{"k":[null,true]},"$x":"y"})";
  StreamMetadata only_tb;
  only_tb.truncate_before = Revision{0};
  StreamMetadata only_custom;
  only_custom.custom_json = R"({"quote\"key":"\u0001"})";
  for (const StreamMetadata& m : {all, only_tb, only_custom, StreamMetadata{}}) {
    ASSERT_TRUE(ValidateStreamMetadata(m).ok());
    std::string json = StreamMetadataToJson(m);
    EXPECT_TRUE(IsValidJson(json)) << json;
    EXPECT_EQ(ParseOk(json), m) << json;
  }
}

TEST(StreamMetadataCodecTest, ParseThenWriteThenParseIsStable) {
  for (std::string_view json : {
           R"({"custom" : [1, 2] , "$tb": 3, "k\u00e9y": "v"})",
           R"({"$acl": { "$r": "x" }, "a": {"b": {}}})",
           R"({"x":1e999,"y":"\ud800"})",
       }) {
    StreamMetadata once = ParseOk(json);
    std::string written = StreamMetadataToJson(once);
    EXPECT_EQ(ParseOk(written), once) << json << " -> " << written;
  }
}

TEST(ValidateStreamMetadataTest, AclMustBeEmptyOrAnObject) {
  StreamMetadata m;
  m.acl_json = R"(["$all"])";
  Status status = ValidateStreamMetadata(m);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "acl_json: must be a JSON object");
  m.acl_json = "{";
  EXPECT_EQ(ValidateStreamMetadata(m).message(), "acl_json: must be a JSON object");
}

TEST(ValidateStreamMetadataTest, CustomJsonMustBeAnObject) {
  StreamMetadata m;
  m.custom_json = "[1]";
  Status status = ValidateStreamMetadata(m);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "custom_json: must be a JSON object");
  m.custom_json = "{\"a\":}";
  EXPECT_EQ(ValidateStreamMetadata(m).message(),
            "custom_json: not valid JSON: unexpected character, expected a value at byte 5");
}

TEST(ValidateStreamMetadataTest, CustomJsonMustNotCarryKnownKeysEvenNull) {
  for (std::string_view custom : {R"({"$maxAge":5})", R"({"a":1,"$acl":null})"}) {
    StreamMetadata m;
    m.custom_json = custom;
    Status status = ValidateStreamMetadata(m);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << custom;
    EXPECT_EQ(status.message(),
              "custom_json: must not contain $maxAge, $maxCount, $tb, $cacheControl or $acl");
  }
}

}  // namespace
}  // namespace annals
