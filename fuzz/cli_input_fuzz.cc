// libFuzzer target: the CLI's input parsing (cli/cli_input.h) and what it relies on —
// ExpectedRevision::Parse, Uuid::Parse, ValidateAppend / IsValidJson, ParseStreamMetadataJson.
//
// The input is split at '\x1f' (ASCII unit separator) into the fields of one command line:
//   expected-revision, id, stream, type, content-type, data, metadata, from, limit
// Missing fields are empty. The whole input is also parsed as stream metadata JSON.
// Besides "no crash, no sanitizer report", it checks the parsers' round-trip promises.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "annals/limits.h"
#include "annals/types.h"
#include "cli/cli_input.h"
#include "core/json_syntax.h"
#include "core/stream_metadata_codec.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

std::vector<std::string> Split(std::string_view text, size_t fields) {
  std::vector<std::string> out;
  while (out.size() + 1 < fields) {
    size_t cut = text.find('\x1f');
    if (cut == std::string_view::npos) break;
    out.emplace_back(text.substr(0, cut));
    text.remove_prefix(cut + 1);
  }
  out.emplace_back(text);
  out.resize(fields);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace annals;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> f = Split(input, 9);

  // Expected revision: what parses prints back as itself, and parses again the same.
  Result<ExpectedRevision> expected = cli::ParseExpectedRevisionArg(f[0]);
  Check(expected.ok() == ExpectedRevision::Parse(f[0]).has_value());
  if (expected.ok()) {
    Check(ExpectedRevision::Parse(expected->ToString()) == *expected);
    Check(expected->ToString() == f[0] || f[0][0] == '0');  // only "007"-style zero padding
  } else {
    Check(expected.status().code() == StatusCode::kInvalidArgument);
  }

  // UUID: the canonical form round-trips, in lower case.
  std::optional<Uuid> uuid = Uuid::Parse(f[1]);
  if (uuid) {
    Check(Uuid::Parse(uuid->ToString()) == uuid);
    Check(uuid->ToString().size() == 36);
  }
  Result<Uuid> id = cli::ParseEventIdArg(f[1]);
  Check(id.ok() == (uuid.has_value() && !uuid->IsNil()));

  // Numbers and --from.
  Result<uint64_t> limit = cli::ParseLimitArg(f[8]);
  if (limit.ok()) Check(*limit >= 1 && std::to_string(*limit).size() <= f[8].size());
  (void)cli::ParseStreamFromArg(f[7]);
  (void)cli::ParseAllFromArg(f[7]);

  // The append as `annals append` builds it, with default and with tiny limits (so that the
  // size checks are reached too).
  cli::AppendArgs args;
  args.expected = f[0];
  if (!f[1].empty()) args.id = f[1];
  args.stream = f[2];
  args.type = f[3];
  if (!f[4].empty()) args.content_type = f[4];
  args.data = f[5];
  args.metadata = f[6];
  Limits tiny;
  tiny.max_event_bytes = 64;
  tiny.max_append_bytes = 128;
  tiny.max_stream_name_bytes = 16;
  tiny.max_event_type_bytes = 16;
  tiny.max_content_type_bytes = 24;
  for (const Limits& limits : {Limits(), tiny}) {
    Result<AppendRequest> request = cli::BuildAppendRequest(args, limits);
    if (!request.ok()) {
      const StatusCode code = request.status().code();
      Check(code == StatusCode::kInvalidArgument || code == StatusCode::kTooLarge);
      Check(!request.status().message().empty());
      continue;
    }
    // Whatever was accepted obeys the rules the store relies on.
    Check(request->events.size() == 1);
    const ProposedEvent& event = request->events[0];
    Check(event.id.has_value() && !event.id->IsNil());
    Check(ValidateStreamName(request->stream, limits).ok());
    Check(ValidateEventType(event.type, limits).ok());
    if (event.content_type == kContentTypeJson && !event.data.empty()) {
      Check(IsValidJson(event.data));
    }
    if (!event.metadata.empty()) Check(IsValidJson(event.metadata));
    Check(event.data.size() + event.metadata.size() <= limits.max_event_bytes);
  }

  // JSON syntax: the simdjson fast path accepts nothing the RFC 8259 grammar refuses (the
  // grammar decides whenever simdjson refuses), so the two verdicts always agree.
  const bool valid = IsValidJson(f[5]);
  Check(valid == JsonGrammarError(f[5]).empty());

  // Stream metadata: what parses serialises to JSON that parses back to the same limits, and
  // serialising that again changes nothing.
  for (std::string_view text : {input, std::string_view(f[6])}) {
    Result<StreamMetadata> metadata = ParseStreamMetadataJson(text);
    if (!metadata.ok()) {
      Check(metadata.status().code() == StatusCode::kInvalidArgument);
      continue;
    }
    Check(ValidateStreamMetadata(*metadata).ok());
    const std::string json = StreamMetadataToJson(*metadata);
    Check(IsValidJson(json));
    Result<StreamMetadata> again = ParseStreamMetadataJson(json);
    Check(again.ok());
    Check(again->max_age_seconds == metadata->max_age_seconds &&
          again->max_count == metadata->max_count &&
          again->truncate_before == metadata->truncate_before &&
          again->cache_control_seconds == metadata->cache_control_seconds);
    Check(StreamMetadataToJson(*again) == json);
  }
  return 0;
}
