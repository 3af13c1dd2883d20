// grpcwire's read message decoders against protobuf itself. DecodeReadAllResp: what the
// server's encoder writes decodes to the same events; so does what protobuf writes (string
// UUIDs, unknown fields, fields out of order); and for every truncation and many corruptions
// of a message, the decoder succeeds exactly when protobuf's parse and RecordedFromProto do,
// with the same events. DecodeReadRespEvent: takes every event message the server writes,
// declines every other kind of message, and whenever it takes a message (of thousands of
// truncated and corrupted ones) protobuf reads the same event from it.
#include "api/grpc/wire/read_message_decoder.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "annals_reads.pb.h"
#include "api/grpc/wire/event_wire.h"
#include "api/grpc/wire/read_event_message.h"
#include "event_shapes.h"

namespace annals::grpcwire {
namespace {

namespace cpb = ::annals::client::v1;

using testing::Event;
using testing::EventShapes;

void ExpectSameEvent(const RecordedEvent& got, const RecordedEvent& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.stream, want.stream);
  EXPECT_EQ(got.revision, want.revision);
  EXPECT_EQ(got.position, want.position);
  EXPECT_EQ(got.type, want.type);
  EXPECT_EQ(got.content_type, want.content_type);
  EXPECT_EQ(got.created.ticks, want.created.ticks);
  EXPECT_EQ(got.metadata, want.metadata);
  EXPECT_EQ(got.data, want.data);
}

void ExpectSameEvents(const std::vector<RecordedEvent>& got,
                      const std::vector<RecordedEvent>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ExpectSameEvent(got[i], want[i]);
}

std::string Encode(const ReadAllRespMessage& message) {
  std::string bytes(message.size(), '\0');
  message.EncodeTo(reinterpret_cast<uint8_t*>(bytes.data()));
  return bytes;
}

Status Decode(const std::string& bytes, std::vector<RecordedEvent>* events, ReadAllRespTail* tail) {
  return DecodeReadAllResp(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), events,
                           tail);
}

std::string Hex(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x} ", c);
  return out;
}

