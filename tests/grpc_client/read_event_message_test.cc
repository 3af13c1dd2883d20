// grpcwire's hand-encoded read messages against protobuf itself: for events of every shape
// (empty and large payloads, revision and position 0, multi-byte lengths, both UUID forms, both
// position members, persistent subscriptions' retry counts) and batches of them, the bytes
// have the size protobuf computes for the message EventToProto builds, and parse back to an
// equal message.
#include "api/grpc/wire/read_event_message.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "annals_reads.pb.h"
#include "api/grpc/wire/event_wire.h"
#include "event_shapes.h"
#include "persistent.pb.h"

namespace annals::grpcwire {
namespace {

using testing::EventShapes;

TEST(ReadEventMessageTest, ParsesAsTheMessageProtobufBuildsWithTheSameSize) {
  for (const RecordedEvent& e : EventShapes(/*large=*/true)) {
    for (bool structured : {false, true}) {
      for (bool with_position : {false, true}) {
        SCOPED_TRACE("position " + std::to_string(e.position.value) + ", structured " +
                     std::to_string(structured) + ", with_position " +
                     std::to_string(with_position));
        spb::ReadResp expected;
        EventToProto(e, structured, expected.mutable_event()->mutable_event());
        if (with_position) {
          expected.mutable_event()->set_commit_position(e.position.value);
        } else {
          expected.mutable_event()->mutable_no_position();
        }
        const ReadEventMessage message(e, structured, with_position);
        EXPECT_EQ(message.size(), expected.ByteSizeLong());
        std::string bytes(message.size(), '\0');
        message.EncodeTo(reinterpret_cast<uint8_t*>(bytes.data()));
        spb::ReadResp parsed;
        ASSERT_TRUE(parsed.ParseFromString(bytes));
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, expected))
            << parsed.ShortDebugString().substr(0, 400) << "\n"
            << expected.ShortDebugString().substr(0, 400);
      }
    }
  }
}

TEST(ReadEventMessageTest, ABatchParsesAsTheReadAllRespProtobufBuilds) {
  const std::vector<RecordedEvent> events = EventShapes(/*large=*/true);
  for (size_t count : {size_t{0}, size_t{1}, events.size()}) {
    for (bool last : {false, true}) {
      for (uint64_t next : {uint64_t{0}, uint64_t{1} << 40}) {
        SCOPED_TRACE(std::to_string(count) + " events, last " + std::to_string(last) + ", next " +
                     std::to_string(next));
        ::annals::client::v1::ReadAllResp expected;
        ReadAllRespMessage message;
        for (size_t i = 0; i < count; ++i) {
          EventToProto(events[i], /*structured_uuid=*/true, expected.add_events());
          message.Add(events[i]);
        }
        if (last) {
          expected.set_last(true);
          expected.set_next_position(next);
          expected.set_end_of_log(next == 0);
          message.SetLast(next, next == 0);
        }
        EXPECT_EQ(message.size(), expected.ByteSizeLong());
        std::string bytes(message.size(), '\0');
        message.EncodeTo(reinterpret_cast<uint8_t*>(bytes.data()));
        ::annals::client::v1::ReadAllResp parsed;
        ASSERT_TRUE(parsed.ParseFromString(bytes));
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, expected));
      }
    }
  }
}

// Persistent subscriptions' ReadResp: the same ReadEvent with retry_count, which protobuf
// writes even when 0 (a oneof member).
TEST(ReadEventMessageTest, APersistentSubscriptionEventParsesAsProtobufBuildsIt) {
  for (const RecordedEvent& e : EventShapes(/*large=*/false)) {
    for (bool structured : {false, true}) {
      for (uint32_t retries : {0u, 1u, 300u, 2147483647u}) {
        SCOPED_TRACE("position " + std::to_string(e.position.value) + ", structured " +
                     std::to_string(structured) + ", retries " + std::to_string(retries));
        ::event_store::client::persistent_subscriptions::ReadResp expected;
        auto* read_event = expected.mutable_event();
        EventToProto(e, structured, read_event->mutable_event());
        read_event->set_commit_position(e.position.value);
        read_event->set_retry_count(static_cast<int32_t>(retries));
        const ReadEventMessage message(e, structured, /*with_position=*/true, retries);
        EXPECT_EQ(message.size(), expected.ByteSizeLong());
        std::string bytes(message.size(), '\0');
        message.EncodeTo(reinterpret_cast<uint8_t*>(bytes.data()));
        ::event_store::client::persistent_subscriptions::ReadResp parsed;
        ASSERT_TRUE(parsed.ParseFromString(bytes));
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, expected))
            << parsed.ShortDebugString().substr(0, 400);
      }
    }
  }
}

}  // namespace
}  // namespace annals::grpcwire
