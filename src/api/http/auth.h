// Authorization hook of the router: may this principal do this operation to this stream?
#pragma once

#include <string_view>

#include "annals/status.h"
#include "api/http/message.h"

namespace annals::http {

enum class Operation : uint8_t {
  kRead,           // read a stream, subscribe; with an empty stream: $all and the catalog
  kWrite,          // append
  kDelete,         // soft delete or tombstone
  kMetadataRead,   // GET metadata
  kMetadataWrite,  // PUT metadata
  kOperate,        // /metrics, /info
};
std::string_view OperationName(Operation op);

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // Ok, kUnauthenticated (anonymous caller where credentials are required) or
  // kPermissionDenied. `stream` is empty for operations on $all, the catalog or the server.
  virtual Status Check(const Principal& principal, Operation op, std::string_view stream) const = 0;
};

}  // namespace annals::http
