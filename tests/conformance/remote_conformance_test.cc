// The conformance suite against the SDK's remote store talking to a real `annals serve` on a
// free loopback port, started by each test. The server keeps its events in memory (it starts
// in ~30 ms, the engine in ~270 ms: 119 tests), except for the Reopen_* tests, whose server runs
// the embedded engine on the test's directory; Reopen() stops it with SIGTERM and starts a new
// one on the same directory.
//
// Known divergences, by design (docs/sdk.md): the REST API has no system writer and no
// max_scan parameter, so the two rules that need them are skipped for this backend.
#include <signal.h>

#include "../http/test_support.h"
#include "annals/remote_store.h"
#include "conformance/conformance_suite.h"
#include "conformance/forwarding_store.h"

namespace annals {
namespace {

std::unique_ptr<EventStore> OpenRemote(const std::string& dir) {
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const bool durable = test.rfind("Reopen_", 0) == 0;
  auto server = std::make_shared<http::testing::ServerProcess>(std::vector<std::string>{
      "--store", durable ? "engine" : "memory", "--data-dir", dir, "--durability", "unsafe-no-sync",
      "--io-threads", "2", "--log-level", "warn"});
  RemoteOptions options;
  options.url = server->Url("");
  auto store = ConnectRemote(options);
  if (!store.ok()) {
    ADD_FAILURE() << "ConnectRemote: " << store.status().ToString();
    return nullptr;
  }
  return std::make_unique<conformance::ForwardingStore>(
      std::shared_ptr<EventStore>(std::move(store).value()),
      [server] { EXPECT_EQ(server->Terminate(SIGTERM), 0) << server->Stderr(); });
}

}  // namespace
}  // namespace annals

namespace annals::conformance {
INSTANTIATE_TEST_SUITE_P(Remote, ConformanceTest,
                         ::testing::Values(BackendFactory{
                             "Remote", OpenRemote, /*reopenable=*/true,
                             BackendCapabilities{.system_writer = false, .max_scan = false}}),
                         BackendName);
}  // namespace annals::conformance
