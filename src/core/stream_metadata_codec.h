// Stream metadata as JSON, in KurrentDB's shape, so metadata written through either product's
// protocol reads the same:
//
//   {"$maxCount": 100, "$maxAge": 3600, "$tb": 7, "$cacheControl": 60,
//    "$acl": {"$r": "$all"}, "owner": "billing"}
//
// Every `$` key is optional; a null value counts as absent. Keys other than the five below are
// custom and kept, in their original order, with their values' original text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "annals/limits.h"
#include "annals/status.h"
#include "annals/types.h"

namespace annals {

// `json` must be a JSON object. `$maxAge`, `$maxCount`, `$tb` and `$cacheControl` must be
// unsigned 64-bit integers, `$acl` an object; a known key may appear once. Anything else is
// kInvalidArgument, with the key named.
Result<StreamMetadata> ParseStreamMetadataJson(std::string_view json);

// The `$` keys (those set), then the custom keys, all at the top level of one object. Assumes
// ValidateStreamMetadata(metadata) is ok; otherwise the output may not be valid JSON.
std::string StreamMetadataToJson(const StreamMetadata& metadata);

// Checks what StreamMetadataToJson assumes of a caller-built StreamMetadata: `acl_json` is
// empty or a JSON object, `custom_json` is empty or a JSON object without any of the known
// `$` keys. Then ParseStreamMetadataJson(StreamMetadataToJson(m)) succeeds.
Status ValidateStreamMetadata(const StreamMetadata& metadata);

// What a store checks before it writes stream metadata: ValidateStreamMetadata, then the size
// of the `$metadata` event's JSON, which is held to `limits.max_event_bytes` as any event's
// data and metadata are (kTooLarge).
Status ValidateStreamMetadataWrite(const StreamMetadata& metadata, const Limits& limits);

// `$maxAge` in 100 ns ticks; nullopt when it is not set, or so large (beyond ~29,000 years) that
// it hides nothing and its ticks would not fit in 64 bits.
std::optional<int64_t> MaxAgeTicks(const StreamMetadata& metadata);

}  // namespace annals
