#include "delivery/codec.h"

#include <gtest/gtest.h>

#include "core/rfc3339.h"

namespace annals::delivery {
namespace {

TEST(DeliveryCodec, TimeRoundTripsWithMicroseconds) {
  auto t = ParseRfc3339("2026-11-27T07:32:00.123456Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatRfc3339(*t), "2026-11-27T07:32:00.123456Z");
  EXPECT_EQ(t->UnixMicros(), 1795764720123456);
}

TEST(DeliveryCodec, TimeAcceptsOffsetsAndRefusesGarbage) {
  auto a = ParseRfc3339("2026-11-27T08:32:00+01:00");
  auto b = ParseRfc3339("2026-11-27T07:32:00Z");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_FALSE(ParseRfc3339("2026-13-27T07:32:00Z"));
  EXPECT_FALSE(ParseRfc3339("2026-11-27 07:32:00"));
  EXPECT_FALSE(ParseRfc3339("2026-11-27T07:32:00.Z"));
  EXPECT_FALSE(ParseRfc3339(""));
}

TEST(DeliveryCodec, DefinitionRoundTrips) {
  GroupDefinition d;
  d.name = "g1";
  d.source.filter.category = "visit";
  d.source.filter.event_types = {"A", "B"};
  d.source.filter.type_regex = "^A";
  d.source.filter.stream_regex = "-\\d+$";
  d.start.kind = StartAt::Kind::kTime;
  d.start.time = *ParseRfc3339("2026-01-02T03:04:05.000006Z");
  d.settings.strategy = Strategy::kPinnedByStream;
  d.settings.max_retries = 3;
  d.settings.ack_timeout = std::chrono::milliseconds(1234);
  d.settings.max_subscribers = 2;
  d.generation = 7;
  d.start_cursor = 99;
  auto back = DefinitionFromJson(DefinitionToJson(d));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->name, d.name);
  EXPECT_TRUE(back->source == d.source);
  EXPECT_EQ(back->start, d.start);
  EXPECT_EQ(back->settings, d.settings);
  EXPECT_EQ(back->generation, 7u);
  EXPECT_EQ(back->start_cursor, 99u);
}

TEST(DeliveryCodec, SourceShapes) {
  auto s = SourceFromJson(Json::parse(R"({"category":"visit"})"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->filter.category, "visit");
  EXPECT_FALSE(s->ByRevision());
  s = SourceFromJson(Json::parse(R"({"stream":"visit-1","eventTypes":["A"]})"));
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->ByRevision());
  s = SourceFromJson(Json::parse(R"({"eventType":"A"})"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->filter.event_types, std::vector<std::string>{"A"});
  s = SourceFromJson(Json::parse(R"({"streamRegex":"^visit-\\d+$"})"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->filter.stream_regex, "^visit-\\d+$");
  EXPECT_FALSE(SourceFromJson(Json::parse(R"({"stream":"a","category":"b"})")).ok());
  EXPECT_FALSE(SourceFromJson(Json::parse(R"({"stream":"a","streamRegex":"b"})")).ok());
  EXPECT_FALSE(SourceFromJson(Json::parse(R"({"bogus":1})")).ok());
  EXPECT_FALSE(SourceFromJson(Json::parse(R"({"stream":""})")).ok());
}

TEST(DeliveryCodec, StartShapes) {
  EXPECT_EQ(StartFromJson("start")->kind, StartAt::Kind::kBeginning);
  EXPECT_EQ(StartFromJson("end")->kind, StartAt::Kind::kEnd);
  auto p = StartFromJson(Json(42));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->kind, StartAt::Kind::kPosition);
  EXPECT_EQ(p->value, 42u);
  auto t = StartFromJson(Json::parse(R"({"time":"2026-11-27T07:32:00Z"})"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, StartAt::Kind::kTime);
  EXPECT_FALSE(StartFromJson("yesterday").ok());
  EXPECT_FALSE(StartFromJson(Json::parse(R"({"time":"x"})")).ok());
}

TEST(DeliveryCodec, SettingsRefuseNonsense) {
  GroupSettings s;
  EXPECT_FALSE(SettingsFromJson(Json::parse(R"({"maxInFlight":0})"), &s).ok());
  EXPECT_FALSE(SettingsFromJson(Json::parse(R"({"strategy":"random"})"), &s).ok());
  EXPECT_FALSE(SettingsFromJson(Json::parse(R"({"ackTimeoutMs":-1})"), &s).ok());
  EXPECT_FALSE(SettingsFromJson(Json::parse(R"({"unknown":1})"), &s).ok());
  GroupSettings t;
  ASSERT_TRUE(
      SettingsFromJson(Json::parse(R"({"strategy":"pinnedByStream","maxRetries":2})"), &t).ok());
  EXPECT_EQ(t.strategy, Strategy::kPinnedByStream);
  EXPECT_EQ(t.max_retries, 2u);
}

TEST(DeliveryCodec, ParseJsonRefusesARepeatedMemberAtAnyDepth) {
  EXPECT_TRUE(ParseJson(R"({"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]})").ok());
  for (const char* text :
       {R"({"url":"http://a","url":"http://b"})", R"({"source":{"stream":"s","stream":"t"}})",
        R"([{"k":1},{"k":1,"k":2}])"}) {
    auto j = ParseJson(text);
    ASSERT_FALSE(j.ok()) << text;
    EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(j.status().message().find("given twice"), std::string::npos) << j.status().message();
  }
  EXPECT_FALSE(ParseJson("{").ok());
}

TEST(DeliveryCodec, CheckpointAndParkedRoundTrip) {
  auto cp = ParseCheckpoint(CheckpointJson(3, 1000));
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(cp->generation, 3u);
  EXPECT_EQ(cp->cursor, 1000u);
  ParkedEntry e;
  e.stream = "visit-1";
  e.revision = Revision{4};
  e.position = Position{500};
  e.event_id = Uuid::Random();
  e.reason = "boom";
  e.attempts = 11;
  e.parked_at = Timestamp::Now();
  uint64_t gen = 0;
  auto back = ParseParked(ParkedJson(5, e), &gen);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(gen, 5u);
  EXPECT_EQ(back->stream, "visit-1");
  EXPECT_EQ(back->revision, Revision{4});
  EXPECT_EQ(back->position, Position{500});
  EXPECT_EQ(back->event_id, e.event_id);
  EXPECT_EQ(back->reason, "boom");
  EXPECT_EQ(back->attempts, 11u);
}

}  // namespace
}  // namespace annals::delivery
