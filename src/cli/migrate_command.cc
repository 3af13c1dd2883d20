// `annals migrate --store postgres://...`: creates or upgrades the PostgreSQL backend's schema
// (docs/postgres.md), for deployments whose servers run without DDL rights.
#include <cstdio>
#include <memory>
#include <string>

#include "annals/postgres_store.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/postgres_uri.h"

namespace annals::cli {

void AddMigrateCommand(CLI::App& app) {
  auto store = std::make_shared<std::string>();
  CLI::App* command = app.add_subcommand(
      "migrate", "Create or upgrade the schema of a PostgreSQL store (docs/postgres.md)");
  command->add_option("--store", *store, "The database: a postgres:// or postgresql:// URI")
      ->required();
  command->callback([store] {
    if (!IsPostgresUri(*store)) FailUsage("--store must be a postgres:// or postgresql:// URI");
    // Connecting would report a malformed URI as an unreachable server (exit 9).
    if (Status valid = ValidatePostgresUri(*store); !valid.ok()) Fail(valid);
    if (Status migrated = MigratePostgres(*store); !migrated.ok()) Fail(migrated);
    std::printf("annals migrate: schema version %d\n", PostgresSchemaVersion());
  });
}

}  // namespace annals::cli
