#include "http_service.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <thread>

namespace hospital {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

void Session(tcp::socket socket, const HttpHandler& handler) {
  beast::flat_buffer buffer;
  beast::error_code ec;
  while (true) {
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) break;  // closed by the client, or malformed
    HttpRequest in{std::string(req.method_string()), std::string(req.target()), req.body(), ""};
    if (auto it = req.find("Idempotency-Key"); it != req.end()) {
      in.idempotency_key = std::string(it->value());
    }
    HttpAnswer out = handler(in);
    http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(out.body);
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !res.keep_alive()) break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

int ServeHttp(const std::string& name, const std::string& listen, const HttpHandler& handler,
              const std::atomic<bool>& stop) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "%s: --listen must be host:port\n", name.c_str());
    return 2;
  }
  boost::asio::io_context io;
  beast::error_code ec;
  const auto address = boost::asio::ip::make_address(listen.substr(0, colon), ec);
  if (ec) {
    std::fprintf(stderr, "%s: bad address %s\n", name.c_str(), listen.c_str());
    return 2;
  }
  tcp::acceptor acceptor(io);
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(std::stoi(listen.substr(colon + 1))));
  acceptor.open(endpoint.protocol());
  acceptor.set_option(boost::asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint, ec);
  if (ec) {
    std::fprintf(stderr, "%s: cannot listen on %s: %s\n", name.c_str(), listen.c_str(),
                 ec.message().c_str());
    return 1;
  }
  acceptor.listen();
  const tcp::endpoint bound = acceptor.local_endpoint();
  std::printf("%s: listening on http://%s:%u\n", name.c_str(), bound.address().to_string().c_str(),
              bound.port());
  std::fflush(stdout);
  while (!stop.load()) {
    tcp::socket socket(io);
    acceptor.accept(socket, ec);
    if (ec) continue;
    socket.set_option(tcp::no_delay(true), ec);
    std::thread([s = std::move(socket), &handler]() mutable {
      Session(std::move(s), handler);
    }).detach();
  }
  return 0;
}

}  // namespace hospital
