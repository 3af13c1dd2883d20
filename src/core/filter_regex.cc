#include "core/filter_regex.h"

#include <fmt/format.h>
#include <re2/re2.h>

namespace annals {

Result<FilterRegex> FilterRegex::Compile(const std::string& pattern, std::string_view field) {
  RE2::Options options;
  options.set_log_errors(false);  // the caller gets the error; the server log is not for it
  auto re = std::make_shared<const re2::RE2>(pattern, options);
  if (!re->ok()) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("{}: not a regular expression RE2 accepts: {}", field, re->error()));
  }
  FilterRegex out;
  out.re_ = std::move(re);
  return out;
}

bool FilterRegex::Finds(std::string_view subject) const {
  return RE2::PartialMatch(re2::StringPiece(subject.data(), subject.size()), *re_);
}

}  // namespace annals
