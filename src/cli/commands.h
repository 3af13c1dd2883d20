// The `annals` subcommands. Each Add*Command registers one subcommand, its options and its
// callback on the top-level app; main.cc calls them in the order `annals --help` lists them.
#pragma once

#include <CLI/CLI.hpp>

namespace annals::cli {

void AddAppendCommand(CLI::App& app);   // append_command.cc
void AddReadCommand(CLI::App& app);     // read_command.cc
void AddStreamsCommand(CLI::App& app);  // streams_command.cc
void AddVerifyCommand(CLI::App& app);   // verify_command.cc
void AddStatsCommand(CLI::App& app);    // stats_command.cc
void AddReplayCommand(CLI::App& app);   // replay_command.cc
void AddMigrateCommand(CLI::App& app);  // migrate_command.cc

}  // namespace annals::cli