// Calls `check(corrupted, description)` for each byte of `bytes` replaced by each of a few
// values that make other tags, lengths and varints, until a fatal failure. None of them starts
// a group (which protobuf skips and the decoders refuse).
template <class Check>
void ForEachCorruption(const std::string& bytes, Check&& check) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (char value : {'\x00', '\x01', '\x05', '\x08', '\x0a', '\x12', '\x1a', '\x2a', '\x7f'}) {
      std::string corrupt = bytes;
      if (corrupt[i] == value) continue;
      corrupt[i] = value;
      check(corrupt, "byte " + std::to_string(i) + " = " + std::to_string(value));
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

// What the SDK got before the decoder: protobuf's parse, then RecordedFromProto per event.
bool ProtobufDecode(const std::string& bytes, std::vector<RecordedEvent>* events,
                    ReadAllRespTail* tail) {
  cpb::ReadAllResp parsed;
  if (!parsed.ParseFromString(bytes)) return false;
  for (const auto& m : parsed.events()) {
    auto e = RecordedFromProto(m);
    if (!e.ok()) return false;
    events->push_back(std::move(e).value());
  }
  *tail = ReadAllRespTail{parsed.last(), parsed.next_position(), parsed.end_of_log()};
  return true;
}

TEST(ReadAllDecoderTest, DecodesWhatTheServerEncodes) {
  const std::vector<RecordedEvent> events = EventShapes(/*large=*/true);
  for (bool last : {false, true}) {
    ReadAllRespMessage message;
    for (const RecordedEvent& e : events) message.Add(e);
    if (last) message.SetLast(1ull << 40, true);
    std::vector<RecordedEvent> got;
    ReadAllRespTail tail;
    ASSERT_TRUE(Decode(Encode(message), &got, &tail).ok());
    ExpectSameEvents(got, events);
    EXPECT_EQ(tail.last, last);
    EXPECT_EQ(tail.next_position, last ? 1ull << 40 : 0);
    EXPECT_EQ(tail.end_of_log, last);
  }
}

TEST(ReadAllDecoderTest, AppendsToTheEventsItIsGiven) {
  const std::vector<RecordedEvent> events = EventShapes(/*large=*/false);
  ReadAllRespMessage first, second;
  first.Add(events[0]);
  second.Add(events[1]);
  second.Add(events[2]);
  std::vector<RecordedEvent> got;
  ReadAllRespTail tail;
  ASSERT_TRUE(Decode(Encode(first), &got, &tail).ok());
  ASSERT_TRUE(Decode(Encode(second), &got, &tail).ok());
  ExpectSameEvents(got, {events[0], events[1], events[2]});
}

TEST(ReadAllDecoderTest, DecodesWhatProtobufWritesWithStringIdsAndUnknownFields) {
  const std::vector<RecordedEvent> events = EventShapes(/*large=*/false);
  cpb::ReadAllResp message;
  for (const RecordedEvent& e : events)
    EventToProto(e, /*structured_uuid=*/false, message.add_events());
  // Fields a newer server might send: unknown to this client, skipped.
  auto* unknown =
      message.mutable_events(0)->GetReflection()->MutableUnknownFields(message.mutable_events(0));
  unknown->AddVarint(20, 7);
  unknown->AddLengthDelimited(21, "a newer field");
  unknown->AddFixed32(22, 1);
  unknown->AddFixed64(23, 2);
  message.GetReflection()->MutableUnknownFields(&message)->AddLengthDelimited(9, "x");
  message.set_last(true);
  message.set_next_position(77);
  std::vector<RecordedEvent> got;
  ReadAllRespTail tail;
  ASSERT_TRUE(Decode(message.SerializeAsString(), &got, &tail).ok());
  ExpectSameEvents(got, events);
  EXPECT_TRUE(tail.last);
  EXPECT_EQ(tail.next_position, 77u);
  EXPECT_FALSE(tail.end_of_log);
}

// A RecordedEvent written field by field in reverse order, with the id twice (structured,
// then as text: the oneof's last member wins) and `type` twice (the map's last entry wins).
TEST(ReadAllDecoderTest, FieldsInAnyOrderAndRepeatedValuesAsProtobufTakesThem) {
  const RecordedEvent want = Event(42, 3, "{\"room\":7}", "{\"m\":1}");
  std::string event;
  {
    google::protobuf::io::StringOutputStream raw(&event);
    google::protobuf::io::CodedOutputStream out(&raw);
    auto delimited = [&](uint32_t field, const std::string& bytes) {
      out.WriteTag(field << 3 | 2);
      out.WriteVarint32(static_cast<uint32_t>(bytes.size()));
      out.WriteString(bytes);
    };
    auto entry = [&](const std::string& key, const std::string& value) {
      std::string e;
      e += '\x0a';
      e += static_cast<char>(key.size());
      e += key;
      e += '\x12';
      e += static_cast<char>(value.size());
      e += value;
      return e;
    };
    delimited(8, want.data);
    delimited(7, want.metadata);
    delimited(6, entry("created", std::to_string(want.created.ticks)));
    delimited(6, entry("type", "SomethingElse"));
    delimited(6, entry("content-type", want.content_type));
    delimited(6, entry("type", want.type));
    out.WriteTag(5 << 3);
    out.WriteVarint64(want.position.value);
    out.WriteTag(3 << 3);
    out.WriteVarint64(999);  // replaced by the next one
    out.WriteTag(3 << 3);
    out.WriteVarint64(want.revision.value);
    delimited(2, std::string("\x1a") + static_cast<char>(want.stream.size()) + want.stream);
    delimited(1, std::string("\x0a\x04\x08\x01\x10\x02"));  // structured {1, 2}
    delimited(1, std::string("\x12\x24") + want.id.ToString());
  }
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream out(&raw);
    out.WriteTag(1 << 3 | 2);
    out.WriteVarint32(static_cast<uint32_t>(event.size()));
    out.WriteString(event);
  }
  std::vector<RecordedEvent> got, reference;
  ReadAllRespTail tail, reference_tail;
  ASSERT_TRUE(Decode(bytes, &got, &tail).ok());
  ASSERT_TRUE(ProtobufDecode(bytes, &reference, &reference_tail));
  ExpectSameEvents(got, {want});
  ExpectSameEvents(reference, {want});
}

TEST(ReadAllDecoderTest, RefusesAnEventWithoutAValidId) {
  RecordedEvent e = Event(1, 0, "{}", "");
  cpb::ReadAllResp message;
  EventToProto(e, /*structured_uuid=*/false, message.add_events());
  message.mutable_events(0)->mutable_id()->set_string("not-a-uuid");
  std::vector<RecordedEvent> got;
  ReadAllRespTail tail;
  Status s = Decode(message.SerializeAsString(), &got, &tail);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("not a UUID"), std::string::npos) << s.message();
  EXPECT_TRUE(got.empty());
  message.mutable_events(0)->clear_id();
  s = Decode(message.SerializeAsString(), &got, &tail);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
}

