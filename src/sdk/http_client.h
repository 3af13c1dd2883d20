// A small blocking HTTP/1.1 client over libcurl for the SDK's remote store and the example
// services: a pool of easy handles, so consecutive requests reuse kept-alive connections.
//
// Thread safety: Do() may be called from any thread; each call takes a handle from the pool
// (or makes one) and gives it back, so N concurrent callers hold N connections.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace annals::sdk {

struct HttpReply {
  long status = 0;  // 0: no HTTP answer (connection refused, timeout, ...); see `error`
  std::string body;
  std::string content_type;
  std::string retry_after;
  std::string error;  // libcurl's message when status is 0
};

class HttpClient {
 public:
  // `base_url` is prepended to every path ("http://127.0.0.1:2113"); `authorization` is the
  // whole Authorization header value, or empty.
  HttpClient(std::string base_url, std::string authorization,
             std::chrono::milliseconds timeout = std::chrono::seconds(30),
             std::chrono::milliseconds connect_timeout = std::chrono::seconds(5));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `headers` as "Name: value". A non-empty body is sent as application/json.
  HttpReply Do(std::string_view method, std::string_view path, std::string_view body = {},
               const std::vector<std::string>& headers = {});

  // A streaming GET (Server-Sent Events): `on_data` gets the body as it arrives and returns
  // false to stop; the request also stops after `timeout`. Returns the HTTP status (0 when
  // none arrived). Uses a connection of its own, never a pooled one.
  long Stream(std::string_view path, const std::vector<std::string>& headers,
              std::chrono::milliseconds timeout,
              const std::function<bool(std::string_view)>& on_data);

  const std::string& base_url() const { return base_url_; }

 private:
  // Sets the URL, headers (with Authorization), timeouts and socket options every request
  // shares; returns the header list (a curl_slist*) for the caller to free after the request.
  void* Prepare(void* handle, std::string_view path, const std::vector<std::string>& headers,
                std::chrono::milliseconds timeout) const;
  void* Take();
  void Give(void* handle);

  std::string base_url_;  // without a trailing slash
  const std::string authorization_;
  const std::chrono::milliseconds timeout_;
  const std::chrono::milliseconds connect_timeout_;
  std::mutex mu_;
  std::vector<void*> idle_;  // CURL* handles with their connections kept alive
};

}  // namespace annals::sdk
