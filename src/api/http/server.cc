#include "api/http/server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "api/http/authn.h"
#include "api/http/problem.h"
#include "api/http/sse.h"

namespace annals::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kServerHeader = "annals/0.1";
// How soon an SSE subscriber's read is tried again after the store answered kUnavailable.
constexpr auto kSseRetryAfterUnavailable = std::chrono::milliseconds(500);

// Parses "host:port" or "[v6]:port".
std::optional<tcp::endpoint> ParseListen(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec || port.empty() || port.size() > 5) return std::nullopt;
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p > 65535) return std::nullopt;
  return tcp::endpoint(address, static_cast<unsigned short>(p));
}

std::string FormatEndpoint(const tcp::endpoint& ep) {
  const auto a = ep.address();
  std::string host = a.to_string();
  if (a.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

// What one connection is doing, for Stop(). Touched only on the connection's executor, except
// the registry membership (under the server's mutex).
struct Conn {
  enum class Phase : uint8_t { kIdle, kBusy, kSse };
  asio::any_io_executor executor;
  Phase phase = Phase::kIdle;
  bool stop_requested = false;
  std::function<void()> close;     // closes the socket (set by the session)
  std::function<void()> sse_stop;  // ends the SSE loop (set while streaming)
};

// Shared by the two halves of one SSE connection (producer and writer), on one executor.
struct SseState {
  explicit SseState(const asio::any_io_executor& ex) : producer_timer(ex), writer_timer(ex) {}
  std::string pending;  // frames not yet handed to the socket
  asio::steady_timer producer_timer;
  asio::steady_timer writer_timer;
  bool notified = false;       // the head watch fired
  bool stop = false;           // server stop
  bool producer_done = false;  // the writer flushes `pending` and ends
  bool writer_done = false;    // the socket failed or the writer ended
  bool waiting_room = false;   // the producer waits for the buffer to drain
};

// Lets a head-watch callback (on a store thread) reach an SseState that may be gone.
struct WatchToken {
  bool alive = true;  // on the connection's executor only
  SseState* state = nullptr;
};

bool IsQuietClose(const boost::system::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor ||
         ec == ssl::error::stream_truncated;
}

enum class Opening : uint8_t { kHttp1, kHttp2, kClosed };

// Tells HTTP/2 with prior knowledge (its 24-byte connection preface) from HTTP/1.1 by peeking
// at the first bytes, which stay in the socket for whichever server takes the connection.
// HTTP/1.1 methods differ from "PRI" within the first two bytes, so one peek usually decides.
asio::awaitable<Opening> SniffOpening(tcp::socket& socket, std::chrono::milliseconds timeout) {
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer timer(socket.get_executor());
  for (;;) {
    char buf[kPreface.size()];
    const ssize_t n = ::recv(socket.native_handle(), buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) co_return Opening::kClosed;
    if (n > 0) {
      const std::string_view got(buf, static_cast<size_t>(n));
      if (got != kPreface.substr(0, got.size())) co_return Opening::kHttp1;
      if (got.size() == kPreface.size()) co_return Opening::kHttp2;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      co_return Opening::kClosed;
    }
    if (std::chrono::steady_clock::now() >= deadline) co_return Opening::kClosed;
    if (n > 0) {
      // A part of the preface: the rest is on its way (waiting for readability would spin).
      timer.expires_after(std::chrono::milliseconds(2));
      co_await timer.async_wait(kNoThrow);
    } else {
      timer.expires_at(deadline);
      co_await (socket.async_wait(tcp::socket::wait_read, kNoThrow) || timer.async_wait(kNoThrow));
    }
  }
}

// ALPN on the TLS port: a client that offers only "h2" (gRPC clients: grpc-js, tonic) gets h2
// and the gRPC server; one that can also speak HTTP/1.1 (curl, browsers) gets HTTP/1.1, which
// is all this server's REST and SSE speak.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  const unsigned char* h2 = nullptr;
  for (unsigned int i = 0; i < inlen;) {
    const unsigned len = in[i];
    if (i + 1 + len > inlen) break;
    const std::string_view proto(reinterpret_cast<const char*>(in + i + 1), len);
    if (proto == "http/1.1") {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    if (proto == "h2") h2 = in + i + 1;
    i += 1 + len;
  }
  if (h2 == nullptr) return SSL_TLSEXT_ERR_NOACK;
  *out = h2;
  *outlen = 2;
  return SSL_TLSEXT_ERR_OK;
}

bool NegotiatedH2(SSL* ssl) {
  const unsigned char* proto = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &proto, &len);
  return len == 2 && proto[0] == 'h' && proto[1] == '2';
}

// Copies bytes one way until either side fails or ends, then runs `done` (which closes the
// other side, so the opposite pump ends too).
template <class From, class To>
asio::awaitable<void> Pump(From& from, To& to, std::function<void()> done) {
  std::vector<char> buf(64 << 10);
  for (;;) {
    auto [rec, n] = co_await from.async_read_some(asio::buffer(buf), kNoThrow);
    if (n > 0) {
      auto [wec, m] = co_await asio::async_write(to, asio::buffer(buf.data(), n), kNoThrow);
      if (wec) break;
    }
    if (rec) break;
  }
  done();
}

// h2 over TLS: the decrypted bytes go through a socketpair whose other end the gRPC server
// serves as if it were a plain h2c connection. Returns when either side closes.
template <class Stream>
asio::awaitable<void> RelayHttp2(Stream& tls, const std::function<void(int fd)>& on_http2) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) co_return;
  asio::local::stream_protocol::socket local(co_await asio::this_coro::executor);
  boost::system::error_code ec;
  local.assign(asio::local::stream_protocol(), fds[1], ec);
  if (ec) {
    ::close(fds[0]);
    ::close(fds[1]);
    co_return;
  }
  on_http2(fds[0]);
  beast::get_lowest_layer(tls).expires_never();  // idle gRPC connections are kept alive by pings
  auto& tcp_socket = beast::get_lowest_layer(tls).socket();
  co_await (Pump(tls, local,
                 [&local] {
                   boost::system::error_code e;
                   local.close(e);
                 }) &&
            Pump(local, tls, [&tcp_socket] {
              boost::system::error_code e;
              tcp_socket.shutdown(tcp::socket::shutdown_both, e);
              tcp_socket.close(e);
            }));
}

}  // namespace

