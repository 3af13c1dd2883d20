#include "annals/limits.h"

#include <gtest/gtest.h>

#include <string>

namespace annals {
namespace {

Uuid IdOf(uint8_t n) {
  Uuid id;
  id.bytes[15] = n;
  id.bytes[6] = 0x40;
  return id;
}

ProposedEvent JsonEvent(std::string type = "OrderPlaced", std::string data = R"({"a":1})") {
  ProposedEvent event;
  event.type = std::move(type);
  event.data = std::move(data);
  return event;
}

AppendRequest RequestOf(int events) {
  AppendRequest request;
  request.stream = "order-1";
  for (int i = 0; i < events; ++i) request.events.push_back(JsonEvent());
  return request;
}

// Expects `status` to have `code` and exactly `message`.
#define EXPECT_STATUS(status_expr, expected_code, expected_message) \
  do {                                                              \
    Status s_ = (status_expr);                                      \
    EXPECT_EQ(s_.code(), expected_code) << s_.ToString();           \
    EXPECT_EQ(s_.message(), expected_message);                      \
  } while (0)

const Limits kLimits;

TEST(ValidateStreamNameTest, AcceptsOrdinaryNamesAndUtf8) {
  EXPECT_TRUE(ValidateStreamName("order-42", kLimits).ok());
  EXPECT_TRUE(ValidateStreamName("x", kLimits).ok());
  EXPECT_TRUE(ValidateStreamName("commande-été-日本", kLimits).ok());
  EXPECT_TRUE(ValidateStreamName("with space/and:punct", kLimits).ok());
  EXPECT_TRUE(ValidateStreamName(std::string(1000, 'a'), kLimits).ok());
}

TEST(ValidateStreamNameTest, EmptyNameIsRefused) {
  EXPECT_STATUS(ValidateStreamName("", kLimits), StatusCode::kInvalidArgument,
                "stream: must not be empty");
}

TEST(ValidateStreamNameTest, NameOverTheLimitIsRefusedWithItsLength) {
  EXPECT_STATUS(ValidateStreamName(std::string(1200, 'a'), kLimits), StatusCode::kInvalidArgument,
                "stream: 1200 bytes, longer than the 1000-byte limit");
  Limits small;
  small.max_stream_name_bytes = 4;
  EXPECT_TRUE(ValidateStreamName("abcd", small).ok());
  EXPECT_STATUS(ValidateStreamName("abcde", small), StatusCode::kInvalidArgument,
                "stream: 5 bytes, longer than the 4-byte limit");
}

TEST(ValidateStreamNameTest, InvalidUtf8IsRefused) {
  EXPECT_STATUS(ValidateStreamName("order-\xc3\x28", kLimits), StatusCode::kInvalidArgument,
                "stream: not valid UTF-8");
  EXPECT_STATUS(ValidateStreamName("\xff", kLimits), StatusCode::kInvalidArgument,
                "stream: not valid UTF-8");
  // An overlong encoding of '/' and a UTF-16 surrogate encoded in UTF-8.
  EXPECT_FALSE(ValidateStreamName("\xc0\xaf", kLimits).ok());
  EXPECT_FALSE(ValidateStreamName("\xed\xa0\x80", kLimits).ok());
}

TEST(ValidateStreamNameTest, ControlCharactersAndDeleteAreRefusedWithTheirOffset) {
  EXPECT_STATUS(ValidateStreamName("ab\ncd", kLimits), StatusCode::kInvalidArgument,
                "stream: control character 0x0a at byte 2");
  EXPECT_STATUS(ValidateStreamName(std::string("a\0b", 3), kLimits), StatusCode::kInvalidArgument,
                "stream: control character 0x00 at byte 1");
  EXPECT_STATUS(ValidateStreamName("\x1f", kLimits), StatusCode::kInvalidArgument,
                "stream: control character 0x1f at byte 0");
  EXPECT_STATUS(ValidateStreamName("abc\x7f", kLimits), StatusCode::kInvalidArgument,
                "stream: control character 0x7f at byte 3");
}

// U+0080..U+009F (NEL, CSI, ...) are control characters too, refused in what an append
// creates; a read or a delete names a stream that may predate the rule.
TEST(ValidateAppendTest, C1ControlCharactersAreRefusedInNewNames) {
  AppendRequest request = RequestOf(2);
  request.stream =
      "a\xc2\x85"
      "b";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "stream: control character U+0085 at byte 1");
  EXPECT_TRUE(ValidateStreamName(request.stream, kLimits).ok());
  request.stream = "\xc2\xa0nbsp-\xc2\xa9-caf\xc3\xa9-\xe2\x82\xac";  // U+00A0, U+00A9, ...
  EXPECT_TRUE(ValidateAppend(request, kLimits).ok());
  request.events[1].type =
      "T\xc2\x9b"
      "b";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[1].type: control character U+009B at byte 1");
  request.events[1].type = "\xc2\x80";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[1].type: control character U+0080 at byte 0");
}

TEST(ValidateStreamNameTest, SystemNamesNeedAllowSystem) {
  EXPECT_STATUS(ValidateStreamName("$$order-1", kLimits), StatusCode::kInvalidArgument,
                "stream: names starting with '$' are reserved for system streams");
  EXPECT_TRUE(ValidateStreamName("$$order-1", kLimits, /*allow_system=*/true).ok());
  EXPECT_TRUE(ValidateStreamName("order$", kLimits).ok());
  // allow_system relaxes only the '$' rule.
  EXPECT_FALSE(ValidateStreamName("$\n", kLimits, /*allow_system=*/true).ok());
}

TEST(ValidateEventTypeTest, AcceptsOrdinaryTypes) {
  EXPECT_TRUE(ValidateEventType("OrderPlaced", kLimits).ok());
  EXPECT_TRUE(ValidateEventType("order.placed.v2", kLimits).ok());
  EXPECT_TRUE(ValidateEventType(std::string(255, 't'), kLimits).ok());
}

TEST(ValidateEventTypeTest, EachRuleNamesTheTypeField) {
  EXPECT_STATUS(ValidateEventType("", kLimits), StatusCode::kInvalidArgument,
                "type: must not be empty");
  EXPECT_STATUS(ValidateEventType(std::string(256, 't'), kLimits), StatusCode::kInvalidArgument,
                "type: 256 bytes, longer than the 255-byte limit");
  EXPECT_STATUS(ValidateEventType("bad\xe2\x82", kLimits), StatusCode::kInvalidArgument,
                "type: not valid UTF-8");
  EXPECT_STATUS(ValidateEventType("a\tb", kLimits), StatusCode::kInvalidArgument,
                "type: control character 0x09 at byte 1");
  EXPECT_STATUS(ValidateEventType("$metadata", kLimits), StatusCode::kInvalidArgument,
                "type: types starting with '$' are reserved for system events");
}

TEST(ValidateAppendTest, AcceptsAValidRequest) {
  AppendRequest request = RequestOf(3);
  request.events[0].id = IdOf(1);
  request.events[1].id = IdOf(2);  // events[2] has no id: the store generates one
  request.events[2].metadata = R"({"correlation":"x"})";
  EXPECT_TRUE(ValidateAppend(request, kLimits).ok());
}

TEST(ValidateAppendTest, StreamNameIsValidatedAsAUserStream) {
  AppendRequest request = RequestOf(1);
  request.stream = "";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "stream: must not be empty");
  request.stream = "$all";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "stream: names starting with '$' are reserved for system streams");
}

