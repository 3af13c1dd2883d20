// Typed events: services work with structs, the store with type names and JSON.
//
// A codec is a specialisation of EventCodec<T> with three members:
//
//   template <> struct annals::EventCodec<RoomAssigned> {
//     static constexpr std::string_view kType = "RoomAssigned";
//     static std::string Encode(const RoomAssigned& e);                 // JSON text
//     static std::optional<RoomAssigned> Decode(std::string_view json);  // nullopt: malformed
//   };
//
// annals/json_codec.h writes that specialisation for structs that nlohmann-json can convert.
#pragma once

#include <concepts>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "annals/types.h"

namespace annals {

template <typename T>
struct EventCodec;  // specialise per event type

template <typename T>
concept TypedEvent = requires(const T& e, std::string_view json) {
  { EventCodec<T>::kType } -> std::convertible_to<std::string_view>;
  { EventCodec<T>::Encode(e) } -> std::convertible_to<std::string>;
  { EventCodec<T>::Decode(json) } -> std::same_as<std::optional<T>>;
};

// The event to append for `event`; `id` makes the append idempotent (see DeriveEventId).
template <TypedEvent T>
ProposedEvent ToProposed(const T& event, std::optional<Uuid> id = std::nullopt) {
  ProposedEvent p;
  p.id = id;
  p.type = std::string(EventCodec<T>::kType);
  p.data = EventCodec<T>::Encode(event);
  return p;
}

// `event` as a T when its type is T's and its data decodes; nullopt otherwise.
template <TypedEvent T>
std::optional<T> DecodeAs(const RecordedEvent& event) {
  if (event.type != EventCodec<T>::kType) return std::nullopt;
  return EventCodec<T>::Decode(event.data);
}

// `event` as whichever of Ts its type names; nullopt for other types (events a reader does not
// know are skipped, so old readers survive new event types) or malformed data.
template <TypedEvent... Ts>
std::optional<std::variant<Ts...>> DecodeAny(const RecordedEvent& event) {
  std::optional<std::variant<Ts...>> out;
  auto try_one = [&]<typename T>() {
    if (event.type != EventCodec<T>::kType) return false;
    if (auto v = EventCodec<T>::Decode(event.data)) {
      out.emplace(std::in_place_type<T>, std::move(*v));
    }
    return true;
  };
  (try_one.template operator()<Ts>() || ...);
  return out;
}

// A name-based (version 5, SHA-1) UUID of `name` and `index`: the same command id always
// yields the same event ids, so a retried command is an idempotent append, and a different
// command yields different ids.
Uuid DeriveEventId(std::string_view name, uint32_t index = 0);

}  // namespace annals