struct Server::Impl {
  Impl(Router* r, Metrics* m, EventStore* s, ServerOptions o, const Authenticator* a)
      : router(r), metrics(m), store(s), options(std::move(o)), authenticator(a) {
    unsigned n = options.io_threads;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
    for (auto& c : contexts) guards.emplace_back(asio::make_work_guard(*c));
    blocking_pool.emplace(std::max(1u, options.blocking_threads));
  }

  Router* router;
  Metrics* metrics;
  EventStore* store;
  ServerOptions options;
  const Authenticator* authenticator;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::optional<asio::thread_pool> blocking_pool;
  std::optional<tcp::acceptor> acceptor;
  std::optional<ssl::context> tls;
  std::atomic<bool> stopping{false};
  size_t next_context = 0;

  std::mutex mu;
  std::list<std::shared_ptr<Conn>> conns;  // guarded by mu

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool drained = false;  // guarded by stop_mu
  std::thread watchdog;  // started by Stop(), joined by ~Server

  asio::awaitable<void> Accept();
  template <class Stream>
  asio::awaitable<void> Session(Stream stream, std::shared_ptr<Conn> conn, bool tls_stream);
  template <class Stream>
  asio::awaitable<bool> WriteResponse(Stream& stream, Response response, unsigned version,
                                      bool keep_alive, bool head);
  template <class Stream>
  asio::awaitable<void> RejectConnection(Stream& stream, ProblemKind kind, std::string detail,
                                         unsigned version);
  asio::awaitable<Result<AppendResult>> Append(AppendRequest request);
  asio::awaitable<Response> Await(std::function<void(std::function<void(Response)>)> start);
  template <class Stream>
  asio::awaitable<unsigned> ServeSse(Stream& stream, Conn& conn, SseSpec spec, unsigned version);
  asio::awaitable<void> SseProduce(SseState& s, SseCursor& cursor, bool caught_up,
                                   SseClientState& client);
  template <class Stream>
  asio::awaitable<bool> WriteSseHeader(Stream& stream, unsigned version);
  template <class Stream>
  asio::awaitable<unsigned> ServeFeed(Stream& stream, Conn& conn, std::shared_ptr<SseFeed> feed,
                                      unsigned version);
  asio::awaitable<void> FeedProduce(SseState& s, SseFeed& feed);
  template <class Stream>
  asio::awaitable<void> SseWrite(Stream& stream, SseState& s);

