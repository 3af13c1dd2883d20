#include "sdk/http_client.h"

#include <curl/curl.h>

#include <cctype>
#include <cstring>

namespace annals::sdk {
namespace {

// curl_global_init is not thread-safe: run it once, before the first handle.
void GlobalInit() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

size_t AppendBody(char* ptr, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(ptr, size * n);
  return size * n;
}

// Keeps the two headers a caller acts on; names compare case-insensitively.
size_t KeepHeader(char* ptr, size_t size, size_t n, void* user) {
  auto* reply = static_cast<HttpReply*>(user);
  std::string_view line(ptr, size * n);
  auto starts = [&](std::string_view name) {
    if (line.size() < name.size()) return false;
    for (size_t i = 0; i < name.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
    }
    return true;
  };
  auto value = [&](size_t skip) {
    std::string_view v = line.substr(skip);
    while (!v.empty() && (v.front() == ' ')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) {
      v.remove_suffix(1);
    }
    return std::string(v);
  };
  if (starts("content-type:")) reply->content_type = value(13);
  if (starts("retry-after:")) reply->retry_after = value(12);
  return size * n;
}

struct StreamState {
  const std::function<bool(std::string_view)>* on_data;
  bool stopped = false;
};

size_t StreamBody(char* ptr, size_t size, size_t n, void* user) {
  auto* state = static_cast<StreamState*>(user);
  if (!(*state->on_data)(std::string_view(ptr, size * n))) {
    state->stopped = true;
    return 0;  // makes libcurl abort the transfer
  }
  return size * n;
}

}  // namespace

HttpClient::HttpClient(std::string base_url, std::string authorization,
                       std::chrono::milliseconds timeout, std::chrono::milliseconds connect_timeout)
    : base_url_(std::move(base_url)),
      authorization_(std::move(authorization)),
      timeout_(timeout),
      connect_timeout_(connect_timeout) {
  GlobalInit();
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

HttpClient::~HttpClient() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* HttpClient::Prepare(void* handle, std::string_view path,
                          const std::vector<std::string>& headers,
                          std::chrono::milliseconds timeout) const {
  CURL* curl = static_cast<CURL*>(handle);
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  if (!authorization_.empty()) {
    list = curl_slist_append(list, ("Authorization: " + authorization_).c_str());
  }
  const std::string url = base_url_ + std::string(path);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());  // libcurl copies the string
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout_.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  return list;
}

void* HttpClient::Take() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void HttpClient::Give(void* handle) {
  std::lock_guard lock(mu_);
  idle_.push_back(handle);
}

HttpReply HttpClient::Do(std::string_view method, std::string_view path, std::string_view body,
                         const std::vector<std::string>& headers) {
  HttpReply reply;
  CURL* curl = static_cast<CURL*>(Take());
  curl_easy_reset(curl);  // keeps the connection cache, forgets the previous request's options
  const std::string verb(method);
  std::vector<std::string> all = headers;
  if (!body.empty()) all.push_back("Content-Type: application/json");
  // A body larger than 1 KiB would make libcurl send `Expect: 100-continue` and wait.
  all.push_back("Expect:");
  curl_slist* list = static_cast<curl_slist*>(Prepare(curl, path, all, timeout_));
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, verb.c_str());
  if (verb == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (!body.empty() || verb == "POST" || verb == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, KeepHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply);
  const CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  } else {
    reply.status = 0;
    reply.error = curl_easy_strerror(rc);
  }
  curl_slist_free_all(list);
  Give(curl);
  return reply;
}

long HttpClient::Stream(std::string_view path, const std::vector<std::string>& headers,
                        std::chrono::milliseconds timeout,
                        const std::function<bool(std::string_view)>& on_data) {
  CURL* curl = curl_easy_init();
  curl_slist* list = static_cast<curl_slist*>(Prepare(curl, path, headers, timeout));
  StreamState state{&on_data};
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, StreamBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_perform(curl);  // ends by timeout, by on_data returning false, or by an error
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return status;
}

}  // namespace annals::sdk