// Every prefix of a message, and every byte of it replaced by values that make other tags,
// lengths and varints: the decoder agrees with protobuf on success and on the events.
TEST(ReadAllDecoderTest, AgreesWithProtobufOnEveryTruncationAndCorruption) {
  const std::vector<RecordedEvent> events = EventShapes(/*large=*/false);
  ReadAllRespMessage message;
  for (const RecordedEvent& e : events) message.Add(e);
  message.SetLast(1000, false);
  const std::string bytes = Encode(message);
  // protobuf logs each string it refuses as not UTF-8; the refusals are what is compared.
  google::protobuf::LogSilencer quiet;
  auto agree = [](const std::string& input, const std::string& what) {
    std::vector<RecordedEvent> got, want;
    ReadAllRespTail tail, want_tail;
    const bool ok = Decode(input, &got, &tail).ok();
    const bool want_ok = ProtobufDecode(input, &want, &want_tail);
    ASSERT_EQ(ok, want_ok) << what << ", message starts " << Hex(input.substr(0, 40));
    if (!ok) return;
    ExpectSameEvents(got, want);
    EXPECT_EQ(tail.last, want_tail.last) << what;
    EXPECT_EQ(tail.next_position, want_tail.next_position) << what;
    EXPECT_EQ(tail.end_of_log, want_tail.end_of_log) << what;
  };
  int successes = 0;
  for (size_t n = 0; n <= bytes.size(); ++n) {
    agree(bytes.substr(0, n), "prefix of " + std::to_string(n) + " bytes");
    std::vector<RecordedEvent> got;
    ReadAllRespTail tail;
    successes += Decode(bytes.substr(0, n), &got, &tail).ok() ? 1 : 0;
  }
  // The cuts between whole fields decode (fewer events); the others fail.
  EXPECT_GT(successes, static_cast<int>(events.size()));
  EXPECT_LT(successes, static_cast<int>(bytes.size()) / 2);
  ForEachCorruption(bytes, agree);
}

// ---- ReadResp (Streams.Read) ----------------------------------------------------------------

std::string EncodeReadResp(const RecordedEvent& e, bool structured, bool with_position) {
  const ReadEventMessage message(e, structured, with_position);
  std::string bytes(message.size(), '\0');
  message.EncodeTo(reinterpret_cast<uint8_t*>(bytes.data()));
  return bytes;
}

bool FastDecode(const std::string& bytes, RecordedEvent* event) {
  return DecodeReadRespEvent(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), event);
}

TEST(ReadRespDecoderTest, TakesEveryEventMessageTheServerWrites) {
  for (const RecordedEvent& e : EventShapes(/*large=*/true)) {
    for (bool structured : {false, true}) {
      for (bool with_position : {false, true}) {
        RecordedEvent got;
        ASSERT_TRUE(FastDecode(EncodeReadResp(e, structured, with_position), &got));
        ExpectSameEvent(got, e);
      }
    }
  }
}

TEST(ReadRespDecoderTest, DeclinesEveryOtherMessage) {
  const RecordedEvent e = Event(3, 2, "{}", "");
  std::vector<spb::ReadResp> others(6);
  others[0].mutable_confirmation()->set_subscription_id("s-1");
  others[1].mutable_checkpoint()->set_commit_position(7);
  others[2].mutable_stream_not_found()->mutable_stream_identifier()->set_stream_name("x");
  others[3].mutable_caught_up();
  EventToProto(e, false, others[4].mutable_event()->mutable_event());  // a resolved link
  EventToProto(e, false, others[4].mutable_event()->mutable_link());
  others[5].set_last_stream_position(9);
  for (const spb::ReadResp& other : others) {
    RecordedEvent got;
    EXPECT_FALSE(FastDecode(other.SerializeAsString(), &got)) << other.ShortDebugString();
  }
  // An event, then another member of the oneof: protobuf keeps the last one.
  std::string two = EncodeReadResp(e, true, true) + others[2].SerializeAsString();
  RecordedEvent got;
  EXPECT_FALSE(FastDecode(two, &got));
  // The event field given twice: protobuf merges the two.
  two = EncodeReadResp(e, true, true) + EncodeReadResp(e, true, true);
  EXPECT_FALSE(FastDecode(two, &got));
  EXPECT_FALSE(FastDecode("", &got));
}

TEST(ReadRespDecoderTest, WhatItTakesProtobufReadsAlikeWhateverTheBytes) {
  const RecordedEvent e = EventShapes(/*large=*/false)[0];
  const std::string bytes = EncodeReadResp(e, /*structured=*/false, /*with_position=*/true) +
                            std::string("\xa0\x01\x05");  // an unknown field 20, skipped
  google::protobuf::LogSilencer quiet;
  size_t taken = 0;
  auto check = [&](const std::string& input, const std::string& what) {
    RecordedEvent got;
    if (!FastDecode(input, &got)) return;
    ++taken;
    spb::ReadResp parsed;
    ASSERT_TRUE(parsed.ParseFromString(input)) << what;
    ASSERT_TRUE(parsed.has_event() && !parsed.event().has_link()) << what;
    auto want = RecordedFromProto(parsed.event().event());
    ASSERT_TRUE(want.ok()) << what;
    ExpectSameEvent(got, *want);
  };
  for (size_t n = 0; n <= bytes.size(); ++n) {
    check(bytes.substr(0, n), "prefix of " + std::to_string(n) + " bytes");
  }
  EXPECT_EQ(taken, 2u);  // the whole message, and the message without its unknown field
  ForEachCorruption(bytes, check);
  EXPECT_GT(taken, 100u);  // corruptions inside payloads and values still decode
}

}  // namespace
}  // namespace annals::grpcwire
