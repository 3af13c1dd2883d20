// The regular expressions of event filters (a type or a stream-name regex, from HTTP query
// parameters, gRPC read filters and consumer-group definitions): any client may send one, and
// the server runs it against every event a read scans. So they run on RE2, whose matching takes
// time linear in the subject whatever the pattern, never on a backtracking engine, where a
// pattern such as `^q(a|a)*c` doubles its work with every character of a stream name.
//
// Syntax: RE2's (https://github.com/google/re2/wiki/Syntax), which covers what event filters
// use (anchors, classes, alternation, repetition, groups) and refuses backreferences and
// lookaround with kInvalidArgument. A match may occur anywhere in the subject (search, not full
// match): anchor with `^` and `$`.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "annals/status.h"

namespace re2 {
class RE2;
}

namespace annals {

class FilterRegex {
 public:
  // kInvalidArgument naming `field` (e.g. "filter.typeRegex") when `pattern` does not compile.
  static Result<FilterRegex> Compile(const std::string& pattern, std::string_view field);

  // True when the pattern matches somewhere in `subject`. Safe from any number of threads.
  bool Finds(std::string_view subject) const;

 private:
  std::shared_ptr<const re2::RE2> re_;  // immutable once compiled: copies share it
};

}  // namespace annals
