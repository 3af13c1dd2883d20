// Authentication: who sends a request, from its Authorization header.
#pragma once

#include <string_view>

#include "annals/status.h"
#include "api/http/message.h"

namespace annals::http {

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // `authorization` is the header's value, empty when absent. No header: an anonymous
  // principal (the Authorizer decides what anonymous callers may do). Credentials that do not
  // check out: kUnauthenticated.
  virtual Result<Principal> Authenticate(std::string_view authorization) const = 0;
  // False when Authenticate may take long (a password hash check): the server then runs it on
  // its blocking pool instead of an I/O thread.
  virtual bool IsCheap(std::string_view authorization) const { return true; }
};

}  // namespace annals::http