TEST(ValidateAppendTest, NoEventsIsInvalid) {
  EXPECT_STATUS(ValidateAppend(RequestOf(0), kLimits), StatusCode::kInvalidArgument,
                "events: must contain at least one event");
}

TEST(ValidateAppendTest, MoreEventsThanTheLimitIsTooLarge) {
  Limits limits;
  limits.max_events_per_append = 3;
  EXPECT_TRUE(ValidateAppend(RequestOf(3), limits).ok());
  EXPECT_STATUS(ValidateAppend(RequestOf(4), limits), StatusCode::kTooLarge,
                "events: 4 events, more than the 3-event limit");
}

TEST(ValidateAppendTest, EventTypeErrorsNameTheEventIndex) {
  AppendRequest request = RequestOf(5);
  request.events[3].type = "";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[3].type: must not be empty");
  request.events[3].type = "$streamDeleted";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[3].type: types starting with '$' are reserved for system events");
  request.events[3].type = std::string(300, 'x');
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[3].type: 300 bytes, longer than the 255-byte limit");
  request.events[3].type = "a\x7f";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[3].type: control character 0x7f at byte 1");
  request.events[3].type = "\xc3";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[3].type: not valid UTF-8");
}

TEST(ValidateAppendTest, ContentTypeMustBeNonEmptyShortPrintableAscii) {
  AppendRequest request = RequestOf(2);
  request.events[1].content_type = "";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[1].content_type: must not be empty");
  request.events[1].content_type = std::string(128, 'a');
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[1].content_type: 128 bytes, longer than the 127-byte limit");
  request.events[1].content_type = "text/plain\r\n";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[1].content_type: byte 0x0d at byte 10 is not printable ASCII");
  request.events[1].content_type = "text/\xc3\xa9t\xc3\xa9";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[1].content_type: byte 0xc3 at byte 5 is not printable ASCII");
  request.events[1].content_type = "text/plain; charset=utf-8";
  request.events[1].data = "not json";
  EXPECT_TRUE(ValidateAppend(request, kLimits).ok());
}

TEST(ValidateAppendTest, NilEventIdIsInvalid) {
  AppendRequest request = RequestOf(2);
  request.events[1].id = Uuid{};
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[1].id: must not be the nil UUID");
}

TEST(ValidateAppendTest, DuplicateEventIdIsInvalidAndNamesTheIdAndBothEvents) {
  AppendRequest request = RequestOf(5);
  request.events[0].id = IdOf(9);
  request.events[1].id = IdOf(7);
  request.events[2].id = IdOf(8);
  request.events[4].id = IdOf(7);
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[4].id: " + IdOf(7).ToString() + " is also the id of events[1]");
}

