#include "test_support.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace annals::http::testing {

namespace {

std::string BinaryPath() {
  const char* dir = std::getenv("ANNALS_BIN");
  return std::string(dir != nullptr ? dir : "build/bin") + "/annals";
}

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

bool Has(const std::vector<std::string>& args, std::string_view flag) {
  for (const auto& a : args) {
    if (a == flag || a.rfind(std::string(flag) + "=", 0) == 0) return true;
  }
  return false;
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

size_t WriteBody(char* ptr, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(ptr, size * n);
  return size * n;
}

size_t WriteHeader(char* ptr, size_t size, size_t n, void* user) {
  auto* r = static_cast<HttpResponse*>(user);
  std::string line(ptr, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    r->headers.clear();  // a 100 Continue precedes the real response
    r->header_lines.clear();
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r->headers[name] = value;
    r->header_lines.push_back(line);
  }
  return size * n;
}

}  // namespace

std::string Unique(std::string_view prefix) {
  static std::atomic<int> n{0};
  return std::string(prefix) + "_" + std::to_string(::getpid()) + "x" + std::to_string(++n);
}

ServerProcess::ServerProcess(std::vector<std::string> args) {
  std::vector<std::string> full = {BinaryPath(), "serve"};
  if (!Has(args, "--http")) {
    full.push_back("--http");
    full.push_back("127.0.0.1:0");
  }
  if (!Has(args, "--store")) {
    full.push_back("--store");
    full.push_back("memory");
  }
  full.insert(full.end(), args.begin(), args.end());
  char tmpl[] = "/tmp/annals-http-test-stderr-XXXXXX";
  const int err_fd = ::mkstemp(tmpl);
  stderr_path_ = tmpl;
  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe");
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    ::dup2(err_fd, 2);
    ::close(out[0]);
    ::close(out[1]);
    auto argv = Argv(full);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err_fd);
  // Read the first line: "annals: listening on http://127.0.0.1:PORT (...)".
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = ::read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  const std::string marker = "://";
  const size_t at = line.find(marker);
  if (at == std::string::npos) {
    throw std::runtime_error("annals serve did not start: " + line + "\n" + Stderr());
  }
  const size_t end = line.find(' ', at);
  address_ = line.substr(at + marker.size(), end - at - marker.size());
  base_ = line.substr(line.find("http"), end - line.find("http"));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && Running()) {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
  ::unlink(stderr_path_.c_str());
}

bool ServerProcess::Running() {
  if (pid_ <= 0) return false;
  int status;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int ServerProcess::Terminate(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    std::this_thread::sleep_for(10ms);
  }
  return -1;
}

std::string ServerProcess::Stderr() const {
  std::ifstream in(stderr_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RunAnnals(const std::vector<std::string>& args, std::string* out,
              const std::vector<std::string>& env) {
  std::vector<std::string> full = {BinaryPath()};
  full.insert(full.end(), args.begin(), args.end());
  int pipefd[2];
  if (::pipe(pipefd) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    auto argv = Argv(full);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof(buf))) > 0) out->append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

HttpResponse Http(const std::string& method, const std::string& url, const std::string& body,
                  std::vector<std::string> headers) {
  static CurlGlobal global;
  HttpResponse r;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  bool has_ct = false;
  for (const auto& h : headers) {
    if (h.rfind("Content-Type:", 0) == 0) has_ct = true;
  }
  if (!body.empty() || method == "POST" || method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    if (!has_ct) headers.push_back("Content-Type: application/json");
  }
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  const CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return r;
}

RawConn::RawConn(const std::string& address, int rcvbuf) {
  const size_t colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd_);
    fd_ = -1;
    eof_ = true;
  }
}

RawConn::~RawConn() { Close(); }

void RawConn::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConn::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string RawConn::Read(std::chrono::milliseconds timeout, std::string_view until) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!eof_ && fd_ >= 0) {
    if (!until.empty() && out.find(until) != std::string::npos) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      eof_ = true;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

SseClient::SseClient(const std::string& address, const std::string& path,
                     std::vector<std::string> headers, int rcvbuf)
    : conn_(address, rcvbuf) {
  std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: " + address + "\r\nAccept: text/event-stream\r\n";
  for (const auto& h : headers) req += h + "\r\n";
  req += "\r\n";
  conn_.Send(req);
  std::string got = conn_.Read(10s, "\r\n\r\n");
  const size_t end = got.find("\r\n\r\n");
  if (end == std::string::npos) return;
  head_ = got.substr(0, end);
  buffer_ = got.substr(end + 4);
  if (head_.size() > 12) status_ = std::stoi(head_.substr(9, 3));
}

std::optional<SseEvent> SseClient::Next(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const size_t end = buffer_.find("\n\n");
    if (end != std::string::npos) {
      const std::string frame = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      SseEvent ev;
      bool any = false;
      bool had_data = false;
      size_t start = 0;
      while (start <= frame.size()) {
        size_t nl = frame.find('\n', start);
        if (nl == std::string::npos) nl = frame.size();
        const std::string line = frame.substr(start, nl - start);
        start = nl + 1;
        if (line.empty()) continue;
        if (line[0] == ':') {
          ++heartbeats_;
          continue;
        }
        const size_t colon = line.find(':');
        const std::string field = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.erase(0, 1);
        if (field == "data") {
          if (had_data) ev.data += "\n";
          ev.data += value;
          had_data = true;
          any = true;
        } else if (field == "id") {
          ev.id = value;
          any = true;
        } else if (field == "event") {
          ev.event = value;
          any = true;
        }
      }
      if (any) return ev;
      continue;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || conn_.eof()) return std::nullopt;
    buffer_ += conn_.Read(std::min<std::chrono::milliseconds>(left, 50ms));
  }
}

}  // namespace annals::http::testing