  void Register(const std::shared_ptr<Conn>& c) {
    std::lock_guard lock(mu);
    conns.push_back(c);
  }
  void Unregister(const std::shared_ptr<Conn>& c) {
    std::lock_guard lock(mu);
    conns.remove(c);
  }
};

Server::Server(Router* router, Metrics* metrics, EventStore* store, ServerOptions options,
               const Authenticator* authenticator)
    : impl_(std::make_unique<Impl>(router, metrics, store, std::move(options), authenticator)) {}

Server::~Server() {
  Stop();
  {
    std::lock_guard lock(impl_->stop_mu);
    impl_->drained = true;
  }
  impl_->stop_cv.notify_all();
  if (impl_->watchdog.joinable()) impl_->watchdog.join();
  if (impl_->blocking_pool) impl_->blocking_pool->join();
}

Status Server::Start() {
  Impl& s = *impl_;
  auto ep = ParseListen(s.options.listen);
  if (!ep) {
    return Status(StatusCode::kInvalidArgument,
                  "listen address '" + s.options.listen + "' is not host:port");
  }
  if (s.options.tls_cert_file.empty() != s.options.tls_key_file.empty()) {
    return Status(StatusCode::kInvalidArgument, "TLS needs both a certificate and a key file");
  }
  if (!s.options.tls_cert_file.empty()) {
    boost::system::error_code ec;
    s.tls.emplace(ssl::context::tls_server);
    s.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
    s.tls->use_certificate_chain_file(s.options.tls_cert_file, ec);
    if (ec) {
      return Status(StatusCode::kInvalidArgument,
                    "TLS certificate '" + s.options.tls_cert_file + "': " + ec.message());
    }
    s.tls->use_private_key_file(s.options.tls_key_file, ssl::context::pem, ec);
    if (ec) {
      return Status(StatusCode::kInvalidArgument,
                    "TLS key '" + s.options.tls_key_file + "': " + ec.message());
    }
    if (s.options.on_http2) SSL_CTX_set_alpn_select_cb(s.tls->native_handle(), SelectAlpn, nullptr);
  }
  boost::system::error_code ec;
  s.acceptor.emplace(*s.contexts[0]);
  s.acceptor->open(ep->protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(*ep, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(StatusCode::kUnavailable,
                  "cannot listen on " + s.options.listen + ": " + ec.message());
  }
  asio::co_spawn(*s.contexts[0], s.Accept(), [](std::exception_ptr e) {
    if (e) spdlog::error("http: the acceptor stopped on an exception");
  });
  return Status::Ok();
}

std::string Server::BoundAddress() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor->local_endpoint(ec);
  return ec ? std::string() : FormatEndpoint(ep);
}

void Server::Run() {
  Impl& s = *impl_;
  std::vector<std::thread> threads;
  for (size_t i = 1; i < s.contexts.size(); ++i) {
    threads.emplace_back([&s, i] { s.contexts[i]->run(); });
  }
  s.contexts[0]->run();
  for (auto& t : threads) t.join();
  {
    std::lock_guard lock(s.stop_mu);
    s.drained = true;
  }
  s.stop_cv.notify_all();
}

void Server::Stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  s.router->SetStopping();
  spdlog::info("http: stopping: no new connections, finishing requests in flight");
  if (s.acceptor) {
    asio::post(*s.contexts[0], [&s] {
      boost::system::error_code ec;
      s.acceptor->close(ec);
    });
  }
  {
    std::lock_guard lock(s.mu);
    for (const auto& c : s.conns) {
      asio::post(c->executor, [c] {
        c->stop_requested = true;
        if (c->phase == Conn::Phase::kIdle && c->close) c->close();
        if (c->phase == Conn::Phase::kSse && c->sse_stop) c->sse_stop();
      });
    }
  }
  // Let each context run out of work once its connections end.
  for (size_t i = 0; i < s.contexts.size(); ++i) {
    asio::post(*s.contexts[i], [&s, i] { s.guards[i].reset(); });
  }
  // A watchdog: connections that do not finish in time are cut.
  s.watchdog = std::thread([&s] {
    std::unique_lock lock(s.stop_mu);
    if (!s.stop_cv.wait_for(lock, s.options.shutdown_timeout, [&] { return s.drained; })) {
      spdlog::warn("http: shutdown timeout: closing the remaining connections");
      for (auto& c : s.contexts) c->stop();
    }
  });
}

