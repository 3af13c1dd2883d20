// The conformance suite against the SDK's gRPC store talking KurrentDB's v1 protocol to a real
// `annals serve` (h2c on its HTTP port) started by each test (served_store.h).
//
// Known divergences, by design (docs/sdk.md): no client writes `$` streams (system_writer),
// and max_scan and max_bytes are the server's.
#include "annals/grpc_store.h"
#include "conformance/conformance_suite.h"
#include "conformance/served_store.h"

namespace annals::conformance {
namespace {

std::unique_ptr<EventStore> OpenGrpc(const std::string& dir) {
  return OpenServedStore(dir, [](const http::testing::ServerProcess& server) {
    return ConnectGrpc({.connection_string = "kurrentdb://" + server.address() + "?tls=false"});
  });
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Grpc, ConformanceTest,
                         ::testing::Values(BackendFactory{
                             "Grpc", OpenGrpc, /*reopenable=*/true,
                             BackendCapabilities{
                                 .system_writer = false, .max_scan = false, .max_bytes = false}}),
                         BackendName);
}  // namespace annals::conformance
