// A `ReadResp` carrying one recorded event, encoded straight from a RecordedEvent into
// protobuf's wire format: the message of every event a `Streams.Read` sends, built without
// protobuf objects (no map of metadata, no copies of the payload before the final buffer).
// The bytes parse as the message EventToProto builds (test `read_event_message_test`):
//
//   ReadResp                      1: ReadEvent (length-delimited)
//   ReadEvent                     1: RecordedEvent; then 3: commit_position (varint, `$all`
//                                 reads) or 4: no_position (an empty message, stream reads)
//   RecordedEvent                 1: UUID, 2: StreamIdentifier, 3: stream_revision,
//                                 4: prepare_position, 5: commit_position (varints, left out
//                                 when 0, as protobuf does), 6: one map entry per key of
//                                 `type`, `content-type`, `created` (entry: 1 key, 2 value),
//                                 7: custom_metadata, 8: data (left out when empty)
//   UUID                          2: string (the text form), or 1: Structured {1: most, 2: least
//                                 significant bits, int64 varints, left out when 0}
//   StreamIdentifier              3: stream_name
//
// Field numbers are those of src/api/grpc/protos/streams.proto and shared.proto.
#pragma once

#include <cstddef>
#include <cstdint>

#include "annals/types.h"

namespace annals::grpcwire {

class ReadEventMessage {
 public:
  // `with_position`: a `$all` read's event (commit_position); else a stream read's
  // (no_position).
  ReadEventMessage(const RecordedEvent& event, bool structured_uuid, bool with_position);
  // The encoded size in bytes.
  size_t size() const { return size_; }
  // Writes exactly size() bytes at `out`.
  void EncodeTo(uint8_t* out) const;

 private:
  const RecordedEvent& event_;
  const bool structured_uuid_;
  const bool with_position_;
  char created_[24];  // the `created` ticks in decimal
  size_t created_size_ = 0;
  size_t uuid_size_ = 0;
  size_t stream_id_size_ = 0;
  size_t recorded_size_ = 0;
  size_t read_event_size_ = 0;
  size_t size_ = 0;
};

}  // namespace annals::grpcwire
