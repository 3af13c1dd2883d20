// libFuzzer target: arbitrary request targets (paths + query strings), headers and JSON bodies
// through the Router over the in-memory store. Input layout: byte 0 picks the method and the
// Accept/Last-Event-ID headers, then the target up to the first '\n', then the body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/http/router.h"
#include "api/http/sse.h"
#include "memory/memory_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace annals;
  using namespace annals::http;
  static std::unique_ptr<EventStore> store = NewMemoryStore();
  static Metrics metrics;
  static Router router(store.get(), nullptr, &metrics, nullptr, RouterOptions{});
  if (size == 0) return 0;
  static constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"};
  const uint8_t mode = data[0];
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t nl = rest.find('\n');
  Request req;
  req.method = kMethods[mode % 6];
  req.target = "/" + rest.substr(0, nl);
  req.body = nl == std::string::npos ? std::string() : rest.substr(nl + 1);
  req.content_type = (mode & 0x10) ? "text/plain" : "application/json";
  if (mode & 0x20) req.accept = "text/event-stream";
  if (mode & 0x40) {
    req.has_last_event_id = true;
    req.last_event_id = req.body.substr(0, 8);
  }
  if (mode & 0x80) req.expected_revision = req.body.substr(0, 12);
  req.expected_revision_repeated = (mode & 0x81) == 0x81;
  Routed routed = router.Dispatch(req);
  if (auto* a = std::get_if<AppendCall>(&routed.action)) {
    (void)router.FinishAppend(*a, store->Append(a->request));
  } else if (auto* b = std::get_if<BlockingCall>(&routed.action)) {
    (void)b->run();
  } else if (auto* s = std::get_if<SseCall>(&routed.action)) {
    SseCursor cursor(store.get(), s->spec, 10);
    std::string out;
    (void)cursor.ReadBatch(&out);
  }
  return 0;
}
