// The example programs as child processes of the tests: started with arguments, optionally
// waited for until they print "listening on http://...", killed with any signal.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace hospital::testing {

// The directory of the built programs (ANNALS_BIN, set by CTest).
std::string BinDir();

class ChildProcess {
 public:
  // Runs BinDir()/program (or `program` itself when it is an absolute path) with `args`; stdout and
  // stderr go to a log file. With `wait_for_url`, waits (up to 60 s) for a "listening on <url>"
  // line and keeps the URL.
  ChildProcess(const std::string& program, std::vector<std::string> args,
               bool wait_for_url = false);
  ~ChildProcess();  // SIGKILLs a child still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  const std::string& url() const { return url_; }
  pid_t pid() const { return pid_; }
  // Sends `sig` and waits for the exit; the exit code, 128+signal, or -1 on timeout.
  int Stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits for the child to exit by itself.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  std::string Output() const;  // stdout and stderr so far

 private:
  pid_t pid_ = -1;
  std::string url_;
  std::string log_path_;
};

// Runs a program to completion: its exit code; stdout+stderr into *output.
int RunProgram(const std::string& program, const std::vector<std::string>& args,
               std::string* output);

}  // namespace hospital::testing
