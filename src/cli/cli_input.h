// The CLI's input parsing: command-line text to engine requests, with no I/O and no engine, so
// that the fuzz target (fuzz/cli_input_fuzz.cc) exercises exactly what `annals` runs.
//
// Every function answers kInvalidArgument with a message naming the option for input it
// refuses; none of them throws or aborts on any input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "annals/event_store.h"
#include "annals/limits.h"
#include "annals/status.h"
#include "annals/types.h"

namespace annals::cli {

// --expected-revision: "any", "no_stream", "stream_exists" or a decimal revision.
Result<ExpectedRevision> ParseExpectedRevisionArg(std::string_view text);

// --id: a UUID in the canonical 8-4-4-4-12 form, either case, not the nil UUID.
Result<Uuid> ParseEventIdArg(std::string_view text);

// A decimal unsigned 64-bit integer (no sign, no spaces); `option` names it in the message.
Result<uint64_t> ParseUint64Arg(std::string_view text, std::string_view option);

// --limit: a count of at least 1.
Result<uint64_t> ParseLimitArg(std::string_view text);

// --from of a stream read: "start", "end" or a revision. "start" is revision 0; "end" is
// nullopt (the stream's last revision; only meaningful backwards, where it is the default).
Result<std::optional<Revision>> ParseStreamFromArg(std::string_view text);

// --from of an $all read: "start", "end" or a position (as printed by `read` and `append`).
Result<Position> ParseAllFromArg(std::string_view text);

// What `annals append` was given, after `@file` and `-` were read.
struct AppendArgs {
  std::string stream;
  std::string type;
  std::string content_type = std::string(kContentTypeJson);
  std::string data;
  std::string metadata;  // empty: none
  // nullopt: a random UUID is generated. Given but empty is an error: `--id "$ID"` with an
  // unset variable must not turn a retry-safe append into one that duplicates on retry.
  std::optional<std::string> id;
  std::string expected = "any";  // --expected-revision
};

// Builds the one-event append and runs ValidateAppend on it with `limits`, so invalid input
// is refused before the data directory is opened (kInvalidArgument or kTooLarge).
Result<AppendRequest> BuildAppendRequest(const AppendArgs& args, const Limits& limits);

}  // namespace annals::cli
