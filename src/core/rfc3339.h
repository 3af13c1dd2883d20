// RFC 3339 timestamps as every API of Annals writes and reads them:
// "2026-11-27T07:32:00.123456Z" (UTC, always six fractional digits) out; any offset and up to
// seven fractional digits (100 ns ticks) in.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "annals/types.h"

namespace annals {

// Appends `t`, rounded down to the microsecond, to `out`.
void AppendRfc3339(Timestamp t, std::string* out);
std::string FormatRfc3339(Timestamp t);

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)", 'T' and 'Z' in either case. nullopt for
// anything else, including dates that do not exist (2026-02-30) and hours past 23. Digits past
// the seventh of the fraction are ignored.
std::optional<Timestamp> ParseRfc3339(std::string_view text);

}  // namespace annals
