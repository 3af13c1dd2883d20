#include "cli/cli_input.h"

#include <fmt/format.h>

#include <charconv>
#include <utility>

namespace annals::cli {
namespace {

Status Invalid(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

// Option values are echoed in messages; keep a hostile one from flooding the terminal.
std::string Quote(std::string_view text) {
  constexpr size_t kMaxEcho = 64;
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMaxEcho; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (text.size() > kMaxEcho) out += "...";
  out += "'";
  return out;
}

// ValidateAppend names fields as the HTTP body does ("events[0].data"); the CLI user typed
// options, so the message names the option instead.
Status InTermsOfOptions(const Status& status) {
  static constexpr std::pair<std::string_view, std::string_view> kFields[] = {
      {"events[0].type", "--type"}, {"events[0].content_type", "--content-type"},
      {"events[0].data", "--data"}, {"events[0].metadata", "--metadata"},
      {"events[0].id", "--id"},     {"events[0]", "event"},
      {"stream", "--stream"},
  };
  const std::string& message = status.message();
  for (const auto& [field, option] : kFields) {
    if (message.rfind(field, 0) == 0) {
      return Status(status.code(), std::string(option) + message.substr(field.size()));
    }
  }
  return status;
}

}  // namespace

Result<ExpectedRevision> ParseExpectedRevisionArg(std::string_view text) {
  std::optional<ExpectedRevision> expected = ExpectedRevision::Parse(text);
  if (!expected) {
    return Invalid(fmt::format(
        "--expected-revision: {} is not any, no_stream, stream_exists or a revision number",
        Quote(text)));
  }
  return *expected;
}

Result<Uuid> ParseEventIdArg(std::string_view text) {
  std::optional<Uuid> id = Uuid::Parse(text);
  if (!id) {
    return Invalid(fmt::format(
        "--id: {} is not a UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", Quote(text)));
  }
  if (id->IsNil()) return Invalid("--id: must not be the nil UUID");
  return *id;
}

Result<uint64_t> ParseUint64Arg(std::string_view text, std::string_view option) {
  uint64_t value = 0;
  // from_chars on an unsigned type refuses signs and whitespace; the digit check keeps empty
  // text out.
  if (text.empty() || text[0] < '0' || text[0] > '9') {
    return Invalid(fmt::format("{}: {} is not a non-negative integer", option, Quote(text)));
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return Invalid(fmt::format("{}: {} is larger than 2^64-1", option, Quote(text)));
  }
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Invalid(fmt::format("{}: {} is not a non-negative integer", option, Quote(text)));
  }
  return value;
}

Result<uint64_t> ParseLimitArg(std::string_view text) {
  Result<uint64_t> limit = ParseUint64Arg(text, "--limit");
  if (!limit.ok()) return limit;
  if (*limit == 0) return Invalid("--limit: must be at least 1");
  return limit;
}

Result<std::optional<Revision>> ParseStreamFromArg(std::string_view text) {
  if (text == "start") return std::optional<Revision>(Revision{0});
  if (text == "end") return std::optional<Revision>();
  Result<uint64_t> revision = ParseUint64Arg(text, "--from");
  if (!revision.ok()) {
    return Invalid(fmt::format("--from: {} is not start, end or a stream revision", Quote(text)));
  }
  return std::optional<Revision>(Revision{*revision});
}

Result<Position> ParseAllFromArg(std::string_view text) {
  if (text == "start") return Position::Start();
  if (text == "end") return Position::End();
  Result<uint64_t> position = ParseUint64Arg(text, "--from");
  if (!position.ok()) {
    return Invalid(fmt::format("--from: {} is not start, end or a log position", Quote(text)));
  }
  return Position{*position};
}

Result<AppendRequest> BuildAppendRequest(const AppendArgs& args, const Limits& limits) {
  AppendRequest request;
  request.stream = args.stream;
  Result<ExpectedRevision> expected = ParseExpectedRevisionArg(args.expected);
  if (!expected.ok()) return expected.status();
  request.expected = *expected;

  ProposedEvent event;
  if (!args.id) {
    // Generated here rather than by the store so that `append` can print it.
    event.id = Uuid::Random();
  } else {
    Result<Uuid> id = ParseEventIdArg(*args.id);
    if (!id.ok()) return id.status();
    event.id = *id;
  }
  event.type = args.type;
  event.content_type = args.content_type;
  event.data = args.data;
  event.metadata = args.metadata;
  request.events.push_back(std::move(event));

  Status valid = ValidateAppend(request, limits);
  if (!valid.ok()) return InTermsOfOptions(valid);
  return request;
}

}  // namespace annals::cli
