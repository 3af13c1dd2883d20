// `annals user add|add-key|remove|list`: manage the users file that `annals serve
// --users-file` authenticates against (format: src/api/http/users.h).
#pragma once

namespace CLI {
class App;
}

namespace annals::cli {

void AddUserCommand(CLI::App& app);

}  // namespace annals::cli
