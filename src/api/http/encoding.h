// Text encodings of the HTTP API: RFC 3339 times, base64 event payloads, URL components.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/types.h"

namespace annals::http {

// "2026-11-27T07:32:00.123456Z": UTC, always six fractional digits.
std::string FormatRfc3339(Timestamp t);

// Standard base64 (RFC 4648 section 4) with padding.
std::string Base64Encode(std::string_view bytes);
// Accepts standard base64, padded or not; nullopt when `text` is not base64.
std::optional<std::string> Base64Decode(std::string_view text);

// Decodes %XX escapes (and '+' as a space when `plus_is_space`, for query strings); nullopt on
// a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);
// Encodes everything but RFC 3986 unreserved characters, for one path segment.
std::string PercentEncodeSegment(std::string_view text);

// A parsed query string, in order; a name may repeat.
using QueryParams = std::vector<std::pair<std::string, std::string>>;
// nullopt when an escape is malformed.
std::optional<QueryParams> ParseQuery(std::string_view query);

// A decimal u64 without sign, spaces or leading '+'; nullopt otherwise (or on overflow).
std::optional<uint64_t> ParseU64(std::string_view text);

// `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD, for echoing
// untrusted input (a header value) inside a JSON string.
std::string ToValidUtf8(std::string_view text);

// Case-insensitive ASCII comparison.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// The media type of a Content-Type value without parameters, lower-cased and trimmed.
std::string MediaTypeOf(std::string_view content_type);

}  // namespace annals::http
