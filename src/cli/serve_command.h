// `annals serve`: the HTTP/JSON API server over the embedded engine (or the in-memory store).
#pragma once

namespace CLI {
class App;
}

namespace annals::cli {

void AddServeCommand(CLI::App& app);

}  // namespace annals::cli
