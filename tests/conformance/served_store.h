// For backends that are clients of a real `annals serve` (the SDK's REST and gRPC stores): the
// server each test starts on a free loopback port, and the handle that stops it. The server
// keeps its events in memory (it starts in ~30 ms, the engine in ~270 ms), except for the
// Reopen_* tests, whose server runs the embedded engine on the test's directory; Reopen()
// stops it with SIGTERM and starts a new one on the same directory.
#pragma once

#include <signal.h>

#include <functional>
#include <memory>
#include <string>

#include "../http/test_support.h"
#include "conformance/forwarding_store.h"

namespace annals::conformance {

// `connect` turns the started server into the client store under test.
inline std::unique_ptr<EventStore> OpenServedStore(
    const std::string& dir,
    const std::function<Result<std::unique_ptr<EventStore>>(const http::testing::ServerProcess&)>&
        connect) {
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const bool durable = test.rfind("Reopen_", 0) == 0;
  auto server = std::make_shared<http::testing::ServerProcess>(std::vector<std::string>{
      "--store", durable ? "engine" : "memory", "--data-dir", dir, "--durability", "unsafe-no-sync",
      "--io-threads", "2", "--log-level", "warn"});
  auto store = connect(*server);
  if (!store.ok()) {
    ADD_FAILURE() << "connecting to annals serve: " << store.status().ToString();
    return nullptr;
  }
  return std::make_unique<ForwardingStore>(
      std::shared_ptr<EventStore>(std::move(store).value()),
      [server] { EXPECT_EQ(server->Terminate(SIGTERM), 0) << server->Stderr(); });
}

}  // namespace annals::conformance