TEST(ValidateAppendTest, OfSeveralDuplicatesTheFirstRepeatInTheRequestIsReported) {
  AppendRequest request = RequestOf(6);
  request.events[0].id = IdOf(1);  // repeated at 5
  request.events[1].id = IdOf(2);  // repeated at 3 and 4
  request.events[3].id = IdOf(2);
  request.events[4].id = IdOf(2);
  request.events[5].id = IdOf(1);
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[3].id: " + IdOf(2).ToString() + " is also the id of events[1]");
}

TEST(ValidateAppendTest, EventsWithoutIdsAreNotDuplicatesOfEachOther) {
  AppendRequest request = RequestOf(4);
  request.events[2].id = IdOf(1);
  EXPECT_TRUE(ValidateAppend(request, kLimits).ok());
}

TEST(ValidateAppendTest, EventWhoseDataAndMetadataExceedTheLimitIsTooLarge) {
  Limits limits;
  limits.max_event_bytes = 20;
  AppendRequest request = RequestOf(3);
  request.events[2].data = R"({"k":"0123456789"})";  // 18 bytes
  request.events[2].metadata = "{}";                 // 20 in all: at the limit
  EXPECT_TRUE(ValidateAppend(request, limits).ok());
  request.events[2].metadata = "[1]";
  EXPECT_STATUS(ValidateAppend(request, limits), StatusCode::kTooLarge,
                "events[2]: data and metadata are 21 bytes, more than the 20-byte limit");
}

TEST(ValidateAppendTest, AppendWhoseTotalExceedsTheLimitIsTooLarge) {
  // Each event: 7 bytes of data + 11 of type + 16 of content type = 34; the stream adds 7.
  AppendRequest request = RequestOf(3);
  Limits limits;
  limits.max_append_bytes = 7 + 3 * 34;
  EXPECT_TRUE(ValidateAppend(request, limits).ok());
  limits.max_append_bytes -= 1;
  EXPECT_STATUS(ValidateAppend(request, limits), StatusCode::kTooLarge,
                "append: 109 bytes (data, metadata, types, content types and stream name), "
                "more than the 108-byte limit");
}

TEST(ValidateAppendTest, SizesAreCheckedBeforeJsonIsParsed) {
  Limits limits;
  limits.max_append_bytes = 50;
  AppendRequest request = RequestOf(1);
  request.events[0].data = std::string(60, '{');  // over the limit and not JSON either
  EXPECT_EQ(ValidateAppend(request, limits).code(), StatusCode::kTooLarge);
}

TEST(ValidateAppendTest, JsonDataMustBeValidJson) {
  AppendRequest request = RequestOf(3);
  request.events[1].data = R"({"a":1,})";
  Status status = ValidateAppend(request, kLimits);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "events[1].data: not valid JSON (content type application/json): expected a string "
            "key at byte 7");
}

TEST(ValidateAppendTest, JsonDataWithTrailingGarbageIsInvalid) {
  AppendRequest request = RequestOf(1);
  request.events[0].data = R"({"a":1} x)";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[0].data: not valid JSON (content type application/json): unexpected "
                "text after the JSON value at byte 8");
}

TEST(ValidateAppendTest, JsonScalarsAreValidData) {
  AppendRequest request = RequestOf(4);
  request.events[0].data = "42";
  request.events[1].data = R"("text")";
  request.events[2].data = "null";
  request.events[3].data = " [true, false] ";
  EXPECT_TRUE(ValidateAppend(request, kLimits).ok());
}

TEST(ValidateAppendTest, EmptyDataIsAnEventWithoutPayloadEvenForJson) {
  AppendRequest request = RequestOf(1);
  request.events[0].data = "";
  EXPECT_TRUE(ValidateAppend(request, kLimits).ok());
}

TEST(ValidateAppendTest, NonJsonContentTypeDataIsNotParsed) {
  AppendRequest request = RequestOf(1);
  request.events[0].content_type = std::string(kContentTypeOctetStream);
  request.events[0].data = std::string("\x00\xff\x80{", 4);
  EXPECT_TRUE(ValidateAppend(request, kLimits).ok());
}

TEST(ValidateAppendTest, NonEmptyMetadataMustBeValidJsonWhateverTheContentType) {
  AppendRequest request = RequestOf(2);
  request.events[1].content_type = std::string(kContentTypeOctetStream);
  request.events[1].metadata = "{\"a\":";
  EXPECT_STATUS(ValidateAppend(request, kLimits), StatusCode::kInvalidArgument,
                "events[1].metadata: not valid JSON: unexpected end of input, expected a value "
                "at byte 5");
}

TEST(IsValidUtf8Test, AcceptsUtf8AndRefusesMalformedSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80 emoji"));
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("\xf0\x9f\x98"));      // truncated
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
}

}  // namespace
}  // namespace annals
