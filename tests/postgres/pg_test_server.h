// A private PostgreSQL server for the PostgreSQL backend's tests, started once per test binary
// by scripts/pg-test-server (a gtest environment: started before the first test, stopped and
// removed after the last), and a fresh schema per store.
//
// ANNALS_PG_TEST_CONNINFO, when set, names a server to use instead (nothing is started).
#pragma once

#include <cstdint>
#include <string>

namespace annals::pg::testing {

// The server's connection string. Fails the calling test when no server is running.
const std::string& ServerConninfo();

// A new, empty schema, and a connection string whose search_path is that schema only: a
// store opened on it has its own tables.
std::string FreshSchemaConninfo();

// Ends (pg_terminate_backend) the session that holds the cursor lease `key` of the store on
// `conninfo` (src/postgres/advisory_leases.h), as a server restart or failover would; returns
// how many sessions it ended.
int64_t TerminateLeaseHolder(const std::string& conninfo, const std::string& key);

// Database restarts (scripts/pg-test-server down/up): the server stops (`immediate`: without a
// shutdown checkpoint, as in a crash) and later starts again on the same data and port, so
// every connection string stays valid. Only for the server this binary started: with
// ANNALS_PG_TEST_CONNINFO set, CanStopServer() is false.
bool CanStopServer();
void StopServer(bool immediate = false);
void StartServer();

// The same as a postgresql:// URI (the CLI's --store form). Needs the server's connection
// string in key=value form with host, port, user and dbname (as scripts/pg-test-server's).
std::string FreshSchemaUri();

}  // namespace annals::pg::testing