asio::awaitable<void> Server::Impl::Accept() {
  for (;;) {
    asio::io_context& target = *contexts[next_context];
    next_context = (next_context + 1) % contexts.size();
    auto [ec, socket] = co_await acceptor->async_accept(target.get_executor(), kNoThrow);
    if (stopping.load()) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of file descriptors and the like: back off instead of spinning.
      spdlog::warn("http: accept failed: {}", ec.message());
      asio::steady_timer t(acceptor->get_executor(), std::chrono::milliseconds(100));
      co_await t.async_wait(kNoThrow);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<Conn>();
    conn->executor = socket.get_executor();
    auto on_done = [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("http: connection ended on an exception: {}", ex.what());
      }
    };
    if (tls) {
      asio::co_spawn(target,
                     Session(beast::ssl_stream<beast::tcp_stream>(
                                 beast::tcp_stream(tcp::socket(std::move(socket))), *tls),
                             conn, true),
                     on_done);
    } else {
      asio::co_spawn(
          target, Session(beast::tcp_stream(tcp::socket(std::move(socket))), conn, false), on_done);
    }
  }
}

template <class Stream>
asio::awaitable<void> Server::Impl::RejectConnection(Stream& stream, ProblemKind kind,
                                                     std::string detail, unsigned version) {
  Problem p;
  p.kind = kind;
  p.detail = std::move(detail);
  co_await WriteResponse(stream, ProblemResponse(p), version, false, false);
}

template <class Stream>
asio::awaitable<bool> Server::Impl::WriteResponse(Stream& stream, Response response,
                                                  unsigned version, bool keep_alive, bool head) {
  bhttp::response<bhttp::string_body> res;
  res.version(version);
  res.result(response.status);
  res.set(bhttp::field::server, kServerHeader);
  if (!response.content_type.empty()) res.set(bhttp::field::content_type, response.content_type);
  for (auto& [name, value] : response.headers) res.insert(name, value);
  res.keep_alive(keep_alive);
  if (head) {
    res.content_length(response.body.size());
  } else {
    res.body() = std::move(response.body);
    res.prepare_payload();
  }
  beast::get_lowest_layer(stream).expires_after(options.write_timeout);
  auto [ec, n] = co_await bhttp::async_write(stream, res, kNoThrow);
  co_return !ec;
}

asio::awaitable<Result<AppendResult>> Server::Impl::Append(AppendRequest request) {
  auto ex = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable),
                                          void(Result<AppendResult>)>(
      [this, ex](auto handler, AppendRequest req) {
        // std::function needs a copyable callable: the handler is shared. The tracked
        // executor keeps the io_context from running out of work while the store holds it.
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto tracked = asio::prefer(ex, asio::execution::outstanding_work.tracked);
        store->AppendAsync(std::move(req), [h, tracked](Result<AppendResult> r) {
          asio::post(tracked, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        });
      },
      asio::use_awaitable, std::move(request));
}

// Like Append: the callback may come from any thread; the session resumes on its own.
asio::awaitable<Response> Server::Impl::Await(
    std::function<void(std::function<void(Response)>)> start) {
  auto ex = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Response)>(
      [ex](auto handler, auto start) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto tracked = asio::prefer(ex, asio::execution::outstanding_work.tracked);
        start([h, tracked](Response r) {
          asio::post(tracked, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        });
      },
      asio::use_awaitable, std::move(start));
}

