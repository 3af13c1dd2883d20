// A real HTTP/1.1 receiver for webhook tests: raw sockets on a loopback port, keep-alive, one
// thread per connection, and a programmable behaviour per request (status, extra headers,
// delay, drop the connection without answering). It records every request it answered 2xx.
// Stop() closes the listener and every connection; Start() again reuses the same port.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace annals::delivery::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::chrono::steady_clock::time_point at;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Reply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};
  bool drop = false;  // close the connection without an answer
};

class TestReceiver {
 public:
  using Behaviour = std::function<Reply(const ReceivedRequest&)>;

  TestReceiver() = default;
  ~TestReceiver() { Stop(); }

  // Binds 127.0.0.1:`port` (0: a free port) and serves.
  void Start(uint16_t port = 0) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::perror("bind");
      std::abort();
    }
    ::listen(listen_fd_, 128);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    stopping_ = false;
    acceptor_ = std::thread([this] { Accept(); });
  }

  void Stop() {
    if (listen_fd_ < 0) return;
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    listen_fd_ = -1;
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

  uint16_t port() const { return port_; }
  std::string Url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void SetBehaviour(Behaviour b) {
    std::lock_guard lock(mu_);
    behaviour_ = std::move(b);
  }
  std::vector<ReceivedRequest> Accepted() const {
    std::lock_guard lock(mu_);
    return accepted_;
  }
  size_t AcceptedCount() const {
    std::lock_guard lock(mu_);
    return accepted_.size();
  }
  std::vector<ReceivedRequest> All() const {
    std::lock_guard lock(mu_);
    return all_;
  }

 private:
  void Accept() {
    while (!stopping_) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(mu_);
      conns_.insert(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  void Serve(int fd) {
    std::string buf;
    char chunk[65536];
    for (;;) {
      size_t head_end;
      while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return Close(fd);
        buf.append(chunk, static_cast<size_t>(n));
      }
      ReceivedRequest req;
      req.at = std::chrono::steady_clock::now();
      const std::string head = buf.substr(0, head_end);
      size_t line_end = head.find("\r\n");
      const std::string request_line = head.substr(0, line_end);
      const size_t sp1 = request_line.find(' ');
      const size_t sp2 = request_line.rfind(' ');
      req.method = request_line.substr(0, sp1);
      req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        const std::string line = head.substr(pos, e - pos);
        const size_t colon = line.find(':');
        if (colon != std::string::npos) {
          size_t v = colon + 1;
          while (v < line.size() && line[v] == ' ') ++v;
          req.headers[Lower(line.substr(0, colon))] = line.substr(v);
        }
        pos = e + 2;
      }
      const size_t length = std::stoul(
          req.headers.count("content-length") ? req.headers["content-length"] : std::string("0"));
      buf.erase(0, head_end + 4);
      while (buf.size() < length) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return Close(fd);
        buf.append(chunk, static_cast<size_t>(n));
      }
      req.body = buf.substr(0, length);
      buf.erase(0, length);
      Behaviour b;
      {
        std::lock_guard lock(mu_);
        b = behaviour_;
        all_.push_back(req);
      }
      const Reply reply = b ? b(req) : Reply{};
      if (reply.delay.count() > 0) {
        const auto until = std::chrono::steady_clock::now() + reply.delay;
        while (!stopping_ && std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
      if (reply.drop || stopping_) return Close(fd);
      std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " X\r\nContent-Length: 0\r\n";
      for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
      out += "\r\n";
      if (reply.status >= 200 && reply.status < 300) {
        std::lock_guard lock(mu_);
        accepted_.push_back(req);
      }
      if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) return Close(fd);
    }
  }

  void Close(int fd) {
    ::close(fd);
    std::lock_guard lock(mu_);
    conns_.erase(fd);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::set<int> conns_;
  std::vector<std::thread> threads_;
  Behaviour behaviour_;
  std::vector<ReceivedRequest> accepted_;
  std::vector<ReceivedRequest> all_;
};

}  // namespace annals::delivery::testing
