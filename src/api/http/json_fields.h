// Shorthands for writing one object member with core's JsonWriter.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/json_writer.h"

namespace annals::http {

inline void Field(JsonWriter& w, std::string_view key, std::string_view value) {
  w.Key(key);
  w.String(value);
}
inline void FieldUint(JsonWriter& w, std::string_view key, uint64_t value) {
  w.Key(key);
  w.Uint(value);
}
inline void FieldBool(JsonWriter& w, std::string_view key, bool value) {
  w.Key(key);
  w.Bool(value);
}

}  // namespace annals::http
