// What the raw methods (Streams.Read, Reads.ReadAll) share: they take their request as bytes
// and send bytes built on the workers, so gRPC's callback thread, which every message of every
// read passes through, only sends them (docs/performance.md, "gRPC").
#pragma once

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>

namespace annals::grpcapi {

// Parses a raw method's request; false when the bytes are not a `Message`.
template <class Message>
bool ParseRequest(const grpc::ByteBuffer& request, Message* message) {
  grpc::ByteBuffer copy = request;  // Deserialize consumes its buffer; the copy shares slices
  return grpc::SerializationTraits<Message>::Deserialize(&copy, message).ok();
}

// A protobuf message as gRPC sends it, serialised by the calling thread.
template <class Message>
grpc::ByteBuffer Serialized(const Message& message) {
  grpc::ByteBuffer bytes;
  bool own_buffer = false;
  grpc::SerializationTraits<Message>::Serialize(message, &bytes, &own_buffer);
  return bytes;
}

// A message encoded by hand (src/api/grpc/wire: size() and EncodeTo) into one new slice.
template <class Encoded>
grpc::ByteBuffer EncodedBuffer(const Encoded& message) {
  grpc::Slice bytes(message.size());
  // A new slice of its own: writing into it before it is shared is safe.
  message.EncodeTo(const_cast<uint8_t*>(bytes.begin()));
  return grpc::ByteBuffer(&bytes, 1);
}

}  // namespace annals::grpcapi
