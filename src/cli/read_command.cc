// `annals read`: one stream, or the whole log ($all) with optional filters, printed as a table
// or as JSON Lines. Pages through the store until --limit events are printed or none remain.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/cli_common.h"
#include "cli/cli_input.h"
#include "cli/commands.h"
#include "cli/page_size.h"
#include "core/rfc3339.h"

namespace annals::cli {
namespace {

// Events asked of the store per call: bounds the memory one page holds.
constexpr uint64_t kPageEvents = 1000;
constexpr size_t kPreviewChars = 60;

struct ReadOptions {
  EngineFlags engine;
  std::string stream;
  bool all = false;
  std::string from;
  std::string limit;
  bool backwards = false;
  bool json = false;
  std::vector<std::string> stream_prefixes;
  std::string category;
  std::vector<std::string> types;
  std::vector<std::string> type_prefixes;
  std::string type_regex;
  std::string stream_regex;
  bool exclude_system = false;
};

class EventPrinter {
 public:
  explicit EventPrinter(bool json) : json_(json) {}

  void Print(const RecordedEvent& e) {
    if (json_) {
      std::cout << EventJson(e) << '\n';
      return;
    }
    if (!header_printed_) {
      std::cout << fmt::format("{:>12}  {:>8}  {:<24}  {:<20}  {:<27}  {}\n", "POSITION",
                               "REVISION", "STREAM", "TYPE", "CREATED", "DATA");
      header_printed_ = true;
    }
    std::cout << fmt::format("{:>12}  {:>8}  {:<24}  {:<20}  {:<27}  {}\n", e.position.value,
                             e.revision.value, e.stream, e.type, FormatRfc3339(e.created),
                             DataPreview(e, kPreviewChars));
  }

