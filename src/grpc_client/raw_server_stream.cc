#include "grpc_client/raw_server_stream.h"

#include <google/protobuf/message_lite.h>

namespace annals::grpcclient {

namespace {

grpc::ByteBuffer Serialize(const google::protobuf::MessageLite& request) {
  grpc::Slice slice(request.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

RawServerStream::RawServerStream(grpc::GenericStub* stub, grpc::ClientContext* ctx,
                                 const std::string& method,
                                 const google::protobuf::MessageLite& request)
    : RawServerStream(stub, ctx, method, Serialize(request)) {}

RawServerStream::RawServerStream(grpc::GenericStub* stub, grpc::ClientContext* ctx,
                                 const std::string& method, const grpc::ByteBuffer& request)
    : ctx_(ctx), call_(stub->PrepareCall(ctx, method, &cq_)) {
  call_->StartCall(this);
  if (!Wait()) return;  // the channel failed the call: Finish has its status
  call_->WriteLast(request, grpc::WriteOptions(), this);
  open_ = Wait();
}

RawServerStream::~RawServerStream() {
  if (!finished_) {
    ctx_->TryCancel();
    Finish();
  }
  call_.reset();
  cq_.Shutdown();
  void* tag;
  bool ok;
  while (cq_.Next(&tag, &ok)) {
  }
}

bool RawServerStream::Read(grpc::ByteBuffer* out) {
  if (!open_) return false;
  call_->Read(out, this);
  open_ = Wait();
  return open_;
}

grpc::Status RawServerStream::Finish() {
  grpc::Status status;
  call_->Finish(&status, this);
  Wait();
  finished_ = true;
  open_ = false;
  return status;
}

bool RawServerStream::Wait() {
  void* tag = nullptr;
  bool ok = false;
  // One operation is in flight at a time, so the event is its own; Next fails only after
  // Shutdown, which comes last.
  if (!cq_.Next(&tag, &ok)) return false;
  return ok;
}

}  // namespace annals::grpcclient
