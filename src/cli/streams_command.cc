// `annals streams`: the stream catalog, by name prefix, with each stream's state, last
// revision and event count.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>

#include "cli/cli_common.h"
#include "cli/cli_input.h"
#include "cli/commands.h"
#include "core/rfc3339.h"

namespace annals::cli {
namespace {

constexpr uint64_t kPageStreams = 1000;

struct StreamsOptions {
  EngineFlags engine;
  std::string prefix;
  std::string limit;
  bool include_system = false;
  bool json = false;
};

void PrintStream(const StreamInfo& info, bool json, bool* header_printed) {
  if (json) {
    std::cout << StreamInfoJson(info) << '\n';
    return;
  }
  if (!*header_printed) {
    std::cout << fmt::format("{:<32}  {:<11}  {:>13}  {:>10}  {:>13}  {}\n", "STREAM", "STATE",
                             "LAST_REVISION", "EVENTS", "LAST_POSITION", "LAST_UPDATED");
    *header_printed = true;
  }
  const bool any = info.event_count > 0;
  std::cout << fmt::format("{:<32}  {:<11}  {:>13}  {:>10}  {:>13}  {}\n", info.name,
                           StreamStateName(info.state),
                           info.last_revision ? std::to_string(info.last_revision->value) : "-",
                           info.event_count, any ? std::to_string(info.last_position.value) : "-",
                           any ? FormatRfc3339(info.last_updated) : "-");
}

void RunStreams(const StreamsOptions& options) {
  uint64_t limit = UINT64_MAX;
  if (!options.limit.empty()) {
    Result<uint64_t> parsed = ParseLimitArg(options.limit);
    if (!parsed.ok()) Fail(parsed.status());
    limit = *parsed;
  }
  std::unique_ptr<Engine> engine = OpenEngineOrFail(options.engine);
  ListStreamsRequest request;
  request.prefix = options.prefix;
  request.include_system = options.include_system;
  bool header_printed = false;
  uint64_t remaining = limit;
  while (remaining > 0) {
    request.limit = std::min(remaining, kPageStreams);
    Result<ListStreamsResult> page = engine->ListStreams(request);
    if (!page.ok()) Fail(page.status());
    for (const StreamInfo& info : page->streams) PrintStream(info, options.json, &header_printed);
    remaining -= std::min<uint64_t>(remaining, page->streams.size());
    if (page->next_after.empty() || page->streams.empty()) break;
    request.after = page->next_after;
  }
}

}  // namespace

void AddStreamsCommand(CLI::App& app) {
  auto options = std::make_shared<StreamsOptions>();
  CLI::App* command = app.add_subcommand(
      "streams", "List streams (the catalog) with state, last revision and event count");
  AddEngineFlags(command, &options->engine);
  command->add_option("--prefix", options->prefix, "Only streams whose name starts with this")
      ->check(NonEmpty());
  command->add_option("--limit", options->limit, "Most streams to print (default: all)")
      ->check(NonEmpty());
  command->add_flag("--include-system", options->include_system,
                    "Also list system streams (names starting with '$', e.g. $$<stream>)");
  command->add_flag("--json", options->json, "JSON Lines: one stream object per line");
  command->callback([options] { RunStreams(*options); });
}

}  // namespace annals::cli
