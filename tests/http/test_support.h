// Helpers of the HTTP integration tests: the real `annals serve` as a child process, a libcurl
// client, a raw TCP connection for hand-made HTTP and a small SSE reader.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace annals::http::testing {

using Json = nlohmann::json;
using namespace std::chrono_literals;

// `annals serve` with `args` (after "serve"); --http 127.0.0.1:0 and --store memory are added
// unless `args` names them. Waits for the "listening on" line.
class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> args = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& address() const { return address_; }  // 127.0.0.1:port
  pid_t pid() const { return pid_; }
  std::string Url(std::string_view path) const { return base_ + std::string(path); }
  bool Running();
  // Sends `sig` and waits (up to `timeout`) for the exit; the exit code, 128+signal when killed
  // by a signal, or -1 on timeout.
  int Terminate(int sig, std::chrono::milliseconds timeout = 20s);
  // Everything the server wrote to stderr so far.
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  std::string address_;
  std::string base_;
  std::string stderr_path_;
};

// Runs the binary with `args` to completion; returns its exit code and fills stdout.
int RunAnnals(const std::vector<std::string>& args, std::string* out,
              const std::vector<std::string>& env = {});

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::vector<std::string> header_lines;
  std::string body;
  Json json() const { return Json::parse(body); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// One request with libcurl. Headers as "Name: value"; a body sets Content-Type: application/json
// unless the headers name one.
HttpResponse Http(const std::string& method, const std::string& url, const std::string& body = {},
                  std::vector<std::string> headers = {});

// A TCP connection to the server for hand-written requests.
class RawConn {
 public:
  explicit RawConn(const std::string& address, int rcvbuf = 0);
  ~RawConn();
  bool Send(std::string_view bytes);
  // Reads what arrives within `timeout`; stops early at `until` (when not empty) or at EOF.
  std::string Read(std::chrono::milliseconds timeout, std::string_view until = {});
  bool eof() const { return eof_; }
  int fd() const { return fd_; }
  void Close();

 private:
  int fd_ = -1;
  bool eof_ = false;
};

struct SseEvent {
  std::string event;  // empty for plain events
  std::string id;
  std::string data;
};

class SseClient {
 public:
  // GET `path` with Accept: text/event-stream; `headers` as "Name: value".
  SseClient(const std::string& address, const std::string& path,
            std::vector<std::string> headers = {}, int rcvbuf = 0);
  int status() const { return status_; }
  const std::string& head() const { return head_; }
  // The next event (heartbeat comments are counted, not returned); nullopt on timeout or EOF.
  std::optional<SseEvent> Next(std::chrono::milliseconds timeout = 5s);
  int heartbeats() const { return heartbeats_; }
  bool closed() const { return conn_.eof() && buffer_.empty(); }
  RawConn& conn() { return conn_; }
  // The body bytes received (after the header) that were not consumed yet.
  std::string& buffer() { return buffer_; }

 private:
  RawConn conn_;
  int status_ = 0;
  std::string head_;
  std::string buffer_;
  int heartbeats_ = 0;
};

// A unique name per call, for streams that must not collide between tests.
std::string Unique(std::string_view prefix);

}  // namespace annals::http::testing
