// Runs the real `annals` binary (from $ANNALS_BIN, set by the CTest helper) in a child process
// and captures its exit code, standard output and standard error.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace annals::testing {

struct CliResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

inline std::string AnnalsBinary() {
  const char* dir = std::getenv("ANNALS_BIN");
  return std::string(dir ? dir : "bin") + "/annals";
}

// Runs `binary args...` with `input` on its standard input. Reads stdout and stderr together
// (poll) so a chatty child never blocks on a full pipe.
inline CliResult RunProgram(const std::string& binary, const std::vector<std::string>& args,
                            const std::string& input = "") {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  EXPECT_EQ(::pipe2(in_pipe, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(out_pipe, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(err_pipe, O_CLOEXEC), 0);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid == 0) {
    // This process ignores SIGPIPE (below), and an ignored signal stays ignored across exec:
    // the child gets the default, as from a shell.
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  // A child that exits without reading its input must not kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);

  CliResult result;
  size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  } else {
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  bool out_open = true, err_open = true;
  char buf[1 << 16];
  while (out_open || err_open) {
    pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out_open) fds[out_i = n++] = {out_pipe[0], POLLIN, 0};
    if (err_open) fds[err_i = n++] = {err_pipe[0], POLLIN, 0};
    if (in_fd >= 0) fds[in_i = n++] = {in_fd, POLLOUT, 0};
    if (::poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      ADD_FAILURE() << "poll failed";
      break;
    }
    auto drain = [&](int i, int fd, std::string* dst, bool* open) {
      if (i < 0 || fds[i].revents == 0) return;
      ssize_t got = ::read(fd, buf, sizeof buf);
      if (got > 0) {
        dst->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        *open = false;
      }
    };
    drain(out_i, out_pipe[0], &result.out, &out_open);
    drain(err_i, err_pipe[0], &result.err, &err_open);
    if (in_i >= 0 && fds[in_i].revents != 0) {
      ssize_t put = ::write(in_fd, input.data() + written, input.size() - written);
      if (put > 0) written += static_cast<size_t>(put);
      if (put < 0 && errno != EAGAIN && errno != EINTR) written = input.size();
      if (written == input.size()) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
  }
  if (in_fd >= 0) ::close(in_fd);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Runs `annals args...` with `input` on its standard input.
inline CliResult RunAnnals(const std::vector<std::string>& args, const std::string& input = "") {
  return RunProgram(AnnalsBinary(), args, input);
}

// Runs `script` with bash, for redirections a test needs (`<&-`, `| head`): in it, "$1" is
// the annals binary and "$2" is `arg`.
inline CliResult RunShell(const std::string& script, const std::string& arg = "") {
  return RunProgram("/bin/bash", {"-c", script, "bash", AnnalsBinary(), arg});
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Prints the child's output when an expectation about it fails.
inline std::ostream& operator<<(std::ostream& os, const CliResult& r) {
  return os << "exit " << r.exit_code << "\n--- stdout:\n" << r.out << "--- stderr:\n" << r.err;
}

}  // namespace annals::testing
