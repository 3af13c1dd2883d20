// Text encodings of the HTTP API: RFC 3339 times, query strings, numbers, UTF-8 (base64 and
// percent-encoding are in core, shared with the SDK).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/types.h"
#include "core/base64.h"            // Base64Encode, Base64Decode
#include "core/percent_encoding.h"  // PercentDecode, PercentEncodeSegment

namespace annals::http {

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