template <class Stream>
asio::awaitable<void> Server::Impl::Session(Stream stream, std::shared_ptr<Conn> conn,
                                            bool tls_stream) {
  metrics->ConnectionOpened();
  Register(conn);
  auto& socket = beast::get_lowest_layer(stream).socket();
  conn->close = [&socket] {
    boost::system::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  };
  struct Cleanup {
    Impl* impl;
    std::shared_ptr<Conn> conn;
    ~Cleanup() {
      conn->close = nullptr;
      conn->sse_stop = nullptr;
      impl->Unregister(conn);
      impl->metrics->ConnectionClosed();
    }
  } cleanup{this, conn};

  if (static_cast<uint64_t>(metrics->connections()) > options.max_connections) {
    metrics->ConnectionRejected();
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) co_return;
    co_await RejectConnection(stream, ProblemKind::kUnavailable,
                              "the server is at its connection limit", 11);
    conn->close();
    co_return;
  }
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    // One port for HTTP/1.1 and gRPC: an HTTP/2 connection goes to the gRPC server.
    if (options.on_http2) {
      const Opening opening = co_await SniffOpening(socket, options.read_timeout);
      if (opening == Opening::kClosed) {
        conn->close();
        co_return;
      }
      if (opening == Opening::kHttp2) {
        boost::system::error_code ec;
        const int fd = socket.release(ec);
        if (!ec) options.on_http2(fd);
        co_return;
      }
    }
  }
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    beast::get_lowest_layer(stream).expires_after(options.read_timeout);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
    if (ec) {
      spdlog::debug("http: TLS handshake failed: {}", ec.message());
      conn->close();
      co_return;
    }
    if (options.on_http2 && NegotiatedH2(stream.native_handle())) {
      // gRPC over TLS. Stop() may close it at once: the gRPC server has stopped by then.
      conn->phase = Conn::Phase::kIdle;
      co_await RelayHttp2(stream, options.on_http2);
      conn->close();
      co_return;
    }
  }
  (void)tls_stream;

  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    conn->phase = Conn::Phase::kIdle;
    if (conn->stop_requested || stopping.load(std::memory_order_relaxed)) break;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(options.max_header_bytes);
    parser.body_limit(options.max_body_bytes);
    beast::get_lowest_layer(stream).expires_after(first ? options.read_timeout
                                                        : options.idle_timeout);
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kNoThrow);
    conn->phase = Conn::Phase::kBusy;
    if (!ec && !parser.is_done()) {
      if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, parser.get().version()};
        beast::get_lowest_layer(stream).expires_after(options.write_timeout);
        auto [wec, wn] = co_await bhttp::async_write(stream, cont, kNoThrow);
        if (wec) break;
      }
      beast::get_lowest_layer(stream).expires_after(options.read_timeout);
      std::tie(ec, n) = co_await bhttp::async_read(stream, buffer, parser, kNoThrow);
    }
    if (ec) {
      if (IsQuietClose(ec)) break;
      const unsigned version = parser.is_header_done() ? parser.get().version() : 11;
      if (ec == beast::error::timeout) {
        // tcp_stream closed the socket when the timer fired: nothing can be sent any more.
        spdlog::debug("http: read timeout ({} bytes of a request received)", buffer.size());
      } else if (ec == bhttp::error::header_limit) {
        metrics->MalformedRequest();
        co_await RejectConnection(
            stream, ProblemKind::kHeaderTooLarge,
            "the request header is over " + std::to_string(options.max_header_bytes) + " bytes",
            version);
      } else if (ec == bhttp::error::body_limit) {
        metrics->MalformedRequest();
        co_await RejectConnection(
            stream, ProblemKind::kTooLarge,
            "the request body is over " + std::to_string(options.max_body_bytes) + " bytes",
            version);
      } else if (ec == bhttp::error::partial_message) {
        metrics->MalformedRequest();  // the client hung up mid-request
      } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
        metrics->MalformedRequest();
        co_await RejectConnection(stream, ProblemKind::kMalformedRequest,
                                  "malformed HTTP: " + ec.message(), version);
      }
      break;
    }
    first = false;

    auto& msg = parser.get();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.content_type = std::string(msg[bhttp::field::content_type]);
    req.accept = std::string(msg[bhttp::field::accept]);
    if (auto [first, end] = msg.equal_range("Annals-Expected-Revision"); first != end) {
      req.expected_revision = std::string(first->value());
      req.expected_revision_repeated = std::next(first) != end;
    }
    if (auto it = msg.find("Last-Event-ID"); it != msg.end()) {
      req.has_last_event_id = true;
      req.last_event_id = std::string(it->value());
    }
    req.body = std::move(msg.body());
    const unsigned version = msg.version();
    const bool head = msg.method() == bhttp::verb::head;
    bool keep_alive = msg.keep_alive();

    Routed routed;
    std::optional<Response> auth_failure;
    if (authenticator != nullptr) {
      const std::string authorization(msg[bhttp::field::authorization]);
      std::optional<Result<Principal>> checked;
      if (authenticator->IsCheap(authorization)) {
        checked.emplace(authenticator->Authenticate(authorization));
      } else {
        // A password hash check takes tens of milliseconds: not on an I/O thread.
        auto ex = co_await asio::this_coro::executor;
        co_await asio::post(*blocking_pool, asio::use_awaitable);
        checked.emplace(authenticator->Authenticate(authorization));
        co_await asio::post(ex, asio::use_awaitable);
      }
      Result<Principal>& principal = *checked;
      if (principal.ok()) {
        req.principal = std::move(*principal);
      } else {
        metrics->AuthDenied(true);
        spdlog::warn("http: denied {} {}: {}", req.method, req.target,
                     principal.status().message());
        Problem p =
            ProblemFromStatus(principal.status(), req.target.substr(0, req.target.find('?')));
        auth_failure = ProblemResponse(p);
        auth_failure->AddHeader("WWW-Authenticate", "Basic realm=\"annals\", charset=\"UTF-8\"");
      }
    }
    if (auth_failure) {
      routed.action = std::move(*auth_failure);
    } else {
      routed = router->Dispatch(req);
    }
    const Method method = MethodOf(req.method);
    Response response;
    if (auto* r = std::get_if<Response>(&routed.action)) {
      response = std::move(*r);
    } else if (auto* call = std::get_if<AppendCall>(&routed.action)) {
      auto result = co_await Append(std::move(call->request));
      response = router->FinishAppend(*call, result);
    } else if (auto* blocking = std::get_if<BlockingCall>(&routed.action)) {
      auto ex = co_await asio::this_coro::executor;
      co_await asio::post(*blocking_pool, asio::use_awaitable);
      response = blocking->run();
      co_await asio::post(ex, asio::use_awaitable);
    } else if (auto* async = std::get_if<AsyncCall>(&routed.action)) {
      response = co_await Await(std::move(async->start));
    } else if (auto* sse = std::get_if<SseCall>(&routed.action)) {
      conn->phase = Conn::Phase::kSse;
      unsigned status = 200;
      if (sse->feed) {
        status = co_await ServeFeed(stream, *conn, std::move(sse->feed), version);
      } else {
        status = co_await ServeSse(stream, *conn, std::move(sse->spec), version);
      }
      metrics->CountRequest(routed.route, method, status);
      break;
    }
    if (response.status == 503) {
      // Unavailable: shutting down, a limit, a database outage. The condition is logged once
      // where it is met (the store logs an outage and its end); one line per refused request
      // flooded the log during every outage.
      spdlog::debug("http: {} {} -> 503 {}", req.method, req.target, response.body);
    } else if (response.status >= 500) {
      spdlog::error("http: {} {} -> {} {}", req.method, req.target, response.status, response.body);
    } else if (response.status == 401 || response.status == 403) {
      spdlog::warn("http: denied {} {} ({}): {}", req.method, req.target,
                   req.principal.name.empty() ? "anonymous" : req.principal.name, response.status);
    }
    if (conn->stop_requested || stopping.load(std::memory_order_relaxed)) keep_alive = false;
    const unsigned status = response.status;
    const bool ok = co_await WriteResponse(stream, std::move(response), version, keep_alive, head);
    metrics->CountRequest(routed.route, method, status);
    if (!ok || !keep_alive) break;
  }
  // Graceful close: for TLS a close_notify, then a FIN; errors do not matter any more.
  conn->phase = Conn::Phase::kBusy;
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(kNoThrow);
  }
  conn->close();
}

