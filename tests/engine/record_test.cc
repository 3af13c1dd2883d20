// The log record codec: round trips, and every kind of damage detected before a byte of it is
// trusted (docs/log-format.md).
#include "engine/log/record.h"

#include <gtest/gtest.h>

#include "core/binary.h"

namespace annals::log {
namespace {

EventView SampleEvent() {
  EventView e;
  e.revision = Revision{7};
  e.created = Timestamp{123456789};
  e.id = *Uuid::Parse("0b7ad2e1-54f4-4c3c-8a4f-6a2a2b1a1c01");
  e.stream = "visit-42";
  e.type = "PatientCheckedIn";
  e.content_type = "application/json";
  e.data = R"({"patientId":"p-1","hospitalId":"h-9"})";
  e.metadata = R"({"user":"nurse"})";
  return e;
}

constexpr uint64_t kPosition = 4096 + 64;

TEST(RecordTest, EventRoundTripsWithEveryField) {
  std::string buf;
  const size_t n = AppendEventRecord(&buf, SampleEvent(), kPosition, 4096, kFlagCommitEnd);
  ASSERT_EQ(n, buf.size());
  EXPECT_EQ(n % kRecordAlignment, 0u);
  const EventView in = SampleEvent();
  EXPECT_EQ(
      n, EventRecordBytes(in.stream, in.type, in.content_type, in.data.size(), in.metadata.size()));
  RecordHeader h;
  ASSERT_EQ(DecodeHeader(buf.data(), kPosition, &h), HeaderCheck::kOk);
  EXPECT_TRUE(h.CommitEnd());
  EXPECT_EQ(h.write_start, 4096u);
  EXPECT_EQ(h.RecordBytes(), n);
  EventView out;
  ASSERT_TRUE(DecodeEventRecord(h, buf.data(), &out));
  EXPECT_EQ(out.revision, in.revision);
  EXPECT_EQ(out.created, in.created);
  EXPECT_EQ(out.id, in.id);
  EXPECT_EQ(out.stream, in.stream);
  EXPECT_EQ(out.type, in.type);
  EXPECT_EQ(out.content_type, in.content_type);
  EXPECT_EQ(out.data, in.data);
  EXPECT_EQ(out.metadata, in.metadata);
}

TEST(RecordTest, EmptyDataAndMetadataRoundTrip) {
  EventView e = SampleEvent();
  e.data = "";
  e.metadata = "";
  std::string buf;
  AppendEventRecord(&buf, e, kPosition, kPosition, 0);
  RecordHeader h;
  ASSERT_EQ(DecodeHeader(buf.data(), kPosition, &h), HeaderCheck::kOk);
  EXPECT_FALSE(h.CommitEnd());
  EventView out;
  ASSERT_TRUE(DecodeEventRecord(h, buf.data(), &out));
  EXPECT_EQ(out.data, "");
  EXPECT_EQ(out.metadata, "");
}

TEST(RecordTest, AllZeroHeaderIsTheCleanEnd) {
  std::string zeros(kRecordHeaderBytes, '\0');
  RecordHeader h;
  EXPECT_EQ(DecodeHeader(zeros.data(), kPosition, &h), HeaderCheck::kAllZero);
}

TEST(RecordTest, EveryFlippedHeaderByteIsDetected) {
  std::string good;
  AppendEventRecord(&good, SampleEvent(), kPosition, kPosition, kFlagCommitEnd);
  for (size_t i = 0; i < kRecordHeaderBytes; ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    RecordHeader h;
    EXPECT_NE(DecodeHeader(bad.data(), kPosition, &h), HeaderCheck::kOk) << "byte " << i;
  }
}

TEST(RecordTest, EveryFlippedBodyOrTrailerByteIsDetected) {
  std::string good;
  AppendEventRecord(&good, SampleEvent(), kPosition, kPosition, kFlagCommitEnd);
  for (size_t i = kRecordHeaderBytes; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x80);
    RecordHeader h;
    ASSERT_EQ(DecodeHeader(bad.data(), kPosition, &h), HeaderCheck::kOk);
    EventView out;
    EXPECT_FALSE(DecodeEventRecord(h, bad.data(), &out)) << "byte " << i;
  }
}

TEST(RecordTest, ValidRecordAtAnotherPositionIsRejected) {
  // Stale bytes from elsewhere (another segment, a recycled file) must not pass as a record.
  std::string buf;
  AppendEventRecord(&buf, SampleEvent(), kPosition, kPosition, kFlagCommitEnd);
  RecordHeader h;
  EXPECT_EQ(DecodeHeader(buf.data(), kPosition + 8, &h), HeaderCheck::kWrongPosition);
}

TEST(RecordTest, LengthIsNotTrustedWhenTheHeaderChecksumFails) {
  std::string buf;
  AppendEventRecord(&buf, SampleEvent(), kPosition, kPosition, kFlagCommitEnd);
  EncodeFixed32(buf.data() + kBodyLengthOffset, 0xfffffff0u);  // absurd length, stale crc
  RecordHeader h;
  EXPECT_EQ(DecodeHeader(buf.data(), kPosition, &h), HeaderCheck::kBadChecksum);
}

TEST(RecordTest, UnknownFlagsAreRejectedEvenWithAValidChecksum) {
  std::string buf;
  AppendEventRecord(&buf, SampleEvent(), kPosition, kPosition, 0x80);
  RecordHeader h;
  EXPECT_EQ(DecodeHeader(buf.data(), kPosition, &h), HeaderCheck::kBadFields);
}

TEST(RecordTest, SegmentEndRecordHasNoBodyAndAValidTrailer) {
  std::string buf;
  const size_t n = AppendSegmentEndRecord(&buf, kPosition, kPosition);
  EXPECT_EQ(n, kSegmentEndRecordBytes);
  RecordHeader h;
  ASSERT_EQ(DecodeHeader(buf.data(), kPosition, &h), HeaderCheck::kOk);
  EXPECT_EQ(h.type, RecordType::kSegmentEnd);
  EXPECT_TRUE(TrailerMatches(h, buf.data()));
  EventView out;
  EXPECT_FALSE(DecodeEventRecord(h, buf.data(), &out));
}

}  // namespace
}  // namespace annals::log
