// The conformance suite against the SDK's gRPC store talking KurrentDB's v1 protocol to a real
// `annals serve` (h2c on its HTTP port) started by each test. As for the REST store, the server
// keeps its events in memory, except for the Reopen_* tests, whose server runs the embedded
// engine on the test's directory and is restarted by Reopen().
//
// Known divergences, by design (docs/sdk.md): no client writes `$` streams (system_writer),
// and max_scan is the server's.
#include <signal.h>

#include "../http/test_support.h"
#include "annals/grpc_store.h"
#include "conformance/conformance_suite.h"
#include "conformance/forwarding_store.h"

namespace annals {
namespace {

std::unique_ptr<EventStore> OpenGrpc(const std::string& dir) {
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const bool durable = test.rfind("Reopen_", 0) == 0;
  auto server = std::make_shared<http::testing::ServerProcess>(std::vector<std::string>{
      "--store", durable ? "engine" : "memory", "--data-dir", dir, "--durability", "unsafe-no-sync",
      "--io-threads", "2", "--log-level", "warn"});
  auto store =
      ConnectGrpc({.connection_string = "kurrentdb://" + server->address() + "?tls=false"});
  if (!store.ok()) {
    ADD_FAILURE() << "ConnectGrpc: " << store.status().ToString();
    return nullptr;
  }
  return std::make_unique<conformance::ForwardingStore>(
      std::shared_ptr<EventStore>(std::move(store).value()),
      [server] { EXPECT_EQ(server->Terminate(SIGTERM), 0) << server->Stderr(); });
}

}  // namespace
}  // namespace annals

namespace annals::conformance {
INSTANTIATE_TEST_SUITE_P(Grpc, ConformanceTest,
                         ::testing::Values(BackendFactory{
                             "Grpc", OpenGrpc, /*reopenable=*/true,
                             BackendCapabilities{.system_writer = false, .max_scan = false}}),
                         BackendName);
}  // namespace annals::conformance