template <class Stream>
asio::awaitable<unsigned> Server::Impl::ServeSse(Stream& stream, Conn& conn, SseSpec spec,
                                                 unsigned version) {
  SseCursor cursor(store, std::move(spec), options.sse_batch_events);
  std::string first;
  auto batch = cursor.ReadBatch(&first);
  if (!batch.ok()) {
    Response r = ProblemResponse(ProblemFromStatus(batch.status(), cursor.spec().instance));
    const unsigned status = r.status;
    co_await WriteResponse(stream, std::move(r), version, false, false);
    co_return status;
  }
  if (!co_await WriteSseHeader(stream, version)) co_return 200;

  auto ex = co_await asio::this_coro::executor;
  SseState state(ex);
  state.pending = "retry: 1000\n\n";
  state.pending += first;
  metrics->SseEventsSent(batch->events);
  SseClientState client;
  if (batch->events > 0) client.delivered_position.store(batch->last_position);
  metrics->SseClientAdded(&client);
  conn.sse_stop = [&state] {
    state.stop = true;
    state.producer_timer.cancel();
  };
  if (conn.stop_requested) state.stop = true;
  co_await (SseProduce(state, cursor, batch->caught_up, client) && SseWrite(stream, state));
  conn.sse_stop = nullptr;
  metrics->SseClientRemoved(&client);
  co_return 200;
}