 private:
  bool json_;
  bool header_printed_ = false;
};

// The first request of a stream read; its options are checked before the engine opens.
ReadStreamRequest StreamRequest(const ReadOptions& options) {
  ReadStreamRequest request;
  request.stream = options.stream;
  request.direction = options.backwards ? Direction::kBackwards : Direction::kForwards;
  if (!options.from.empty()) {
    Result<std::optional<Revision>> from = ParseStreamFromArg(options.from);
    if (!from.ok()) Fail(from.status());
    request.from = *from;
  } else if (!options.backwards) {
    request.from = Revision{0};
  }
  // A typo should not create a data directory: validate the name first.
  Status valid = ValidateStreamName(options.stream, Limits(), /*allow_system=*/true);
  if (!valid.ok()) Fail(Status(valid.code(), "--" + valid.message()));
  return request;
}

void ReadOneStream(Engine& engine, ReadStreamRequest request, uint64_t limit,
                   EventPrinter& printer) {
  uint64_t remaining = limit;
  PageSize size(kPageEvents);
  while (remaining > 0) {
    request.max_count = size.Next(remaining);
    Result<ReadStreamResult> page = engine.ReadStream(request);
    if (!page.ok() && size.RetryAfter(page.status(), request.max_count)) continue;
    if (!page.ok()) Fail(size.Verdict(page.status()));
    size.Read();
    for (const RecordedEvent& e : page->events) printer.Print(e);
    remaining -= std::min<uint64_t>(remaining, page->events.size());
    // An empty page with a `next` would loop for ever; the store never answers one, but a
    // client must not hang if it did.
    if (!page->next || page->events.empty()) break;
    request.from = page->next;
  }
}

// The first request of an $all read; its options are checked before the engine opens.
ReadAllRequest AllRequest(const ReadOptions& options) {
  ReadAllRequest request;
  request.direction = options.backwards ? Direction::kBackwards : Direction::kForwards;
  request.from = options.backwards ? Position::End() : Position::Start();
  if (!options.from.empty()) {
    Result<Position> from = ParseAllFromArg(options.from);
    if (!from.ok()) Fail(from.status());
    request.from = *from;
  }
  request.filter.stream_prefixes = options.stream_prefixes;
  request.filter.category = options.category;
  request.filter.event_types = options.types;
  request.filter.type_prefixes = options.type_prefixes;
  request.filter.type_regex = options.type_regex;
  request.filter.stream_regex = options.stream_regex;
  request.filter.exclude_system_events = options.exclude_system;
  return request;
}

void ReadAllEvents(Engine& engine, ReadAllRequest request, uint64_t limit, EventPrinter& printer) {
  uint64_t remaining = limit;
  PageSize size(kPageEvents);
  while (remaining > 0) {
    request.max_count = size.Next(remaining);
    Result<ReadAllResult> page = engine.ReadAll(request);
    if (!page.ok() && size.RetryAfter(page.status(), request.max_count)) continue;
    if (!page.ok()) Fail(size.Verdict(page.status()));
    size.Read();
    for (const RecordedEvent& e : page->events) printer.Print(e);
    remaining -= std::min<uint64_t>(remaining, page->events.size());
    if (page->end_of_log) break;
    // A filtered read may return no events and a checkpoint further on (it stopped at
    // max_scan); only a call that moved nowhere ends the loop.
    if (page->events.empty() && page->next == request.from) break;
    request.from = page->next;
  }
}

void RunRead(const ReadOptions& options) {
  if (options.stream.empty() == !options.all) {
    FailUsage("give exactly one of --stream S or --all");
  }
  const bool filtered = !options.stream_prefixes.empty() || !options.category.empty() ||
                        !options.types.empty() || !options.type_prefixes.empty() ||
                        !options.type_regex.empty() || !options.stream_regex.empty() ||
                        options.exclude_system;
  if (filtered && !options.all) {
    FailUsage(
        "--stream-prefix, --category, --type, --type-prefix, --type-regex, --stream-regex and "
        "--exclude-system filter --all reads only");
  }
  uint64_t limit = UINT64_MAX;
  if (!options.limit.empty()) {
    Result<uint64_t> parsed = ParseLimitArg(options.limit);
    if (!parsed.ok()) Fail(parsed.status());
    limit = *parsed;
  }
  EventPrinter printer(options.json);
  if (options.all) {
    ReadAllRequest request = AllRequest(options);
    std::unique_ptr<Engine> engine = OpenEngineOrFail(options.engine);
    ReadAllEvents(*engine, std::move(request), limit, printer);
  } else {
    ReadStreamRequest request = StreamRequest(options);
    std::unique_ptr<Engine> engine = OpenEngineOrFail(options.engine);
    if (request.direction == Direction::kForwards && !request.from) {
      // Forwards from the end: after the stream's last event. The stores read a forwards
      // `from` of nullopt as the start, which printed the whole stream.
      Result<StreamInfo> info = engine->GetStreamInfo(request.stream);
      if (!info.ok()) Fail(info.status());
      request.from = Revision{info->last_revision ? info->last_revision->value + 1 : 0};
    }
    ReadOneStream(*engine, std::move(request), limit, printer);
  }
}

}  // namespace

void AddReadCommand(CLI::App& app) {
  auto options = std::make_shared<ReadOptions>();
  CLI::App* command =
      app.add_subcommand("read", "Read the events of one stream (--stream) or of the log (--all)");
  AddEngineFlags(command, &options->engine);
  CLI::Option* stream =
      command->add_option("--stream", options->stream, "The stream to read")->check(NonEmpty());
  CLI::Option* all = command->add_flag("--all", options->all, "Read every stream: the log");
  stream->excludes(all);
  command
      ->add_option("--from", options->from,
                   "Where to start (inclusive forwards): start, end, a revision (--stream) "
                   "or a position (--all; backwards: exclusive). Default: start forwards, "
                   "end backwards")
      ->check(NonEmpty());
  command->add_option("--limit", options->limit, "Most events to print (default: all)")
      ->check(NonEmpty());
  command->add_flag("--backwards", options->backwards, "Newest first");
  command->add_flag("--json", options->json,
                    "JSON Lines: one event object per line, data inline when JSON");
  command
      ->add_option("--stream-prefix", options->stream_prefixes,
                   "--all: streams whose name starts with this (repeatable: any of)")
      ->check(NonEmpty());
  command
      ->add_option("--category", options->category,
                   "--all: streams of this category (the name before the first '-')")
      ->check(NonEmpty());
  command
      ->add_option("--type", options->types,
                   "--all: events of this exact type (repeatable: any of)")
      ->check(NonEmpty());
  command
      ->add_option("--type-prefix", options->type_prefixes,
                   "--all: event types starting with this (repeatable: any of)")
      ->check(NonEmpty());
  command
      ->add_option("--type-regex", options->type_regex,
                   "--all: event types matching this regular expression (RE2 syntax)")
      ->check(NonEmpty());
  command
      ->add_option("--stream-regex", options->stream_regex,
                   "--all: stream names matching this regular expression (RE2 syntax)")
      ->check(NonEmpty());
  command->add_flag("--exclude-system", options->exclude_system,
                    "--all: leave out system events (stream or type starting with '$')");
  command->callback([options] { RunRead(*options); });
}

}  // namespace annals::cli
