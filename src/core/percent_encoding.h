// Percent-encoding (RFC 3986) of URL components, for the HTTP API and its clients.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace annals {

// Decodes %XX escapes (and '+' as a space when `plus_is_space`, for query strings); nullopt on
// a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);
// Encodes everything but RFC 3986 unreserved characters, for one path segment or query value.
std::string PercentEncodeSegment(std::string_view text);

}  // namespace annals
