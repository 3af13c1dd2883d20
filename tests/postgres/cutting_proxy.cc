#include "cutting_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string_view>

namespace annals::pg::testing {
namespace {

// Threads look at the stop flag this often.
constexpr int kPollMs = 50;

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Writes all of `size` bytes; false when the peer is gone.
bool SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t sent = send(fd, data, size, MSG_NOSIGNAL);
    if (sent <= 0) return false;
    data += sent;
    size -= static_cast<size_t>(sent);
  }
  return true;
}

}  // namespace

CuttingProxy::CuttingProxy(int server_port) : server_port_(server_port) {
  listener_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = Loopback(0);
  socklen_t size = sizeof(address);
  if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      listen(listener_, 16) != 0 ||
      getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    throw std::runtime_error(std::string("cutting proxy: ") + std::strerror(errno));
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

CuttingProxy::~CuttingProxy() {
  stopping_ = true;
  acceptor_.join();
  close(listener_);
  std::vector<std::thread> connections;
  {
    std::lock_guard lock(mu_);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
}

void CuttingProxy::Arm(Side from, std::string text) {
  std::lock_guard lock(mu_);
  armed_ = std::move(text);
  armed_from_ = from;
}

bool CuttingProxy::TakeCut(Side from, const char* chunk, size_t size) {
  std::lock_guard lock(mu_);
  if (armed_.empty() || from != armed_from_ ||
      std::string_view(chunk, size).find(armed_) == std::string_view::npos) {
    return false;
  }
  armed_.clear();
  ++cuts_;
  return true;
}

void CuttingProxy::AcceptLoop() {
  while (!stopping_) {
    pollfd waiting{.fd = listener_, .events = POLLIN, .revents = 0};
    if (poll(&waiting, 1, kPollMs) <= 0) continue;
    const int client = accept(listener_, nullptr, nullptr);
    if (client < 0) continue;
    const int server = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = Loopback(server_port_);
    if (server < 0 || connect(server, reinterpret_cast<sockaddr*>(&address), sizeof(address))) {
      close(client);
      if (server >= 0) close(server);
      continue;
    }
    std::lock_guard lock(mu_);
    connections_.emplace_back([this, client, server] { Forward(client, server); });
  }
}

void CuttingProxy::Forward(int client, int server) {
  char buffer[64 * 1024];
  pollfd fds[2] = {{.fd = client, .events = POLLIN, .revents = 0},
                   {.fd = server, .events = POLLIN, .revents = 0}};
  while (!stopping_) {
    if (poll(fds, 2, kPollMs) <= 0) continue;
    bool open = true;
    for (int from = 0; from < 2 && open; ++from) {
      if (fds[from].revents == 0) continue;
      const ssize_t got = recv(fds[from].fd, buffer, sizeof(buffer), 0);
      if (got <= 0) {
        open = false;
      } else if (TakeCut(static_cast<Side>(from), buffer, static_cast<size_t>(got))) {
        open = false;  // the chunk is lost with the connection
      } else {
        open = SendAll(fds[1 - from].fd, buffer, static_cast<size_t>(got));
      }
    }
    if (!open) break;
  }
  shutdown(client, SHUT_RDWR);
  shutdown(server, SHUT_RDWR);
  close(client);
  close(server);
}

}  // namespace annals::pg::testing
