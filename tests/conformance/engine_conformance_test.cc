// The conformance suite against the embedded engine, durable (fsync) as it runs by default,
// with the default limits the suite assumes (segment-crossing reads are covered by the engine's
// own recovery tests).
#include "annals/engine.h"
#include "conformance/conformance_suite.h"

namespace annals {
namespace {

std::unique_ptr<EventStore> OpenEmbeddedEngine(const std::string& dir) {
  EngineOptions options;
  options.data_dir = dir;
  options.segment_bytes = 80 << 20;  // the smallest that holds a maximal (64 MiB) append
  auto engine = OpenEngine(options);
  if (!engine.ok()) {
    ADD_FAILURE() << "OpenEngine(" << dir << "): " << engine.status().ToString();
    return nullptr;
  }
  return std::move(engine).value();
}

}  // namespace
}  // namespace annals

ANNALS_CONFORMANCE_BACKEND(Engine, /*reopenable=*/true, annals::OpenEmbeddedEngine);
