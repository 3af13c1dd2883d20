// The client's side of read_event_message.h: Annals' `ReadAllResp` (Reads.ReadAll) and the
// event messages of KurrentDB's `ReadResp` (Streams.Read) decoded from protobuf's wire format
// straight into RecordedEvents, without protobuf objects. Parsing
// into the generated message built a map of metadata and a string per field in an arena, then
// the SDK copied each of them into a RecordedEvent: two thirds of the client's time in a batched
// read of `$all` (docs/performance.md, "gRPC").
//
// Accepts what protobuf would parse: fields in any order, repeated scalar fields (the last
// wins), map entries with missing keys or values, and unknown fields (skipped), except groups
// (a deprecated encoding proto3 never writes), which it refuses. Fails, with
// nothing decoded that the caller should use, on bytes that are not a well-formed message or
// on an event whose id is not a UUID (as RecordedFromProto does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "annals/status.h"
#include "annals/types.h"

namespace google::protobuf::io {
class ZeroCopyInputStream;
}

namespace annals::grpcwire {

// What a ReadAllResp says besides its events: set in the read's last message only.
struct ReadAllRespTail {
  bool last = false;
  uint64_t next_position = 0;
  bool end_of_log = false;
};

// Appends the message's events to `events` and fills `tail`; kInternal on malformed bytes
// (the events decoded before the fault are left in `events`, the faulty one is not).
Status DecodeReadAllResp(google::protobuf::io::ZeroCopyInputStream* in,
                         std::vector<RecordedEvent>* events, ReadAllRespTail* tail);
Status DecodeReadAllResp(const uint8_t* data, size_t size, std::vector<RecordedEvent>* events,
                         ReadAllRespTail* tail);

// Streams.Read's `ReadResp` when it is what every event of a read or subscription is sent as:
// `content` is `event` (once), whose `event` is set (once) and `link` is not. True with `event`
// filled in. False for any other message (a confirmation, a checkpoint, stream_not_found, a
// resolved link, a field given twice, which protobuf would merge) and for bytes or ids that do
// not decode: the caller then parses the message with protobuf, which decides those cases as
// it always has.
bool DecodeReadRespEvent(google::protobuf::io::ZeroCopyInputStream* in, RecordedEvent* event);
bool DecodeReadRespEvent(const uint8_t* data, size_t size, RecordedEvent* event);

}  // namespace annals::grpcwire