template <class Stream>
asio::awaitable<bool> Server::Impl::WriteSseHeader(Stream& stream, unsigned version) {
  bhttp::response<bhttp::empty_body> res{bhttp::status::ok, version};
  res.set(bhttp::field::server, kServerHeader);
  res.set(bhttp::field::content_type, "text/event-stream; charset=utf-8");
  res.set(bhttp::field::cache_control, "no-cache");
  res.set("X-Accel-Buffering", "no");
  res.keep_alive(false);  // the body ends when the connection does
  bhttp::response_serializer<bhttp::empty_body> sr{res};
  beast::get_lowest_layer(stream).expires_after(options.write_timeout);
  auto [ec, n] = co_await bhttp::async_write_header(stream, sr, kNoThrow);
  co_return !ec;
}

template <class Stream>
asio::awaitable<unsigned> Server::Impl::ServeFeed(Stream& stream, Conn& conn,
                                                  std::shared_ptr<SseFeed> feed, unsigned version) {
  if (co_await WriteSseHeader(stream, version)) {
    auto ex = co_await asio::this_coro::executor;
    SseState state(ex);
    state.pending = "retry: 1000\n\n";
    conn.sse_stop = [&state] {
      state.stop = true;
      state.producer_timer.cancel();
    };
    if (conn.stop_requested) state.stop = true;
    co_await (FeedProduce(state, *feed) && SseWrite(stream, state));
    conn.sse_stop = nullptr;
  }
  feed->Close();
  co_return 200;
}

// Asks the feed for a batch only when the buffer has room: a slow client holds the source back
// (its events stay with the group), so memory stays bounded without cutting anyone off.
asio::awaitable<void> Server::Impl::FeedProduce(SseState& s, SseFeed& feed) {
  struct Answer {
    bool alive = true;  // on the connection's executor only
    SseState* state = nullptr;
    std::optional<SseFeed::Chunk> chunk;
  };
  auto ex = co_await asio::this_coro::executor;
  auto wake_writer = [&s] { s.writer_timer.cancel(); };
  wake_writer();
  const uint64_t max = options.sse_max_buffer_bytes;
  while (!s.stop && !s.writer_done) {
    if (s.pending.size() >= max / 2) {
      s.waiting_room = true;
      s.producer_timer.expires_at(asio::steady_timer::time_point::max());
      co_await s.producer_timer.async_wait(kNoThrow);
      s.waiting_room = false;
      continue;
    }
    auto answer = std::make_shared<Answer>();
    answer->state = &s;
    feed.Next(options.sse_heartbeat, [answer, ex](SseFeed::Chunk c) {
      asio::post(ex, [answer, c = std::move(c)]() mutable {
        if (!answer->alive) return;
        answer->chunk = std::move(c);
        answer->state->producer_timer.cancel();
      });
    });
    while (!answer->chunk && !s.stop && !s.writer_done) {
      s.producer_timer.expires_at(asio::steady_timer::time_point::max());
      co_await s.producer_timer.async_wait(kNoThrow);
    }
    answer->alive = false;  // a late answer is handed back by feed.Close()
    if (!answer->chunk) break;
    SseFeed::Chunk& c = *answer->chunk;
    s.pending += c.frames.empty() && !c.end ? kSseHeartbeat : std::string_view(c.frames);
    metrics->SseEventsSent(c.events);
    wake_writer();
    if (c.end) break;
  }
  s.producer_done = true;
  wake_writer();
}

