// The event messages of the two `$all`/stream read methods, encoded straight from
// RecordedEvents into protobuf's wire format, without protobuf objects (no map of metadata, no
// copies of the payload before the final buffer): `ReadResp` of Streams.Read (one event) and
// Annals' `ReadAllResp` of Reads.ReadAll (many). The bytes parse as the messages EventToProto
// builds (test `read_event_message_test`):
//
//   ReadResp                      1: ReadEvent (length-delimited)
//   ReadEvent                     1: RecordedEvent; then 3: commit_position (varint, `$all`
//                                 reads) or 4: no_position (an empty message, stream reads);
//                                 persistent subscriptions' also 5: retry_count (varint,
//                                 written even when 0: a oneof member)
//   ReadAllResp                   1: RecordedEvent, once per event; 2: last, 3: next_position,
//                                 4: end_of_log (varints, left out when false or 0)
//   RecordedEvent                 1: UUID, 2: StreamIdentifier, 3: stream_revision,
//                                 4: prepare_position, 5: commit_position (varints, left out
//                                 when 0, as protobuf does), 6: one map entry per key of
//                                 `type`, `content-type`, `created` (entry: 1 key, 2 value),
//                                 7: custom_metadata, 8: data (left out when empty)
//   UUID                          2: string (the text form), or 1: Structured {1: most, 2: least
//                                 significant bits, int64 varints, left out when 0}
//   StreamIdentifier              3: stream_name
//
// Field numbers are those of src/api/grpc/protos/streams.proto, shared.proto and
// annals_reads.proto.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "annals/types.h"

namespace annals::grpcwire {

// A RecordedEvent message's body, sized once and written later.
class RecordedEventBody {
 public:
  RecordedEventBody(const RecordedEvent& event, bool structured_uuid);
  size_t size() const { return size_; }
  // Writes exactly size() bytes at `out`; returns the end.
  uint8_t* EncodeTo(uint8_t* out) const;

 private:
  const RecordedEvent* event_;
  bool structured_uuid_;
  char created_[24];  // the `created` ticks in decimal
  uint8_t created_size_ = 0;
  uint8_t uuid_size_ = 0;
  uint32_t stream_id_size_ = 0;
  size_t size_ = 0;
};

// A `ReadResp` carrying one event: Streams.Read's, or with `retry_count` set the persistent
// subscriptions' (whose ReadEvent is the same message with `retry_count`, field 5, added).
class ReadEventMessage {
 public:
  // `with_position`: a `$all` read's event (commit_position); else a stream read's
  // (no_position).
  ReadEventMessage(const RecordedEvent& event, bool structured_uuid, bool with_position,
                   std::optional<uint32_t> retry_count = std::nullopt);
  // The encoded size in bytes.
  size_t size() const { return size_; }
  // Writes exactly size() bytes at `out`.
  void EncodeTo(uint8_t* out) const;

 private:
  const RecordedEventBody body_;
  const uint64_t position_;
  const bool with_position_;
  const std::optional<uint32_t> retry_count_;
  size_t read_event_size_ = 0;
  size_t size_ = 0;
};

// An Annals `ReadAllResp`: events with structured UUIDs, then, in the last message, where the
// read continues. The events must outlive EncodeTo.
class ReadAllRespMessage {
 public:
  void Add(const RecordedEvent& event);
  void SetLast(uint64_t next_position, bool end_of_log);
  size_t size() const { return size_; }
  // Writes exactly size() bytes at `out`.
  void EncodeTo(uint8_t* out) const;

 private:
  std::vector<RecordedEventBody> events_;
  bool last_ = false;
  uint64_t next_position_ = 0;
  bool end_of_log_ = false;
  size_t size_ = 0;
};

}  // namespace annals::grpcwire
