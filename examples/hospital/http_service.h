// A small HTTP/1.1 server for the example services (Boost.Beast, synchronous, one thread per
// connection, keep-alive). Enough for a demo and its tests; a production service would use
// an asynchronous server such as src/api/http.
#pragma once

#include <atomic>
#include <functional>
#include <string>

namespace hospital {

struct HttpRequest {
  std::string method;
  std::string target;  // path and query
  std::string body;
  std::string idempotency_key;  // the Idempotency-Key header, when sent
};

struct HttpAnswer {
  int status = 200;
  std::string body;  // JSON
};

using HttpHandler = std::function<HttpAnswer(const HttpRequest&)>;

// Listens on `listen` (host:port; port 0 picks a free one), prints
// "<name>: listening on http://host:port" to stdout, and serves until `stop` is set
// (checked each time a connection is accepted or closes, and after SIGTERM via the caller).
int ServeHttp(const std::string& name, const std::string& listen, const HttpHandler& handler,
              const std::atomic<bool>& stop);

}  // namespace hospital
