// A server-streaming call whose answers arrive as raw bytes (grpc::ByteBuffer), for a caller
// that decodes them itself (api/grpc/wire/read_message_decoder.h) rather than through protobuf
// objects. Blocking, as gRPC's ClientReader: each step waits on the call's own completion
// queue, so it can run on any thread.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace google::protobuf {
class MessageLite;
}

namespace annals::grpcclient {

class RawServerStream {
 public:
  // Starts `method` ("/package.Service/Method") and sends `request` with the half-close.
  RawServerStream(grpc::GenericStub* stub, grpc::ClientContext* ctx, const std::string& method,
                  const google::protobuf::MessageLite& request);
  // The same with a request already in its wire form.
  RawServerStream(grpc::GenericStub* stub, grpc::ClientContext* ctx, const std::string& method,
                  const grpc::ByteBuffer& request);
  // A call not finished yet is cancelled and finished.
  ~RawServerStream();
  RawServerStream(const RawServerStream&) = delete;
  RawServerStream& operator=(const RawServerStream&) = delete;

  // The next message; false at the end of the stream or when the call failed (Finish says).
  bool Read(grpc::ByteBuffer* out);
  // The call's status; call once, after Read answered false (or to abandon the rest, after
  // cancelling the context).
  grpc::Status Finish();

 private:
  bool Wait();  // the one operation in flight: its outcome

  grpc::ClientContext* ctx_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool open_ = false;  // started and request sent: Read may be called
  bool finished_ = false;
};

}  // namespace annals::grpcclient
