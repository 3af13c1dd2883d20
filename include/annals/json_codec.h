// EventCodec<T> for structs nlohmann-json converts (to_json/from_json, e.g. by
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE). Include it only where the codecs are declared: it
// brings nlohmann/json.hpp, a large header.
//
//   struct RoomAssigned { std::string room; std::string visitId; };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RoomAssigned, room, visitId)
//   ANNALS_JSON_EVENT(RoomAssigned, "RoomAssigned");
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "annals/typed_events.h"

namespace annals {

template <typename T>
struct JsonEventCodec {
  static std::string Encode(const T& e) { return nlohmann::json(e).dump(); }
  static std::optional<T> Decode(std::string_view json) {
    auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return std::nullopt;
    try {
      return j.get<T>();
    } catch (const nlohmann::json::exception&) {
      return std::nullopt;  // a member missing or of the wrong kind
    }
  }
};

}  // namespace annals

// Declares EventCodec<T> with type name `name` over nlohmann-json; at namespace scope.
#define ANNALS_JSON_EVENT(T, name)                           \
  template <>                                                \
  struct annals::EventCodec<T> : annals::JsonEventCodec<T> { \
    static constexpr std::string_view kType = name;          \
  };                                                         \
  static_assert(annals::TypedEvent<T>, "ANNALS_JSON_EVENT: not a codec")
