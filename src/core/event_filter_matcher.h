// EventFilterMatcher: an EventFilter compiled once (its regexes), then matched against many
// events. Shared by the engine's `$all` reads and the gRPC store, which re-applies the whole
// filter to what KurrentDB's narrower server-side filters let through. The in-memory model
// keeps its own matcher on purpose: it is the independent reference the engine is tested
// against.
#pragma once

#include <optional>
#include <string_view>

#include "annals/status.h"
#include "annals/types.h"
#include "core/filter_regex.h"

namespace annals {

class EventFilterMatcher {
 public:
  // kInvalidArgument for a type or stream regex that does not compile. `filter` must outlive the
  // matcher.
  static Result<EventFilterMatcher> Compile(const EventFilter& filter);

  bool Matches(std::string_view stream, std::string_view type) const;

 private:
  const EventFilter* filter_ = nullptr;
  std::optional<FilterRegex> type_regex_;
  std::optional<FilterRegex> stream_regex_;
};

}  // namespace annals
