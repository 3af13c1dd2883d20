// The conformance suite against the in-memory reference store.
//
// The model keeps nothing on disk, so to run the reopen tests against it too, `open(dir)` hands
// out handles to one store per directory that outlives its handles: destroying the store and
// opening the directory again finds the same store, as a durable backend would.
#include <map>
#include <mutex>

#include "conformance/conformance_suite.h"
#include "conformance/forwarding_store.h"
#include "memory/memory_store.h"

namespace annals {
namespace {

std::unique_ptr<EventStore> OpenMemory(const std::string& dir) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<EventStore>> stores;
  std::lock_guard lock(mu);
  std::shared_ptr<EventStore>& store = stores[dir];
  if (!store) store = NewMemoryStore();
  return std::make_unique<conformance::ForwardingStore>(store);
}

}  // namespace
}  // namespace annals

ANNALS_CONFORMANCE_BACKEND(Memory, /*reopenable=*/true, annals::OpenMemory);
