// The conformance suite against the SDK's remote store talking to a real `annals serve`
// started by each test (served_store.h).
//
// Known divergences, by design (docs/sdk.md): the REST API has no system writer and no
// max_scan parameter, and its pages are bounded by the server, so the rules that need them are
// skipped for this backend.
#include "annals/remote_store.h"
#include "conformance/conformance_suite.h"
#include "conformance/served_store.h"

namespace annals::conformance {
namespace {

std::unique_ptr<EventStore> OpenRemote(const std::string& dir) {
  return OpenServedStore(dir, [](const http::testing::ServerProcess& server) {
    RemoteOptions options;
    options.url = server.Url("");
    return ConnectRemote(options);
  });
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Remote, ConformanceTest,
                         ::testing::Values(BackendFactory{
                             "Remote", OpenRemote, /*reopenable=*/true,
                             BackendCapabilities{
                                 .system_writer = false, .max_scan = false, .max_bytes = false}}),
                         BackendName);
}  // namespace annals::conformance
