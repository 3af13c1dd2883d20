// Runs docs/tutorial-hospital.md: every ```sh block, in order, as one bash script with
// `set -euo pipefail`, in a scratch directory, with the built programs first on PATH and free
// ports. A command that fails (curl -f, test, grep) fails the test, so the tutorial cannot rot.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "child_process.h"

namespace hospital::testing {
namespace {

std::string TutorialPath() { return std::string(ANNALS_SOURCE_DIR) + "/docs/tutorial-hospital.md"; }

// The ```sh blocks of `markdown`, joined.
std::string ShellBlocks(const std::string& markdown, int* blocks) {
  std::istringstream in(markdown);
  std::string line, script;
  bool inside = false;
  *blocks = 0;
  while (std::getline(in, line)) {
    if (!inside && line == "```sh") {
      inside = true;
      ++*blocks;
    } else if (inside && line == "```") {
      inside = false;
      script += "\n";
    } else if (inside) {
      script += line + "\n";
    }
  }
  return script;
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(Tutorial, EveryShellBlockRuns) {
  std::ifstream file(TutorialPath());
  ASSERT_TRUE(file) << TutorialPath();
  std::stringstream markdown;
  markdown << file.rdbuf();
  int blocks = 0;
  const std::string body = ShellBlocks(markdown.str(), &blocks);
  ASSERT_GE(blocks, 8) << "the tutorial lost its sh blocks";

  char tmpl[] = "/tmp/hospital-tutorial-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  // Background jobs the tutorial leaves behind after a failure are killed on exit.
  const std::string script =
      "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
      "cd " +
      dir + "\nexport PATH=" + BinDir() + ":$PATH\n" +
      "export ANNALS_PORT=" + std::to_string(FreePort()) +
      " VISITS_PORT=" + std::to_string(FreePort()) + "\n" + body;
  const std::string script_path = dir + "/tutorial.sh";
  std::ofstream(script_path) << script;
  ChildProcess bash("/usr/bin/timeout", {"120", "bash", script_path});
  const int exit_code = bash.Wait(std::chrono::seconds(150));
  const std::string output = bash.Output();
  EXPECT_EQ(exit_code, 0) << output;
  EXPECT_NE(output.find("rebuilt: identical"), std::string::npos) << output;
  EXPECT_NE(output.find("\"repeated\":false"), std::string::npos) << output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hospital::testing
