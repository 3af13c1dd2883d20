// Request and Response as the router sees them: plain values, no sockets, no Beast types, so the
// handler layer can be driven from unit tests and fuzzers as well as from the HTTP session.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace annals::http {

// Who is calling, after authentication (auth.h). An anonymous principal is used when the server
// runs without authentication.
struct Principal {
  std::string name;  // user name or API key name; empty for anonymous
  bool authenticated = false;
};

// The parts of an HTTP request the router reads. The session copies the few headers it needs.
struct Request {
  std::string method;  // upper case: GET, POST, PUT, DELETE, HEAD, ...
  std::string target;  // origin-form: path and optional query, still percent-encoded
  std::string content_type;
  std::string accept;
  // The Annals-Expected-Revision header (nullopt when absent), and whether it came twice.
  std::optional<std::string> expected_revision;
  bool expected_revision_repeated = false;
  std::string last_event_id;  // the Last-Event-ID header, empty when absent
  bool has_last_event_id = false;
  std::string body;
  Principal principal;
};

struct Response {
  unsigned status = 200;
  std::string content_type;  // empty with an empty body
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Location, Allow...)

  void AddHeader(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
};

inline constexpr std::string_view kJson = "application/json";
inline constexpr std::string_view kProblemJson = "application/problem+json";
inline constexpr std::string_view kEventStream = "text/event-stream";

}  // namespace annals::http
