// `annals verify`: reads the whole log, checks every record's checksums and that the index
// agrees with the log. Exits non-zero (kExitCorruption) on damage.
#include <iostream>
#include <memory>
#include <string>

#include "cli/cli_common.h"
#include "cli/commands.h"

namespace annals::cli {
namespace {

void RunVerify(const EngineFlags& flags) {
  // Opening already runs recovery, which checks the log's tail (and, with the default
  // corruption policy, refuses damage it meets): that failure is the verdict too.
  std::unique_ptr<Engine> engine = OpenEngineOrFail(flags);
  std::string report;
  Status status = engine->Verify(&report);
  std::cout << report;
  if (!status.ok()) Fail(status);
}

}  // namespace

void AddVerifyCommand(CLI::App& app) {
  auto flags = std::make_shared<EngineFlags>();
  CLI::App* command = app.add_subcommand(
      "verify", "Check every log record's checksums and the index against the log");
  AddEngineFlags(command, flags.get());
  command->callback([flags] { RunVerify(*flags); });
}

}  // namespace annals::cli
