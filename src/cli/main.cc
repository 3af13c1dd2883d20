// `annals`: the command-line entry point. Every subcommand lives in its own file and is
// registered here by one Add*Command call (cli/commands.h, cli/serve_command.h).
#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <memory>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/serve_command.h"
#include "cli/user_command.h"

namespace {

// A standard descriptor the caller closed (`annals read >&-`) would be the next open()'s
// result: the data directory's LOCK file or a log segment would then receive the output, and
// `--data -` would read whatever took fd 0. An O_PATH descriptor holds the number instead and
// fails every read and write with EBADF, as the closed one did: a closed stdin is still an
// unreadable input (exit 2), a closed stdout still exit 10.
void ReserveClosedStandardDescriptors(int, char**, char**) {
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1) continue;
    const int placeholder = ::open("/dev/null", O_PATH | O_CLOEXEC);
    if (placeholder >= 0 && placeholder != fd) ::close(placeholder);  // fd was taken meanwhile
  }
}

// It must run before main: the shared libraries' initializers open descriptors too (libgrpc's
// opens an eventfd). The executable's .preinit_array runs before any of them.
using PreinitFunction = void (*)(int, char**, char**);
__attribute__((section(".preinit_array"), used)) const PreinitFunction kReserveDescriptors =
    &ReserveClosedStandardDescriptors;

}  // namespace

int main(int argc, char** argv) {
  // Diagnostics (recovery's warnings, for one) go to stderr: stdout carries the commands'
  // output, which `--json` makes machine-read. spdlog's default logger writes to stdout.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  CLI::App app{"Annals: an event store", "annals"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print the help of every subcommand");

  annals::cli::AddServeCommand(app);
  annals::cli::AddUserCommand(app);
  annals::cli::AddAppendCommand(app);
  annals::cli::AddReadCommand(app);
  annals::cli::AddStreamsCommand(app);
  annals::cli::AddVerifyCommand(app);
  annals::cli::AddStatsCommand(app);
  annals::cli::AddReplayCommand(app);
  annals::cli::AddMigrateCommand(app);

  // Parse errors exit with 2, a failed command with its kind's code (docs/cli.md).
  return annals::cli::Run(app, argc, argv);
}
