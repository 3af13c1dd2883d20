#include "core/event_filter_matcher.h"

#include <fmt/format.h>

#include <algorithm>

namespace annals {

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Status CompileRegex(const std::string& pattern, const char* field,
                    std::optional<FilterRegex>* out) {
  if (pattern.empty()) return Status::Ok();
  auto re = FilterRegex::Compile(pattern, fmt::format("filter.{}", field));
  if (!re.ok()) return re.status();
  *out = std::move(re).value();
  return Status::Ok();
}

}  // namespace

Result<EventFilterMatcher> EventFilterMatcher::Compile(const EventFilter& filter) {
  EventFilterMatcher m;
  m.filter_ = &filter;
  ANNALS_RETURN_IF_ERROR(CompileRegex(filter.type_regex, "typeRegex", &m.type_regex_));
  ANNALS_RETURN_IF_ERROR(CompileRegex(filter.stream_regex, "streamRegex", &m.stream_regex_));
  return m;
}

bool EventFilterMatcher::Matches(std::string_view stream, std::string_view type) const {
  const EventFilter& f = *filter_;
  if (f.exclude_system_events && (IsSystemName(stream) || IsSystemName(type))) return false;
  if (!f.category.empty() && CategoryOf(stream) != f.category) return false;
  if (!f.stream_prefixes.empty() &&
      std::none_of(f.stream_prefixes.begin(), f.stream_prefixes.end(),
                   [&](const std::string& p) { return StartsWith(stream, p); })) {
    return false;
  }
  if (!f.event_types.empty() && std::none_of(f.event_types.begin(), f.event_types.end(),
                                             [&](const std::string& t) { return t == type; })) {
    return false;
  }
  if (!f.type_prefixes.empty() &&
      std::none_of(f.type_prefixes.begin(), f.type_prefixes.end(),
                   [&](const std::string& p) { return StartsWith(type, p); })) {
    return false;
  }
  if (type_regex_ && !type_regex_->Finds(type)) return false;
  if (stream_regex_ && !stream_regex_->Finds(stream)) return false;
  return true;
}

}  // namespace annals
