// The gRPC services' worker threads are the shared core Workers.
#pragma once

#include "core/workers.h"

namespace annals::grpcapi {
using ::annals::Workers;
}  // namespace annals::grpcapi
