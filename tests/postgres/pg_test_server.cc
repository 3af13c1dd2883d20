#include "pg_test_server.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <memory>
#include <sstream>

#include "postgres/advisory_leases.h"
#include "postgres/pg_connection.h"

namespace annals::pg::testing {
namespace {

std::string g_conninfo;   // set by the environment's SetUp
std::string g_directory;  // of the server it started; empty when given one

// Runs a command, returning its standard output; fails the test on a non-zero exit.
std::string Run(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen " << command;
    return output;
  }
  std::array<char, 512> buffer;
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  const int status = pclose(pipe);
  if (status != 0) ADD_FAILURE() << command << " exited with " << WEXITSTATUS(status);
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

class ServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (const char* given = getenv("ANNALS_PG_TEST_CONNINFO"); given && *given) {
      g_conninfo = given;
      return;
    }
    std::string pattern =
        (std::filesystem::path(::testing::TempDir()) / "annals-pg-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    g_directory = pattern;
    // With this process's id: should it abort, the script's watchdog stops the server.
    g_conninfo = Run(std::string(ANNALS_PG_TEST_SERVER) + " start " + g_directory + " " +
                     std::to_string(getpid()));
  }
  void TearDown() override {
    if (!g_directory.empty()) Run(std::string(ANNALS_PG_TEST_SERVER) + " stop " + g_directory);
  }
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new ServerEnvironment);

}  // namespace

const std::string& ServerConninfo() {
  EXPECT_FALSE(g_conninfo.empty()) << "no PostgreSQL test server (scripts/pg-test-server)";
  return g_conninfo;
}

namespace {

std::string NewSchema() {
  static std::atomic<int> counter{0};
  const std::string schema =
      "test_" + std::to_string(getpid()) + "_" + std::to_string(counter.fetch_add(1));
  Result<std::unique_ptr<Connection>> admin = Connection::Open({.conninfo = ServerConninfo()});
  EXPECT_TRUE(admin.ok()) << admin.status().ToString();
  if (!admin.ok()) return "";
  const Status created = (*admin)->ExecScript("CREATE SCHEMA " + schema);
  EXPECT_TRUE(created.ok()) << created.ToString();
  return schema;
}

// `key`'s value in a key=value connection string without quoted values.
std::string ValueOf(const std::string& conninfo, const std::string& key) {
  std::istringstream words(conninfo);
  std::string word;
  while (words >> word) {
    if (word.rfind(key + "=", 0) == 0) return word.substr(key.size() + 1);
  }
  ADD_FAILURE() << "no " << key << " in " << conninfo;
  return "";
}

}  // namespace

std::string FreshSchemaConninfo() {
  return ServerConninfo() + " options='-csearch_path=" + NewSchema() + "'";
}

std::string FreshSchemaUri() {
  const std::string& conninfo = ServerConninfo();
  return "postgresql://" + ValueOf(conninfo, "user") + "@/" + ValueOf(conninfo, "dbname") +
         "?host=" + ValueOf(conninfo, "host") + "&port=" + ValueOf(conninfo, "port") +
         "&options=-csearch_path%3D" + NewSchema();
}

bool CanStopServer() { return !g_directory.empty(); }

void StopServer(bool immediate) {
  ASSERT_TRUE(CanStopServer()) << "not the test binary's own server";
  Run(std::string(ANNALS_PG_TEST_SERVER) + " down " + g_directory +
      (immediate ? " immediate" : " fast"));
}

void StartServer() {
  ASSERT_TRUE(CanStopServer()) << "not the test binary's own server";
  Run(std::string(ANNALS_PG_TEST_SERVER) + " up " + g_directory);
}

int64_t TerminateLeaseHolder(const std::string& conninfo, const std::string& key) {
  Result<std::unique_ptr<Connection>> admin = Connection::Open({.conninfo = conninfo});
  EXPECT_TRUE(admin.ok()) << admin.status().ToString();
  if (!admin.ok()) return 0;
  Result<Rows> schema = (*admin)->Exec("SELECT current_schema()");
  EXPECT_TRUE(schema.ok()) << schema.status().ToString();
  if (!schema.ok()) return 0;
  // A bigint advisory lock shows in pg_locks as its high and low 32 bits.
  const uint64_t lock = static_cast<uint64_t>(AdvisoryLeases::LockKey(schema->Bytes(0, 0), key));
  Result<Rows> ended = (*admin)->Exec(
      "SELECT count(*)::bigint FROM (SELECT pg_terminate_backend(pid) FROM pg_locks "
      "WHERE locktype = 'advisory' AND classid::bigint = $1 AND objid::bigint = $2) t",
      Params()
          .Int64(static_cast<int64_t>(lock >> 32))
          .Int64(static_cast<int64_t>(lock & 0xffffffffu)));
  EXPECT_TRUE(ended.ok()) << ended.status().ToString();
  return ended.ok() ? ended->Int64(0, 0) : 0;
}

}  // namespace annals::pg::testing
