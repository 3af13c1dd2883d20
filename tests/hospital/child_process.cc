#include "child_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hospital::testing {

std::string BinDir() {
  const char* dir = std::getenv("ANNALS_BIN");
  return dir != nullptr ? dir : "build/bin";
}

ChildProcess::ChildProcess(const std::string& program, std::vector<std::string> args,
                           bool wait_for_url) {
  char tmpl[] = "/tmp/hospital-child-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  log_path_ = tmpl;
  std::vector<std::string> argv_strings = {program[0] == '/' ? program : BinDir() + "/" + program};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fd);
  if (!wait_for_url) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string out = Output();
    const size_t at = out.find("listening on ");
    if (at != std::string::npos) {
      const size_t end = out.find_first_of(" \n", at + 13);
      if (end != std::string::npos) {
        url_ = out.substr(at + 13, end - at - 13);
        return;
      }
    }
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error(program + " exited at start: " + out);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error(program + " did not start: " + Output());
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Stop(SIGKILL);
  ::unlink(log_path_.c_str());
}

int ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

int ChildProcess::Stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  return Wait(timeout);
}

std::string ChildProcess::Output() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RunProgram(const std::string& program, const std::vector<std::string>& args,
               std::string* output) {
  ChildProcess child(program, args);
  const int code = child.Wait(std::chrono::seconds(120));
  *output = child.Output();
  return code;
}

}  // namespace hospital::testing