asio::awaitable<void> Server::Impl::SseProduce(SseState& s, SseCursor& cursor, bool caught_up,
                                               SseClientState& client) {
  auto ex = co_await asio::this_coro::executor;
  auto token = std::make_shared<WatchToken>();
  token->state = &s;
  std::optional<uint64_t> watch_id;
  bool live = false;
  auto wake_writer = [&s] { s.writer_timer.cancel(); };
  wake_writer();
  const uint64_t max = options.sse_max_buffer_bytes;
  while (!s.stop && !s.writer_done) {
    if (caught_up) {
      if (!live) {
        live = true;
        AppendSseFrame(&s.pending, "caught-up", {}, "{}");
        wake_writer();
      }
      if (!watch_id) {
        s.notified = false;
        watch_id = store->WatchHead(cursor.WatchPosition(), [token, ex](Position) {
          asio::post(ex, [token] {
            if (!token->alive) return;
            token->state->notified = true;
            token->state->producer_timer.cancel();
          });
        });
      }
      s.producer_timer.expires_after(options.sse_heartbeat);
      auto [ec] = co_await s.producer_timer.async_wait(kNoThrow);
      if (s.stop || s.writer_done) break;
      if (s.notified) {
        s.notified = false;
        watch_id.reset();  // a watch fires once
        caught_up = false;
        continue;
      }
      if (!ec) {
        s.pending += kSseHeartbeat;
        wake_writer();
      }
      continue;
    }
    if (!live && s.pending.size() >= max / 2) {
      // Catching up: read only as fast as the client takes the frames.
      s.waiting_room = true;
      s.producer_timer.expires_at(asio::steady_timer::time_point::max());
      co_await s.producer_timer.async_wait(kNoThrow);
      s.waiting_room = false;
      continue;
    }
    auto batch = cursor.ReadBatch(&s.pending);
    if (!batch.ok() && batch.status().code() == StatusCode::kUnavailable) {
      // The store cannot be reached for now (a PostgreSQL restart): the subscriber stays, kept
      // alive by heartbeats, and the same read is tried again (a failed read moved nothing).
      // Closing it made every client of the node reconnect after each outage.
      s.pending += kSseHeartbeat;
      wake_writer();
      s.producer_timer.expires_after(kSseRetryAfterUnavailable);
      co_await s.producer_timer.async_wait(kNoThrow);
      continue;
    }
    if (!batch.ok()) {
      Problem p = ProblemFromStatus(batch.status(), cursor.spec().instance);
      AppendSseFrame(&s.pending, "error", {}, ProblemJson(p));
      break;
    }
    if (batch->events > 0) {
      metrics->SseEventsSent(batch->events);
      client.delivered_position.store(batch->last_position, std::memory_order_relaxed);
    }
    caught_up = batch->caught_up;
    wake_writer();
    if (live && s.pending.size() > max) {
      // Live events are pushed: a client whose buffer overflows cannot keep up.
      metrics->SseSlowConsumer();
      spdlog::info("http: SSE subscriber to {} too slow ({} bytes buffered): disconnected",
                   cursor.spec().instance, s.pending.size());
      Problem p;
      p.kind = ProblemKind::kSlowConsumer;
      p.detail = "the subscriber fell more than " + std::to_string(max) +
                 " bytes behind; reconnect with Last-Event-ID to resume";
      p.instance = cursor.spec().instance;
      s.pending.clear();
      AppendSseFrame(&s.pending, "error", {}, ProblemJson(p));
      break;
    }
    // Let the writer run between batches.
    co_await asio::post(ex, asio::use_awaitable);
  }
  token->alive = false;
  if (watch_id) store->CancelHeadWatch(*watch_id);
  s.producer_done = true;
  wake_writer();
}

template <class Stream>
asio::awaitable<void> Server::Impl::SseWrite(Stream& stream, SseState& s) {
  std::string out;
  for (;;) {
    if (s.pending.empty()) {
      if (s.producer_done) break;
      s.writer_timer.expires_at(asio::steady_timer::time_point::max());
      co_await s.writer_timer.async_wait(kNoThrow);
      continue;
    }
    out.clear();
    std::swap(out, s.pending);
    beast::get_lowest_layer(stream).expires_after(options.write_timeout);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), kNoThrow);
    if (ec) break;
    if (s.waiting_room) s.producer_timer.cancel();
  }
  s.writer_done = true;
  s.producer_timer.cancel();
}

}  // namespace annals::http
