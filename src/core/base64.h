// Base64 (RFC 4648, standard alphabet): event data in JSON bodies, Basic credentials.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace annals {

// Padded output.
std::string Base64Encode(std::string_view bytes);
// Accepts padded and unpadded text; nullopt for any other character, data after padding,
// or a length no encoding produces.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace annals
