#include "cli/postgres_uri.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string_view>
#include <vector>

namespace annals::cli {
namespace {

Status Invalid(std::string message) {
  return Status(StatusCode::kInvalidArgument, "--store: " + std::move(message));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// libpq's parse_int_param: an optional sign and digits, spaces around.
bool IsInteger(std::string_view s) {
  s = Trim(s);
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return IsDigits(s);
}

// A comma-separated list, one port per host; an empty entry means the default port.
bool IsPortList(std::string_view s) {
  while (true) {
    const size_t comma = s.find(',');
    const std::string_view port = Trim(s.substr(0, comma));
    if (!port.empty() && (!IsDigits(port) || port.size() > 5 || std::stoi(std::string(port)) < 1 ||
                          std::stoi(std::string(port)) > 65535)) {
      return false;
    }
    if (comma == std::string_view::npos) return true;
    s.remove_prefix(comma + 1);
  }
}

// The values libpq 15 accepts (fe-connect.c, connectOptions2); an empty value is its default.
struct Enumerated {
  std::string_view keyword;
  std::vector<std::string_view> values;
};
const Enumerated kEnumerated[] = {
    {"sslmode", {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
    {"gssencmode", {"disable", "prefer", "require"}},
    {"channel_binding", {"disable", "prefer", "require"}},
    {"target_session_attrs",
     {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}},
    {"ssl_min_protocol_version", {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}},
    {"ssl_max_protocol_version", {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}},
};

constexpr std::string_view kIntegers[] = {"connect_timeout",  "keepalives",
                                          "keepalives_idle",  "keepalives_interval",
                                          "keepalives_count", "tcp_user_timeout"};

Status CheckValue(std::string_view keyword, std::string_view value) {
  if (value.empty()) return Status::Ok();
  for (const Enumerated& e : kEnumerated) {
    if (keyword != e.keyword) continue;
    if (std::find(e.values.begin(), e.values.end(), value) != e.values.end()) return Status::Ok();
    std::string list;
    for (std::string_view v : e.values) list += (list.empty() ? "" : ", ") + std::string(v);
    return Invalid(fmt::format("invalid {} value '{}' (one of {})", keyword, value, list));
  }
  if (keyword == "port" && !IsPortList(value)) {
    return Invalid(fmt::format("invalid port '{}' (1 to 65535)", value));
  }
  for (std::string_view integer : kIntegers) {
    if (keyword == integer && !IsInteger(value)) {
      return Invalid(fmt::format("invalid {} value '{}' (an integer)", keyword, value));
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidatePostgresUri(const std::string& uri) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
      PQconninfoParse(uri.c_str(), &error), &PQconninfoFree);
  if (!options) {
    std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    return Invalid("malformed PostgreSQL URI: " + message);
  }
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    ANNALS_RETURN_IF_ERROR(CheckValue(o->keyword, o->val));
  }
  return Status::Ok();
}

}  // namespace annals::cli
